package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.Random;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One replica's side of the election as a state machine, with no threads and no I/O of its own:
 * it is told the time ({@link #tick}), the answers to the requests it asked for
 * ({@link #completed}) and that it must stop ({@link #stop}); it asks for requests through its
 * {@link Port} and says when it next wants to be woken. {@link LeaderElector} runs it against the
 * real API server; the simulation test runs the very same code against a simulated one, on
 * simulated clocks, from a seed.
 *
 * <p>It reads like client-go's {@code Run}: campaign ({@link Acquisition}: acquire, or renew while
 * leading) until the term ends ({@link Terms}), and on stop give the Lease up ({@link Release}).
 * What may be done is decided by {@link ElectionRules}; this class and its phases carry it out:
 * one request at a time, each bounded as a whole by a deadline. Not thread-safe: one thread at a
 * time calls it. The fields that health and metrics read from other threads are volatile.
 */
final class Campaign {

  /** The elector's logger: operators filter and read the election's story under one name. */
  static final Logger log = LoggerFactory.getLogger(LeaderElector.class);

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

    /** True if the API server answered (a Lease, or an HTTP status): the connection works. */
    boolean fromServer() {
      return failure == null || failure instanceof LeaseApiException e && e.code() > 0;
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

    /**
     * {@code request} was abandoned at its deadline, unanswered: the connection it went out on may
     * be dead (a partition drops packets without closing anything), so whatever shares it (the
     * Lease watch) is not to be trusted any more. Called after {@link #abandon}.
     */
    default void timedOut(Request request) {
    }
  }

  /** Where the campaign is: running (acquiring or leading), giving the Lease up, or done. */
  enum Phase { RUNNING, STOPPING, RELEASING, DONE }

  final ElectionConfig config;
  final LeaseView view;
  final Ticker ticker;
  final Port port;
  final LeadershipListener listener;
  final ElectionMetrics metrics;
  final BooleanSupplier stopRequested;
  final KubernetesClient client;
  private final BooleanSupplier watchLive;

  final Acquisition acquisition;
  final Terms terms;
  final Release release;

  private volatile Lease lastWritten;
  private volatile long lastWriteSentNanos;
  private volatile boolean firstRoundDone;
  private volatile Throwable fatal;
  private volatile Request inFlight;
  private long nextRequestId;
  private Phase phase = Phase.RUNNING;

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
    this.client = client;
    this.acquisition = new Acquisition(this, random);
    this.terms = new Terms(this);
    this.release = new Release(this);
  }

  // ---------------------------------------------------------------------------------------------
  // What other threads may read

  /** The current term, or null when not leading. */
  Term term() {
    return terms.current();
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
  // Events: the algorithm

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
    Request pending = inFlight;
    if (pending != null && now >= pending.deadline()) {
      timedOut(pending, now);
    }
    terms.check(now); // a term ends at its deadline, or when the Lease says someone else leads
    terms.reportLeader();
    return switch (phase) {
      case RUNNING -> running(now);
      case STOPPING -> release.stopping(now);
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
    phase = Phase.STOPPING;
    release.begin(ticker.nanoTime());
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
    acquisition.stayOut(now + stayOut.toNanos());
    if (terms.current() != null) {
      terms.end(reason, Durations.format(stayOut), now);
      release.yieldWhenWorkStopped();
    }
  }

  /** While running: the release a chosen end asked for, else the next round of the campaign. */
  private long running(long now) {
    if (inFlight != null) {
      return Math.min(inFlight.deadline(), terms.deadline());
    }
    long yield = release.yieldIfDue(now);
    if (yield != 0) {
      return yield;
    }
    return acquisition.round(now);
  }

  // ---------------------------------------------------------------------------------------------
  // Requests

  Phase phase() {
    return phase;
  }

  Request inFlight() {
    return inFlight;
  }

  void enterReleasing() {
    phase = Phase.RELEASING;
  }

  long finish() {
    phase = Phase.DONE;
    return NEVER;
  }

  void failWith(Throwable failure) {
    fatal = failure;
    stop();
  }

  void send(Purpose purpose, ApiVerb verb, Lease base, LeaderElectionRecord record, long now) {
    boolean releasing = purpose == Purpose.RELEASE || purpose == Purpose.RELEASE_READ
        || purpose == Purpose.YIELD;
    long timeout = (releasing ? config.releaseTimeout() : config.requestTimeout()).toNanos();
    long deadline = releasing && purpose != Purpose.YIELD
        ? Math.min(now + timeout, release.deadline()) : now + timeout;
    boolean finalize = !config.coordinated(); // the server manages a coordinated Lease
    Lease toSend = record == null ? null : verb == ApiVerb.CREATE
        ? LeaseWrites.forCreate(config.namespace(), config.leaseName(), record,
            config.leaseLabels(), finalize, config.ownIncarnation())
        : LeaseWrites.forUpdate(base, record, config.leaseLabels(), finalize,
            config.ownIncarnation());
    Request request = new Request(++nextRequestId, purpose, verb, base, record, toSend, now,
        deadline);
    inFlight = request;
    port.send(request);
  }

  void abandon(Request request) {
    if (inFlight == request) {
      inFlight = null;
    }
    port.abandon(request);
  }

  boolean watching() {
    return config.watch() && watchLive.getAsBoolean();
  }

  /** Our write was stored: remember it (for the release and the term's token), and see it. */
  void wrote(Lease lease, long sentAt, long now) {
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

  private void succeeded(Request request, Lease lease, long now) {
    firstRoundDone = true;
    if (request.purpose() != Purpose.READ) {
      acquisition.recovered(); // a read alone does not end an outage that failed the write after it
    }
    switch (request.purpose()) {
      case RELEASE, RELEASE_READ, YIELD -> release.succeeded(request, lease, now);
      default -> acquisition.succeeded(request, lease, now);
    }
  }

  private void failed(Request request, RuntimeException failure, long now) {
    LeaseApiException api = failure instanceof LeaseApiException e ? e : null;
    switch (request.purpose()) {
      case RELEASE, RELEASE_READ, YIELD -> release.failed(request, api, failure, now);
      default -> {
        if (api != null && (api.isConflict() || api.code() == 404)) {
          firstRoundDone = true; // an answer: the Lease is known to be someone else's, or gone
        }
        acquisition.failed(request, api, failure, now);
      }
    }
  }

  /** The answer to a request we gave up on: what it wrote is real, nothing else of it counts. */
  private void completedLate(Request request, Reply reply, long now) {
    if (reply.failure() != null || !request.isWrite()) {
      return;
    }
    wrote(reply.lease(), request.sentAt(), now);
    Term current = terms.current();
    if (current != null && request.purpose() == Purpose.RENEW) {
      current.extend(request.sentAt()); // a write sent within this term; refused if it lapsed
    }
    // A late acquire leaves the Lease naming us while we do not lead: the rules take it back.
  }

  private void timedOut(Request request, long now) {
    abandon(request);
    port.timedOut(request);
    String what = request.verb().name().toLowerCase(java.util.Locale.ROOT);
    failed(request, new RequestTimeout("the " + what + " of lease " + config.leaseKey()
        + " did not complete within " + Durations.format(Duration.ofNanos(request.deadline()
        - request.sentAt())) + "; abandoned it"), now);
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

  /** A request that did not complete, headers and body, within its deadline. */
  static final class RequestTimeout extends RuntimeException {

    private static final long serialVersionUID = 1L;

    RequestTimeout(String message) {
      super(message, null, false, false);
    }
  }
}
