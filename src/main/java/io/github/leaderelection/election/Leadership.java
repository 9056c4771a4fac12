package io.github.leaderelection.election;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One term of leadership, handed to the leader's work: the fence it must check before every unit.
 *
 * <p>Leadership is valid while less than {@code renewDeadline} has passed, on the local monotonic
 * clock, since the last renew that succeeded, measured from when that request was <em>sent</em>:
 * the API server cannot have stored it earlier, so no follower can have observed it earlier, so no
 * follower may take over before {@code sentAt + leaseDuration}. Stopping at {@code sentAt +
 * renewDeadline} leaves a margin of {@code leaseDuration - renewDeadline} even for a leader whose
 * process was frozen (GC pause, SIGSTOP, a partitioned node): when it wakes, the check fails
 * before it does anything.
 */
public final class Leadership {

  private final Ticker ticker;
  private final long renewDeadlineNanos;
  private final long term;
  private final CountDownLatch revoked = new CountDownLatch(1);
  private volatile long lastRenewSentNanos;

  Leadership(Ticker ticker, Duration renewDeadline, long term, long acquiredSentNanos) {
    this.ticker = ticker;
    this.renewDeadlineNanos = renewDeadline.toNanos();
    this.term = term;
    this.lastRenewSentNanos = acquiredSentNanos;
  }

  /** True while this replica may act as leader: not revoked and renewed recently enough. */
  public boolean isValid() {
    return revoked.getCount() > 0 && remainingNanos() > 0;
  }

  /** Monotonic nanoseconds of validity left, 0 or less once expired. */
  public long remainingNanos() {
    return lastRenewSentNanos + renewDeadlineNanos - ticker.nanoTime();
  }

  /** A counter, 1 for the first term this process led, for logs and tests. */
  public long term() {
    return term;
  }

  /** When the last successful renew was sent, on the ticker's monotonic clock. */
  public long lastRenewSentNanos() {
    return lastRenewSentNanos;
  }

  /**
   * Waits until leadership is revoked or the timeout passes.
   *
   * @return true if revoked (the caller must stop), false on timeout
   */
  public boolean awaitRevoked(Duration timeout) throws InterruptedException {
    return revoked.await(Math.max(0, timeout.toNanos()), TimeUnit.NANOSECONDS);
  }

  public boolean isRevoked() {
    return revoked.getCount() == 0;
  }

  void renewed(long sentNanos) {
    if (sentNanos > lastRenewSentNanos) {
      lastRenewSentNanos = sentNanos;
    }
  }

  void revoke() {
    revoked.countDown();
  }
}
