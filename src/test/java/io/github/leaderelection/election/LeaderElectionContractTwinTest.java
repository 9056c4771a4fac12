package io.github.leaderelection.election;

import static io.github.leaderelection.election.LeaderElectionContractSupport.IDLE;
import static io.github.leaderelection.election.LeaderElectionContractSupport.closeAll;
import static io.github.leaderelection.election.LeaderElectionContractSupport.election;
import static io.github.leaderelection.election.LeaderElectionContractSupport.eventually;
import static io.github.leaderelection.election.LeaderElectionContractSupport.takeOver;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.github.leaderelection.election.LeaderElectionContractSupport.Recorder;
import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * One identity, two processes (issue 18): a Lease that names our identity but was written by
 * another process (another incarnation, or none) is somebody else's, and is waited out.
 */
@DisplayName("LeaderElection contract: one identity, two processes")
class LeaderElectionContractTwinTest {

  /** Lease duration of the hand-written holder: long enough to tell waiting from retaking. */
  private static final int HELD_SECONDS = 4;

  /** The Lease, held by {@code holder} under {@code incarnation} (null: none), just renewed. */
  private static void heldBy(MockApi api, String holder, String incarnation) {
    java.time.Instant now = java.time.Instant.now();
    api.createLease("someone-else", 1, now, now, 1);
    takeOver(api, holder, HELD_SECONDS, incarnation);
  }

  @Nested
  @DisplayName("a Lease naming our identity")
  class NamingOurIdentity {

    @Test
    @DisplayName("written by another process (no incarnation, as a copied identity or an older"
        + " version writes it) is waited out for its lease duration, not taken back at once")
    void anotherProcessIsWaitedOut() throws Exception {
      assertWaitedOut(null);
    }

    @Test
    @DisplayName("written by another incarnation of our identity (a force-deleted pod's process"
        + " still running) is waited out too, and reported as another process")
    void anotherIncarnationIsWaitedOut() throws Exception {
      assertWaitedOut("0123456789abcdef");
    }

    @Test
    @DisplayName("written by this very process (a renewal of ours stored late) is taken back at"
        + " once as a new term")
    void ourOwnWriteIsTakenBackAtOnce() throws Exception {
      try (MockApi api = new MockApi()) {
        heldBy(api, "a", "mine");
        Recorder rec = new Recorder();
        long started = System.nanoTime();
        LeaderElection a = election(api, "a").incarnation("mine").listener(rec)
            .periodicWork(Duration.ofMillis(100), IDLE).build().start();
        try {
          eventually().until(a::isLeader);
          assertThat(Duration.ofNanos(System.nanoTime() - started))
              .as("no waiting for the %d s lease", HELD_SECONDS)
              .isLessThan(Duration.ofSeconds(HELD_SECONDS));
        } finally {
          closeAll(a);
        }
      }
    }

    private void assertWaitedOut(String incarnation) throws Exception {
      try (MockApi api = new MockApi()) {
        heldBy(api, "a", incarnation);
        Recorder rec = new Recorder();
        long started = System.nanoTime();
        LeaderElection a = election(api, "a").listener(rec)
            .periodicWork(Duration.ofMillis(100), IDLE).build().start();
        try {
          eventually().until(() -> rec.leaders().contains("a" + Incarnation.OTHER_PROCESS));
          assertThat(a.isLeader()).isFalse();
          eventually().until(a::isLeader);
          assertThat(Duration.ofNanos(System.nanoTime() - started))
              .as("waited out the other process's %d s lease", HELD_SECONDS)
              .isGreaterThanOrEqualTo(Duration.ofSeconds(HELD_SECONDS));
          Lease now = api.lease();
          assertThat(now.getSpec().getHolderIdentity()).as("kubectl shows the pod name")
              .isEqualTo("a");
          assertThat(Incarnation.of(now)).as("written under this process's own incarnation")
              .isNotNull().isNotEqualTo(incarnation);
        } finally {
          closeAll(a);
        }
        assertThat(Incarnation.of(api.lease())).as("a release removes the incarnation").isNull();
      }
    }
  }
}
