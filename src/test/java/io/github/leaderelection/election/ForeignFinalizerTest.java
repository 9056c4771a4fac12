package io.github.leaderelection.election;

import static io.github.leaderelection.election.ManualTicker.START_WALL;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.github.leaderelection.election.ElectionRules.Action;
import io.github.leaderelection.election.ElectionRules.Decision;
import io.github.leaderelection.election.MockApi.Call;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * Issue 18, "a foreign finalizer": another controller's finalizer sits on the Lease beside ours,
 * and the Lease is deleted by hand. Removing ours then no longer completes the deletion, and a new
 * Lease cannot be created while the old one exists (409 AlreadyExists). Before the fix the
 * replicas looped (finish the deletion, create: 409, read, finish the deletion ...) with nobody
 * leading. Against fabric8's mock API server with a manual clock, like {@link EdgePathsTest}.
 */
class ForeignFinalizerTest {

  static final String FOREIGN = "example.com/other-controller";

  private final ElectorHarness h = new ElectorHarness();

  @AfterEach
  void tearDown() {
    h.close();
  }

  /** Sets the stored Lease's finalizers by hand (another controller adding or removing its own). */
  private void finalizers(String... finalizers) {
    Lease lease = h.api.lease();
    lease.getMetadata().setFinalizers(finalizers.length == 0 ? null : Arrays.asList(finalizers));
    h.api.replaceLease(lease);
  }

  private static List<String> finalizersOf(Lease lease) {
    return lease.getMetadata().getFinalizers() == null ? List.of()
        : lease.getMetadata().getFinalizers();
  }

  private long creates() {
    return h.api.count(c -> c.method().equals("POST"));
  }

  @Nested
  @DisplayName("a held Lease that another controller's finalizer also holds, deleted by hand")
  class DeletedWhileHeld {

    @Test
    @DisplayName("its holder keeps leading on it (our finalizer stays, so it is still protected); the deletion completes through us once the other finalizer is gone, and a new Lease is led at once")
    void theHolderKeepsLeadingUntilTheOtherFinalizerIsGone() {
      h.start();
      Term term = h.elector.term();
      assertThat(term).isNotNull();
      finalizers(LeaseWrites.FINALIZER, FOREIGN);

      h.api.deleteLease();
      assertThat(LeaseWrites.isDeleting(h.api.lease())).isTrue();
      for (int i = 0; i < 10; i++) {
        h.step(Duration.ofSeconds(2)); // 20 s: longer than a lease duration
      }

      assertThat(term.hasEnded()).as("the same term runs on").isFalse();
      assertThat(h.listener.stopped).hasValue(0);
      Lease marked = h.api.lease();
      assertThat(LeaseWrites.isDeleting(marked)).isTrue();
      assertThat(LeaderElectionRecord.fromSpec(marked.getSpec()).holderIdentity()).isEqualTo("me");
      assertThat(finalizersOf(marked)).as("ours stays while the other one holds the Lease")
          .containsExactlyInAnyOrder(LeaseWrites.FINALIZER, FOREIGN);
      assertThat(creates()).as("no create against the Lease being deleted (409 loop)").isEqualTo(1);

      finalizers(LeaseWrites.FINALIZER); // the other controller lets go
      h.advanceAndSettle(Duration.ofSeconds(2), x -> x.listener.started.get() == 2);
      assertThat(term.hasEnded()).isTrue();
      Lease recreated = h.api.lease();
      assertThat(LeaseWrites.isDeleting(recreated)).as("a new Lease").isFalse();
      assertThat(recreated.getMetadata().getUid()).isNotEqualTo(marked.getMetadata().getUid());
      assertThat(LeaderElectionRecord.fromSpec(recreated.getSpec()).holderIdentity())
          .isEqualTo("me");
      assertThat(finalizersOf(recreated)).containsExactly(LeaseWrites.FINALIZER);
    }

    @Test
    @DisplayName("its holder's release (stop) keeps our finalizer on it, so the next holder takes over a still-protected Lease")
    void aReleaseKeepsOurFinalizerWhileAnotherOneHoldsTheLease() {
      h.start();
      finalizers(LeaseWrites.FINALIZER, FOREIGN);
      h.api.deleteLease();
      h.step(Duration.ofSeconds(2));

      h.stop();
      Lease released = h.api.lease();
      assertThat(LeaderElectionRecord.fromSpec(released.getSpec()).isRelease()).isTrue();
      assertThat(finalizersOf(released)).containsExactlyInAnyOrder(LeaseWrites.FINALIZER, FOREIGN);
    }
  }

  @Nested
  @DisplayName("a follower, when the holder is gone")
  class Follower {

