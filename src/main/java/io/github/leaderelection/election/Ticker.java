package io.github.leaderelection.election;

import java.time.Instant;

/**
 * Time as the elector sees it.
 *
 * <p>Every decision (is the lease expired? is my leadership still valid?) is made on the monotonic
 * clock, which never jumps when NTP adjusts the wall clock and keeps counting while the process is
 * paused. The wall clock is only used for the timestamps written into the Lease, which humans read
 * but no replica trusts. Tests substitute a manual ticker to move time deterministically.
 */
interface Ticker {

  /** Monotonic nanoseconds, comparable only with other values of the same ticker. */
  long nanoTime();

  /** Wall-clock time, for the record's {@code acquireTime}/{@code renewTime}. */
  Instant now();

  /** The system clocks. */
  Ticker SYSTEM = new Ticker() {
    @Override
    public long nanoTime() {
      return System.nanoTime();
    }

    @Override
    public Instant now() {
      return Instant.now();
    }
  };
}
