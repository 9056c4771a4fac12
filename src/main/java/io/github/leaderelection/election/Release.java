package io.github.leaderelection.election;

import static io.github.leaderelection.election.Campaign.log;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.github.leaderelection.election.Campaign.Purpose;
import io.github.leaderelection.election.Campaign.Request;
import java.time.Duration;

/**
 * Giving the Lease up: on stop (the campaign then ends) and after a chosen end of a term (a
 * step-down, work that returned; the campaign then goes on). The term ends at once; the work may
 * finish (at most {@link ElectionConfig#WORK_STOP_WAIT}); only then is the release sent, so a
 * follower that takes over at once never overlaps with work of ours. A release is conditional on
 * our last write: a Lease somebody else wrote since is never touched.
 */
final class Release {

  private final Campaign c;
  private long workWaitUntil;
  private long deadline;
  /**
   * Conflicted releases re-read so far. Nobody but the holder writes a held Lease, except, in
   * coordinated mode, the API server (an end of term), which can land between the re-read and
   * the release once more.
   */
  private int retries;
  private static final int MAX_RETRIES = 3;
  /** A chosen end (step-down, work returned): release once the work has stopped, then go on. */
  private boolean yieldPending;

  Release(Campaign campaign) {
    this.c = campaign;
  }

  /** The bound of the whole stop's release (monotonic). */
  long deadline() {
    return deadline;
  }

  /** The stop begins: the term ends now, and an acquisition on the wire is awaited. */
  void begin(long now) {
    yieldPending = false;
    c.terms.end(TermEnd.CLOSED, "", now);
    Request pending = c.inFlight();
    if (pending != null && !mayMakeUsHolder(pending)) {
      // A read changes nothing, and a renewal leaves us the holder we already are (a late one
      // makes the release conflict, and the release reads and tries again). Only an acquisition
      // on the wire is awaited: it may make us the holder, to be released then (see stopping()).
      c.abandon(pending);
    }
    workWaitUntil = now + ElectionConfig.WORK_STOP_WAIT.toNanos();
    deadline = Math.max(workWaitUntil, c.terms.workBlockedUntil())
        + c.config.releaseTimeout().toNanos();
  }

  /** After a chosen end while running: release once the work has stopped. */
  void yieldWhenWorkStopped() {
    yieldPending = true;
  }

  /**
   * While running: sends the release a chosen end asked for, once the work has stopped.
   *
   * @return when to be woken, or 0 when nothing is to be done for a release
   */
  long yieldIfDue(long now) {
    if (!yieldPending) {
      return 0;
    }
    long blocked = c.terms.workBlockedUntil();
    if (blocked > now) {
      return blocked; // woken when the work stops
    }
    yieldPending = false;
    Lease mine = c.lastWritten();
    Lease seen = c.view.snapshot().lease();
    if (c.config.coordinated() && seen != null && mine != null && LeaseView.isOlder(mine, seen)
        && Incarnation.seenBy(seen, c.config).isHeldBy(c.config.identity())) {
      // Still ours, but the server has written since (its end of term: a preferredHolder): the
      // release is conditional on that version, or it could never land.
      mine = seen;
    }
    // Work still running past the wait keeps the Lease unreleased: it expires by itself.
    if (!ElectionRules.mayRelease(c.config.releaseOnCancel(), recordOf(mine),
        c.config.identity(), blocked > 0)) {
      return 0;
    }
    send(Purpose.YIELD, mine, now);
    return c.inFlight().deadline();
  }

