package io.github.leaderelection.election;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

/**
 * The fence ({@link Term}) and the leader-only work bound to it ({@link FencedLoop}). Here in
 * the election package because revoke() and renewed() are the elector's, package-private.
 */
class TermAndFencedLoopTest {

  private static final Duration DEADLINE = Duration.ofSeconds(10);
  private static final Duration TIMEOUT = Duration.ofSeconds(20);

  private final ManualTicker ticker = new ManualTicker();

  private Term leadership() {
    return new Term(ticker, DEADLINE, 1, ticker.nanoTime());
  }

  @Test
  void validForTheRenewDeadlineAfterTheLastRenewWasSent() {
    Term l = leadership();
    assertThat(l.isValid()).isTrue();
    assertThat(l.remaining().toNanos()).isEqualTo(DEADLINE.toNanos());

    ticker.advance(DEADLINE.minusNanos(1));
    assertThat(l.isValid()).isTrue();
    ticker.advance(Duration.ofNanos(1));
    assertThat(l.isValid()).as("expired exactly at sent + renewDeadline").isFalse();
    assertThat(l.hasEnded()).as("a lapsed term has ended for good").isTrue();
    assertThat(l.endReason()).contains(TermEnd.EXPIRED);
  }

  @Test
  void aRenewMovesTheDeadlineAndAnOlderRenewNeverMovesItBack() {
    Term l = leadership();
    ticker.advance(Duration.ofSeconds(8));
    l.extend(ticker.nanoTime());
    ticker.advance(Duration.ofSeconds(9)); // 17s: 9s after the renew
    assertThat(l.isValid()).isTrue();
    assertThat(l.remaining().toNanos()).isEqualTo(Duration.ofSeconds(1).toNanos());

    l.extend(ManualTicker.START_NANOS + Duration.ofSeconds(2).toNanos()); // a late, older answer
    assertThat(l.lastRenewSentNanos()).isEqualTo(ManualTicker.START_NANOS + Duration.ofSeconds(8).toNanos());
  }

  @Test
  void revocationEndsValidityAtOnceAndWakesWaiters() throws InterruptedException {
    Term l = leadership();
    assertThat(l.awaitEnd(Duration.ofMillis(1))).isFalse();
    l.end(TermEnd.STEPPED_DOWN);
    assertThat(l.isValid()).isFalse();
    assertThat(l.hasEnded()).isTrue();
    assertThat(l.awaitEnd(Duration.ZERO)).isTrue();
  }

  /** The bound: the work stops within 100 ms of leadership being lost. */
  @RepeatedTest(3)
  void workStopsWithin100msOfRevocation() throws InterruptedException {
    Term l = leadership();
    AtomicInteger units = new AtomicInteger();
    FencedLoop loop = new FencedLoop(Duration.ofMinutes(1), units::incrementAndGet);
    loop.start(l);
    await().atMost(TIMEOUT).until(() -> units.get() == 1); // now waiting a minute for the next unit

    long revokedAt = System.nanoTime();
    l.end(TermEnd.STEPPED_DOWN);
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
    Term l = leadership();
    List<Long> remainingAtUnitStart = new CopyOnWriteArrayList<>();
    FencedLoop loop = new FencedLoop(Duration.ofMillis(10),
        () -> remainingAtUnitStart.add(l.remaining().toNanos()));
    try (LogCapture logs = new LogCapture(WorkRunner.class)) {
      loop.start(l);
      await().atMost(TIMEOUT).until(() -> remainingAtUnitStart.size() >= 3);

      ticker.advance(DEADLINE); // the lease is no longer locally valid

      assertThat(loop.awaitStopped(TIMEOUT)).as("the loop ends by itself").isTrue();
      assertThat(remainingAtUnitStart).allMatch(r -> r > 0);
      assertThat(l.endReason()).contains(TermEnd.EXPIRED);
      assertThat(logs.messages()).contains("lease test/my-lease not renewed in time: no more work in this term");
    }
  }

  @Test
  void aUnitRunsOnlyAfterTheFenceWasChecked() throws InterruptedException {
    Term l = leadership();
    ticker.advance(DEADLINE); // already expired when the work starts (e.g. a slow start)
    AtomicInteger units = new AtomicInteger();
    FencedLoop loop = new FencedLoop(Duration.ofMillis(10), units::incrementAndGet);
    loop.start(l);
    assertThat(loop.awaitStopped(TIMEOUT)).isTrue();
    assertThat(units).hasValue(0);
  }

  @Test
  @DisplayName("L2: a unit that throws is logged and tried again at the next interval; the term goes on")
  void aFailingUnitIsRetriedAtTheNextInterval() throws InterruptedException {
    Term l = leadership();
    AtomicInteger attempts = new AtomicInteger();
    FencedLoop loop = new FencedLoop(Duration.ofMillis(10), () -> {
      if (attempts.incrementAndGet() <= 3) {
        throw new IllegalStateException("boom");
      }
    });
    try (LogCapture logs = new LogCapture(WorkRunner.class)) {
      loop.start(l);
      await().atMost(TIMEOUT).until(() -> attempts.get() >= 6);
      assertThat(l.isValid()).as("the term is not given up for a failing unit").isTrue();
      assertThat(l.workRunning()).isTrue();
      // The first failure with its stack trace; the same again at most every 30 s: not here.
      assertThat(logs.messages()).containsOnlyOnce("leader work failed; trying again in 10ms")
          .noneMatch(m -> m.startsWith("leader work failed again"));
      l.end(TermEnd.STEPPED_DOWN);
      assertThat(loop.awaitStopped(TIMEOUT)).isTrue();
    }
  }

