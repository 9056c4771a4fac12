package io.github.leaderelection.election;

import java.time.Duration;
import java.util.concurrent.ThreadFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts the leader's work when a term starts, on a thread of the term's (so the term interrupts
 * it when it ends, and the release waits for it): the whole-term {@link LeaderWork}, or the
 * periodic {@link UnitOfWork}. Called on the elector's turn: it only starts threads.
 */
final class WorkRunner implements LeadershipListener {

  private static final Logger log = LoggerFactory.getLogger(WorkRunner.class);
  /** How often a unit that keeps failing is logged again. */
  private static final Duration REPEAT_LOG = Duration.ofSeconds(30);

  private final ElectionConfig config;
  private final LeaderWork work;
  private final Duration interval;
  private final UnitOfWork unit;
  private final ThreadFactory threads;
  private final LeaseCandidatePublisher candidate;
  private final Duration withdrawBound;

  WorkRunner(ElectionConfig config, LeaderWork work, Duration interval, UnitOfWork unit,
      ThreadFactory threads, LeaseCandidatePublisher candidate, Duration withdrawBound) {
    this.config = config;
    this.work = work;
    this.interval = interval;
    this.unit = unit;
    this.threads = threads;
    this.candidate = candidate;
    this.withdrawBound = withdrawBound;
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
      term.startWork(threads, () -> lead(term), true);
    } else if (unit != null) {
      term.startWork(threads, () -> periodic(term), true);
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

  /** The periodic units: one every interval while the term is valid. */
  private void periodic(Term term) {
    int failures = 0;
    long loggedAt = 0;
    String every = Durations.format(interval);
    try {
      while (term.isValid()) {
        try {
          unit.run(term);
          failures = 0;
        } catch (Exception e) {
          if (!term.isValid()) {
            return; // cut short by the end of the term: not a failure of the unit
          }
          if (e instanceof InterruptedException) {
            // Not the term's end (it is still valid): an interrupt of the unit's own making.
            // Treated as any failure of a unit; the flag is cleared so the wait below works.
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
        }
        if (term.awaitEnd(interval)) {
          return;
        }
      }
      if (term.endReason().orElse(TermEnd.EXPIRED) == TermEnd.EXPIRED) {
        log.warn("lease {} not renewed in time: no more work in this term", config.leaseKey());
      }
    } catch (InterruptedException e) {
      // the term ended while waiting for the next unit
    } catch (Error e) {
      log.error("leader work failed beyond retrying; giving up leadership", e);
      term.workFailed(e);
    }
  }
}
