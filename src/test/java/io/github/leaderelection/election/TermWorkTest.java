package io.github.leaderelection.election;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** {@link Term}: its clock-bound validity, the work it counts, and the waits on both. */
@DisplayName("Term: validity, counted work, and waiting for both")
class TermWorkTest {

  private static final Duration DEADLINE = Duration.ofSeconds(10);
  private final ManualTicker ticker = new ManualTicker();

  private Term term() {
    return new Term(ticker, DEADLINE, 7, ticker.nanoTime(), 4711, "me", "n/l", null);
  }

  @Nested
  @DisplayName("awaitWorkStopped")
  class AwaitWorkStopped {

    @Test
    @DisplayName("returns true at once when no work runs")
    void noWork() throws InterruptedException {
      assertThat(term().awaitWorkStopped(Duration.ZERO)).isTrue();
    }

    @Test
    @DisplayName("times out with false while a unit still runs, after the timeout and not before")
    void timesOut() throws InterruptedException {
      Term t = term();
      t.enterWork();
      long start = System.nanoTime();
      // Killed mutants: 'return false' turned into 'return true', the timeout check removed (it
      // would wait for ever), the loop condition negated (true at once).
      assertThat(t.awaitWorkStopped(Duration.ofMillis(200))).isFalse();
      assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(
          Duration.ofMillis(200).toNanos());
      assertThat(t.awaitWorkStopped(Duration.ZERO)).as("zero only checks").isFalse();
      assertThat(t.workRunning()).isTrue();
    }

    @Test
    @DisplayName("returns true as soon as the last unit ends, well before the timeout")
    void wakesWhenTheWorkEnds() throws Exception {
      Term t = term();
      t.enterWork();
      t.enterWork();
      CountDownLatch waiting = new CountDownLatch(1);
      AtomicReference<Boolean> result = new AtomicReference<>();
      Thread waiter = new Thread(() -> {
        waiting.countDown();
        try {
          result.set(t.awaitWorkStopped(Duration.ofSeconds(30)));
        } catch (InterruptedException e) {
          result.set(null);
        }
      });
      long start = System.nanoTime();
      waiter.start();
      assertThat(waiting.await(5, TimeUnit.SECONDS)).isTrue();
      t.exitWork();
      Thread.sleep(50);
      assertThat(result.get()).as("one of two units still runs").isNull();
      assertThat(t.workRunning()).isTrue();
      // Killed mutant: the deadline computed as now - timeout (false at once).
      t.exitWork();
      waiter.join(10_000);
      assertThat(result.get()).isTrue();
      assertThat(System.nanoTime() - start).isLessThan(Duration.ofSeconds(10).toNanos());
      assertThat(t.workRunning()).isFalse();
    }
  }

  @Nested
  @DisplayName("the work-stopped hook")
  class Hook {

    @Test
    @DisplayName("runs once the last unit has ended, not before; a failing hook is contained")
    void runsOnLastExit() {
      Term t = term();
      AtomicInteger calls = new AtomicInteger();
      t.onWorkStopped(calls::incrementAndGet);
      t.enterWork();
      t.enterWork();
      t.exitWork();
      assertThat(calls).as("one unit still runs").hasValue(0);
      t.exitWork();
      assertThat(calls).hasValue(1);

      t.onWorkStopped(() -> {
        throw new IllegalStateException("broken hook");
      });
      t.enterWork();
      t.exitWork(); // must not throw
      assertThat(t.workRunning()).isFalse();
    }