  @Test
  @DisplayName("L2: an Error in the work ends the term and reports the failure: never a Lease held idle")
  void anErrorInTheWorkEndsTheTerm() throws InterruptedException {
    Term l = leadership();
    FencedLoop loop = new FencedLoop(Duration.ofMillis(10), () -> {
      throw new StackOverflowError("deep");
    });
    try (LogCapture logs = new LogCapture(WorkRunner.class)) {
      loop.start(l);
      assertThat(loop.awaitStopped(TIMEOUT)).isTrue();
      assertThat(l.hasEnded()).isTrue();
      assertThat(l.isValid()).isFalse();
      assertThat(l.workFailure()).isInstanceOf(StackOverflowError.class);
      assertThat(logs.messages()).contains("leader work failed beyond retrying; giving up leadership");
    }
  }

  @Test
  @DisplayName("L1: a renewal answered after the term lapsed does not bring the term back")
  void aLateRenewalNeverRevivesALapsedTerm() {
    Term l = leadership();
    long sentBeforeDeadline = ticker.nanoTime() + DEADLINE.toNanos() - 1_000_000;
    ticker.advance(DEADLINE); // the answer arrives after the deadline
    assertThat(l.extend(sentBeforeDeadline)).isFalse();
    assertThat(l.isValid()).isFalse();
    assertThat(l.hasEnded()).isTrue();
  }

  @Test
  @DisplayName("a term ends exactly once; work cannot be started after its end")
  void endsExactlyOnce() {
    Term l = leadership();
    assertThat(l.end(TermEnd.STEPPED_DOWN)).isTrue();
    assertThat(l.end(TermEnd.CLOSED)).isFalse();
    assertThat(l.endReason()).contains(TermEnd.STEPPED_DOWN);
    AtomicInteger ran = new AtomicInteger();
    l.startWork("late", ran::incrementAndGet);
    assertThat(l.workRunning()).isFalse();
    assertThat(ran).hasValue(0);
  }

  @Test
  @DisplayName("a unit that throws InterruptedException while its term is valid is a failure like"
      + " any other: logged, and the next unit runs in the same term")
  void anInterruptOfTheUnitsOwnMakingIsAFailureNotTheEnd() throws InterruptedException {
    Term l = leadership();
    AtomicInteger units = new AtomicInteger();
    FencedLoop loop = new FencedLoop(Duration.ofMillis(10), (UnitOfWork) term -> {
      if (units.incrementAndGet() == 1) {
        throw new InterruptedException("a unit's own interrupt");
      }
    });
    try (LogCapture logs = new LogCapture(WorkRunner.class)) {
      loop.start(l);
      await().atMost(TIMEOUT).until(() -> units.get() >= 3);
      assertThat(l.isValid()).isTrue();
      assertThat(logs.messages()).anyMatch(m -> m.startsWith("leader work failed; trying again"));
    } finally {
      l.end(TermEnd.CLOSED);
      loop.awaitStopped(TIMEOUT);
    }
  }

  @Test
  void aPooledUnitIsInterruptedWhenItsTermEndsAndLeavesTheThreadClean() throws Exception {
    Term l = leadership();
    java.util.concurrent.CountDownLatch inUnit = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.atomic.AtomicBoolean interrupted =
        new java.util.concurrent.atomic.AtomicBoolean();
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors
        .newSingleThreadExecutor();
    try {
      java.util.concurrent.atomic.AtomicBoolean flagAfter =
          new java.util.concurrent.atomic.AtomicBoolean(true);
      java.util.concurrent.Future<Boolean> ran = pool.submit(() -> {
        boolean r = l.runUnit(() -> {
          inUnit.countDown();
          try {
            Thread.sleep(TIMEOUT.toMillis());
          } catch (InterruptedException e) {
            interrupted.set(true);
            Thread.currentThread().interrupt(); // left set: runUnit must clear it
          }
        });
        flagAfter.set(Thread.currentThread().isInterrupted()); // before the pool clears it
        return r;
      });
      assertThat(inUnit.await(5, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      assertThat(l.workRunning()).as("a pooled unit counts as running work").isTrue();

      l.end(TermEnd.STEPPED_DOWN);

      assertThat(ran.get(5, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      assertThat(interrupted).as("the unit was interrupted at the term's end").isTrue();
      assertThat(l.workRunning()).isFalse();
      assertThat(flagAfter)
          .as("the pooled thread goes on to its next task without the term's interrupt").isFalse();
      assertThat(pool.submit(() -> l.runUnit(() -> { })).get())
          .as("no unit of an ended term runs").isFalse();
    } finally {
      pool.shutdownNow();
    }
  }
}