  /** While stopping: waits for the work and an acquisition on the wire, then releases. */
  long stopping(long now) {
    long blocked = c.terms.workBlockedUntil();
    boolean working = blocked > 0;
    long waitUntil = Math.max(workWaitUntil, blocked);
    Request pending = c.inFlight();
    if ((working || pending != null) && now < waitUntil) {
      // The running unit finishes (of this term, or of an earlier one: its margin must not be cut
      // short by our release), and an acquisition on the wire is answered (it may have made us
      // the holder, to be released then). Woken when either ends.
      return pending != null ? Math.min(waitUntil, pending.deadline()) : waitUntil;
    }
    if (pending != null) {
      c.abandon(pending); // hung: nothing waits for it any longer; a release finds out (409)
    }
    if (working) {
      log.warn("leader work still running {} after the stop; not releasing lease {}: followers"
          + " take over when it expires", Durations.format(ElectionConfig.WORK_STOP_WAIT),
          c.config.leaseKey());
      return c.finish();
    }
    Lease mine = c.lastWritten();
    if (ElectionRules.mayRelease(c.config.releaseOnCancel(), recordOf(mine), c.config.identity(),
        false)) {
      c.enterReleasing();
      send(Purpose.RELEASE, mine, now);
      return c.inFlight() != null ? c.inFlight().deadline() : Campaign.NEVER;
    }
    return c.finish();
  }

  void succeeded(Request request, Lease lease, long now) {
    switch (request.purpose()) {
      case RELEASE_READ -> releaseAgain(lease, now);
      case RELEASE -> {
        c.wrote(lease, request.sentAt(), now);
        log.atInfo().addKeyValue("event", "released")
            .log("released lease {}", c.config.leaseKey());
        c.finish();
      }
      case YIELD -> {
        c.wrote(lease, request.sentAt(), now);
        log.atInfo().addKeyValue("event", "released")
            .log("released lease {}", c.config.leaseKey());
        c.acquisition.retryAt(Math.max(now, c.acquisition.stayOutUntil()));
      }
      default -> throw new IllegalStateException("not a release: " + request);
    }
  }

  void failed(Request request, LeaseApiException api, RuntimeException failure, long now) {
    if (request.purpose() == Purpose.YIELD) {
      // Whatever went wrong, the Lease expires by itself; campaign again after the stay-out.
      log.info("could not release lease {} ({}); it expires by itself", c.config.leaseKey(),
          api != null ? api.explain(c.config.leaseKey()) : failure.toString());
      c.acquisition.retryAt(Math.max(now, c.acquisition.stayOutUntil()));
      return;
    }
    if (api != null && api.isConflict() && retries < MAX_RETRIES && now < deadline) {
      retries++;
      c.send(Purpose.RELEASE_READ, ApiVerb.GET, null, null, now);
      return;
    }
    if (api != null && api.isConflict()) {
      log.info("lease {} changed since our last renewal; not releasing it", c.config.leaseKey());
    } else if (api != null && api.code() == 404) {
      log.info("lease {} no longer exists; nothing to release", c.config.leaseKey());
    } else if (failure instanceof Campaign.RequestTimeout) {
      log.warn("could not release lease {} within {}; followers will take over when it expires",
          c.config.leaseKey(), Durations.format(Duration.ofNanos(request.deadline()
              - request.sentAt())));
    } else {
      log.warn("could not release lease {}: {}", c.config.leaseKey(),
          api != null ? api.explain(c.config.leaseKey()) : failure.toString());
    }
    c.finish();
  }

  /** After a 409 on the release: a renewal of ours may have landed late. Read and try once more. */
  private void releaseAgain(Lease lease, long now) {
    c.view.observe(lease, now);
    if (lease != null && Incarnation.seenBy(lease, c.config).isHeldBy(c.config.identity())
        && now < deadline) {
      send(Purpose.RELEASE, lease, now);
      return;
    }
    log.info("lease {} changed since our last renewal; not releasing it", c.config.leaseKey());
    c.finish();
  }

  /** Clears the holder, conditional on {@code base} (our own write). */
  private void send(Purpose purpose, Lease base, long now) {
    LeaderElectionRecord prev = LeaderElectionRecord.fromSpec(base.getSpec());
    c.send(purpose, ApiVerb.UPDATE, base,
        LeaderElectionRecord.released(c.ticker.now(), prev.leaseTransitions()), now);
  }

  private static LeaderElectionRecord recordOf(Lease lease) {
    return lease == null ? null : LeaderElectionRecord.fromSpec(lease.getSpec());
  }

  private static boolean mayMakeUsHolder(Request request) {
    return request.purpose() == Purpose.CREATE || request.purpose() == Purpose.TAKE_OVER
        || request.purpose() == Purpose.RETAKE;
  }
}