    @Test
    @DisplayName("startWork counts the thread until it ends, then runs the hook")
    void startWorkCounts() throws Exception {
      Term t = term();
      CountDownLatch stopped = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      t.onWorkStopped(stopped::countDown);
      assertThat(t.startWork("w", () -> {
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      })).isTrue();
      assertThat(t.workRunning()).isTrue();
      release.countDown();
      assertThat(stopped.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(t.workRunning()).isFalse();
    }

    @Test
    @DisplayName("a work thread not marked interruptible is left alone at the end of the term")
    void notInterruptible() throws Exception {
      Term t = term();
      CountDownLatch inside = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      AtomicReference<Boolean> interrupted = new AtomicReference<>();
      assertThat(t.startWork(r -> new Thread(r, "quiet"), () -> {
        inside.countDown();
        try {
          release.await();
          interrupted.set(Thread.currentThread().isInterrupted());
        } catch (InterruptedException e) {
          interrupted.set(true);
        }
      }, false)).isTrue();
      assertThat(inside.await(10, TimeUnit.SECONDS)).isTrue();
      t.end(TermEnd.STEPPED_DOWN);
      release.countDown();
      assertThat(t.awaitWorkStopped(Duration.ofSeconds(10))).isTrue();
      assertThat(interrupted.get()).isFalse();
    }

    @Test
    @DisplayName("a thread factory that returns no thread is refused")
    void noThread() {
      Term t = term();
      assertThatThrownBy(() -> t.startWork(r -> null, () -> { }, true))
          .isInstanceOf(IllegalStateException.class);
      assertThat(t.workRunning()).isFalse();
    }
  }

  @Nested
  @DisplayName("validity")
  class Validity {

    @Test
    @DisplayName("remaining counts down to the deadline and is zero once ended")
    void remaining() {
      Term t = term();
      ticker.advance(Duration.ofSeconds(4));
      assertThat(t.remaining()).isEqualTo(Duration.ofSeconds(6));
      assertThat(t.deadlineNanos()).isEqualTo(ManualTicker.START_NANOS + DEADLINE.toNanos());
      ticker.advance(Duration.ofSeconds(7));
      assertThat(t.remaining()).as("past the deadline, not yet noticed").isZero();
      Term other = term();
      other.end(TermEnd.STEPPED_DOWN);
      assertThat(other.remaining()).isZero();
    }

    @Test
    @DisplayName("checkValid names the term, the Lease and why it ended")
    void checkValid() {
      Term t = term();
      t.checkValid();
      t.end(TermEnd.TAKEN_OVER);
      assertThatThrownBy(t::checkValid).isInstanceOf(LeadershipLostException.class)
          .hasMessage("term 7 of lease n/l has ended (TAKEN_OVER)");
      Term lapsed = term();
      ticker.advance(DEADLINE);
      assertThatThrownBy(lapsed::checkValid).hasMessage("term 7 of lease n/l has ended (EXPIRED)");
    }

    @Test
    @DisplayName("the accessors give what the term was made with")
    void accessors() {
      Term t = term();
      assertThat(t.fencingToken()).isEqualTo(4711);
      assertThat(t.identity()).isEqualTo("me");
      assertThat(t.leaseKey()).isEqualTo("n/l");
      assertThat(t.number()).isEqualTo(7);
      assertThat(t.client()).isNull();
      assertThat(t.toString()).isEqualTo("Term{n/l #7, token 4711, valid}");
      t.end(TermEnd.CLOSED);
      assertThat(t.toString()).isEqualTo("Term{n/l #7, token 4711, CLOSED}");
    }

    @Test
    @DisplayName("a renewal sent earlier than the last one never moves the deadline back; a later one moves it")
    void extend() {
      Term t = term();
      ticker.advance(Duration.ofSeconds(5));
      assertThat(t.extend(ticker.nanoTime())).isTrue();
      assertThat(t.lastRenewSentNanos()).isEqualTo(ticker.nanoTime());
      assertThat(t.extend(ticker.nanoTime() - 1)).isTrue();
      assertThat(t.lastRenewSentNanos()).isEqualTo(ticker.nanoTime());
      t.end(TermEnd.STEPPED_DOWN);
      assertThat(t.extend(ticker.nanoTime() + 1)).as("never after the end").isFalse();
    }

    @Test
    @DisplayName("a work failure is kept (the first one) and ends the term as WORK_FAILED")
    void workFailed() {
      Term t = term();
      Error first = new AssertionError("first");
      t.workFailed(first);
      t.workFailed(new AssertionError("second"));
      assertThat(t.workFailure()).isSameAs(first);
      assertThat(t.endReason()).contains(TermEnd.WORK_FAILED);
    }
  }
}
