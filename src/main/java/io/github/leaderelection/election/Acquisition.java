package io.github.leaderelection.election;

import static io.github.leaderelection.election.Campaign.log;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.github.leaderelection.election.Campaign.Purpose;
import io.github.leaderelection.election.Campaign.Request;
import io.github.leaderelection.election.ElectionRules.Decision;
import java.time.Duration;
import java.time.Instant;
import java.util.Random;

/**
 * The campaign's rounds while it runs: client-go's {@code tryAcquireOrRenew}. Each round decides
 * from the view ({@link ElectionRules#decide}) and sends one request: read, create, take over,
 * take back, renew (while leading) or finish a hand deletion; then it waits until the next round
 * is due (the retry period, a back-off, or the moment the view allows an acquisition).
 */
final class Acquisition {

  private final Campaign c;
  private final Random random;
  private final FailureLog failures;
  private final long retryNanos;

  private long nextAttemptAt;
  private int consecutiveErrors;
  /** A write lost a race: read before trusting the view again, unless the watch moved it on. */
  private boolean conflicted;
  /** The view's version when the last race was lost. */
  private long versionAtConflict;
  /** The view was read just now: decide from it without reading again. */
  private boolean fresh;
  /** The view version at which we last tried to take back a Lease that names us. */
  private long retakeTriedAtVersion = -1;
  /** The view's version when the last read was sent. */
  private long readSentAtVersion = -1;
  /** The view version at which we last said that the server's naming waits for a claim. */
  private long namedWaitLoggedAtVersion = -1;
  /** The view version at which we last warned that a Lease being deleted cannot be held. */
  private long blockedWarnedAtVersion = -1;
  /** No acquisition before this (monotonic): after a step-down, or work that returned. */
  private long stayOutUntil;
  private boolean announceResume;

  Acquisition(Campaign campaign, Random random) {
    this.c = campaign;
    this.random = random;
    this.failures = new FailureLog(campaign.ticker);
    this.retryNanos = campaign.config.retryPeriod().toNanos();
    this.nextAttemptAt = campaign.ticker.nanoTime();
  }

  /** The next round is due at {@code at} at the latest. */
  void retryAt(long at) {
    nextAttemptAt = at;
  }

  /** Stays out of the election until {@code until} (monotonic). */
  void stayOut(long until) {
    if (until > stayOutUntil) {
      stayOutUntil = until;
      announceResume = true;
    }
  }

  /** The campaign's resumption was just logged: no second "attempting to acquire" line. */
  void announced() {
    announceResume = false;
  }

  /** True while staying out of the election. */
  boolean stayingOut(long now) {
    return now < stayOutUntil;
  }

  long stayOutUntil() {
    return stayOutUntil;
  }

  /**
   * One round, if due.
   *
   * @return when the campaign wants to be woken next
   */
  long round(long now) {
    long termDeadline = c.terms.deadline();
    long due = dueAt(now);
    if (due > now) {
      return Math.min(due, termDeadline);
    }
    if (announceResume) {
      announceResume = false;
      log.atInfo().addKeyValue("event", "candidate")
          .log("attempting to acquire leader lease {}...", c.config.leaseKey());
    }
    attempt(now);
    Request sent = c.inFlight();
    return sent != null ? Math.min(sent.deadline(), termDeadline)
        : Math.min(Math.max(nextAttemptAt, now), termDeadline);
  }

  /** When the next attempt is due. */
  private long dueAt(long now) {
    boolean leading = c.terms.current() != null;
    if (!leading && now < stayOutUntil) {
      return stayOutUntil; // stepped down: stays out, whatever the Lease says
    }
    if (!leading) {
      long blocked = c.terms.workBlockedUntil();
      if (blocked > now) {
        // Our previous term's unit is still finishing: take nothing until it has (we are woken
        // when it stops), so that a release or a finished deletion never cuts its margin short.
        return blocked;
      }
      if (ElectionRules.retakeNow(c.view.snapshot(), c.config.identity(), retakeTriedAtVersion)) {
        return now;
      }
    }
    if (leading || consecutiveErrors > 0 || !c.watching()) {
      return nextAttemptAt; // leader: every retry period; polling or failing: backoff with jitter
    }
    if (ElectionRules.awaitWinnersWrite(conflicted, fresh, c.view.version(), versionAtConflict)) {
      return nextAttemptAt;
    }
    // A watching candidate acts the moment the view allows it, and sleeps until then.
    Decision d = ElectionRules.decide(c.view.snapshot(), now, c.config.identity(), false,
        c.config.coordinated());
    return d.action() == ElectionRules.Action.WAIT || d.action() == ElectionRules.Action.BLOCKED
        ? d.until() : now;
  }

