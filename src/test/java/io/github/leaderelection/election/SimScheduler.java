package io.github.leaderelection.election;

import java.util.Comparator;
import java.util.PriorityQueue;

/**
 * The simulation's only thread of control: a queue of actions on simulated real time (nanoseconds
 * since the start), run one at a time in (time, insertion order). Nothing else in the simulation
 * moves time, so a seed replays the very same run.
 */
final class SimScheduler {

  private record Event(long time, long seq, Runnable action) {
  }

  private final PriorityQueue<Event> queue = new PriorityQueue<>(
      Comparator.comparingLong(Event::time).thenComparingLong(Event::seq));
  private final long maxEvents;
  private long now;
  private long seq;
  private long executed;

  /** @param maxEvents a runaway guard: a livelock in the code under test fails instead of hanging */
  SimScheduler(long maxEvents) {
    this.maxEvents = maxEvents;
  }

  long now() {
    return now;
  }

  long executed() {
    return executed;
  }

  /** Runs {@code action} at {@code time} (at once, after what is already due, if that has passed). */
  void at(long time, Runnable action) {
    queue.add(new Event(Math.max(time, now), seq++, action));
  }

  void after(long delayNanos, Runnable action) {
    at(now + delayNanos, action);
  }

  /** Runs every action due up to {@code end}, then leaves the clock at {@code end}. */
  void runUntil(long end) {
    runUntil(end, () -> false);
  }

  /**
   * Runs actions due up to {@code end} until {@code done} holds after one of them (then the clock
   * stays at that action's time, for a scripted test to act at that very instant).
   *
   * @return whether {@code done} came true
   */
  boolean runUntil(long end, java.util.function.BooleanSupplier done) {
    while (!queue.isEmpty() && queue.peek().time() <= end) {
      Event e = queue.poll();
      now = e.time();
      if (++executed > maxEvents) {
        throw new IllegalStateException("more than " + maxEvents + " events: a livelock?");
      }
      e.action().run();
      if (done.getAsBoolean()) {
        return true;
      }
    }
    now = Math.max(now, end);
    return false;
  }
}
