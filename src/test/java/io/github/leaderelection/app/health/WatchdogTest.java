package io.github.leaderelection.app.health;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.leaderelection.election.ElectorHarness;
import io.github.leaderelection.election.RecordingListener;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** /healthz: a replica is unhealthy only when its elector is wedged, never for an API outage. */
class WatchdogTest {

  private static final Duration GRACE = Duration.ofSeconds(5);

  @Test
  @DisplayName("L6: a leader that stepped down during an API outage stays healthy, however long it lasts")
  void aSteppedDownLeaderStaysHealthyDuringAnOutage() {
    try (ElectorHarness h = new ElectorHarness()) {
      h.start();
      Watchdog watchdog = new Watchdog(h::sinceProgress, "test/my-lease", ElectorHarness.LEASE, GRACE);
      h.api.fail(c -> true, 503, "ServiceUnavailable", "the server is shutting down");
      for (int i = 0; i < 30; i++) { // 60s of outage: past the 10s deadline and 15s + 5s grace
        h.advanceAndSettle(Duration.ofSeconds(2), x -> true);
        assertThat(watchdog.problem()).as("after %ds of outage", 2 * (i + 1)).isNull();
      }
      assertThat(h.isLeader()).isFalse();
      assertThat(h.listener.stopped).hasValue(1);
    }
  }

  @Test
  @DisplayName("L6: an elector that stops making progress (a listener that never returns) fails /healthz")
  void aWedgedElectorIsUnhealthy() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    ElectorHarness h = new ElectorHarness(new RecordingListener() {
      @Override
      public void newLeader(String identity) {
        super.newLeader(identity);
        if (identity.equals("other")) {
          try {
            release.await(); // wedged
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
      }
    });
    try (h) {
      try {
        wedge(h, release);
      } finally {
        release.countDown(); // unwedge, so the harness can stop the elector
      }
    }
  }

  private static void wedge(ElectorHarness h, CountDownLatch release) {
    {
      h.start();
      Watchdog watchdog = new Watchdog(h::sinceProgress, "test/my-lease", ElectorHarness.LEASE, GRACE);
      assertThat(watchdog.problem()).isNull();
      h.api.writeHolder("other", 15, 1);
      h.ticker.advance(Duration.ofSeconds(2));
      await().atMost(ElectorHarness.TIMEOUT).until(() -> h.listener.leaders.contains("other"));

      h.ticker.advance(Duration.ofSeconds(21));
      assertThat(watchdog.problem()).startsWith("leader election watchdog: the elector of lease"
          + " test/my-lease has not made progress for ");
      assertThat(release.getCount()).isOne();
    }
  }
}
