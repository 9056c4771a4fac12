package io.github.leaderelection.election;

import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts the leader's work when a term starts: the whole-term {@link LeaderWork} on a thread of
 * its own, or the periodic {@link UnitOfWork}s, on a thread of the term's when the application
 * gave a thread factory, else one unit at a time on the shared work threads. Either way the term
 * interrupts the work when it ends and the release waits for it. Called on the elector's turn: it
 * only starts threads or hands units over.
 *
 * <p>Why units are pooled by default: a periodic term spends nearly all its time between units,
 * and a platform thread parked for a whole term per election made the threads of a process grow
 * with its elections (100 elections: 100 work threads). Pooled, they grow with the units running
 * at the same moment.
 */
final class WorkRunner implements LeadershipListener {

  private static final Logger log = LoggerFactory.getLogger(WorkRunner.class);
  /** How often a unit that keeps failing is logged again. */
  private static final Duration REPEAT_LOG = Duration.ofSeconds(30);

  private final ElectionConfig config;
  private final LeaderWork work;
  private final Duration interval;
  private final UnitOfWork unit;
  /** The application's work thread factory, or null: the shared pool (and, for a whole-term
   * work, a daemon thread per term). */
  private final ThreadFactory threads;
  private final Executor unitThreads;
  private final ScheduledExecutorService timers;
  private final LeaseCandidatePublisher candidate;
  private final Duration withdrawBound;

  WorkRunner(ElectionConfig config, LeaderWork work, Duration interval, UnitOfWork unit,
      ThreadFactory threads, LeaseCandidatePublisher candidate, Duration withdrawBound) {
    this(config, work, interval, unit, threads, candidate, withdrawBound, SharedThreads.work(),
        SharedThreads.elector());
  }

  /**
   * With the threads of pooled units given.
   *
   * @param threads the application's work thread factory, or null for the defaults
   * @param unitThreads runs pooled units (when {@code threads} is null)
   * @param timers schedules the next pooled unit; its tasks only hand the unit to
   *     {@code unitThreads}
   */
  WorkRunner(ElectionConfig config, LeaderWork work, Duration interval, UnitOfWork unit,
      ThreadFactory threads, LeaseCandidatePublisher candidate, Duration withdrawBound,
      Executor unitThreads, ScheduledExecutorService timers) {
    this.config = config;
    this.work = work;
    this.interval = interval;
    this.unit = unit;
    this.threads = threads;
    this.unitThreads = unitThreads;
    this.timers = timers;
    this.candidate = candidate;
    this.withdrawBound = withdrawBound;
  }

  /** The name a work thread carries while it works for {@code term}. */
  private String workThreadName(Term term) {
    return "leader-work-" + config.leaseName() + "-" + term.number();
  }

  @Override
  public void startedLeading(Term term) {
    if (candidate != null) {
      // Not interrupted by the term's end: it is the wait that holds the release until the
      // LeaseCandidate is gone (see WithdrawBeforeRelease).
      term.startWork(SharedThreads.daemons("candidate-withdrawal-" + term.number(), false),
          new WithdrawBeforeRelease(candidate, withdrawBound).waitFor(term), false);
    }
    if (work != null) {
      ThreadFactory own = threads != null ? threads
          : SharedThreads.daemons(workThreadName(term), false);
      term.startWork(own, () -> lead(term), true);
    } else if (unit != null && threads != null) {
      term.startWork(threads, () -> periodic(term), true);
    } else if (unit != null) {
      new PooledUnits(term).handOver();
    }
  }

  /** The whole-term work: returning, or throwing, gives leadership up. */
  private void lead(Term term) {
    try {
      work.lead(term);
    } catch (InterruptedException e) {
      // the term ended: the work was told to stop
    } catch (Exception e) {
      if (term.isValid()) {
        log.warn("leader work of lease {} failed: {}", config.leaseKey(), e.toString(), e);
      }
    } catch (Error e) {
      log.error("leader work of lease {} failed beyond retrying", config.leaseKey(), e);
      term.workFailed(e);
      return;
    }
    term.end(TermEnd.WORK_RETURNED); // does nothing if it had ended already
  }

  /** The periodic units on a thread of the term's: one every interval while the term is valid. */
  private void periodic(Term term) {
    Units units = new Units(term);
    try {
      while (term.isValid()) {
        if (!units.runOne()) {
          return;
        }
        if (term.awaitEnd(interval)) {
          return;
        }
      }
      units.expired();
    } catch (InterruptedException e) {
      // the term ended while waiting for the next unit
    }
  }

  /**
   * One term's periodic units and their failure count; one unit at a time (each unit is handed
   * over only after the previous one returned, which orders their accesses).
   */
  private class Units {

    final Term term;
    private final String every = Durations.format(interval);
    private int failures;
    private long loggedAt;

    Units(Term term) {
      this.term = term;
    }

    /**
     * Runs one unit on the calling thread: an exception is logged (at most every 30 s when it
     * repeats) and the term goes on; an {@link Error} ends it.
     *
     * @return false if the term is over (ended during the unit, or by the unit's Error)
     */
    boolean runOne() {
      try {
        unit.run(term);
        failures = 0;
      } catch (Exception e) {
        if (!term.isValid()) {
          return false; // cut short by the end of the term: not a failure of the unit
        }
        if (e instanceof InterruptedException) {
          // Not the term's end (it is still valid): an interrupt of the unit's own making.
          // Treated as any failure of a unit; the flag is cleared so the wait for the next works.
          Thread.interrupted();
        }
        failures++;
        long now = System.nanoTime();
        if (failures == 1) {
          log.warn("leader work failed; trying again in {}", every, e);
          loggedAt = now;
        } else if (now - loggedAt >= REPEAT_LOG.toNanos()) {
          // The same failure again: one line at most every 30 s, as the election's own.
          log.warn("leader work failed again ({} in a row): {}; trying again in {}", failures,
              e.toString(), every);
          loggedAt = now;
        }
      } catch (Error e) {
        log.error("leader work failed beyond retrying; giving up leadership", e);
        term.workFailed(e);
        return false;
      }
      return true;
    }

    /** The units stop because the term lapsed (not because the election ended it): say so. */
    void expired() {
      if (term.endReason().orElse(TermEnd.EXPIRED) == TermEnd.EXPIRED) {
        log.warn("lease {} not renewed in time: no more work in this term", config.leaseKey());
      }
    }
  }

  /**
   * The units on the shared work threads: a unit runs on a pooled thread (named for the term while
   * it works, and interrupted if the term ends meanwhile, see {@link Term#runUnit}), then a timer
   * hands the next one over an interval later. Between units the term holds no thread at all.
   */
  private final class PooledUnits extends Units {

    PooledUnits(Term term) {
      super(term);
    }

    void handOver() {
      unitThreads.execute(this::turn);
    }

    private void turn() {
      Thread me = Thread.currentThread();
      String poolName = me.getName();
      me.setName(workThreadName(term));
      try {
        boolean[] goOn = new boolean[1];
        boolean ran = term.isValid() && term.runUnit(() -> goOn[0] = runOne());
        if (ran && goOn[0] && term.isValid()) {
          timers.schedule(this::handOver, interval.toNanos(), TimeUnit.NANOSECONDS);
        } else if (!term.isValid()) {
          expired();
        }
      } finally {
        me.setName(poolName);
      }
    }
  }
}
