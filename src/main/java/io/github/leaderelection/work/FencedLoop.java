package io.github.leaderelection.work;

import io.github.leaderelection.election.Durations;
import io.github.leaderelection.election.Term;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a unit of work periodically, only while a {@link Term} is valid.
 *
 * <p>The fence is checked before every unit, on the local monotonic clock: a leader that was frozen
 * (GC pause, SIGSTOP, a partitioned node) and wakes up after its lease may have been taken over
 * finds its term over and does nothing. Between units the thread waits on the term's end, so a
 * step-down or a stop cancels it at once, not at the next tick. The thread belongs to the term
 * ({@link Term#startWork}): the elector knows when it has finished, and releases only then.
 *
 * <p>A unit that throws is logged and tried again at the next interval: the leader never holds
 * the Lease without working. An {@link Error} is beyond that: the term ends and the replica stops,
 * releasing the Lease, and exits non-zero.
 */
public final class FencedLoop {

  private static final Logger log = LoggerFactory.getLogger(FencedLoop.class);

  private final Duration interval;
  private final Runnable unit;
  private volatile Term current;

  /**
   * @param interval time between the starts of two units
   * @param unit the leader-only work; must be short, or check the fence itself while it runs
   */
  public FencedLoop(Duration interval, Runnable unit) {
    this.interval = interval;
    this.unit = unit;
  }

  /** Starts working for {@code term} on a thread of the term's; stops by itself when it ends. */
  public void start(Term term) {
    current = term;
    term.startWork("leader-work-" + term.number(), () -> run(term));
  }

  /**
   * Waits for the work of the last term to finish; call after the term ended.
   *
   * @return false if it did not stop in time (its unit is still running)
   */
  public boolean awaitStopped(Duration timeout) throws InterruptedException {
    Term t = current;
    return t == null || t.awaitWorkStopped(timeout);
  }

  private void run(Term term) {
    int failures = 0;
    String every = Durations.format(interval);
    try {
      while (term.isValid()) {
        try {
          unit.run();
          failures = 0;
        } catch (RuntimeException e) {
          failures++;
          if (failures == 1) {
            log.error("leader work failed; trying again in {}", every, e);
          } else {
            log.error("leader work failed again ({} in a row): {}; trying again in {}", failures,
                e.toString(), every);
          }
        }
        if (term.awaitEnd(interval)) {
          return;
        }
      }
      if (!term.hasEnded() || "expired".equals(term.endReason())) {
        log.warn("lease not renewed in time: no more work in this term");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Error e) {
      log.error("leader work failed beyond retrying; giving up leadership", e);
      term.workFailed(e);
    }
  }
}