  private void attempt(long now) {
    boolean leading = c.terms.current() != null;
    boolean watching = c.watching();
    LeaseView.Snapshot seen = c.view.snapshot();
    if (conflicted && ElectionRules.raceSettledByWatch(leading, watching, seen.version(),
        versionAtConflict)) {
      conflicted = false; // the watch has shown what beat us: decide from it
    }
    boolean mustRead = ElectionRules.mustRead(seen.known(), fresh, conflicted, leading, watching);
    fresh = false;
    if (!leading && seen.record().isHeldBy(c.config.identity())) {
      retakeTriedAtVersion = seen.version(); // the retake shortcut is taken once per version
    }
    if (mustRead) {
      if (leading) {
        c.metrics.slowpathExercised();
      }
      readSentAtVersion = c.view.version();
      c.send(Purpose.READ, ApiVerb.GET, null, null, now);
      return;
    }
    Decision d = ElectionRules.decide(seen, now, c.config.identity(), leading,
        c.config.coordinated());
    LeaderElectionRecord old = seen.record();
    String me = c.config.identity();
    int duration = c.config.leaseDurationSeconds();
    Instant wall = c.ticker.now();
    switch (d.action()) {
      case READ -> {
        readSentAtVersion = c.view.version();
        c.send(Purpose.READ, ApiVerb.GET, null, null, now);
      }
      case WAIT -> {
        recovered();
        if (d.until() != Long.MAX_VALUE && c.config.coordinated()
            && seen.version() != namedWaitLoggedAtVersion) {
          namedWaitLoggedAtVersion = seen.version();
          log.info("the API server named this replica the holder of lease {}; working in {} once"
              + " the claim of {} has ended by this replica's clock", c.config.leaseKey(),
              Durations.format(java.time.Duration.ofNanos(d.until() - now)),
              d.holder().isEmpty() ? "a holder this replica never saw" : d.holder());
        }
        nextAttemptAt = now + delay(false);
      }
      case BLOCKED -> {
        recovered();
        if (seen.version() != blockedWarnedAtVersion) {
          blockedWarnedAtVersion = seen.version();
          log.warn("lease {} is being deleted and only the finalizers {} of another controller keep"
              + " it; this replica's finalizer is not on it, so nobody can hold it safely and no"
              + " new lease can be created until that controller removes them (by hand: kubectl"
              + " patch lease {} -n {} --type=merge -p '{\"metadata\":{\"finalizers\":null}}')",
              c.config.leaseKey(), LeaseWrites.finalizers(seen.lease()), c.config.leaseName(),
              c.config.namespace());
        }
        nextAttemptAt = now + delay(false);
      }
      case STEP_DOWN -> c.terms.stepDownFor(seen, d, now);
      case FINISH_DELETE -> {
        log.info("lease {} was deleted by hand and nobody's claim on it runs any more; finishing"
            + " the deletion", c.config.leaseKey());
        c.send(Purpose.FINISH_DELETE, ApiVerb.UPDATE, seen.lease(),
            LeaderElectionRecord.released(wall, old.leaseTransitions()), now);
      }
      case CREATE -> c.send(Purpose.CREATE, ApiVerb.CREATE, null,
          new LeaderElectionRecord(me, duration, wall, wall, 0), now);
      case RENEW -> {
        Instant acquired = c.terms.acquireTime() != null ? c.terms.acquireTime() : wall;
        LeaderElectionRecord next = new LeaderElectionRecord(me, duration, acquired, wall,
            old.leaseTransitions());
        if (seen.exists()) {
          c.send(Purpose.RENEW, ApiVerb.UPDATE, seen.lease(), next, now);
        } else {
          log.warn("lease {} was deleted while this replica leads; creating it again",
              c.config.leaseKey());
          c.send(Purpose.RENEW, ApiVerb.CREATE, null, next, now);
        }
      }
      case TAKE_OVER -> {
        int transitions = old.nextTransitions();
        if (transitions == 0 && old.leaseTransitions() != 0) {
          log.warn("leaseTransitions of lease {} is at its maximum ({}); counting again from 0",
              c.config.leaseKey(), old.leaseTransitions());
        }
        c.send(Purpose.TAKE_OVER, ApiVerb.UPDATE, seen.lease(),
            new LeaderElectionRecord(me, duration, wall, wall, transitions), now);
      }
      case RETAKE -> {
        log.info("lease {} names this replica, which is not leading (a renewal of this process"
            + " stored late, or named by the server); taking it back as a new term",
            c.config.leaseKey());
        c.send(Purpose.RETAKE, ApiVerb.UPDATE, seen.lease(),
            new LeaderElectionRecord(me, duration, wall, wall, old.leaseTransitions()), now);
      }
      default -> throw new IllegalStateException("unexpected decision " + d);
    }
  }

