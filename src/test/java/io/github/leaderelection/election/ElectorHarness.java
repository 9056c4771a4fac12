package io.github.leaderelection.election;

import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.function.Predicate;

/**
 * One elector under test on its own thread, a manual clock, and the mock API.
 *
 * <p>With the manual ticker the elector attempts only when the test moves the clock past its next
 * due time ({@link #step}); between steps it sleeps in {@code Signal.await}. That makes every round
 * explicit: {@link #step} advances the clock, waits for the round's first request to reach the
 * server and then for the elector to be back asleep, so the round's outcome is complete.
 */
public final class ElectorHarness implements AutoCloseable {

  public static final Duration LEASE = Duration.ofSeconds(15);
  public static final Duration RENEW = Duration.ofSeconds(10);
  /** Small in real time: the elector's sleeps are real-time waits of (due - ticker) nanos. */
  public static final Duration RETRY = Duration.ofMillis(100);
  /** Longer than any follower or error backoff delay (at most 4 x 1.2 x RETRY). */
  public static final Duration ROUND = Duration.ofMillis(600);
  /** Generous: the machine is shared, and the first requests of a JVM warm up the HTTP client. */
  public static final Duration TIMEOUT = Duration.ofSeconds(30);

  public final ManualTicker ticker = new ManualTicker();
  public final MockApi api = new MockApi(ticker::nanoTime);
  public final RecordingListener listener;
  public final RecordingMetrics metrics = new RecordingMetrics();
  LeaderElector elector;
  private Thread thread;

  public ElectorHarness() {
    this(new RecordingListener());
  }

  public ElectorHarness(RecordingListener listener) {
    this.listener = listener;
  }

  public static ElectionConfig config(String identity, boolean releaseOnCancel, boolean watch) {
    return new ElectionConfig(MockApi.NAMESPACE, MockApi.LEASE, identity, LEASE, RENEW, RETRY,
        releaseOnCancel, watch);
  }

  /** Starts an elector for "me" (polling, release on cancel) and waits for its first round. */
  public ElectorHarness start() {
    return start(config("me", true, false), true);
  }

  public ElectorHarness start(ElectionConfig config, boolean awaitFirstRound) {
    elector = new LeaderElector(config, api.lock(), listener, metrics, ticker);
    thread = new Thread(elector, "elector-under-test");
    thread.setDaemon(true);
    long before = api.calls().size();
    thread.start();
    if (awaitFirstRound) {
      await().atMost(TIMEOUT).until(() -> api.calls().size() > before);
      awaitIdle();
    }
    return this;
  }

  /** Time since the elector last made progress, as {@code LeaderElection.sinceProgress()}. */
  public Duration sinceProgress() {
    return Duration.ofNanos(elector.nanosSinceHeartbeat());
  }

  /** True while the elector under test holds a valid term. */
  public boolean isLeader() {
    return elector.isLeader();
  }

  public Thread thread() {
    return thread;
  }

  /** Advances the clock by {@code d} and waits until the round it triggers is complete. */
  public void step(Duration d) {
    long before = api.calls().size();
    ticker.advance(d);
    await().atMost(TIMEOUT).until(() -> api.calls().size() > before);
    awaitIdle();
  }

  /** Advances the clock and waits until the elector has gone back to sleep, whatever it did. */
  public void advanceAndSettle(Duration d, Predicate<ElectorHarness> done) {
    ticker.advance(d);
    await().atMost(TIMEOUT).until(() -> done.test(this));
    awaitIdle();
  }

  /** Waits until the elector's watch is established (its request reached the server). */
  public void awaitWatching() {
    await().atMost(TIMEOUT).until(() -> api.calls().stream()
        .anyMatch(c -> c.method().equals("GET") && c.path().contains("watch=true")));
  }

  /** Waits until the elector is asleep between rounds, with no request on the wire (or has ended). */
  public void awaitIdle() {
    await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(5)).until(() -> elector.isSettled());
  }

  public void stop() {
    if (elector != null) {
      elector.stop();
      try {
        if (!elector.awaitTermination(TIMEOUT)) {
          throw new AssertionError("elector did not stop within " + TIMEOUT);
        }
        if (thread != null) {
          thread.join(TIMEOUT.toMillis()); // run() returns right after the termination
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted while stopping the elector", e);
      }
    }
  }

  @Override
  public void close() {
    try {
      stop();
    } finally {
      api.close();
    }
  }
}
