package io.github.leaderelection.election;

import java.time.Instant;

/**
 * One replica's clocks: a monotonic clock that runs at {@code rate} times real time from an
 * arbitrary offset, and a wall clock set wrong by a fixed amount (no replica trusts another's wall
 * time; the coordinated election controller of the API server does). The wall clock keeps real
 * time's pace, as NTP keeps it, so its error stays what it was set to.
 *
 * <p>Why rates stay within &plusmn;5% in the random schedules: a leader stops working at
 * {@code renewDeadline} on its own clock after sending its last successful write; a follower waits
 * {@code leaseDuration} on its own clock after seeing that write. Both are safe together only while
 * {@code fastestRate / slowestRate < leaseDuration / renewDeadline} (1.5 with 15s/10s), less the
 * length of a unit of work started just before the fence. 1.05 / 0.95 = 1.105 leaves most of that
 * margin; real crystal drift is around 1e-4. A clock beyond the bound makes overlaps possible, and
 * {@code ElectionSimulationTest} shows the checker catching one.
 */
final class SimClock implements Ticker {

  private final SimScheduler scheduler;
  private final long offset;
  private final double rate;
  private final Instant wallAtStart;
  private final long startedAt;

  SimClock(SimScheduler scheduler, long offset, double rate, Instant wallAtStart) {
    this.scheduler = scheduler;
    this.offset = offset;
    this.rate = rate;
    this.wallAtStart = wallAtStart;
    this.startedAt = scheduler.now();
  }

  double rate() {
    return rate;
  }

  @Override
  public long nanoTime() {
    return localAt(scheduler.now());
  }

  @Override
  public Instant now() {
    return wallAtStart.plusNanos(scheduler.now() - startedAt);
  }

  long localAt(long real) {
    return offset + (long) Math.floor(real * rate);
  }

  /** The first real time at which this clock reads {@code local} or more. */
  long realAt(long local) {
    if (local <= localAt(0)) {
      return 0;
    }
    long real = (long) Math.ceil((local - offset) / rate);
    while (localAt(real) < local) {
      real++;
    }
    while (real > 0 && localAt(real - 1) >= local) {
      real--;
    }
    return real;
  }
}