  void succeeded(Request request, Lease lease, long now) {
    switch (request.purpose()) {
      case READ -> {
        if (lease == null && c.view.version() != readSentAtVersion && c.view.snapshot().exists()) {
          // "Not found" carries no resourceVersion to order it by: the watch showed the Lease
          // after this read was sent, so the answer may be older than that. Read again rather
          // than believe it (a coordinated follower would otherwise wait for an event that never
          // comes).
          nextAttemptAt = now;
          return;
        }
        c.view.observe(lease, now);
        conflicted = false;
        fresh = true;
        nextAttemptAt = now;
      }
      case FINISH_DELETE -> {
        // The finalizer is gone, so is the Lease. Its last state is our release: nobody's claim.
        // (Only sent when ours was the last finalizer: none can be added to a Lease being deleted,
        // and the write is conditional on the state that showed none.)
        c.view.observe(lease, now);
        c.view.observe(null, now);
        conflicted = false;
        nextAttemptAt = now;
      }
      default -> {
        c.wrote(lease, request.sentAt(), now);
        conflicted = false;
        nextAttemptAt = now + retryNanos;
        Term current = c.terms.current();
        if (current != null) {
          c.metrics.renewAttempt(Duration.ofNanos(now - request.sentAt()), true);
          c.terms.renewed(current, request.sentAt(), now);
        } else if (c.phase() == Campaign.Phase.RUNNING) {
          c.terms.start(request.sentAt(), now);
        }
        // While stopping, a write won by an abandoned attempt is undone by the release.
      }
    }
  }

  void failed(Request request, LeaseApiException api, RuntimeException failure, long now) {
    boolean leading = c.terms.current() != null;
    if (leading && request.purpose() == Purpose.RENEW) {
      c.metrics.renewAttempt(Duration.ofNanos(now - request.sentAt()), false);
    }
    if (api != null && api.isConflict()) {
      conflicted = true;
      versionAtConflict = c.view.version();
      if (!leading) {
        log.atInfo().addKeyValue("event", "conflict").log("lease {} was written by another"
            + " replica first (409 Conflict); not acquired this round", c.config.leaseKey());
      }
      // A leader reads at once (its deadline runs); a candidate waits for the winner's write.
      nextAttemptAt = leading ? now : now + delay(false);
      return;
    }
    if (api != null && api.code() == 404 && request.verb() == ApiVerb.UPDATE) {
      // The Lease was deleted under us: decide again from "it does not exist".
      c.view.observe(null, now);
      nextAttemptAt = now;
      return;
    }
    consecutiveErrors++;
    if (api != null) {
      c.metrics.apiError(api.verb(), api.code());
      failures.failed(api.kind(), api.explain(c.config.leaseKey()));
    } else if (failure instanceof Campaign.RequestTimeout t) {
      c.metrics.apiError(request.verb(), 0);
      failures.failed("timeout/" + request.verb(), t.getMessage());
    } else {
      c.metrics.apiError(request.verb(), 0);
      failures.failed(failure.getClass().getName(), "unexpected error on lease "
          + c.config.leaseKey() + ": " + failure);
    }
    nextAttemptAt = now + delay(true);
  }

  /** An answer other than a failure: an outage is over. */
  void recovered() {
    if (consecutiveErrors > 0) {
      failures.recovered("lease " + c.config.leaseKey());
    }
    consecutiveErrors = 0;
  }

  private long delay(boolean error) {
    boolean leading = c.terms.current() != null;
    // (A leader draws no jitter: the simulation's schedules stay what their seeds made them.)
    return ElectionRules.retryDelayNanos(retryNanos, leading, error, consecutiveErrors,
        leading ? 0 : random.nextDouble());
  }
}
