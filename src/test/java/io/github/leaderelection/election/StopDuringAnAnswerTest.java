package io.github.leaderelection.election;

import static io.github.leaderelection.election.ElectorHarness.RETRY;
import static io.github.leaderelection.election.ElectorHarness.TIMEOUT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.leaderelection.election.MockApi.Call;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * A stop (SIGTERM, {@code close()}) that arrives while the elector is about to handle an answer:
 * the answer and the stop wait in the elector's queue for the same turn. The test holds the
 * elector's thread from the moment the request reaches the (mock) API server, lets the answer be
 * posted, stops, then lets the elector go: its next turn sees both at once. Manual clock: no
 * deadline passes.
 */
@DisplayName("A stop that arrives while the elector handles an answer")
class StopDuringAnAnswerTest {

  private static final String LEASE_KEY = MockApi.NAMESPACE + "/" + MockApi.LEASE;
  private static final String RELEASED = "released lease " + LEASE_KEY;

  private final ManualTicker ticker = new ManualTicker();
  private final MockApi api = new MockApi(ticker::nanoTime);
  private final RecordingListener listener = new RecordingListener();
  private final LogCapture logs = new LogCapture(LeaderElector.class);
  private final ScheduledExecutorService electorThread =
      Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "elector-held"));
  private final ApiThreads apiThreads = new ApiThreads();
  private LeaderElector elector;
  private int linesBeforeStop;
  private long callsBeforeStop;

  @AfterEach
  void tearDown() throws InterruptedException {
    try {
      if (elector != null) {
        elector.stop();
        elector.awaitTermination(TIMEOUT);
      }
    } finally {
      electorThread.shutdownNow();
      apiThreads.shutdownNow();
      logs.close();
      api.close();
    }
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }

  private void start(ElectionConfig config) {
    elector = new LeaderElector(config, api.lock(), listener, new RecordingMetrics(), ticker,
        electorThread, apiThreads);
    elector.start();
  }

  private static ElectionConfig config() {
    return ElectorHarness.config("me", true, false); // polling, release on close
  }

  /**
   * Holds the elector's thread once a request matching {@code match} reaches the server, so that
   * its answer is queued but not handled; {@link #stopWhileTheAnswerWaits} goes on from there.
   */
  private CountDownLatch holdTheElectorOn(Predicate<Call> match) {
    CountDownLatch resume = new CountDownLatch(1);
    AtomicBoolean armed = new AtomicBoolean(true);
    api.addFault(call -> {
      if (match.test(call) && armed.getAndSet(false)) {
        CountDownLatch held = new CountDownLatch(1);
        electorThread.execute(() -> {
          held.countDown();
          try {
            resume.await(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        });
        try {
          held.await(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return null; // then the CRUD store answers as usual
    });
    return resume;
  }

  /** Once the held answer is queued: stop (as close() does), then let the elector take its turn. */
  private void stopWhileTheAnswerWaits(CountDownLatch resume) throws InterruptedException {
    await().atMost(TIMEOUT).until(apiThreads::allAnswersPosted);
    linesBeforeStop = logs.messages().size();
    callsBeforeStop = api.calls().size();
    elector.stop();
    resume.countDown();
    assertThat(elector.awaitTermination(TIMEOUT)).as("the elector finished").isTrue();
  }

  private List<String> linesAfterTheStop() {
    List<String> all = logs.messages();
    return all.subList(linesBeforeStop, all.size());
  }

  private List<Call> callsAfterTheStop() {
    List<Call> all = api.calls();
    return all.subList((int) callsBeforeStop, all.size());
  }

  private long lines(String prefix) {
    return logs.messages().stream().filter(m -> m.startsWith(prefix)).count();
  }

  @Nested
  @DisplayName("when it is the answer to an acquisition that won the Lease")
  class AnAcquisition {

    @Test
    @DisplayName("no term starts and no work: the Lease it won is released at once, and the last"
        + " line says so")
    void startsNoTermAndReleasesTheLease() throws Exception {
      CountDownLatch resume = holdTheElectorOn(c -> c.method().equals("POST"));
      start(config());
      await().atMost(TIMEOUT).until(() -> api.count(c -> c.method().equals("POST")) == 1);

      stopWhileTheAnswerWaits(resume);

      assertThat(listener.started).as("startedLeading (which starts the work) is never called")
          .hasValue(0);
      assertThat(listener.term).as("no term was handed to anyone").isNull();
      assertThat(elector.term()).isNull();
      assertThat(listener.leaders).as("nobody is told that this replica leads").doesNotContain("me");
      assertThat(callsAfterTheStop()).as("one write after the stop: the release of the Lease won")
          .extracting(Call::method).containsExactly("PUT");
      assertThat(api.record().isRelease()).as("released: a follower takes over at once").isTrue();
      assertThat(ticker.elapsed()).as("at once: no deadline had to pass").isZero();
      assertThat(logs.messages()).noneMatch(m -> m.startsWith("successfully acquired"));
      assertThat(linesAfterTheStop()).containsExactly(RELEASED);
    }
  }

  @Nested
  @DisplayName("when it is the answer to a renewal")
  class ARenewal {

    @Test
    @DisplayName("it is not taken for a late one and no new campaign starts: the Lease is released"
        + " (conditional on that renewal), and the last line says so")
    void endsTheTermAsAStopAndReleases() throws Exception {
      start(config());
      await().atMost(TIMEOUT).until(elector::isLeader);
      await().atMost(TIMEOUT).until(() -> elector.isSettled());
      CountDownLatch resume = holdTheElectorOn(c -> c.method().equals("PUT"));
      long puts = api.count(c -> c.method().equals("PUT"));
      ticker.advance(RETRY); // the renewal is due
      await().atMost(TIMEOUT).until(() -> api.count(c -> c.method().equals("PUT")) > puts);

      stopWhileTheAnswerWaits(resume);

      assertThat(listener.started).hasValue(1);
      assertThat(listener.stopped).as("the term ended once").hasValue(1);
      assertThat(logs.messages())
          .noneMatch(m -> m.contains("answered after the renew deadline"));
      assertThat(lines("attempting to acquire")).as("only the campaign's first line: no new"
          + " campaign after the stop").isEqualTo(1);
      assertThat(linesAfterTheStop()).containsExactly(RELEASED);
      assertThat(callsAfterTheStop()).as("one release, on the version the renewal wrote (no"
          + " conflict, no read)").extracting(Call::method).containsExactly("PUT");
      assertThat(api.record().isRelease()).isTrue();
    }
  }

  @Nested
  @DisplayName("(the same race without a stop) when the work returned while a renewal was"
      + " answered")
  class WorkThatReturned {

    @Test
    @DisplayName("the term ends as a returned work's does: the Lease is given up and the replica"
        + " stays out, not taken back at once as after a late renewal")
    void givesUpAndStaysOut() throws Exception {
      start(new ElectionConfig(MockApi.NAMESPACE, MockApi.LEASE, "me", ElectorHarness.LEASE,
          ElectorHarness.RENEW, RETRY, true, false, false, Map.of(), Duration.ofSeconds(5)));
      await().atMost(TIMEOUT).until(elector::isLeader);
      await().atMost(TIMEOUT).until(() -> elector.isSettled());
      Term term = elector.term();
      CountDownLatch resume = holdTheElectorOn(c -> c.method().equals("PUT"));
      long puts = api.count(c -> c.method().equals("PUT"));
      ticker.advance(RETRY);
      await().atMost(TIMEOUT).until(() -> api.count(c -> c.method().equals("PUT")) > puts);
      await().atMost(TIMEOUT).until(apiThreads::allAnswersPosted);

      term.end(TermEnd.WORK_RETURNED); // as WorkRunner does when the whole-term work returns
      resume.countDown();
      await().atMost(TIMEOUT).until(() -> api.record().isRelease() || listener.started.get() > 1);
      ticker.advance(Duration.ofSeconds(1)); // rounds go on, within the 5 s stay-out
      await().atMost(TIMEOUT).until(() -> elector.isSettled());

      assertThat(logs.messages())
          .noneMatch(m -> m.contains("answered after the renew deadline"))
          .contains("leader work returned; giving up lease " + LEASE_KEY);
      assertThat(listener.started).as("not taken back").hasValue(1);
      assertThat(api.record().isRelease()).as("still released: staying out").isTrue();
    }
  }

  @Nested
  @DisplayName("(the contrast, without a stop) when a renewal truly was answered after the renew"
      + " deadline")
  class ALateRenewal {

    @Test
    @DisplayName("it is reported as late, and the term ends as a lapse")
    void isReportedAsLate() throws Exception {
      start(config());
      await().atMost(TIMEOUT).until(elector::isLeader);
      await().atMost(TIMEOUT).until(() -> elector.isSettled());
      CountDownLatch resume = holdTheElectorOn(c -> c.method().equals("PUT"));
      long puts = api.count(c -> c.method().equals("PUT"));
      ticker.advance(RETRY);
      await().atMost(TIMEOUT).until(() -> api.count(c -> c.method().equals("PUT")) > puts);
      await().atMost(TIMEOUT).until(apiThreads::allAnswersPosted);

      ticker.advance(ElectorHarness.RENEW); // the answer waits past the renew deadline
      resume.countDown();
      await().atMost(TIMEOUT).until(() -> listener.stopped.get() == 1);

      assertThat(logs.messages()).contains("the renewal of lease " + LEASE_KEY
          + " was answered after the renew deadline (10s)", "failed to renew lease " + LEASE_KEY
          + " within 10s");
    }
  }

  /** The API threads: tells when every request's answer has been posted to the elector. */
  private static final class ApiThreads extends ThreadPoolExecutor {

    private final AtomicInteger submitted = new AtomicInteger();
    private final AtomicInteger done = new AtomicInteger();

    ApiThreads() {
      super(2, 2, 1, TimeUnit.MINUTES, new LinkedBlockingQueue<>(),
          r -> daemon(r, "api-under-test"));
    }

    @Override
    public void execute(Runnable command) {
      submitted.incrementAndGet();
      super.execute(command);
    }

    @Override
    protected void afterExecute(Runnable r, Throwable t) {
      done.incrementAndGet();
    }

    boolean allAnswersPosted() {
      return done.get() == submitted.get();
    }
  }
}
