package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.FutureTask;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one {@link Campaign} against the real API server: the runtime under {@link LeaderElection}.
 *
 * <p>One concurrency idiom: the campaign's state is owned by one thread at a time (a turn on the
 * shared elector thread, {@link SharedThreads#elector()}), and everything else posts events to it:
 * answers of requests (run on API threads), watch changes, the work's end, stop. A turn handles the
 * events, lets the campaign decide, and schedules the next turn for when the campaign wants to be
 * woken (at least every retry period, the heartbeat of {@code /healthz}). A turn never blocks, so
 * the elector is always free to end a term at its deadline, to stop, or to give up on a request
 * that has not completed (headers and body) within its bound.
 */
final class LeaderElector implements Runnable {

  private static final Logger log = LoggerFactory.getLogger(LeaderElector.class);

  private final ElectionConfig config;
  private final LeaseLock lock;
  private final Ticker ticker;
  private final LeaseView view;
  private final Campaign campaign;
  private final Queue<Runnable> events = new ConcurrentLinkedQueue<>();
  private final Map<Long, FutureTask<?>> pending = new ConcurrentHashMap<>();
  private final ScheduledExecutorService elector;
  private final ExecutorService io;
  private final AtomicBoolean queued = new AtomicBoolean();
  private final AtomicBoolean started = new AtomicBoolean();
  private final CompletableFuture<Void> terminated = new CompletableFuture<>();
  private final long maxSleepNanos;
  private volatile boolean stopRequested;
  private volatile boolean turning;
  private volatile boolean finished;
  private volatile long heartbeatNanos;
  private volatile Throwable failure;
  private ScheduledFuture<?> timer;
  private LeaseWatch watch;
  /** The "cannot watch (403)" warning is given once per election, whatever the replacements. */
  private final AtomicBoolean warnedForbidden = new AtomicBoolean();

  /** An elector on the shared threads. */
  LeaderElector(ElectionConfig config, LeaseLock lock, LeadershipListener listener,
      ElectionMetrics metrics, Ticker ticker) {
    this(config, lock, listener, metrics, ticker, SharedThreads.elector(), SharedThreads.api());
  }

  /**
   * @param listener called on the elector's turn: must return at once (see
   *     {@link LeaderElection}, which hands user listeners to their own executor)
   */
  LeaderElector(ElectionConfig config, LeaseLock lock, LeadershipListener listener,
      ElectionMetrics metrics, Ticker ticker, ScheduledExecutorService elector,
      ExecutorService io) {
    this.config = config;
    this.lock = lock;
    this.ticker = ticker;
    this.elector = elector;
    this.io = io;
    this.view = new LeaseView(config.leaseDuration().toNanos(), config.identity(),
        config.ownIncarnation());
    // Contained: a listener that throws is logged, and the election goes on.
    this.campaign = new Campaign(config, view, ticker, new ApiPort(),
        new Listeners(List.of(listener)), new ContainedMetrics(metrics),
        () -> watch != null && watch.isLive(), () -> stopRequested, new Random(), lock.client());
    this.maxSleepNanos = config.retryPeriod().toNanos();
    this.heartbeatNanos = ticker.nanoTime();
  }

  /** Starts the election; returns at once. Runs until {@link #stop()}. */
  void start() {
    if (!started.compareAndSet(false, true)) {
      return;
    }
    heartbeatNanos = ticker.nanoTime();
    post(() -> {
      if (config.watch()) {
        watch = startWatch();
      }
      log.atInfo().addKeyValue("event", "candidate")
          .log("attempting to acquire leader lease {}...", config.leaseKey());
    });
  }

  /** A new watch on the Lease, feeding the view (on the elector thread). */
  private LeaseWatch startWatch() {
    return LeaseWatch.start(lock, lease -> {
      long at = ticker.nanoTime();
      post(() -> view.observe(lease, at));
    }, ticker.nanoTime(), warnedForbidden);
  }

  /**
   * Replaces the watch by a new one, which counts as live only once it has listed: a watch whose
   * connection is dead reports itself live for as long as TCP keeps the connection (see
   * {@link LeaseWatch}). The old one is closed; what it may still deliver is real, and the view
   * keeps the newest.
   */
  private void replaceWatch(LeaseWatch.Distrust why) {
    LeaseWatch old = watch;
    if (old == null || finished || old.refusedByServer()) {
      return; // a watch the server refuses (403...) is not on a dead connection: it retries itself
    }
    log.debug("lease {}: replacing the watch ({}): it may be on a dead connection",
        config.leaseKey(), why);
    old.close();
    watch = startWatch();
  }

  /** The API server answered a Lease request: a watch still not listed is replaced at once. */
  private void serverAnswered() {
    LeaseWatch w = watch;
    long now = ticker.nanoTime();
    if (w != null && ElectionRules.replaceUnlistedWatch(w.hasListed(), w.startedNanos(), now,
        config.requestTimeout().toNanos())) {
      replaceWatch(LeaseWatch.Distrust.NOT_LISTED);
    }
  }

  /** On each turn: a watch silent for a lease duration is not trusted. */
  private void checkWatch() {
    LeaseWatch w = watch;
    if (w == null) {
      return;
    }
    long now = ticker.nanoTime();
    if (ElectionRules.distrustSilentWatch(w.lastActivity(now), now,
        config.leaseDuration().toNanos())) {
      replaceWatch(LeaseWatch.Distrust.SILENT);
    }
  }

  /** Starts the election and waits until it has stopped (for a thread of its own). */
  @Override
  public void run() {
    start();
    try {
      terminated.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException e) {
      // reported by failure()
    }
  }

  /**
   * Asks the election to stop: the term's work is cancelled now, on the caller's thread, whatever
   * the elector is waiting for; then the Lease is released (if configured) and the elector
   * finishes, within {@link ElectionConfig#shutdownBound()}.
   */
  void stop() {
    stopRequested = true;
    Term t = campaign.term();
    if (t != null) {
      t.end(TermEnd.CLOSED);
    }
    if (!started.get()) {
      finish();
      return;
    }
    post(() -> { });
  }

  /** Steps down now and stays out of the election for {@code stayOut}. */
  void stepDown(TermEnd reason, Duration stayOut) {
    post(() -> campaign.stepDown(reason, stayOut));
  }

  /** Waits for the elector to finish after {@link #stop()}. */
  boolean awaitTermination(Duration timeout) throws InterruptedException {
    if (!started.get()) {
      return true;
    }
    try {
      terminated.get(Math.max(1, timeout.toNanos()), TimeUnit.NANOSECONDS);
      return true;
    } catch (ExecutionException e) {
      return true;
    } catch (TimeoutException e) {
      return false;
    }
  }

  /** Completes when the elector has finished (normally, or exceptionally on a failure). */
  CompletableFuture<Void> termination() {
    return terminated;
  }

  /**
   * Why the election stopped on its own, or null: an unexpected error in the elector, or leader
   * work that failed beyond retrying.
   */
  Throwable failure() {
    Throwable f = failure;
    return f != null ? f : campaign.fatal();
  }

  boolean isLeader() {
    Term t = campaign.term();
    return t != null && t.isValid();
  }

  Term term() {
    return campaign.term();
  }

  boolean firstRoundDone() {
    return campaign.firstRoundDone();
  }

  String observedHolder() {
    return view.holder();
  }

  /** Monotonic nanoseconds since our last successful write to the Lease, or -1 if none yet. */
  long nanosSinceLastRenew() {
    long last = campaign.lastWriteSentNanos();
    return last == 0 ? -1 : ticker.nanoTime() - last;
  }

  /**
   * Monotonic nanoseconds since the elector last took a turn for this election. It takes one at
   * least every retry period, API server or not; a large value means it is stuck. 0 once it has
   * finished normally.
   */
  long nanosSinceHeartbeat() {
    if (finished) {
      return failure != null ? Long.MAX_VALUE : 0;
    }
    return ticker.nanoTime() - heartbeatNanos;
  }

  Lease lastWrittenLease() {
    return campaign.lastWritten();
  }

  ElectionConfig config() {
    return config;
  }

  boolean isFinished() {
    return finished;
  }

  /**
   * For tests: no turn is running or queued, no request on the wire and no event to handle, so
   * the outcome of the last round is complete.
   */
  boolean isSettled() {
    if (finished) {
      return true;
    }
    return !turning && !queued.get() && events.isEmpty() && !campaign.requestInFlight();
  }

  private void post(Runnable event) {
    events.add(event);
    schedule();
  }

  private void schedule() {
    if (!finished && queued.compareAndSet(false, true)) {
      try {
        elector.execute(this::turn);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        queued.set(false);
        fail(e);
      }
    }
  }

  /** One turn: handle the events, let the campaign act, plan the next turn. */
  private void turn() {
    turning = true;
    queued.set(false);
    try {
      if (finished) {
        return;
      }
      heartbeatNanos = ticker.nanoTime();
      for (Runnable event; (event = events.poll()) != null; ) {
        event.run();
      }
      checkWatch();
      long next = campaign.tick();
      if (campaign.done()) {
        finish();
        return;
      }
      if (!events.isEmpty()) {
        schedule();
        return;
      }
      long wait = Math.max(0, Math.min(next - ticker.nanoTime(), maxSleepNanos));
      if (timer != null) {
        timer.cancel(false);
      }
      timer = elector.schedule(this::schedule, wait, TimeUnit.NANOSECONDS);
    } catch (RuntimeException | Error e) {
      fail(e);
    } finally {
      turning = false;
    }
  }

  private void fail(Throwable e) {
    failure = e;
    log.error("leader election of lease {} failed; stopping it (the Lease is left to expire)",
        config.leaseKey(), e);
    Term t = campaign.term();
    if (t != null) {
      t.end(TermEnd.ELECTION_FAILED);
    }
    finish();
  }

  private void finish() {
    if (finished) {
      return;
    }
    finished = true;
    if (timer != null) {
      timer.cancel(false);
    }
    LeaseWatch w = watch;
    if (w != null) {
      w.close();
    }
    pending.values().forEach(task -> task.cancel(true));
    pending.clear();
    Throwable f = failure;
    if (f != null) {
      terminated.completeExceptionally(f);
    } else {
      terminated.complete(null);
    }
  }

  private Lease execute(Campaign.Request request) {
    return switch (request.verb()) {
      case GET -> lock.get();
      case CREATE -> lock.create(request.toSend());
      case UPDATE -> lock.update(request.toSend());
      default -> throw new IllegalArgumentException("not a Lease request: " + request.verb());
    };
  }

  /** Requests run on API threads; their answers are posted back to the elector. */
  private final class ApiPort implements Campaign.Port {

    @Override
    public void send(Campaign.Request request) {
      FutureTask<Void> task = new FutureTask<>(() -> {
        Campaign.Reply reply;
        try {
          reply = Campaign.Reply.ok(execute(request));
        } catch (RuntimeException e) {
          reply = Campaign.Reply.failed(e);
        }
        pending.remove(request.id());
        Campaign.Reply answer = reply;
        post(() -> {
          campaign.completed(request, answer);
          if (answer.fromServer()) {
            serverAnswered();
          }
        });
        return null;
      });
      pending.put(request.id(), task);
      io.execute(task);
    }

    @Override
    public void abandon(Campaign.Request request) {
      FutureTask<?> task = pending.remove(request.id());
      if (task != null) {
        // Interrupting the waiting thread makes the client cancel the exchange; the thread is
        // free again at once, even if the server keeps the connection.
        task.cancel(true);
      }
    }

    @Override
    public void wake() {
      post(() -> { });
    }

    @Override
    public void timedOut(Campaign.Request request) {
      LeaseWatch w = watch;
      if (w != null && ElectionRules.distrustWatchAfterTimeout(w.hasListed(), w.startedNanos(),
          request.sentAt())) {
        replaceWatch(LeaseWatch.Distrust.REQUEST_TIMED_OUT);
      }
      DeadConnections.adviseOnce(lock.client());
    }
  }
}
