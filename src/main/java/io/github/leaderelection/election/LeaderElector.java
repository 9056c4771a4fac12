package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.FutureTask;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one replica's side of the election until {@link #stop()}: the {@link Campaign} state
 * machine on a thread of its own, its requests on short-lived API threads, the {@link LeaseWatch}
 * feeding the {@link LeaseView}.
 *
 * <p>The elector's thread never blocks on the API server: a request runs on an API thread and its
 * answer comes back as an event, so the thread is always free to end a term at its deadline, to
 * stop on SIGTERM, or to give up on a request that has not completed (headers and body) within
 * its bound. Events (answers, watch changes, the stop) are handled one at a time on that thread;
 * the rules themselves are in {@link ElectionRules}.
 */
public final class LeaderElector implements Runnable {

  private static final Logger log = LoggerFactory.getLogger(LeaderElector.class);

  private final ElectionConfig config;
  private final LeaseLock lock;
  private final Ticker ticker;
  private final LeaseView view;
  private final Campaign campaign;
  private final Signal wakeup = new Signal();
  private final Queue<Runnable> events = new ConcurrentLinkedQueue<>();
  private final Map<Long, FutureTask<?>> pending = new ConcurrentHashMap<>();
  private final ExecutorService io;
  private volatile boolean stopRequested;
  private volatile Thread thread;
  private volatile long heartbeatNanos;
  private volatile Throwable failure;
  private LeaseWatch watch;

  public LeaderElector(ElectionConfig config, LeaseLock lock, LeadershipListener listener,
      ElectionMetrics metrics, Ticker ticker) {
    this.config = config;
    this.lock = lock;
    this.ticker = ticker;
    this.view = new LeaseView(config.leaseDuration().toNanos());
    this.io = apiThreads();
    // Listeners are contained: one that throws is logged and the election goes on.
    LeadershipListener contained = new Listeners(List.of(listener));
    this.campaign = new Campaign(config, view, ticker, new ApiPort(), contained, metrics,
        () -> watch != null && watch.isLive(), () -> stopRequested, new Random());
    this.heartbeatNanos = ticker.nanoTime();
  }

  /** Runs the election on the calling thread until {@link #stop()}; releases the Lease on the way out. */
  @Override
  public void run() {
    thread = Thread.currentThread();
    if (config.watch()) {
      watch = LeaseWatch.start(lock, lease -> {
        if (view.observe(lease, ticker.nanoTime())) {
          wakeup.raise();
        }
      });
    }
    log.atInfo().addKeyValue("event", "candidate")
        .log("attempting to acquire leader lease {}...", config.leaseKey());
    // Wake at least every retry period even with nothing to do: a cheap heartbeat for /healthz.
    long maxSleep = config.retryPeriod().toNanos();
    try {
      while (true) {
        heartbeatNanos = ticker.nanoTime();
        for (Runnable event; (event = events.poll()) != null; ) {
          event.run();
        }
        long next = campaign.tick();
        if (campaign.done()) {
          break;
        }
        if (!events.isEmpty()) {
          continue;
        }
        long wait = Math.min(next - ticker.nanoTime(), maxSleep);
        if (wait > 0) {
          wakeup.await(wait);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      failure = e;
      abort();
    } catch (RuntimeException | Error e) {
      failure = e;
      log.error("leader election failed; stopping this replica (the Lease is left to expire)", e);
      abort();
    } finally {
      if (watch != null) {
        watch.close();
      }
      io.shutdownNow();
    }
  }

  /**
   * Asks {@link #run()} to stop: the term's work is cancelled now, on the caller's thread, whatever
   * the elector is waiting for; then the Lease is released (if configured) and run() returns,
   * within {@link ElectionConfig#shutdownBound()}.
   */
  public void stop() {
    stopRequested = true;
    Term t = campaign.term();
    if (t != null) {
      t.end("stopping");
    }
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

  /**
   * Why the replica stopped on its own, or null: an unexpected error in the elector, or leader
   * work that failed beyond retrying. The process should exit non-zero.
   */
  public Throwable failure() {
    Throwable f = failure;
    return f != null ? f : campaign.fatal();
  }

  /** True while this replica holds a valid term. */
  public boolean isLeader() {
    Term t = campaign.term();
    return t != null && t.isValid();
  }

  /** The current term, or null when following. */
  public Term term() {
    return campaign.term();
  }

  /** True once an attempt got an answer from the API server: this replica knows who leads. */
  public boolean firstRoundDone() {
    return campaign.firstRoundDone();
  }

  /** The holder this replica last observed, or empty. */
  public String observedHolder() {
    return view.holder();
  }

  /** Monotonic nanoseconds since our last successful write to the Lease, or -1 if none yet. */
  public long nanosSinceLastRenew() {
    long last = campaign.lastWriteSentNanos();
    return last == 0 ? -1 : ticker.nanoTime() - last;
  }

  /**
   * Monotonic nanoseconds since the elector's thread last went round its loop. It goes round at
   * least every retry period, API server or not; a large value means the thread is stuck.
   */
  public long nanosSinceHeartbeat() {
    Thread t = thread;
    if (t != null && !t.isAlive()) {
      return campaign.done() ? 0 : Long.MAX_VALUE;
    }
    return ticker.nanoTime() - heartbeatNanos;
  }

  /** The Lease as our own last successful write returned it (for its uid), or null. */
  public Lease lastWrittenLease() {
    return campaign.lastWritten();
  }

  public ElectionConfig config() {
    return config;
  }

  /**
   * For tests: the elector is waiting with no request on the wire and no event to handle, so the
   * outcome of its last round is complete.
   */
  public boolean isSettled() {
    Thread t = thread;
    if (t == null || !t.isAlive()) {
      return true;
    }
    if (campaign.requestInFlight() || !events.isEmpty()) {
      return false;
    }
    Thread.State state = t.getState();
    return (state == Thread.State.TIMED_WAITING || state == Thread.State.WAITING)
        && Arrays.stream(t.getStackTrace()).anyMatch(e ->
            e.getClassName().equals(Signal.class.getName()) && e.getMethodName().equals("await"));
  }

  /** After an unexpected failure: end the term so no work goes on; nothing else is trusted. */
  private void abort() {
    Term t = campaign.term();
    if (t != null) {
      t.end("the elector failed");
    }
  }

  private void post(Runnable event) {
    events.add(event);
    wakeup.raise();
  }

  private Lease execute(Campaign.Request request) {
    return switch (request.verb()) {
      case GET -> lock.get();
      case CREATE -> lock.create(request.toSend());
      case UPDATE -> lock.update(request.toSend());
      default -> throw new IllegalArgumentException("not a Lease request: " + request.verb());
    };
  }

  /** Requests run on API threads; their answers are posted back to the elector's thread. */
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
        post(() -> campaign.completed(request, answer));
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
      wakeup.raise();
    }
  }

  /** Daemon threads, created on demand and gone after a minute of idleness. */
  private static ExecutorService apiThreads() {
    AtomicInteger n = new AtomicInteger();
    return Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "lease-api-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }
}
