package io.github.leaderelection.election;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.github.leaderelection.election.ElectionRules.Action;
import io.github.leaderelection.election.ElectionRules.Decision;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * Coordinated election (issue 18): the API server names a holder when the old one's lease has
 * expired on <em>its</em> clock, judged by the old holder's wall clock. The named replica trusts
 * only its own observations: it works once the previous holder's claim has ended as it saw it.
 */
@DisplayName("Coordinated election: the replica the server names")
class CoordinatedNamingTest {

  private static final long S = 1_000_000_000L;
  private static final String ME = "me";
  private static final String MY_INCARNATION = "mine";
  private static final Instant WALL = Instant.parse("2026-12-05T00:00:00Z");

  private final LeaseView view = new LeaseView(15 * S, ME, MY_INCARNATION);
  private long rv = 100;

  /** A holder's own write: it carries an acquireTime and its incarnation. */
  private void holderWrote(String holder, String incarnation, String uid, long at) {
    see(new LeaderElectionRecord(holder, 15, WALL, WALL.plusNanos(at), 1), incarnation, uid, at);
  }

  /** The server's naming: no acquireTime, 5 s, metadata (the annotation) as it was. */
  private void serverNamed(String holder, String annotationLeft, String uid, long at) {
    see(new LeaderElectionRecord(holder, 5, null, WALL, 1), annotationLeft, uid, at);
  }

  private void released(String uid, long at) {
    see(LeaderElectionRecord.released(WALL, 1), null, uid, at);
  }

  private void see(LeaderElectionRecord record, String incarnation, String uid, long at) {
    Lease lease = new LeaseBuilder().withNewMetadata().withName("l").withNamespace("n")
        .withUid(uid).withResourceVersion(Long.toString(rv++))
        .withAnnotations(incarnation == null ? Map.of()
            : Map.of(Incarnation.ANNOTATION, incarnation))
        .endMetadata().withNewSpec().endSpec().build();
    record.applyTo(lease.getSpec());
    view.observe(lease, at);
  }

  private Decision decide(long at) {
    return ElectionRules.decide(view.snapshot(), at, ME, false, true);
  }

  @Nested
  @DisplayName("named over a holder it saw renewing")
  class OverAHolderItSaw {

    @Test
    @DisplayName("works only once that holder's lease duration has passed since it last saw it"
        + " renew, by its own clock (the server may have judged by a clock running behind)")
    void waitsTheClaimOut() {
      holderWrote("x", "x-1", "u1", 0);
      holderWrote("x", "x-1", "u1", 2 * S);
      serverNamed(ME, "x-1", "u1", 3 * S);
      assertThat(decide(3 * S)).isEqualTo(new Decision(Action.WAIT, 17 * S, "x"));
      assertThat(decide(17 * S - 1).action()).isEqualTo(Action.WAIT);
      assertThat(decide(17 * S).action()).isEqualTo(Action.RETAKE);
    }

    @Test
    @DisplayName("takes it at once when that holder released it")
    void releaseEndsTheClaim() {
      holderWrote("x", "x-1", "u1", 0);
      released("u1", 2 * S);
      serverNamed(ME, null, "u1", 2 * S + 1);
      assertThat(decide(2 * S + 2).action()).isEqualTo(Action.RETAKE);
    }
  }

  @Nested
  @DisplayName("named when it cannot tell who wrote last before the naming")
  class UnaccountedWrites {

    @Test
    @DisplayName("another writer's incarnation left on the Lease (a twin, or a holder it never"
        + " saw): a lease duration from seeing the naming")
    void anotherIncarnation() {
      holderWrote("x", "x-1", "u1", 0);
      serverNamed(ME, "y-7", "u1", 20 * S);
      assertThat(decide(20 * S)).isEqualTo(new Decision(Action.WAIT, 35 * S, ""));
      assertThat(decide(35 * S).action()).isEqualTo(Action.RETAKE);
    }

    @Test
    @DisplayName("a Lease re-created after a delete (another uid): a lease duration from seeing"
        + " the naming")
    void recreated() {
      holderWrote("x", "x-1", "u1", 0);
      released("u1", S);
      serverNamed(ME, null, "u2", 20 * S);
      assertThat(decide(20 * S)).isEqualTo(new Decision(Action.WAIT, 35 * S, ""));
    }

    @Test
    @DisplayName("its first answer already showed the naming: a lease duration from that answer")
    void firstAnswerNamed() {
      serverNamed(ME, null, "u1", 4 * S);
      assertThat(decide(4 * S)).isEqualTo(new Decision(Action.WAIT, 19 * S, ""));
      assertThat(decide(19 * S).action()).isEqualTo(Action.RETAKE);
    }

    @Test
    @DisplayName("its first answer showed no Lease (it may just have been deleted under a holder):"
        + " at least a lease duration from that answer (here, from the naming that followed)")
    void firstAnswerAbsent() {
      view.observe(null, 2 * S);
      serverNamed(ME, null, "u1", 3 * S);
      assertThat(decide(3 * S).until()).isEqualTo(18 * S);
    }
  }

  @Test
  @DisplayName("a 'not found' read answered after the watch showed the Lease is not believed: it"
      + " carries no resourceVersion to order it by, and a coordinated follower that believed it"
      + " would wait for an event that never comes")
  void notFoundOvertakenByTheWatch() {
    ScriptedCampaign s = new ScriptedCampaign(new ElectionConfig("n", "l", ME,
        java.time.Duration.ofSeconds(15), java.time.Duration.ofSeconds(10),
        java.time.Duration.ofSeconds(2), true, true, true, Map.of()));
    s.watchLive = true;
    s.tick();
    Campaign.Request read = s.inFlight();
    assertThat(read.purpose()).isEqualTo(Campaign.Purpose.READ);
    Lease named = s.storeOther(new LeaderElectionRecord(ME, 5, null, WALL, 0));
    s.view.observe(named, s.now()); // the watch: the server created the Lease naming us
    s.campaign.completed(read, Campaign.Reply.ok(null)); // the read, sent before: not found
    s.tick();
    assertThat(s.view.snapshot().exists()).as("the view still has the Lease").isTrue();
    assertThat(s.campaign.inFlight()).as("acts on it (reads again or takes it), not waits")
        .isNotNull();
  }

  @Test
  @DisplayName("its own write stored late (its incarnation) is taken back at once")
  void ownWrite() {
    holderWrote(ME, MY_INCARNATION, "u1", 0);
    assertThat(decide(S).action()).isEqualTo(Action.RETAKE);
  }

  @Test
  @DisplayName("a replica the server has not named waits for the server, however old the lease")
  void notNamed() {
    holderWrote("x", "x-1", "u1", 0);
    assertThat(decide(1000 * S)).isEqualTo(new Decision(Action.WAIT, Long.MAX_VALUE, "x"));
  }
}