    @Test
    @DisplayName("takes over the marked Lease once the holder's claim ran out (not earlier), keeping our finalizer on it, instead of looping on a deletion it cannot finish")
    void takesOverTheMarkedLeaseAfterTheClaim() {
      h.api.createLease("other", 15, START_WALL, START_WALL, 3);
      finalizers(LeaseWrites.FINALIZER, FOREIGN);
      h.start(); // 'other' seen at 0 s
      h.api.deleteLease();

      h.step(Duration.ofSeconds(5));
      h.step(Duration.ofSeconds(5));
      h.step(Duration.ofMillis(4_500)); // 14.5 s: the claim still runs
      assertThat(h.api.calls()).noneMatch(Call::isWrite);

      h.advanceAndSettle(Duration.ofMillis(600), x -> x.elector.isLeader()); // 15.1 s
      Lease lease = h.api.lease();
      assertThat(LeaseWrites.isDeleting(lease)).as("led on the Lease being deleted").isTrue();
      LeaderElectionRecord record = LeaderElectionRecord.fromSpec(lease.getSpec());
      assertThat(record.holderIdentity()).isEqualTo("me");
      assertThat(record.leaseTransitions()).isEqualTo(4);
      assertThat(finalizersOf(lease)).containsExactlyInAnyOrder(LeaseWrites.FINALIZER, FOREIGN);
      assertThat(creates()).isZero();
    }
  }

  @Nested
  @DisplayName("a Lease being deleted that only another controller's finalizer holds (ours is gone)")
  class OnlyAForeignFinalizer {

    @Test
    @DisplayName("is neither taken (it could vanish under its holder: nothing would protect the holder's claim) nor created anew (409): the replica writes nothing, warns once, and creates the Lease at once when it is gone")
    void nobodyHoldsItAndTheReplicaLeadsOnceItIsGone() {
      // The state the loop of the old version left behind: released, only the other finalizer.
      h.api.createLease("", 1, START_WALL, START_WALL, 3);
      finalizers(FOREIGN);
      h.api.deleteLease();
      assertThat(LeaseWrites.isDeleting(h.api.lease())).isTrue();
      try (LogCapture logs = new LogCapture(LeaderElector.class)) {
        h.start();
        for (int i = 0; i < 10; i++) {
          h.step(Duration.ofSeconds(2));
        }
        assertThat(h.api.calls()).as("no finish-delete / create loop").noneMatch(Call::isWrite);
        assertThat(h.elector.isLeader()).isFalse();
        assertThat(logs.events()).filteredOn(e -> e.getLevel() == Level.WARN)
            .singleElement().satisfies(e -> assertThat(e.getFormattedMessage())
                .contains("lease test/my-lease is being deleted", FOREIGN, "finalizers"));

        finalizers(); // the other controller lets go: the deletion completes
        assertThat(h.api.lease()).isNull();
        h.advanceAndSettle(Duration.ofSeconds(2), x -> x.elector.isLeader());
        assertThat(h.api.record().holderIdentity()).isEqualTo("me");
        assertThat(finalizersOf(h.api.lease())).containsExactly(LeaseWrites.FINALIZER);
      }
    }

    @Test
    @DisplayName("a leader whose Lease is left with only another controller's finalizer (ours removed by hand) steps down and takes it no more")
    void aLeaderWhoseFinalizerWasRemovedStepsDown() {
      h.start();
      Term term = h.elector.term();
      finalizers(FOREIGN);
      h.api.deleteLease();
      h.advanceAndSettle(Duration.ofSeconds(2), x -> term.hasEnded());
      assertThat(term.endReason()).contains(TermEnd.DELETED);
      long writes = h.api.count(Call::isWrite);
      for (int i = 0; i < 5; i++) {
        h.step(Duration.ofSeconds(2));
      }
      assertThat(h.elector.isLeader()).isFalse();
      assertThat(h.api.count(Call::isWrite)).as("at most its release; no loop")
          .isLessThanOrEqualTo(writes + 1);
      assertThat(LeaseWrites.isDeleting(h.api.lease())).isTrue();
    }
  }

  @Nested
  @DisplayName("the rules and writes behind it")
  class Rules {

    private static final long S = 1_000_000_000L;
    private static final Instant T = Instant.parse("2026-11-24T00:00:00Z");
    private final LeaseView view = new LeaseView(15 * S);
    private long rv = 1;

    private Lease lease(LeaderElectionRecord record, boolean deleting, String... finalizers) {
      Lease lease = new LeaseBuilder().withNewMetadata().withName("l").withNamespace("n")
          .withUid("u").withResourceVersion(Long.toString(rv++))
          .withDeletionTimestamp(deleting ? "2026-11-24T00:00:00Z" : null)
          .withFinalizers(finalizers.length == 0 ? null : Arrays.asList(finalizers))
          .endMetadata().withNewSpec().endSpec().build();
      record.applyTo(lease.getSpec());
      return lease;
    }

    private Decision decide(long now, boolean leading) {
      return ElectionRules.decide(view.snapshot(), now, "me", leading);
    }

    private static LeaderElectionRecord held(String holder) {
      return new LeaderElectionRecord(holder, 15, T, T, 3);
    }

