package io.github.leaderelection.work;

import io.github.leaderelection.election.Leadership;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a unit of work periodically, only while a {@link Leadership} is valid.
 *
 * <p>The fence is checked before every unit, on the local monotonic clock: a leader that was frozen
 * (GC pause, SIGSTOP, a partitioned node) and wakes up after its lease may have been taken over
 * finds its leadership expired and does nothing. Between units the thread waits on the revocation
 * signal, so a step-down stops it at once, not at the next tick.
 */
public final class FencedLoop {

  private static final Logger log = LoggerFactory.getLogger(FencedLoop.class);

  private final Duration interval;
  private final Runnable unit;
  private Thread thread;

  /**
   * @param interval time between the starts of two units
   * @param unit the leader-only work; must be short, or check the fence itself while it runs
   */
  public FencedLoop(Duration interval, Runnable unit) {
    this.interval = interval;
    this.unit = unit;
  }

  /** Starts working for {@code leadership} on a new thread; stops by itself when it ends. */
  public synchronized void start(Leadership leadership) {
    thread = new Thread(() -> run(leadership), "leader-work-" + leadership.term());
    thread.setDaemon(true);
    thread.start();
  }

  /**
   * Waits for the worker of the last term to finish; call after the leadership was revoked.
   *
   * @return false if it did not stop in time (its unit is still running)
   */
  public boolean awaitStopped(Duration timeout) throws InterruptedException {
    Thread t;
    synchronized (this) {
      t = thread;
    }
    if (t == null) {
      return true;
    }
    t.join(Math.max(1, timeout.toMillis()));
    return !t.isAlive();
  }

  private void run(Leadership leadership) {
    try {
      while (leadership.isValid()) {
        unit.run();
        if (leadership.awaitRevoked(interval)) {
          return;
        }
      }
      if (!leadership.isRevoked()) {
        log.warn("lease not renewed in time: no more work until it is renewed or re-acquired");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      log.error("leader work failed; it resumes if this replica leads again", e);
    }
  }
}
