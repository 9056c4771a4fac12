package io.github.leaderelection.election;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One term of leadership: the fence the leader's work checks before every unit, and the
 * cancellation of that work (client-go's per-term context).
 *
 * <p>A term is valid while it has not ended and less than {@code renewDeadline} has passed, on the
 * local monotonic clock, since the last successful write was <em>sent</em>: the API server cannot
 * have stored it earlier, so no follower can have seen it earlier, so no follower may take over
 * before {@code sent + leaseDuration}. Stopping at {@code sent + renewDeadline} leaves a margin of
 * {@code leaseDuration - renewDeadline} even for a leader whose process was frozen: when it wakes,
 * the check fails before it does anything.
 *
 * <p>A term ends exactly once, for good: when it is ended (step-down, shutdown) or when its
 * deadline passes, whichever comes first. A renewal answered after that does not bring it back;
 * the elector starts a new term instead, with new work. The work runs on threads started through
 * {@link #startWork}, so the term knows when its work has stopped.
 */
public final class Term {

  private static final Logger log = LoggerFactory.getLogger(Term.class);

  private final Ticker ticker;
  private final long renewDeadlineNanos;
  private final long number;
  private final CountDownLatch ended = new CountDownLatch(1);
  private final List<Thread> workers = new ArrayList<>();
  /** Work threads started and not yet finished; guarded by "this". */
  private int running;
  private Runnable onWorkStopped = () -> { };
  // Guarded by "this".
  private long lastRenewSentNanos;
  private String endReason;
  private Throwable workFailure;

  Term(Ticker ticker, Duration renewDeadline, long number, long acquiredSentNanos) {
    this.ticker = ticker;
    this.renewDeadlineNanos = renewDeadline.toNanos();
    this.number = number;
    this.lastRenewSentNanos = acquiredSentNanos;
  }

  /** True while this replica may act as leader; false for good once the term has ended or lapsed. */
  public synchronized boolean isValid() {
    if (endReason != null) {
      return false;
    }
    if (ticker.nanoTime() - lastRenewSentNanos >= renewDeadlineNanos) {
      endNow("expired");
      return false;
    }
    return true;
  }

  /** Monotonic nanoseconds of validity left; 0 or less once over. */
  public synchronized long remainingNanos() {
    return endReason != null ? 0 : lastRenewSentNanos + renewDeadlineNanos - ticker.nanoTime();
  }

  /** When validity ends unless renewed, on the ticker's clock. */
  public synchronized long deadlineNanos() {
    return lastRenewSentNanos + renewDeadlineNanos;
  }

  /** 1 for the first term this process led, for logs and tests. */
  public long number() {
    return number;
  }

  /** When the last successful write of this term was sent, on the ticker's monotonic clock. */
  public synchronized long lastRenewSentNanos() {
    return lastRenewSentNanos;
  }

  /**
   * Waits until the term ends (ended by the elector, or its work failed) or the timeout passes.
   * Lapsing is not signalled here: work checks {@link #isValid()} before every unit.
   *
   * @return true if the term has ended (the caller must stop), false on timeout
   */
  public boolean awaitEnd(Duration timeout) throws InterruptedException {
    return ended.await(Math.max(0, timeout.toNanos()), TimeUnit.NANOSECONDS);
  }

  public synchronized boolean hasEnded() {
    return endReason != null;
  }

  /** Why the term ended ("expired", "stopping", ...), or null while it runs. */
  public synchronized String endReason() {
    return endReason;
  }

  /**
   * Starts leader work for this term on a new daemon thread. Does nothing once the term has ended.
   */
  public synchronized void startWork(String name, Runnable work) {
    if (endReason != null) {
      return;
    }
    Thread t = new Thread(() -> {
      try {
        work.run();
      } finally {
        exitWork();
      }
    }, name);
    t.setDaemon(true);
    workers.add(t);
    running++;
    t.start();
  }

  /**
   * True while a thread started by {@link #startWork} still runs its work. (Counted, not read from
   * {@code Thread.isAlive}: the work-stopped hook runs on the finishing thread itself, and whoever
   * it wakes must already see the work as stopped.)
   */
  public synchronized boolean workRunning() {
    return running > 0;
  }

  /** Waits for the term's work threads to finish; call after the term ended. */
  public boolean awaitWorkStopped(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    List<Thread> all;
    synchronized (this) {
      all = List.copyOf(workers);
    }
    for (Thread t : all) {
      long left = deadline - System.nanoTime();
      if (left > 0) {
        t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
      }
    }
    return all.stream().noneMatch(Thread::isAlive);
  }

  /**
   * The work hit a failure it cannot go on from (an {@link Error}): the term ends, and the elector
   * stops the replica (releasing the Lease) rather than hold the Lease with no work.
   */
  public void workFailed(Throwable failure) {
    synchronized (this) {
      if (workFailure == null) {
        workFailure = failure;
      }
    }
    end("leader work failed: " + failure);
  }

  /** The failure reported by {@link #workFailed}, or null. */
  public synchronized Throwable workFailure() {
    return workFailure;
  }

  /**
   * Renews the fence from a write sent at {@code sentNanos}. Refused once the term is over: a late
   * answer never revives it.
   *
   * @return false if the term had already ended or lapsed
   */
  synchronized boolean extend(long sentNanos) {
    if (!isValid()) {
      return false;
    }
    if (sentNanos > lastRenewSentNanos) {
      lastRenewSentNanos = sentNanos;
    }
    return true;
  }

  /**
   * Ends the term now; idempotent, safe from any thread (a SIGTERM handler calls it directly, so
   * the work stops at once even while the elector waits for a request).
   *
   * @return true if this call ended it
   */
  boolean end(String reason) {
    synchronized (this) {
      if (endReason != null) {
        return false;
      }
      endNow(reason);
    }
    return true;
  }

  void onWorkStopped(Runnable hook) {
    synchronized (this) {
      onWorkStopped = hook;
    }
  }

  private void endNow(String reason) {
    assert Thread.holdsLock(this);
    endReason = reason;
    ended.countDown();
  }

  /** Counts a unit of work run by a driver of its own (the simulation); see {@link #exitWork}. */
  synchronized void enterWork() {
    running++;
  }

  /** The end of a unit or work thread counted as running: wakes the elector once none runs. */
  void exitWork() {
    Runnable hook;
    synchronized (this) {
      running--;
      if (running > 0) {
        return;
      }
      hook = onWorkStopped;
    }
    try {
      hook.run();
    } catch (RuntimeException e) {
      log.warn("work-stopped hook failed: {}", e.toString());
    }
  }
}
