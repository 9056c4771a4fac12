package io.github.leaderelection.election;

import static io.github.leaderelection.election.Campaign.log;

import io.github.leaderelection.election.ElectionRules.Decision;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The campaign's leading phase: a term starts on a won write and ends exactly once, at its
 * deadline, when the Lease says someone else leads, or when this replica chooses to end it. Ended
 * terms are remembered until their work has stopped: nothing that lets another replica in (a
 * release, finishing a deletion) happens while it may still run.
 */
final class Terms {

  private record Ended(Term term, long at) {
  }

  private final Campaign c;
  private volatile Term term;
  private long started;
  private Instant acquireTime;
  /** Our ended terms whose work may still run, with when each ended (monotonic). */
  private final List<Ended> ended = new ArrayList<>();
  private String reportedLeader;

  Terms(Campaign campaign) {
    this.c = campaign;
  }

  /** The current term, or null when not leading. */
  Term current() {
    return term;
  }

  /** When the current term lapses unless renewed, {@link Campaign#NEVER} when not leading. */
  long deadline() {
    Term t = term;
    return t == null ? Campaign.NEVER : t.deadlineNanos();
  }

  /** When the current term was acquired, as its record says (kept by renewals). */
  Instant acquireTime() {
    return acquireTime;
  }

  /** A won write started a term (sent at {@code sentAt}). */
  void start(long sentAt, long now) {
    Term t = new Term(c.ticker, c.config.renewDeadline(), ++started, sentAt,
        Campaign.fencingToken(c.lastWritten()), c.config.identity(), c.config.leaseKey(),
        c.client);
    if (!t.isValid()) {
      log.info("lease {} was acquired, but the answer came after the renew deadline; trying again",
          c.config.leaseKey());
      c.acquisition.retryAt(now);
      return;
    }
    t.onWorkStopped(c.port::wake);
    acquireTime = LeaderElectionRecord.fromSpec(c.lastWritten().getSpec()).acquireTime();
    // Published before the stop request is read: a stop() that this read misses sees the term
    // and ends it itself (its work then never starts).
    term = t;
    if (c.stopRequested.getAsBoolean()) {
      // Closed while the answer was being handled: no term, no listener, no work; the stop
      // releases at once the Lease the write won.
      term = null;
      t.end(TermEnd.CLOSED);
      c.stop();
      return;
    }
    log.atInfo().addKeyValue("event", "acquired")
        .log("successfully acquired lease {}", c.config.leaseKey());
    reportLeader(); // the article's order: acquired, "still the leader!", then the work
    c.listener.startedLeading(t);
  }

  /** A renewal of {@code current}, sent at {@code sentAt}, was stored. */
  void renewed(Term current, long sentAt, long now) {
    if (!current.extend(sentAt)) {
      if (current.endReason().orElse(TermEnd.EXPIRED) != TermEnd.EXPIRED) {
        // Not late: the term was ended meanwhile by a stop, its work or a failure, from another
        // thread. It ends as that end asks, not as a lapse.
        check(now);
        return;
      }
      log.info("the renewal of lease {} was answered after the renew deadline ({})",
          c.config.leaseKey(), Durations.format(c.config.renewDeadline()));
      end(TermEnd.EXPIRED, "", now);
    }
  }

  /** Ends the term if it has lapsed or ended, or if the view says someone else leads now. */
  void check(long now) {
    Term current = term;
    if (current == null) {
      return;
    }
    if (!current.isValid()) {
      TermEnd reason = current.endReason().orElse(TermEnd.EXPIRED);
      if (current.workFailure() != null) {
        c.failWith(current.workFailure());
      } else if (reason == TermEnd.CLOSED && c.stopRequested.getAsBoolean()) {
        c.stop(); // ended by the stop request itself, before the campaign got to it
      } else {
        if (reason == TermEnd.WORK_RETURNED) {
          // The work gave leadership up: release it, as a step-down does, and stay out a while.
          c.acquisition.stayOut(now + c.config.requeueDelay().toNanos());
          c.release.yieldWhenWorkStopped();
        }
        end(reason, "", now);
      }
      return;
    }
    LeaseView.Snapshot seen = c.view.snapshot();
    Decision d = ElectionRules.decide(seen, now, c.config.identity(), true,
        c.config.coordinated());
    if (d.action() == ElectionRules.Action.STEP_DOWN) {
      stepDownFor(seen, d, now);
    }
  }

