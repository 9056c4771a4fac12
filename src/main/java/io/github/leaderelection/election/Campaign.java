package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.github.leaderelection.election.ElectionRules.Decision;
import java.time.Duration;
import java.time.Instant;
import java.util.Random;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One replica's side of the election as a state machine, with no threads and no I/O of its own:
 * it is told the time ({@link #tick}), the answers to the requests it asked for
 * ({@link #completed}) and that it must stop ({@link #stop}); it asks for requests through its
 * {@link Port} and says when it next wants to be woken. {@link LeaderElector} runs it on a thread
 * against the real API server; the simulation test runs the very same code against a simulated
 * one, on simulated clocks, from a seed.
 *
 * <p>What may be done is decided by {@link ElectionRules}; this class carries it out: one request
 * at a time, each bounded as a whole by a deadline, the term ({@link Term}) started on a won write
 * and ended exactly once, the release on stop. Not thread-safe: one thread calls it. The fields
 * that health and metrics read from other threads are volatile.
 */
final class Campaign {

  /** The elector's logger: operators filter and read the election's story under one name. */
  private static final Logger log = LoggerFactory.getLogger(LeaderElector.class);

  /** Cap for the error backoff, as a multiple of the retry period. */
  private static final int MAX_BACKOFF_FACTOR = 4;
  static final long NEVER = Long.MAX_VALUE;

  /** Why a request is sent. */
  enum Purpose { READ, CREATE, RENEW, TAKE_OVER, RETAKE, FINISH_DELETE, YIELD, RELEASE,
    RELEASE_READ }

  /**
   * One request to the API server.
   *
   * @param base for UPDATE: the Lease the write is conditional on
   * @param record for CREATE and UPDATE: the record to write
   * @param toSend for CREATE and UPDATE: the Lease object to send ({@link LeaseWrites})
   * @param sentAt when it was sent (monotonic): the start of the fence a won write gives
   * @param deadline when it is abandoned if not answered
   */
  record Request(long id, Purpose purpose, ApiVerb verb, Lease base,
      LeaderElectionRecord record, Lease toSend, long sentAt, long deadline) {

    boolean isWrite() {
      return verb != ApiVerb.GET;
    }
  }

  /** An answer: the Lease (null: it does not exist), or a failure. */
  record Reply(Lease lease, RuntimeException failure) {

    static Reply ok(Lease lease) {
      return new Reply(lease, null);
    }

    static Reply failed(RuntimeException failure) {
      return new Reply(null, failure);
    }
  }

  /** How requests leave the state machine. Their answers come back through {@link #completed}. */
  interface Port {

    /** Sends {@code request}; its answer must reach {@link #completed} later, on the caller's thread. */
    void send(Request request);

    /** Gives up on {@code request} (best effort: it may still reach the server, or be answered). */
    void abandon(Request request);

    /** Called once a term's work threads have stopped, so the caller wakes the state machine. */
    default void wake() {
    }
  }

  private enum Phase { RUNNING, STOPPING, RELEASING, DONE }

  private record Ended(Term term, long at) {
  }

  private final ElectionConfig config;
  private final LeaseView view;
  private final Ticker ticker;
  private final Port port;
  private final LeadershipListener listener;
  private final ElectionMetrics metrics;
  private final BooleanSupplier watchLive;
  private final BooleanSupplier stopRequested;
  private final Random random;
  private final FailureLog failures;
  private final long retryNanos;
  private final KubernetesClient client;

  private volatile Term term;
  private volatile Lease lastWritten;
  private volatile long lastWriteSentNanos;
  private volatile boolean firstRoundDone;
  private volatile Throwable fatal;
  private long terms;
  private Instant termAcquireTime;
  private volatile Request inFlight;
  private long nextRequestId;
  private long nextAttemptAt;
  private int consecutiveErrors;
  /** A write lost a race: read before trusting the view again, unless the watch moved it on. */
  private boolean conflicted;
  /** The view's version when the last race was lost. */
  private long versionAtConflict;
  /** The view was read just now: decide from it without reading again. */
  private boolean fresh;
  private String reportedLeader;
  /** The view version at which we last tried to take back a Lease that names us. */
  private long retakeTriedAtVersion = -1;
  private Phase phase = Phase.RUNNING;
  /** Our ended terms whose work may still run, with when each ended (monotonic). */
  private final java.util.List<Ended> ended = new java.util.ArrayList<>();
  private long workWaitUntil;
  private long releaseDeadline;
  private boolean releaseRetried;
  /** A chosen end (step-down, work returned): release once the work has stopped, then go on. */
  private boolean yieldPending;
  /** No acquisition before this (monotonic): after a step-down. */
  private long stayOutUntil;

  Campaign(ElectionConfig config, LeaseView view, Ticker ticker, Port port,
      LeadershipListener listener, ElectionMetrics metrics, BooleanSupplier watchLive,
      BooleanSupplier stopRequested, Random random, KubernetesClient client) {
    this.config = config;
    this.view = view;
    this.ticker = ticker;
    this.port = port;
    this.listener = listener;
    this.metrics = metrics;
    this.watchLive = watchLive;
    this.stopRequested = stopRequested;
    this.random = random;
    this.client = client;
    this.failures = new FailureLog(ticker);
    this.retryNanos = config.retryPeriod().toNanos();
    this.nextAttemptAt = ticker.nanoTime();
  }

  // ---------------------------------------------------------------------------------------------
  // What other threads may read

  /** The current term, or null when not leading. */
  Term term() {
    return term;
  }

  Lease lastWritten() {
    return lastWritten;
  }

  /** When our last successful write was sent (monotonic), 0 if never. */
  long lastWriteSentNanos() {
    return lastWriteSentNanos;
  }

  /**
   * True once this replica knows who leads: an answer from the API server, to a request of ours
   * or through the watch (a follower whose first read was abandoned may learn it from the watch).
   */
  boolean firstRoundDone() {
    return firstRoundDone || view.known();
  }

  boolean done() {
    return phase == Phase.DONE;
  }

  /** The failure that made the replica stop (work that could not go on), or null. */
  Throwable fatal() {
    return fatal;
  }

  boolean requestInFlight() {
    return inFlight != null;
  }

  // ---------------------------------------------------------------------------------------------
  // Events

  /**
   * Does whatever is due now.
   *
   * @return when to be called next at the latest (monotonic), {@link #NEVER} once done
   */
  long tick() {
    long now = ticker.nanoTime();
    if (phase == Phase.RUNNING && stopRequested.getAsBoolean()) {
      stop();
    }
    if (inFlight != null && now >= inFlight.deadline()) {
      timedOut(inFlight, now);
    }
    checkTerm(now);
    reportLeader();
    return switch (phase) {
      case RUNNING -> running(now);
      case STOPPING -> stopping(now);
      case RELEASING -> inFlight != null ? inFlight.deadline() : finish();
      case DONE -> NEVER;
    };
  }

  /** A request's answer arrived. */
  void completed(Request request, Reply reply) {
    long now = ticker.nanoTime();
    if (request != inFlight) {
      completedLate(request, reply, now);
      return;
    }
    inFlight = null;
    if (reply.failure() == null) {
      succeeded(request, reply.lease(), now);
    } else {
      failed(request, reply.failure(), now);
    }
  }

  /**
   * Begins the stop: the term ends now (its work is cancelled at once, not after a hung request),
   * then the running unit of work may finish, then the Lease is released, within
   * {@link ElectionConfig#shutdownBound()}.
   */
  void stop() {
    if (phase != Phase.RUNNING) {
      return;
    }
    long now = ticker.nanoTime();
    phase = Phase.STOPPING;
    yieldPending = false;
    endTerm(TermEnd.CLOSED, "", now);
    if (inFlight != null && !mayMakeUsHolder(inFlight)) {
      // A read changes nothing, and a renewal leaves us the holder we already are (a late one
      // makes the release conflict, and the release reads and tries again). Only an acquisition
      // on the wire is awaited: it may make us the holder, to be released then (see stopping()).
      abandon(inFlight);
    }
    workWaitUntil = now + ElectionConfig.WORK_STOP_WAIT.toNanos();
    releaseDeadline = Math.max(workWaitUntil, workBlockedUntil()) + config.releaseTimeout().toNanos();
  }

  // ---------------------------------------------------------------------------------------------
  // Campaigning

  private long running(long now) {
    if (inFlight != null) {
      return Math.min(inFlight.deadline(), termDeadline());
    }
    if (yieldPending) {
      long blocked = workBlockedUntil();
      if (blocked > now) {
        return blocked; // woken when the work stops
      }
      yieldPending = false;
      if (yieldLease(now)) {
        return inFlight.deadline();
      }
    }
    long due = dueAt(now);
    if (due > now) {
      return Math.min(due, termDeadline());
    }
    attempt(now);
    return inFlight != null ? Math.min(inFlight.deadline(), termDeadline())
        : Math.min(Math.max(nextAttemptAt, now), termDeadline());
  }

  /** When the next attempt is due. */
  private long dueAt(long now) {
    if (term == null && now < stayOutUntil) {
      return stayOutUntil; // stepped down: stays out, whatever the Lease says
    }
    if (term == null) {
      long blocked = workBlockedUntil();
      if (blocked > now) {
        // Our previous term's unit is still finishing: take nothing until it has (we are woken
        // when it stops), so that a release or a finished deletion never cuts its margin short.
        return blocked;
      }
      LeaseView.Snapshot seen = view.snapshot();
      if (seen.record().isHeldBy(config.identity()) && seen.version() != retakeTriedAtVersion) {
        // The Lease names us while we do not lead (a renewal stored late, or we restarted): only
        // we can be working under our name, so take it back now, whatever the backoff says,
        // rather than leave the group leaderless for a lease duration. Once per version seen.
        return now;
      }
    }
    if (term != null || consecutiveErrors > 0 || !watching()) {
      return nextAttemptAt; // leader: every retry period; polling or failing: backoff with jitter
    }
    if (conflicted && !fresh && view.version() == versionAtConflict) {
      // We lost a race: the watch brings the winner's write in a moment; read it ourselves only
      // if it has not come by the next poll (a release raced for by 30 replicas would otherwise
      // cost 29 GETs).
      return nextAttemptAt;
    }
    // A watching candidate acts the moment the view allows it, and sleeps until then.
    Decision d = ElectionRules.decide(view.snapshot(), now, config.identity(), false,
        config.coordinated());
    return d.action() == ElectionRules.Action.WAIT ? d.until() : now;
  }

  private boolean watching() {
    return config.watch() && watchLive.getAsBoolean();
  }

  private void attempt(long now) {
    boolean leading = term != null;
    LeaseView.Snapshot seen = view.snapshot();
    if (conflicted && !leading && watching() && seen.version() != versionAtConflict) {
      conflicted = false; // the watch has shown what beat us: decide from it
    }
    boolean mustRead = !fresh && (conflicted || (!leading && !watching()));
    fresh = false;
    if (!leading && seen.record().isHeldBy(config.identity())) {
      retakeTriedAtVersion = seen.version(); // the shortcut in dueAt is taken once per version
    }
    if (mustRead || !seen.known()) {
      if (leading) {
        metrics.slowpathExercised();
      }
      send(Purpose.READ, ApiVerb.GET, null, null, now);
      return;
    }
    Decision d = ElectionRules.decide(seen, now, config.identity(), leading,
        config.coordinated());
    LeaderElectionRecord old = seen.record();
    String me = config.identity();
    int duration = config.leaseDurationSeconds();
    Instant wall = ticker.now();
    switch (d.action()) {
      case READ -> send(Purpose.READ, ApiVerb.GET, null, null, now);
      case WAIT -> {
        recovered();
        nextAttemptAt = now + pollDelay(false);
      }
      case STEP_DOWN -> stepDownFor(seen, d, now);
      case FINISH_DELETE -> {
        log.info("lease {} was deleted by hand and nobody's claim on it runs any more; finishing"
            + " the deletion", config.leaseKey());
        send(Purpose.FINISH_DELETE, ApiVerb.UPDATE, seen.lease(),
            LeaderElectionRecord.released(wall, old.leaseTransitions()), now);
      }
      case CREATE -> send(Purpose.CREATE, ApiVerb.CREATE, null,
          new LeaderElectionRecord(me, duration, wall, wall, 0), now);
      case RENEW -> {
        Instant acquired = termAcquireTime != null ? termAcquireTime : wall;
        LeaderElectionRecord next = new LeaderElectionRecord(me, duration, acquired, wall,
            old.leaseTransitions());
        if (seen.exists()) {
          send(Purpose.RENEW, ApiVerb.UPDATE, seen.lease(), next, now);
        } else {
          log.warn("lease {} was deleted while this replica leads; creating it again",
              config.leaseKey());
          send(Purpose.RENEW, ApiVerb.CREATE, null, next, now);
        }
      }
      case TAKE_OVER -> {
        int transitions = old.nextTransitions();
        if (transitions == 0 && old.leaseTransitions() != 0) {
          log.warn("leaseTransitions of lease {} is at its maximum ({}); counting again from 0",
              config.leaseKey(), old.leaseTransitions());
        }
        send(Purpose.TAKE_OVER, ApiVerb.UPDATE, seen.lease(),
            new LeaderElectionRecord(me, duration, wall, wall, transitions), now);
      }
      case RETAKE -> {
        log.info("lease {} names this replica, which is not leading (restarted, or a renewal"
            + " stored late); taking it back as a new term", config.leaseKey());
        send(Purpose.RETAKE, ApiVerb.UPDATE, seen.lease(),
            new LeaderElectionRecord(me, duration, wall, wall, old.leaseTransitions()), now);
      }
      default -> throw new IllegalStateException("unexpected decision " + d);
    }
  }

  private void send(Purpose purpose, ApiVerb verb, Lease base,
      LeaderElectionRecord record, long now) {
    boolean releasing = purpose == Purpose.RELEASE || purpose == Purpose.RELEASE_READ
        || purpose == Purpose.YIELD;
    long timeout = (releasing ? config.releaseTimeout() : config.requestTimeout()).toNanos();
    long deadline = releasing && purpose != Purpose.YIELD
        ? Math.min(now + timeout, releaseDeadline) : now + timeout;
    boolean finalize = !config.coordinated(); // the server manages a coordinated Lease
    Lease toSend = record == null ? null : verb == ApiVerb.CREATE
        ? LeaseWrites.forCreate(config.namespace(), config.leaseName(), record,
            config.leaseLabels(), finalize)
        : LeaseWrites.forUpdate(base, record, config.leaseLabels(), finalize);
    Request request = new Request(++nextRequestId, purpose, verb, base, record, toSend, now,
        deadline);
    inFlight = request;
    port.send(request);
  }

  private void succeeded(Request request, Lease lease, long now) {
    firstRoundDone = true;
    if (request.purpose() != Purpose.READ) {
      recovered(); // a read alone does not end an outage that failed the write after it
    }
    switch (request.purpose()) {
      case READ -> {
        view.observe(lease, now);
        conflicted = false;
        fresh = true;
        nextAttemptAt = now;
      }
      case RELEASE_READ -> releaseAgain(lease, now);
      case FINISH_DELETE -> {
        // The finalizer is gone, so is the Lease. Its last state is our release: nobody's claim.
        view.observe(lease, now);
        view.observe(null, now);
        conflicted = false;
        nextAttemptAt = now;
      }
      case RELEASE -> {
        wrote(lease, request.sentAt(), now);
        log.atInfo().addKeyValue("event", "released").log("released lease {}", config.leaseKey());
        finish();
      }
      case YIELD -> {
        wrote(lease, request.sentAt(), now);
        log.atInfo().addKeyValue("event", "released").log("released lease {}", config.leaseKey());
        nextAttemptAt = Math.max(now, stayOutUntil);
      }
      default -> {
        wrote(lease, request.sentAt(), now);
        conflicted = false;
        nextAttemptAt = now + retryNanos;
        Term current = term;
        if (current != null) {
          metrics.renewAttempt(Duration.ofNanos(now - request.sentAt()), true);
          if (!current.extend(request.sentAt())) {
            log.info("the renewal of lease {} was answered after the renew deadline ({})",
                config.leaseKey(), Durations.format(config.renewDeadline()));
            endTerm(TermEnd.EXPIRED, "", now);
          }
        } else if (phase == Phase.RUNNING) {
          startTerm(request.sentAt(), now);
        }
        // While stopping, a write won by an abandoned attempt is undone by the release.
      }
    }
  }

  private void failed(Request request, RuntimeException failure, long now) {
    LeaseApiException api = failure instanceof LeaseApiException e ? e : null;
    if (request.purpose() == Purpose.RELEASE || request.purpose() == Purpose.RELEASE_READ) {
      releaseFailed(request, api, failure);
      return;
    }
    if (request.purpose() == Purpose.YIELD) {
      // Whatever went wrong, the Lease expires by itself; campaign again after the stay-out.
      log.info("could not release lease {} ({}); it expires by itself", config.leaseKey(),
          api != null ? api.explain(config.leaseKey()) : failure.toString());
      nextAttemptAt = Math.max(now, stayOutUntil);
      return;
    }
    boolean leading = term != null;
    if (leading && request.purpose() == Purpose.RENEW) {
      metrics.renewAttempt(Duration.ofNanos(now - request.sentAt()), false);
    }
    if (api != null && api.isConflict()) {
      firstRoundDone = true;
      conflicted = true;
      versionAtConflict = view.version();
      if (!leading) {
        log.atInfo().addKeyValue("event", "conflict").log("lease {} was written by another"
            + " replica first (409 Conflict); not acquired this round", config.leaseKey());
      }
      // A leader reads at once (its deadline runs); a candidate waits for the winner's write.
      nextAttemptAt = leading ? now : now + pollDelay(false);
      return;
    }
    if (api != null && api.code() == 404 && request.verb() == ApiVerb.UPDATE) {
      // The Lease was deleted under us: decide again from "it does not exist".
      firstRoundDone = true;
      view.observe(null, now);
      nextAttemptAt = now;
      return;
    }
    consecutiveErrors++;
    if (api != null) {
      metrics.apiError(api.verb(), api.code());
      failures.failed(api.kind(), api.explain(config.leaseKey()));
    } else if (failure instanceof RequestTimeout t) {
      metrics.apiError(request.verb(), 0);
      failures.failed("timeout/" + request.verb(), t.getMessage());
    } else {
      metrics.apiError(request.verb(), 0);
      failures.failed(failure.getClass().getName(), "unexpected error on lease "
          + config.leaseKey() + ": " + failure);
    }
    nextAttemptAt = now + pollDelay(true);
  }

  private void recovered() {
    if (consecutiveErrors > 0) {
      failures.recovered(config.leaseKey());
    }
    consecutiveErrors = 0;
  }

  /** The answer to a request we gave up on: what it wrote is real, nothing else of it counts. */
  private void completedLate(Request request, Reply reply, long now) {
    if (reply.failure() != null || !request.isWrite()) {
      return;
    }
    wrote(reply.lease(), request.sentAt(), now);
    Term current = term;
    if (current != null && request.purpose() == Purpose.RENEW) {
      current.extend(request.sentAt()); // a write sent within this term; refused if it lapsed
    }
    // A late acquire leaves the Lease naming us while we do not lead: the rules take it back.
  }

  private void timedOut(Request request, long now) {
    abandon(request);
    String what = request.verb().name().toLowerCase(java.util.Locale.ROOT);
    failed(request, new RequestTimeout("the " + what + " of lease " + config.leaseKey()
        + " did not complete within " + Durations.format(Duration.ofNanos(request.deadline()
        - request.sentAt())) + "; abandoned it"), now);
  }

  private void abandon(Request request) {
    if (inFlight == request) {
      inFlight = null;
    }
    port.abandon(request);
  }

  private void wrote(Lease lease, long sentAt, long now) {
    if (lease == null) {
      return;
    }
    Lease mine = lastWritten;
    if (mine == null || !LeaseView.isOlder(lease, mine)) {
      lastWritten = lease;
      lastWriteSentNanos = Math.max(lastWriteSentNanos, sentAt);
    }
    view.observe(lease, now);
  }

  // ---------------------------------------------------------------------------------------------
  // Terms

  private void checkTerm(long now) {
    Term current = term;
    if (current == null) {
      return;
    }
    if (!current.isValid()) {
      TermEnd reason = current.endReason().orElse(TermEnd.EXPIRED);
      if (current.workFailure() != null) {
        fatal = current.workFailure();
        stop();
      } else if (reason == TermEnd.CLOSED && stopRequested.getAsBoolean()) {
        stop(); // ended by the stop request itself, before this thread got to it
      } else {
        endTerm(reason, "", now);
        if (reason == TermEnd.WORK_RETURNED) {
          yieldPending = true; // the work gave leadership up: release it, as a step-down does
          stayOutUntil = Math.max(stayOutUntil, now + config.requeueDelay().toNanos());
        }
      }
      return;
    }
    LeaseView.Snapshot seen = view.snapshot();
    Decision d = ElectionRules.decide(seen, now, config.identity(), true, config.coordinated());
    if (d.action() == ElectionRules.Action.STEP_DOWN) {
      stepDownFor(seen, d, now);
    }
  }

  /** The rules say a leader must stop: say why, in the election's vocabulary. */
  private void stepDownFor(LeaseView.Snapshot seen, Decision d, long now) {
    if (seen.record().isEndOfTermFor(config.identity())) {
      endTerm(TermEnd.END_OF_TERM, d.holder(), now);
    } else if (seen.deleting() && seen.record().isHeldBy(config.identity())) {
      endTerm(TermEnd.DELETED, "", now);
    } else if (d.holder().isEmpty()) {
      endTerm(TermEnd.RELEASED_BY_OTHER, "", now);
    } else {
      endTerm(TermEnd.TAKEN_OVER, d.holder(), now);
    }
  }

  /** The log line of a term's end: the article's words where it has them. */
  private String endMessage(TermEnd reason, String detail) {
    String lease = config.leaseKey();
    return switch (reason) {
      case EXPIRED -> "failed to renew lease " + lease + " within "
          + Durations.format(config.renewDeadline());
      case TAKEN_OVER -> "lease " + lease + " was taken over by " + detail;
      case RELEASED_BY_OTHER -> "lease " + lease + " was released by someone else";
      case DELETED -> "lease " + lease + " is being deleted; stepping down so that the deletion"
          + " can complete";
      case END_OF_TERM -> "end of term on lease " + lease + ": the API server prefers " + detail
          + " as the next holder";
      case WORK_RETURNED -> "leader work returned; giving up lease " + lease;
      case STEPPED_DOWN -> "stepping down from lease " + lease
          + (detail.isEmpty() ? "" : " for " + detail);
      case CLOSED -> "stopping: giving up lease " + lease;
      case WORK_FAILED -> "leader work failed beyond retrying; giving up lease " + lease;
      case ELECTION_FAILED -> "leader election of lease " + lease + " failed";
    };
  }

  /**
   * Steps down now (if leading) and stays out of the election for {@code stayOut}: the term ends,
   * the Lease is released once the work has stopped, and no acquisition is tried before then.
   */
  void stepDown(TermEnd reason, Duration stayOut) {
    if (phase != Phase.RUNNING) {
      return;
    }
    long now = ticker.nanoTime();
    stayOutUntil = Math.max(stayOutUntil, now + stayOut.toNanos());
    if (term != null) {
      endTerm(reason, Durations.format(stayOut), now);
      yieldPending = true;
    }
  }

  /** Releases the Lease while going on as a candidate (after a chosen end); false if not ours. */
  private boolean yieldLease(long now) {
    Lease mine = lastWritten;
    if (!config.releaseOnCancel() || mine == null
        || !LeaderElectionRecord.fromSpec(mine.getSpec()).isHeldBy(config.identity())) {
      return false;
    }
    LeaderElectionRecord prev = LeaderElectionRecord.fromSpec(mine.getSpec());
    send(Purpose.YIELD, ApiVerb.UPDATE, mine,
        LeaderElectionRecord.released(ticker.now(), prev.leaseTransitions()), now);
    return true;
  }

  private void startTerm(long sentAt, long now) {
    Term t = new Term(ticker, config.renewDeadline(), ++terms, sentAt,
        fencingToken(lastWritten), config.identity(), config.leaseKey(), client);
    if (!t.isValid()) {
      log.info("lease {} was acquired, but the answer came after the renew deadline; trying again",
          config.leaseKey());
      nextAttemptAt = now;
      return;
    }
    t.onWorkStopped(port::wake);
    termAcquireTime = LeaderElectionRecord.fromSpec(lastWritten.getSpec()).acquireTime();
    term = t;
    log.atInfo().addKeyValue("event", "acquired")
        .log("successfully acquired lease {}", config.leaseKey());
    reportLeader(); // the article's order: acquired, "still the leader!", then the work
    listener.startedLeading(t);
  }

  private void endTerm(TermEnd why, String detail, long now) {
    Term t = term;
    if (t == null) {
      return;
    }
    term = null;
    t.end(why);
    TermEnd reason = t.endReason().orElse(why); // the first reason wins (a lapse, a failure)
    ended.add(new Ended(t, now));
    boolean running = phase == Phase.RUNNING;
    if (running) {
      log.atInfo().addKeyValue("event", "lost").log("{}", endMessage(reason, detail));
    }
    listener.stoppedLeading(t, reason);
    if (running && t.workFailure() != null) {
      fatal = t.workFailure();
      stop();
      return;
    }
    if (running) {
      nextAttemptAt = now;
      log.atInfo().addKeyValue("event", "candidate")
          .log("attempting to acquire leader lease {}...", config.leaseKey());
    }
  }

  /**
   * Until when our own earlier terms' work may still be running: nothing that lets another
   * replica in early (a release, finishing a deletion) happens before it has stopped. Each ended
   * term's work is waited for at most {@link ElectionConfig#WORK_STOP_WAIT}.
   *
   * @return 0 if none runs, else the end of the longest wait
   */
  private long workBlockedUntil() {
    ended.removeIf(e -> !e.term().workRunning());
    long until = 0;
    for (Ended e : ended) {
      until = Math.max(until, e.at() + ElectionConfig.WORK_STOP_WAIT.toNanos());
    }
    return until;
  }

  private long termDeadline() {
    Term t = term;
    return t == null ? NEVER : t.deadlineNanos();
  }

  private void reportLeader() {
    String holder = view.holder();
    if (holder.isEmpty() || holder.equals(reportedLeader)) {
      return;
    }
    if (holder.equals(config.identity()) && term == null) {
      return; // a Lease naming us while we do not lead: told once we have taken it back
    }
    if (reportedLeader != null) {
      metrics.transitionObserved();
    }
    reportedLeader = holder;
    listener.newLeader(holder);
  }

  // ---------------------------------------------------------------------------------------------
  // Stopping and releasing

  private static boolean mayMakeUsHolder(Request request) {
    return request.purpose() == Purpose.CREATE || request.purpose() == Purpose.TAKE_OVER
        || request.purpose() == Purpose.RETAKE;
  }

  private long stopping(long now) {
    long blocked = workBlockedUntil();
    boolean working = blocked > 0;
    long waitUntil = Math.max(workWaitUntil, blocked);
    if ((working || inFlight != null) && now < waitUntil) {
      // The running unit finishes (of this term, or of an earlier one: its margin must not be cut
      // short by our release), and an acquisition on the wire is answered (it may have made us
      // the holder, to be released then). Woken when either ends.
      return inFlight != null ? Math.min(waitUntil, inFlight.deadline()) : waitUntil;
    }
    if (inFlight != null) {
      abandon(inFlight); // hung: nothing waits for it any longer; a release finds out (409)
    }
    if (working) {
      log.warn("leader work still running {} after the stop; not releasing lease {}: followers"
          + " take over when it expires", Durations.format(ElectionConfig.WORK_STOP_WAIT),
          config.leaseKey());
      return finish();
    }
    Lease mine = lastWritten;
    if (config.releaseOnCancel() && mine != null
        && LeaderElectionRecord.fromSpec(mine.getSpec()).isHeldBy(config.identity())) {
      phase = Phase.RELEASING;
      release(mine, now);
      return inFlight != null ? inFlight.deadline() : NEVER;
    }
    return finish();
  }

  /**
   * Clears the holder so a follower can take over at once; conditional on our last write, so a
   * Lease somebody else wrote since is never touched. Sent only after the work has stopped.
   */
  private void release(Lease base, long now) {
    LeaderElectionRecord prev = LeaderElectionRecord.fromSpec(base.getSpec());
    send(Purpose.RELEASE, ApiVerb.UPDATE, base,
        LeaderElectionRecord.released(ticker.now(), prev.leaseTransitions()), now);
  }

  /** After a 409 on the release: a renewal of ours may have landed late. Read and try once more. */
  private void releaseAgain(Lease lease, long now) {
    view.observe(lease, now);
    if (lease != null && LeaderElectionRecord.fromSpec(lease.getSpec()).isHeldBy(config.identity())
        && now < releaseDeadline) {
      release(lease, now);
      return;
    }
    log.info("lease {} changed since our last renewal; not releasing it", config.leaseKey());
    finish();
  }

  private void releaseFailed(Request request, LeaseApiException api, RuntimeException failure) {
    long now = ticker.nanoTime();
    if (api != null && api.isConflict() && !releaseRetried && now < releaseDeadline) {
      releaseRetried = true;
      send(Purpose.RELEASE_READ, ApiVerb.GET, null, null, now);
      return;
    }
    if (api != null && api.isConflict()) {
      log.info("lease {} changed since our last renewal; not releasing it", config.leaseKey());
    } else if (api != null && api.code() == 404) {
      log.info("lease {} no longer exists; nothing to release", config.leaseKey());
    } else if (failure instanceof RequestTimeout) {
      log.warn("could not release lease {} within {}; followers will take over when it expires",
          config.leaseKey(), Durations.format(Duration.ofNanos(request.deadline()
              - request.sentAt())));
    } else {
      log.warn("could not release lease {}: {}", config.leaseKey(),
          api != null ? api.explain(config.leaseKey()) : failure.toString());
    }
    finish();
  }

  private long finish() {
    phase = Phase.DONE;
    return NEVER;
  }

  /**
   * The fencing token of a term started by {@code acquired}: the resourceVersion of the write
   * that started it (see {@link Term#fencingToken()} for why it only ever grows).
   */
  static long fencingToken(Lease acquired) {
    String version = acquired == null || acquired.getMetadata() == null ? null
        : acquired.getMetadata().getResourceVersion();
    try {
      return version == null ? -1 : Long.parseLong(version);
    } catch (NumberFormatException e) {
      return -1; // an API server whose resourceVersions are not numbers: no token
    }
  }

  // ---------------------------------------------------------------------------------------------

  private long pollDelay(boolean error) {
    if (term != null) {
      return retryNanos; // a leader keeps trying every retry period until its deadline
    }
    if (error) {
      // Exponential backoff, so an unreachable or misconfigured API server is not hammered by
      // every replica; capped so the election resumes soon after the cause is fixed.
      long factor = 1L << Math.min(consecutiveErrors - 1,
          Integer.numberOfTrailingZeros(MAX_BACKOFF_FACTOR));
      return (long) (retryNanos * factor * (1 + 0.2 * random.nextDouble()));
    }
    // client-go's jitter: followers spread their retries over [retry, 2.2 x retry).
    return (long) (retryNanos * (1 + ElectionConfig.JITTER_FACTOR * random.nextDouble()));
  }

  /** A request that did not complete, headers and body, within its deadline. */
  static final class RequestTimeout extends RuntimeException {

    private static final long serialVersionUID = 1L;

    RequestTimeout(String message) {
      super(message, null, false, false);
    }
  }
}