    @Test
    @DisplayName("being deleted with ours and another finalizer: the usual rules (renew, wait out the claim, take over, take back), never finish-delete")
    void oursAndAnotherAreAsGoodAsALiveLease() {
      view.observe(lease(held("other"), true, LeaseWrites.FINALIZER, FOREIGN), 10 * S);
      assertThat(decide(24 * S, false)).isEqualTo(new Decision(Action.WAIT, 25 * S, "other"));
      assertThat(decide(25 * S, false).action()).isEqualTo(Action.TAKE_OVER);
      view.observe(lease(LeaderElectionRecord.released(T, 3), true, LeaseWrites.FINALIZER,
          FOREIGN), 26 * S);
      assertThat(decide(26 * S, false).action()).isEqualTo(Action.TAKE_OVER);
      view.observe(lease(held("me"), true, LeaseWrites.FINALIZER, FOREIGN), 27 * S);
      assertThat(decide(27 * S, true).action()).isEqualTo(Action.RENEW);
      assertThat(decide(27 * S, false).action()).isEqualTo(Action.RETAKE);
    }

    @Test
    @DisplayName("being deleted with only another controller's finalizer: nobody holds it (a leader steps down, a follower is blocked even after the claim ran out)")
    void onlyAnotherFinalizerBlocks() {
      view.observe(lease(held("other"), true, FOREIGN), 10 * S);
      assertThat(decide(100 * S, false)).isEqualTo(new Decision(Action.BLOCKED, Long.MAX_VALUE,
          "other"));
      view.observe(lease(LeaderElectionRecord.released(T, 3), true, FOREIGN), 101 * S);
      assertThat(decide(101 * S, false).action()).isEqualTo(Action.BLOCKED);
      view.observe(lease(held("me"), true, FOREIGN), 102 * S);
      assertThat(decide(102 * S, true)).isEqualTo(new Decision(Action.STEP_DOWN, 0, "me"));
      assertThat(decide(102 * S, false).action()).as("not taken back").isEqualTo(Action.BLOCKED);
      view.observe(lease(held("me"), false, FOREIGN), 103 * S);
      assertThat(decide(103 * S, true).action()).as("not being deleted: as usual")
          .isEqualTo(Action.RENEW);
    }

    @Test
    @DisplayName("being deleted with ours only: finished off as before the fix")
    void oursOnlyIsFinishedOff() {
      view.observe(lease(LeaderElectionRecord.released(T, 3), true, LeaseWrites.FINALIZER), 0);
      assertThat(decide(0, false).action()).isEqualTo(Action.FINISH_DELETE);
      view.observe(lease(held("me"), true, LeaseWrites.FINALIZER), S);
      assertThat(decide(S, true).action()).isEqualTo(Action.STEP_DOWN);
    }

    @Test
    @DisplayName("the other finalizer going away from a Lease being deleted is news for the view (a new version), though the record did not change")
    void finalizerChangesOfADeletingLeaseAreNews() {
      view.observe(lease(held("other"), true, LeaseWrites.FINALIZER, FOREIGN), 0);
      long version = view.version();
      assertThat(view.observe(lease(held("other"), true, LeaseWrites.FINALIZER), S)).isTrue();
      assertThat(view.version()).isEqualTo(version + 1);
      assertThat(view.snapshot().observedAt()).as("not a renewal").isZero();
      assertThat(view.observe(lease(held("other"), true, LeaseWrites.FINALIZER), 2 * S))
          .isFalse();
      view.observe(lease(held("x"), false, LeaseWrites.FINALIZER), 3 * S);
      long live = view.version();
      view.observe(lease(held("x"), false, LeaseWrites.FINALIZER, FOREIGN), 4 * S);
      assertThat(view.version()).as("a finalizer added to a live Lease changes nothing")
          .isEqualTo(live);
    }

    @Test
    @DisplayName("a release removes our finalizer only when no other finalizer is left; a held write never adds ours to a Lease being deleted")
    void writesKeepOurFinalizerWhileAnotherRemains() {
      LeaderElectionRecord released = LeaderElectionRecord.released(T, 3);
      assertThat(finalizersOf(LeaseWrites.forUpdate(lease(held("me"), false,
          LeaseWrites.FINALIZER), released, Map.of(), true))).isEmpty();
      assertThat(finalizersOf(LeaseWrites.forUpdate(lease(held("me"), false,
          LeaseWrites.FINALIZER, FOREIGN), released, Map.of(), true)))
          .containsExactly(LeaseWrites.FINALIZER, FOREIGN);
      assertThat(finalizersOf(LeaseWrites.forUpdate(lease(held("me"), true,
          LeaseWrites.FINALIZER, FOREIGN), released, Map.of(), true)))
          .containsExactly(LeaseWrites.FINALIZER, FOREIGN);
      assertThat(finalizersOf(LeaseWrites.forUpdate(lease(released, true, FOREIGN), held("me"),
          Map.of(), true))).containsExactly(FOREIGN);
      assertThat(finalizersOf(LeaseWrites.forUpdate(lease(released, false, FOREIGN), held("me"),
          Map.of(), true))).containsExactly(FOREIGN, LeaseWrites.FINALIZER);
    }
  }
}
