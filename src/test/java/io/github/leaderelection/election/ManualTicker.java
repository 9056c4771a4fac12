package io.github.leaderelection.election;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;

/** A test clock that only moves when the test moves it: monotonic nanos and wall time together. */
public final class ManualTicker implements Ticker {

  /** Far from 0, so no "0 means never" sentinel in the code under test can be hit by accident. */
  public static final long START_NANOS = 1_000_000_000_000L;
  public static final Instant START_WALL = Instant.parse("2026-11-23T06:51:50Z");

  private final AtomicLong nanos = new AtomicLong(START_NANOS);

  @Override
  public long nanoTime() {
    return nanos.get();
  }

  @Override
  public Instant now() {
    return START_WALL.plusNanos(nanos.get() - START_NANOS);
  }

  public void advance(Duration d) {
    nanos.addAndGet(d.toNanos());
  }

  /** Time since the start, for readable assertions. */
  public Duration elapsed() {
    return Duration.ofNanos(nanos.get() - START_NANOS);
  }
}
