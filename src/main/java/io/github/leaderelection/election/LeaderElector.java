package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one replica's side of the election until {@link #stop()}: acquire the Lease, keep renewing
 * it while leading, step down when it cannot, and try again as a candidate.
 *
 * <p>The rules follow client-go's {@code tryAcquireOrRenew}:
 * <ul>
 *   <li>A Lease held by someone else may be taken only after it is expired, and expiry is judged by
 *       <em>this</em> replica's monotonic clock: the lease duration written in the record, counted
 *       from when this replica last saw the record change. The timestamps in the record are never
 *       compared with the local clock, so clock skew between nodes cannot cause an early takeover.
 *   <li>Taking over bumps {@code leaseTransitions} and sets {@code acquireTime}; renewing keeps both.
 *   <li>Every write is conditional on the resourceVersion it was computed from; 409 Conflict means
 *       another replica won this round.
 *   <li>The leader renews from the Lease its own last write returned, without a GET first: one
 *       request per renewal. Only if that conflicts does it read the Lease again.
 *   <li>A leader that has not renewed within renewDeadline steps down, even while a request is
 *       still in flight. Its work is fenced by {@link Leadership}, which expires at the same time.
 * </ul>
 *
 * <p>Threads: the elector's own thread decides; API requests run on a second thread so a hung
 * request cannot hold a leader past its deadline; the optional {@link LeaseWatch} delivers changes
 * from fabric8's informer thread. Observations are shared under this object's monitor.
 */
public final class LeaderElector implements Runnable {

  private static final Logger log = LoggerFactory.getLogger(LeaderElector.class);

  /** Cap for the error backoff, as a multiple of the retry period. */
  private static final int MAX_BACKOFF_FACTOR = 4;
  private static final long RELEASE_TIMEOUT_SECONDS = 10;

  /** How one attempt ended. */
  enum Outcome { ACQUIRED, RENEWED, HELD_BY_OTHER, CONFLICT, ERROR }

  private record Result(Outcome outcome, long writeSentNanos) {
  }

  private final ElectionConfig config;
  private final LeaseLock lock;
  private final LeadershipListener listener;
  private final ElectionMetrics metrics;
  private final Ticker ticker;
  private final Random random = new Random();
  private final Signal wakeup = new Signal();
  private final FailureLog failures;
  private final ExecutorService io;

  // What this replica last saw of the Lease, and when (monotonic). Guarded by "this".
  private Lease observedLease;
  private LeaderElectionRecord observedRecord;
  private long observedNanos;
  private long observations;

  /** The Lease our own last successful write returned: the base of the next renewal. */
  private volatile Lease lastWritten;
  private volatile Leadership leadership;
  private volatile boolean stopping;
  private volatile boolean firstRoundDone;
  private volatile Thread thread;
  /** When our last successful write was sent (monotonic), or 0 if never. */
  private volatile long lastRenewSentNanos;

  // Elector-thread state.
  private LeaseWatch watch;
  private Outcome lastOutcome;
  private long observationsAtLastAttempt = -1;
  private long nextPollNanos;
  private int consecutiveErrors;
  private String reportedLeader;
  private long terms;

  public LeaderElector(ElectionConfig config, LeaseLock lock, LeadershipListener listener,
      ElectionMetrics metrics, Ticker ticker) {
    this.config = config;
    this.lock = lock;
    this.listener = listener;
    this.metrics = metrics;
    this.ticker = ticker;
    this.failures = new FailureLog(ticker);
    this.io = DaemonExecutors.single("lease-api");
  }

