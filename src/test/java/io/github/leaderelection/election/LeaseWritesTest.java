package io.github.leaderelection.election;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** {@link LeaseWrites}: the objects this replica sends, field by field. */
@DisplayName("LeaseWrites: the Lease objects a replica writes")
class LeaseWritesTest {

  private static final Instant T = Instant.parse("2026-11-24T00:00:00Z");
  private static final String FOREIGN = "example.com/other-controller";
  private static final LeaderElectionRecord MINE = new LeaderElectionRecord("me", 15, T, T, 4);
  private static final LeaderElectionRecord RELEASED = LeaderElectionRecord.released(T, 4);

  /** A Lease as the server stored it, with whatever else other writers put on it. */
  private static Lease stored(String... finalizers) {
    Lease lease = new LeaseBuilder().withNewMetadata().withName("l").withNamespace("n")
        .withResourceVersion("42").withLabels(new HashMap<>(Map.of("owner", "them", "team", "old")))
        .endMetadata()
        .withNewSpec().withHolderIdentity("other").withLeaseDurationSeconds(30)
        .withLeaseTransitions(4).withStrategy("OldestEmulationVersion")
        .withPreferredHolder("candidate-2").endSpec()
        .build();
    lease.getMetadata().setFinalizers(finalizers.length == 0 ? null
        : new ArrayList<>(List.of(finalizers)));
    return lease;
  }

  private static Lease markedForDeletion(Lease lease) {
    lease.getMetadata().setDeletionTimestamp("2026-11-24T00:00:01Z");
    return lease;
  }

  @Nested
  @DisplayName("a create")
  class Create {

    @Test
    @DisplayName("names the Lease, carries the record, and a held one our finalizer")
    void held() {
      Lease l = LeaseWrites.forCreate("n", "l", MINE, Map.of(), true);
      assertThat(l.getMetadata().getNamespace()).isEqualTo("n");
      assertThat(l.getMetadata().getName()).isEqualTo("l");
      assertThat(l.getMetadata().getResourceVersion()).isNull();
      assertThat(LeaderElectionRecord.fromSpec(l.getSpec())).isEqualTo(MINE);
      assertThat(l.getMetadata().getFinalizers()).containsExactly(LeaseWrites.FINALIZER);
      assertThat(l.getMetadata().getLabels()).isNullOrEmpty();
    }

    @Test
    @DisplayName("without finalize (coordinated: the server manages the Lease) carries no finalizer")
    void notFinalized() {
      Lease l = LeaseWrites.forCreate("n", "l", MINE, Map.of(), false);
      assertThat(l.getMetadata().getFinalizers()).isNullOrEmpty();
    }

    @Test
    @DisplayName("carries the configured labels")
    void labels() {
      Lease l = LeaseWrites.forCreate("n", "l", MINE, Map.of("team", "a"), true);
      assertThat(l.getMetadata().getLabels()).containsExactly(Map.entry("team", "a"));
    }
  }

  @Nested
  @DisplayName("an update")
  class Update {

    @Test
    @DisplayName("writes the record over the base, conditional on its resourceVersion")
    void record() {
      Lease next = LeaseWrites.forUpdate(stored(), MINE, Map.of(), true);
      assertThat(LeaderElectionRecord.fromSpec(next.getSpec()).holderIdentity()).isEqualTo("me");
      assertThat(next.getSpec().getLeaseDurationSeconds()).isEqualTo(15);
      assertThat(next.getMetadata().getResourceVersion()).isEqualTo("42");
    }

    @Test
    @DisplayName("keeps the spec fields the record does not own: strategy and preferredHolder")
    void keepsServerFields() {
      Lease next = LeaseWrites.forUpdate(stored(), MINE, Map.of(), false);
      assertThat(next.getSpec().getStrategy()).isEqualTo("OldestEmulationVersion");
      assertThat(next.getSpec().getPreferredHolder()).isEqualTo("candidate-2");
    }

    @Test
    @DisplayName("never changes the base it was computed from")
    void baseUntouched() {
      Lease base = stored(FOREIGN);
      LeaseWrites.forUpdate(base, MINE, Map.of("x", "y"), true);
      assertThat(base.getSpec().getHolderIdentity()).isEqualTo("other");
      assertThat(base.getMetadata().getFinalizers()).containsExactly(FOREIGN);
      assertThat(base.getMetadata().getLabels()).doesNotContainKey("x");
    }

    @Test
    @DisplayName("of a Lease without a spec gives it one")
    void noSpec() {
      Lease base = stored();
      base.setSpec(null);
      Lease next = LeaseWrites.forUpdate(base, MINE, Map.of(), true);
      assertThat(LeaderElectionRecord.fromSpec(next.getSpec())).isEqualTo(MINE);
    }

