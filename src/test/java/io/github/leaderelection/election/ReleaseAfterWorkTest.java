package io.github.leaderelection.election;

import static io.github.leaderelection.election.ElectorHarness.TIMEOUT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.leaderelection.election.MockApi.Call;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The release on shutdown waits for the running unit of work, bounded by
 * {@link ElectionConfig#WORK_STOP_WAIT} (client-go is adding the same in KEP-5366): a follower
 * must not take over while the old leader's last unit is still running. Real time, against the
 * mock API server.
 */
class ReleaseAfterWorkTest {

  /**
   * A unit of work that is in progress when the term ends and ignores interruption: it runs
   * {@code length} past the end of the term, as a unit that cannot be cut short.
   */
  private static RecordingListener unitOutlivingTheTerm(Duration length, AtomicLong endedAt) {
    return new RecordingListener() {
      @Override
      public void startedLeading(Term t) {
        super.startedLeading(t);
        t.startWork("unit", () -> {
          awaitUninterruptibly(t);
          long end = System.nanoTime() + length.toNanos();
          while (System.nanoTime() < end) {
            try {
              Thread.sleep(10);
            } catch (InterruptedException e) {
              // not stoppable half-way: carry on
            }
          }
          endedAt.set(System.nanoTime());
        });
      }
    };
  }

  private static void awaitUninterruptibly(Term t) {
    while (true) {
      try {
        if (t.awaitEnd(Duration.ofMinutes(1))) {
          return;
        }
      } catch (InterruptedException e) {
        // keep waiting for the end of the term
      }
    }
  }

  private static boolean isRelease(Call c) {
    return c.method().equals("PUT") && c.body() != null
        && c.body().contains("\"holderIdentity\":\"\"")
        && c.body().contains("\"leaseDurationSeconds\":1");
  }

  private static ElectionConfig config() {
    return new ElectionConfig("test", "my-lease", "me", Duration.ofSeconds(15),
        Duration.ofSeconds(10), Duration.ofMillis(300), true, false);
  }

  @Test
  @DisplayName("a unit that needs 1 s more after the stop finishes first; the release comes after"
      + " it ends")
  void theReleaseWaitsForTheRunningUnit() throws Exception {
    try (MockApi api = new MockApi()) {
      AtomicLong unitEnded = new AtomicLong();
      RecordingListener listener = unitOutlivingTheTerm(Duration.ofSeconds(1), unitEnded);
      LeaderElector elector = new LeaderElector(config(), api.lock(), listener,
          new RecordingMetrics(), Ticker.SYSTEM);
      Thread thread = new Thread(elector, "elector-release-after-work");
      thread.start();
      await().atMost(TIMEOUT).until(elector::isLeader);

      long stoppedAt = System.nanoTime();
      elector.stop();
      assertThat(elector.awaitTermination(config().shutdownBound())).isTrue();

      assertThat(unitEnded.get()).as("the unit finished").isPositive();
      List<Call> releases = api.calls().stream().filter(ReleaseAfterWorkTest::isRelease).toList();
      assertThat(releases).as("one release").hasSize(1);
      assertThat(releases.get(0).tickerNanos()).as("the release arrived after the unit ended")
          .isGreaterThan(unitEnded.get());
      assertThat(TimeUnit.NANOSECONDS.toMillis(unitEnded.get() - stoppedAt))
          .as("the unit ran on for about a second").isBetween(900L, 4000L);
      assertThat(api.record().isRelease()).isTrue();
    }
  }

  @Test
  @DisplayName("a unit still running 5 s after the stop is not waited for further: no release"
      + " (followers wait for the expiry), one log line, the stop ends within its bound")
  void aUnitRunningPastTheWaitLeavesTheLeaseToExpire() throws Exception {
    try (MockApi api = new MockApi();
        LogCapture logs = new LogCapture(LeaderElector.class)) {
      AtomicLong unitEnded = new AtomicLong();
      RecordingListener listener = unitOutlivingTheTerm(Duration.ofSeconds(8), unitEnded);
      LeaderElector elector = new LeaderElector(config(), api.lock(), listener,
          new RecordingMetrics(), Ticker.SYSTEM);
      Thread thread = new Thread(elector, "elector-work-outlives-wait");
      thread.start();
      await().atMost(TIMEOUT).until(elector::isLeader);

      long stoppedAt = System.nanoTime();
      elector.stop();
      assertThat(elector.awaitTermination(config().shutdownBound())).isTrue();
      long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stoppedAt);

      assertThat(tookMillis).as("waited the work-stop bound, not the unit's 8 s")
          .isBetween(ElectionConfig.WORK_STOP_WAIT.toMillis() - 100,
              ElectionConfig.WORK_STOP_WAIT.toMillis() + 2000);
      assertThat(unitEnded.get()).as("the unit was still running when the elector gave up")
          .isZero();
      assertThat(api.calls()).noneMatch(ReleaseAfterWorkTest::isRelease);
      assertThat(api.record().holderIdentity()).as("the Lease still names the old leader: it"
          + " expires").isEqualTo("me");
      assertThat(logs.messages()).filteredOn(m -> m.startsWith("leader work still running"))
          .containsExactly("leader work still running 5s after the stop; not releasing lease"
              + " test/my-lease: followers take over when it expires");
    }
  }
}