  /** Runs the election on the calling thread until {@link #stop()}; releases the Lease on the way out. */
  @Override
  public void run() {
    thread = Thread.currentThread();
    if (config.watch()) {
      watch = LeaseWatch.start(lock, this::observedByWatch);
    }
    log.atInfo().addKeyValue("event", "candidate")
        .log("attempting to acquire leader lease {}...", config.leaseKey());
    try {
      while (!stopping) {
        reportLeader(); // a watch may have shown a new holder without any attempt of ours
        Leadership current = leadership;
        if (current != null && !current.isValid()) {
          stepDown("failed to renew lease " + config.leaseKey() + " within "
              + Durations.format(config.renewDeadline()));
          continue;
        }
        if (current != null && heldByOther()) {
          stepDown("lease " + config.leaseKey() + " was taken over by " + observedHolder());
          continue;
        }
        long wait = dueNanos() - ticker.nanoTime();
        if (wait > 0) {
          wakeup.await(wait);
          continue;
        }
        attempt();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      shutdown();
    }
  }

  /** Asks {@link #run()} to stop the work, release the Lease (if configured) and return. */
  public void stop() {
    stopping = true;
    wakeup.raise();
  }

  /** Waits for {@link #run()} to return after {@link #stop()}. */
  public boolean awaitTermination(Duration timeout) throws InterruptedException {
    Thread t = thread;
    if (t == null) {
      return true;
    }
    t.join(Math.max(1, timeout.toMillis()));
    return !t.isAlive();
  }

  /** True while this replica holds a valid leadership. */
  public boolean isLeader() {
    Leadership l = leadership;
    return l != null && l.isValid();
  }

  /** The current term's fence, or null when following. */
  public Leadership leadership() {
    return leadership;
  }

  /** True once an attempt got an answer from the API server: this replica knows who leads. */
  public boolean firstRoundDone() {
    return firstRoundDone;
  }

  /** The holder this replica last observed, or empty. */
  public synchronized String observedHolder() {
    return observedRecord == null ? "" : observedRecord.holderIdentity();
  }

  /**
   * True while leading, and also after a step-down for as long as the last record this replica saw
   * still names it holder: from its point of view nobody else has taken over. client-go's watchdog
   * uses the same notion.
   */
  public boolean believesLeading() {
    return leadership != null || observedHolder().equals(config.identity());
  }

  /** Monotonic nanoseconds since our last successful write to the Lease, or -1 if none yet. */
  public long nanosSinceLastRenew() {
    long last = lastRenewSentNanos;
    return last == 0 ? -1 : ticker.nanoTime() - last;
  }

  /** The Lease as our own last successful write returned it (for its uid), or null. */
  public Lease lastWrittenLease() {
    return lastWritten;
  }

  public ElectionConfig config() {
    return config;
  }

  // ---------------------------------------------------------------------------------------------
  // Scheduling

  /** When the next attempt is due, on the monotonic clock. */
  private long dueNanos() {
    Leadership current = leadership;
    if (current != null) {
      // Renew every retry period; wake at the deadline at the latest to step down on time.
      return Math.min(nextPollNanos, current.lastRenewSentNanos()
          + config.renewDeadline().toNanos());
    }
    if (consecutiveErrors > 0 || watch == null || !watch.isLive()) {
      return nextPollNanos;
    }
    synchronized (this) {
      if (lastOutcome == Outcome.CONFLICT && observations == observationsAtLastAttempt) {
        // We lost a race on exactly what we see now: wait for the winner's write to arrive.
        return nextPollNanos;
      }
      if (observedLease == null || !observedRecord.isHeld()
          || observedRecord.isHeldBy(config.identity())) {
        return ticker.nanoTime();
      }
      return observedNanos + leaseDurationNanos(observedRecord);
    }
  }

  private long pollDelayNanos(Outcome outcome) {
    long retry = config.retryPeriod().toNanos();
    if (outcome == Outcome.ACQUIRED || outcome == Outcome.RENEWED) {
      return retry;
    }
    if (leadership != null) {
      return retry; // a leader keeps trying every retry period until its deadline
    }
    if (outcome == Outcome.ERROR) {
      // Exponential backoff, so an unreachable or misconfigured API server is not hammered by
      // every replica; capped so the election resumes soon after the cause is fixed.
      long factor = 1L << Math.min(consecutiveErrors - 1, Integer.numberOfTrailingZeros(MAX_BACKOFF_FACTOR));
      return (long) (retry * factor * (1 + 0.2 * random.nextDouble()));
    }
    // client-go's jitter: followers spread their retries over [retry, 2.2 x retry).
    return (long) (retry * (1 + ElectionConfig.JITTER_FACTOR * random.nextDouble()));
  }

  // ---------------------------------------------------------------------------------------------
  // One attempt

  private void attempt() throws InterruptedException {
    Leadership current = leadership;
    long started = ticker.nanoTime();
    synchronized (this) {
      observationsAtLastAttempt = observations;
    }
    // Decide from the watch's view only while it is live and did not just mislead us: after a
    // conflict, read the Lease once, in case the watch silently fell behind.
    boolean fromWatch = current == null && watch != null && watch.isLive()
        && lastOutcome != Outcome.CONFLICT;
    Future<Result> request = io.submit(() -> tryAcquireOrRenew(current != null, fromWatch));
    Result result;
    try {
      if (current != null) {
        try {
          result = request.get(Math.max(0, current.remainingNanos()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
          stepDown("renew of lease " + config.leaseKey() + " did not complete within "
              + Durations.format(config.renewDeadline()));
          result = awaitIgnoringLeadership(request);
        }
      } else {
        result = request.get();
      }
    } catch (ExecutionException e) {
      result = failed(e.getCause());
    }
    if (current != null) {
      metrics.renewAttempt(Duration.ofNanos(ticker.nanoTime() - started),
          result.outcome() == Outcome.RENEWED || result.outcome() == Outcome.ACQUIRED);
    }
    finish(current, result);
  }

  /** After stepping down mid-request: the late answer still updates what we observed, nothing else. */
  private Result awaitIgnoringLeadership(Future<Result> request) throws InterruptedException {
    try {
      request.get();
      return new Result(Outcome.ERROR, 0);
    } catch (ExecutionException e) {
      return failed(e.getCause());
    }
  }

  private Result failed(Throwable cause) {
    if (cause instanceof LeaseApiException api) {
      metrics.apiError(api.verb(), api.code());
      failures.failed(api.kind(), api.explain(config.leaseKey()));
    } else {
      metrics.apiError(LeaseLock.Verb.GET, 0);
      failures.failed(cause.getClass().getName(), "unexpected error on lease " + config.leaseKey()
          + ": " + cause);
    }
    return new Result(Outcome.ERROR, 0);
  }

  private void finish(Leadership before, Result result) {
    lastOutcome = result.outcome();
    if (result.outcome() == Outcome.ERROR) {
      consecutiveErrors++;
    } else {
      if (consecutiveErrors > 0) {
        failures.recovered(config.leaseKey());
      }
      consecutiveErrors = 0;
      firstRoundDone = true;
    }
    nextPollNanos = ticker.nanoTime() + pollDelayNanos(result.outcome());
    boolean won = result.outcome() == Outcome.ACQUIRED || result.outcome() == Outcome.RENEWED;
    if (won) {
      lastRenewSentNanos = result.writeSentNanos();
    }
    if (won && before != null && before == leadership) {
      before.renewed(result.writeSentNanos());
    } else if (won && leadership == null && !stopping) {
      startLeading(result.writeSentNanos());
    } else if (result.outcome() == Outcome.CONFLICT) {
      log.atInfo().addKeyValue("event", "conflict").log(
          "lease {} was written by another replica first (409 Conflict); not acquired this round",
          config.leaseKey());
    } else if (result.outcome() == Outcome.HELD_BY_OTHER && leadership != null) {
      stepDown("lease " + config.leaseKey() + " is held by " + observedHolder());
    }
    reportLeader();
  }

  /**
   * client-go's tryAcquireOrRenew, run on the API thread.
   *
   * @param leading whether this replica was leading when the attempt started
   * @param fromWatch decide from the watched Lease instead of reading it first
   */
  private Result tryAcquireOrRenew(boolean leading, boolean fromWatch) {
    String me = config.identity();
    int durationSeconds = (int) config.leaseDuration().toSeconds();
    Lease mine = lastWritten;
    if (leading && mine != null) {
      // Fast path: renew from our own last write. If nobody else wrote since, this is the only
      // request of the round; a 409 means somebody did, and we fall back to reading.
      LeaderElectionRecord prev = LeaderElectionRecord.fromSpec(mine.getSpec());
      long sent = ticker.nanoTime();
      try {
        wrote(lock.update(mine, new LeaderElectionRecord(me, durationSeconds, prev.acquireTime(),
            ticker.now(), prev.leaseTransitions())));
        return new Result(Outcome.RENEWED, sent);
      } catch (LeaseApiException e) {
        if (!e.isConflict()) {
          throw e;
        }
      }
    }

    Lease current;
    LeaderElectionRecord old;
    long observedAt;
    if (fromWatch) {
      synchronized (this) {
        current = observedLease;
        old = observedRecord;
        observedAt = observedNanos;
      }
    } else {
      current = lock.get();
      synchronized (this) {
        observe(current);
        old = observedRecord;
        observedAt = observedNanos;
      }
    }

    Lease written;
    long sent = ticker.nanoTime();
    if (current == null) {
      try {
        written = lock.create(new LeaderElectionRecord(me, durationSeconds, ticker.now(),
            ticker.now(), 0));
      } catch (LeaseApiException e) {
        if (e.isConflict()) {
          return new Result(Outcome.CONFLICT, 0);
        }
        throw e;
      }
      wrote(written);
      return new Result(Outcome.ACQUIRED, sent);
    }

    if (old.isHeld() && !old.isHeldBy(me)
        && ticker.nanoTime() - observedAt < leaseDurationNanos(old)) {
      return new Result(Outcome.HELD_BY_OTHER, 0);
    }
    boolean renewing = old.isHeldBy(me);
    LeaderElectionRecord next = renewing
        ? new LeaderElectionRecord(me, durationSeconds, old.acquireTime(), ticker.now(),
            old.leaseTransitions())
        : new LeaderElectionRecord(me, durationSeconds, ticker.now(), ticker.now(),
            old.leaseTransitions() + 1);
    sent = ticker.nanoTime();
    try {
      written = lock.update(current, next);
    } catch (LeaseApiException e) {
      if (e.isConflict()) {
        return new Result(Outcome.CONFLICT, 0);
      }
      throw e;
    }
    wrote(written);
    return new Result(leading && renewing ? Outcome.RENEWED : Outcome.ACQUIRED, sent);
  }

  private void wrote(Lease written) {
    lastWritten = written;
    synchronized (this) {
      observe(written);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Observations

  private void observedByWatch(Lease lease) {
    boolean changed;
    synchronized (this) {
      long before = observations;
      observe(lease);
      changed = observations != before;
    }
    if (changed) {
      wakeup.raise();
    }
  }

  /** Records what was seen; the observation time moves only when the record itself changed. */
  private void observe(Lease lease) {
    assert Thread.holdsLock(this);
    if (lease == null) {
      if (observedLease != null || observedRecord == null) {
        observations++;
      }
      observedLease = null;
      observedRecord = new LeaderElectionRecord("", 0, null, null, 0);
      observedNanos = ticker.nanoTime();
      return;
    }
    if (observedLease != null && isOlder(lease, observedLease)) {
      return; // a watch event that arrived after our own newer write
    }
    LeaderElectionRecord record = LeaderElectionRecord.fromSpec(lease.getSpec());
    if (!record.equals(observedRecord)) {
      observedRecord = record;
      observedNanos = ticker.nanoTime();
      observations++;
    }
    observedLease = lease;
  }

  /**
   * resourceVersions are opaque, but in every API server backed by etcd they are increasing
   * integers; comparing them only ever drops an event that is provably stale. Anything that does
   * not parse is accepted (and a stale view is safe anyway: a write based on it gets 409).
   */
  private static boolean isOlder(Lease candidate, Lease current) {
    try {
      return Long.parseLong(candidate.getMetadata().getResourceVersion())
          < Long.parseLong(current.getMetadata().getResourceVersion());
    } catch (RuntimeException e) {
      return false;
    }
  }

  private synchronized boolean heldByOther() {
    return observedRecord != null && observedRecord.isHeld()
        && !observedRecord.isHeldBy(config.identity());
  }

  /** The duration the holder wrote; if missing, our own, rather than treating it as expired. */
  private long leaseDurationNanos(LeaderElectionRecord record) {
    return record.leaseDurationSeconds() > 0
        ? TimeUnit.SECONDS.toNanos(record.leaseDurationSeconds())
        : config.leaseDuration().toNanos();
  }

  private void reportLeader() {
    String holder = observedHolder();
    if (holder.isEmpty() || holder.equals(reportedLeader)) {
      return;
    }
    if (reportedLeader != null) {
      metrics.transitionObserved();
    }
    reportedLeader = holder;
    listener.newLeader(holder);
  }

  // ---------------------------------------------------------------------------------------------
  // Leadership changes

  private void startLeading(long sentNanos) {
    terms++;
    Leadership l = new Leadership(ticker, config.renewDeadline(), terms, sentNanos);
    leadership = l;
    log.atInfo().addKeyValue("event", "acquired")
        .log("successfully acquired lease {}", config.leaseKey());
    reportLeader(); // the article's order: acquired, "still the leader!", then the work
    listener.startedLeading(l);
  }

  private void stepDown(String reason) {
    Leadership l = leadership;
    if (l == null) {
      return;
    }
    leadership = null;
    l.revoke();
    if (!stopping) {
      log.atInfo().addKeyValue("event", "lost").log("{}", reason);
    }
    listener.stoppedLeading();
    if (!stopping) {
      nextPollNanos = ticker.nanoTime();
      log.atInfo().addKeyValue("event", "candidate")
          .log("attempting to acquire leader lease {}...", config.leaseKey());
    }
  }

  private void shutdown() {
    stepDown("stopping");
    if (watch != null) {
      watch.close();
    }
    try {
      // Release whenever our own last write left us the holder, including a lease won by an
      // attempt that was in flight when the stop came (we never started leading, but we hold it).
      Lease mine = lastWritten;
      if (config.releaseOnCancel() && mine != null
          && LeaderElectionRecord.fromSpec(mine.getSpec()).isHeldBy(config.identity())) {
        release();
      }
    } finally {
      io.shutdownNow();
    }
  }

  /**
   * Clears the holder so a follower can take over at once. Runs after the work has stopped. If
   * anybody wrote since our last write, we are no longer the holder and must not touch the Lease.
   */
  private void release() {
    Lease mine = lastWritten;
    if (mine == null) {
      return;
    }
    LeaderElectionRecord prev = LeaderElectionRecord.fromSpec(mine.getSpec());
    // Holder cleared, duration 1s (so a reader that ignores the empty holder still sees it expire
    // almost at once), transitions kept: the next holder counts the transition.
    LeaderElectionRecord released = new LeaderElectionRecord("", 1, ticker.now(), ticker.now(),
        prev.leaseTransitions());
    Future<Lease> request = io.submit(() -> lock.update(mine, released));
    try {
      request.get(RELEASE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
      log.atInfo().addKeyValue("event", "released").log("released lease {}", config.leaseKey());
    } catch (ExecutionException e) {
      if (e.getCause() instanceof LeaseApiException api && api.isConflict()) {
        log.info("lease {} changed since our last renewal; not releasing it", config.leaseKey());
      } else if (e.getCause() instanceof LeaseApiException api) {
        log.warn("could not release lease {}: {}", config.leaseKey(),
            api.explain(config.leaseKey()));
      } else {
        log.warn("could not release lease {}: {}", config.leaseKey(), e.getCause().toString());
      }
    } catch (TimeoutException e) {
      log.warn("could not release lease {} within {}s; followers will take over when it expires",
          config.leaseKey(), RELEASE_TIMEOUT_SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