    @Test
    @DisplayName("merges the labels: everybody else's stay, ours are added or win")
    void mergesLabels() {
      Lease next = LeaseWrites.forUpdate(stored(), MINE, Map.of("team", "new", "part-of", "demo"),
          true);
      assertThat(next.getMetadata().getLabels()).containsOnly(Map.entry("owner", "them"),
          Map.entry("team", "new"), Map.entry("part-of", "demo"));
    }

    @Test
    @DisplayName("without labels of ours leaves the others' as they are")
    void noLabelsOfOurs() {
      Lease next = LeaseWrites.forUpdate(stored(), MINE, Map.of(), true);
      assertThat(next.getMetadata().getLabels()).containsOnly(Map.entry("owner", "them"),
          Map.entry("team", "old"));
    }

    @Test
    @DisplayName("adds labels to a Lease that has none")
    void labelsOnUnlabelled() {
      Lease base = stored();
      base.getMetadata().setLabels(null);
      Lease next = LeaseWrites.forUpdate(base, MINE, Map.of("team", "a"), true);
      assertThat(next.getMetadata().getLabels()).containsExactly(Map.entry("team", "a"));
    }
  }

  @Nested
  @DisplayName("our finalizer")
  class Finalizer {

    @Test
    @DisplayName("is added beside others' when we hold the Lease, once")
    void addedOnce() {
      Lease next = LeaseWrites.forUpdate(stored(FOREIGN), MINE, Map.of(), true);
      assertThat(next.getMetadata().getFinalizers()).containsExactly(FOREIGN, LeaseWrites.FINALIZER);
      Lease again = LeaseWrites.forUpdate(next, MINE, Map.of(), true);
      assertThat(again.getMetadata().getFinalizers()).containsExactly(FOREIGN, LeaseWrites.FINALIZER);
    }

    @Test
    @DisplayName("is never added to a Lease being deleted (the server would refuse it)")
    void notOnDeleting() {
      Lease next = LeaseWrites.forUpdate(markedForDeletion(stored(FOREIGN)), MINE, Map.of(), true);
      assertThat(next.getMetadata().getFinalizers()).containsExactly(FOREIGN);
    }

    @Test
    @DisplayName("is removed by a release when it is the only one: the Lease then has none")
    void removedByRelease() {
      Lease next = LeaseWrites.forUpdate(stored(LeaseWrites.FINALIZER), RELEASED, Map.of(), true);
      assertThat(next.getMetadata().getFinalizers()).isNull();
      assertThat(LeaderElectionRecord.fromSpec(next.getSpec()).isRelease()).isTrue();
    }

    @Test
    @DisplayName("stays on a release while another controller's finalizer holds the Lease")
    void keptBesideOthers() {
      Lease next = LeaseWrites.forUpdate(stored(LeaseWrites.FINALIZER, FOREIGN), RELEASED,
          Map.of(), true);
      assertThat(next.getMetadata().getFinalizers())
          .containsExactly(LeaseWrites.FINALIZER, FOREIGN);
    }

    @Test
    @DisplayName("is left alone entirely without finalize")
    void leftAlone() {
      Lease next = LeaseWrites.forUpdate(stored(LeaseWrites.FINALIZER), RELEASED, Map.of(), false);
      assertThat(next.getMetadata().getFinalizers()).containsExactly(LeaseWrites.FINALIZER);
      Lease held = LeaseWrites.forUpdate(stored(), MINE, Map.of(), false);
      assertThat(held.getMetadata().getFinalizers()).isNullOrEmpty();
    }
  }

  @Nested
  @DisplayName("reading a Lease's deletion state")
  class Reading {

    @Test
    @DisplayName("isDeleting: only a Lease with a deletion timestamp; null-safe")
    void isDeleting() {
      assertThat(LeaseWrites.isDeleting(null)).isFalse();
      assertThat(LeaseWrites.isDeleting(new Lease())).isFalse();
      assertThat(LeaseWrites.isDeleting(stored())).isFalse();
      assertThat(LeaseWrites.isDeleting(markedForDeletion(stored()))).isTrue();
    }

    @Test
    @DisplayName("finalizers: never null; ours and others' told apart")
    void finalizers() {
      assertThat(LeaseWrites.finalizers(null)).isEmpty();
      assertThat(LeaseWrites.finalizers(new Lease())).isEmpty();
      assertThat(LeaseWrites.finalizers(stored())).isEmpty();
      assertThat(LeaseWrites.finalizers(stored(FOREIGN))).containsExactly(FOREIGN);
      assertThat(LeaseWrites.hasOurFinalizer(stored(LeaseWrites.FINALIZER))).isTrue();
      assertThat(LeaseWrites.hasOurFinalizer(stored(FOREIGN))).isFalse();
      assertThat(LeaseWrites.hasOtherFinalizers(stored(LeaseWrites.FINALIZER))).isFalse();
      assertThat(LeaseWrites.hasOtherFinalizers(stored(LeaseWrites.FINALIZER, FOREIGN))).isTrue();
      assertThat(LeaseWrites.hasOtherFinalizers(stored())).isFalse();
    }
  }
}