  /** The rules say a leader must stop: say why, in the election's vocabulary. */
  void stepDownFor(LeaseView.Snapshot seen, Decision d, long now) {
    if (seen.record().isEndOfTermFor(c.config.identity())) {
      // Handed back at once (as client-go does): the server names its preferred holder when the
      // Lease is unheld, and names anew (clearing a preference left over) if that one is gone.
      c.release.yieldWhenWorkStopped();
      end(TermEnd.END_OF_TERM, d.holder(), now);
    } else if (seen.deleting() && seen.record().isHeldBy(c.config.identity())) {
      end(TermEnd.DELETED, "", now);
    } else if (d.holder().isEmpty()) {
      end(TermEnd.RELEASED_BY_OTHER, "", now);
    } else {
      end(TermEnd.TAKEN_OVER, d.holder(), now);
    }
  }

  /** Ends the current term, if any, for {@code why} (the first reason wins). */
  void end(TermEnd why, String detail, long now) {
    Term t = term;
    if (t == null) {
      return;
    }
    term = null;
    t.end(why);
    TermEnd reason = t.endReason().orElse(why); // the first reason wins (a lapse, a failure)
    ended.add(new Ended(t, now));
    boolean running = c.phase() == Campaign.Phase.RUNNING;
    if (running) {
      log.atInfo().addKeyValue("event", "lost").log("{}", endMessage(reason, detail));
    }
    c.listener.stoppedLeading(t, reason);
    if (running && t.workFailure() != null) {
      c.failWith(t.workFailure());
      return;
    }
    if (running) {
      c.acquisition.retryAt(now);
      if (!c.acquisition.stayingOut(now)) {
        c.acquisition.announced();
        log.atInfo().addKeyValue("event", "candidate")
            .log("attempting to acquire leader lease {}...", c.config.leaseKey());
      }
    }
  }

  /**
   * Until when our own earlier terms' work may still be running. Each ended term's work is
   * waited for at most {@link ElectionConfig#WORK_STOP_WAIT}.
   *
   * @return 0 if none runs, else the end of the longest wait
   */
  long workBlockedUntil() {
    ended.removeIf(e -> !e.term().workRunning());
    long until = 0;
    for (Ended e : ended) {
      until = Math.max(until, e.at() + ElectionConfig.WORK_STOP_WAIT.toNanos());
    }
    return until;
  }

  /** Tells the listener when the observed holder changed. */
  void reportLeader() {
    String holder = c.view.holder();
    if (holder.isEmpty() || holder.equals(reportedLeader)) {
      return;
    }
    if (holder.equals(c.config.identity()) && term == null) {
      return; // a Lease naming us while we do not lead: told once we have taken it back
    }
    if (reportedLeader != null) {
      c.metrics.transitionObserved();
    }
    reportedLeader = holder;
    c.listener.newLeader(holder);
  }

  /** The log line of a term's end: the article's words where it has them. */
  private String endMessage(TermEnd reason, String detail) {
    String lease = c.config.leaseKey();
    return switch (reason) {
      case EXPIRED -> "failed to renew lease " + lease + " within "
          + Durations.format(c.config.renewDeadline());
      case TAKEN_OVER -> "lease " + lease + " was taken over by " + detail;
      case RELEASED_BY_OTHER -> "lease " + lease + " was released by someone else";
      case DELETED -> "lease " + lease + " is being deleted; stepping down so that the deletion"
          + " can complete";
      case END_OF_TERM -> "end of term on lease " + lease + ": the API server prefers " + detail
          + " as the next holder";
      case WORK_RETURNED -> "leader work returned; giving up lease " + lease;
      case STEPPED_DOWN -> "stepping down from lease " + lease
          + (detail.isEmpty() ? "" : "; staying out for " + detail);
      case CLOSED -> "stopping: giving up lease " + lease;
      case WORK_FAILED -> "leader work failed beyond retrying; giving up lease " + lease;
      case ELECTION_FAILED -> "leader election of lease " + lease + " failed";
    };
  }
}
