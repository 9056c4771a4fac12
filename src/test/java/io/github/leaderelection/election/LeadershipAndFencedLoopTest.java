package io.github.leaderelection.election;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.leaderelection.work.FencedLoop;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

/**
 * The fence ({@link Leadership}) and the leader-only work bound to it ({@link FencedLoop}). Here in
 * the election package because revoke() and renewed() are the elector's, package-private.
 */
class LeadershipAndFencedLoopTest {

  private static final Duration DEADLINE = Duration.ofSeconds(10);
  private static final Duration TIMEOUT = Duration.ofSeconds(20);

  private final ManualTicker ticker = new ManualTicker();

  private Leadership leadership() {
    return new Leadership(ticker, DEADLINE, 1, ticker.nanoTime());
  }

  @Test
  void validForTheRenewDeadlineAfterTheLastRenewWasSent() {
    Leadership l = leadership();
    assertThat(l.isValid()).isTrue();
    assertThat(l.remainingNanos()).isEqualTo(DEADLINE.toNanos());

    ticker.advance(DEADLINE.minusNanos(1));
    assertThat(l.isValid()).isTrue();
    ticker.advance(Duration.ofNanos(1));
    assertThat(l.isValid()).as("expired exactly at sent + renewDeadline").isFalse();
    assertThat(l.isRevoked()).as("expiry is not revocation").isFalse();
  }

  @Test
  void aRenewMovesTheDeadlineAndAnOlderRenewNeverMovesItBack() {
    Leadership l = leadership();
    ticker.advance(Duration.ofSeconds(8));
    l.renewed(ticker.nanoTime());
    ticker.advance(Duration.ofSeconds(9)); // 17s: 9s after the renew
    assertThat(l.isValid()).isTrue();
    assertThat(l.remainingNanos()).isEqualTo(Duration.ofSeconds(1).toNanos());

    l.renewed(ManualTicker.START_NANOS + Duration.ofSeconds(2).toNanos()); // a late, older answer
    assertThat(l.lastRenewSentNanos()).isEqualTo(ManualTicker.START_NANOS + Duration.ofSeconds(8).toNanos());
  }

  @Test
  void revocationEndsValidityAtOnceAndWakesWaiters() throws InterruptedException {
    Leadership l = leadership();
    assertThat(l.awaitRevoked(Duration.ofMillis(1))).isFalse();
    l.revoke();
    assertThat(l.isValid()).isFalse();
    assertThat(l.isRevoked()).isTrue();
    assertThat(l.awaitRevoked(Duration.ZERO)).isTrue();
  }

  /** The bound: the work stops within 100 ms of leadership being lost. */
  @RepeatedTest(3)
  void workStopsWithin100msOfRevocation() throws InterruptedException {
    Leadership l = leadership();
    AtomicInteger units = new AtomicInteger();
    FencedLoop loop = new FencedLoop(Duration.ofMinutes(1), units::incrementAndGet);
    loop.start(l);
    await().atMost(TIMEOUT).until(() -> units.get() == 1); // now waiting a minute for the next unit

    long revokedAt = System.nanoTime();
    l.revoke();
    boolean stopped = loop.awaitStopped(Duration.ofSeconds(5));
    Duration took = Duration.ofNanos(System.nanoTime() - revokedAt);

    assertThat(stopped).isTrue();
    assertThat(took).isLessThan(Duration.ofMillis(100));
    assertThat(units).hasValue(1);
  }

  /**
   * A leader whose renewals stopped (paused, partitioned): once renewDeadline has passed on the
   * local clock, no further unit starts, even though nobody revoked anything.
   */
  @Test
  void neverRunsAUnitWhileTheLeaseIsNotLocallyValid() throws InterruptedException {
    Leadership l = leadership();
    List<Long> remainingAtUnitStart = new CopyOnWriteArrayList<>();
    FencedLoop loop = new FencedLoop(Duration.ofMillis(10),
        () -> remainingAtUnitStart.add(l.remainingNanos()));
    try (LogCapture logs = new LogCapture(FencedLoop.class)) {
      loop.start(l);
      await().atMost(TIMEOUT).until(() -> remainingAtUnitStart.size() >= 3);

      ticker.advance(DEADLINE); // the lease is no longer locally valid

      assertThat(loop.awaitStopped(TIMEOUT)).as("the loop ends by itself").isTrue();
      assertThat(remainingAtUnitStart).allMatch(r -> r > 0);
      assertThat(l.isRevoked()).isFalse();
      assertThat(logs.messages()).contains(
          "lease not renewed in time: no more work until it is renewed or re-acquired");
    }
  }

  @Test
  void aUnitRunsOnlyAfterTheFenceWasChecked() throws InterruptedException {
    Leadership l = leadership();
    ticker.advance(DEADLINE); // already expired when the work starts (e.g. a slow start)
    AtomicInteger units = new AtomicInteger();
    FencedLoop loop = new FencedLoop(Duration.ofMillis(10), units::incrementAndGet);
    loop.start(l);
    assertThat(loop.awaitStopped(TIMEOUT)).isTrue();
    assertThat(units).hasValue(0);
  }

  @Test
  void aFailingUnitDoesNotEscapeTheWorkerThread() throws InterruptedException {
    Leadership l = leadership();
    FencedLoop loop = new FencedLoop(Duration.ofMillis(10), () -> {
      throw new IllegalStateException("boom");
    });
    try (LogCapture logs = new LogCapture(FencedLoop.class)) {
      loop.start(l);
      assertThat(loop.awaitStopped(TIMEOUT)).isTrue();
      assertThat(logs.messages()).contains("leader work failed; it resumes if this replica leads again");
    }
  }
}
