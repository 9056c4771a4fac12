package io.github.leaderelection.election;

import static io.github.leaderelection.election.ElectorHarness.ROUND;
import static io.github.leaderelection.election.ElectorHarness.TIMEOUT;
import static io.github.leaderelection.election.ManualTicker.START_WALL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.github.leaderelection.election.MockApi.Call;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The paths next to the happy ones (issue 10): hand edits and deletes of the Lease, late and
 * failing renewals, failing listeners and work, transitions at their maximum. Against fabric8's
 * mock API server with a manual clock, like {@link LeaderElectorTest}.
 */
class EdgePathsTest {

  private final ElectorHarness h = new ElectorHarness();

  @AfterEach
  void tearDown() {
    h.close();
  }

  private static Predicate<Call> writesBy(String holder) {
    return c -> c.isWrite() && c.body() != null
        && c.body().contains("\"holderIdentity\":\"" + holder + "\"");
  }

  // -----------------------------------------------------------------------------------------------
  // S1: a Lease deleted or cleared by hand keeps its last holder's claim

  @Test
  @DisplayName("S1: a Lease deleted by hand stays claimed by its last holder for the lease duration")
  void aDeletedLeaseIsNotCreatedBeforeTheLastHoldersClaimRunsOut() {
    h.api.createLease("other", 15, START_WALL, START_WALL, 3);
    h.start(); // observes "other" at 0s
    h.step(Duration.ofSeconds(5));

    h.api.deleteLease();
    h.step(Duration.ofSeconds(5)); // 10s: sees it gone
    h.step(Duration.ofMillis(4_500)); // 14.5s
    assertThat(h.api.calls()).as("nobody may take over while 'other' may still work")
        .noneMatch(writesBy("me"));
    assertThat(h.api.lease()).isNull();
    assertThat(h.elector.isLeader()).isFalse();

    h.step(Duration.ofMillis(600)); // 15.1s since 'other' was last seen writing
    assertThat(h.elector.isLeader()).isTrue();
    assertThat(h.api.record().holderIdentity()).isEqualTo("me");
  }

  @Test
  @DisplayName("S1: a holder cleared by hand (not a release) is waited out: the last holder's claim, and a lease duration from the clear")
  void aHolderClearedByHandIsNotTakenAtOnce() {
    h.api.createLease("other", 15, START_WALL, START_WALL, 3);
    h.start(); // 'other' seen at 0s
    h.step(Duration.ofSeconds(5));
    h.api.writeRecord(new LeaderElectionRecord("", 15, START_WALL, START_WALL, 3));

    h.step(Duration.ofSeconds(5)); // 10s: sees the cleared record
    h.step(Duration.ofSeconds(6)); // 16s: past 'other's claim, not 15s past the clear
    h.step(Duration.ofMillis(8_500)); // 24.5s
    assertThat(h.api.calls()).as("whoever cleared it may have cleared a holder we never saw")
        .noneMatch(writesBy("me"));

    h.step(Duration.ofMillis(600)); // 25.1s
    assertThat(h.elector.isLeader()).isTrue();
    assertThat(h.api.record().leaseTransitions()).isEqualTo(4);
  }

  @Test
  @DisplayName("S1: a watching follower does not act on a delete event either")
  void aWatchingFollowerWaitsAfterADelete() {
    h.api.createLease("other", 15, START_WALL, START_WALL, 0);
    h.start(ElectorHarness.config("me", true, true), false);
    await().atMost(TIMEOUT).until(() -> h.listener.leaders.contains("other"));
    h.awaitWatching();
    h.awaitIdle();

    h.api.deleteLease();
    // Real time passes for the watch to deliver; the manual clock does not move.
    await().pollDelay(Duration.ofMillis(500)).atMost(TIMEOUT).until(() -> true);
    h.awaitIdle();
    assertThat(h.api.calls()).noneMatch(writesBy("me"));

    h.advanceAndSettle(Duration.ofMillis(15_100), x -> x.elector.isLeader());
    assertThat(h.api.record().holderIdentity()).isEqualTo("me");
  }

  @Test
  @DisplayName("S1: a held Lease carries the holder's finalizer, so a hand delete only marks it; the holder steps down, finishes the deletion once its work stopped, and the Lease is created anew")
  void aHandDeleteOfAHeldLeaseIsCompletedByItsHolder() {
    h.start();
    Term term = h.elector.term();
    assertThat(h.api.lease().getMetadata().getFinalizers()).containsExactly(LeaseWrites.FINALIZER);

    h.api.deleteLease();
    assertThat(h.api.lease()).as("still there, marked for deletion").isNotNull();
    assertThat(LeaseWrites.isDeleting(h.api.lease())).isTrue();

    h.advanceAndSettle(Duration.ofSeconds(2), x -> x.listener.started.get() == 2);

    assertThat(term.hasEnded()).isTrue();
    assertThat(h.listener.stopped).hasValue(1);
    Lease recreated = h.api.lease();
    assertThat(LeaseWrites.isDeleting(recreated)).as("a new Lease").isFalse();
    assertThat(LeaderElectionRecord.fromSpec(recreated.getSpec()).holderIdentity()).isEqualTo("me");
    assertThat(recreated.getMetadata().getFinalizers()).containsExactly(LeaseWrites.FINALIZER);
    List<String> writes = h.api.calls().stream().filter(Call::isWrite).map(Call::method).toList();
    assertThat(writes).as("renew (sees the mark), finish the deletion, create").endsWith("PUT", "POST");
  }

  @Test
  @DisplayName("S1: a follower never takes over a Lease marked for deletion; it finishes the deletion only after the holder's claim ran out")
  void aFollowerFinishesADeletionOnlyAfterTheClaimRanOut() {
    h.api.createLease("other", 15, START_WALL, START_WALL, 3);
    Lease held = h.api.lease();
    held.getMetadata().setFinalizers(List.of(LeaseWrites.FINALIZER));
    h.api.replaceLease(held);
    h.start(); // 'other' seen at 0s
    h.api.deleteLease();
    assertThat(LeaseWrites.isDeleting(h.api.lease())).isTrue();

    h.step(Duration.ofSeconds(5));
    h.step(Duration.ofSeconds(5));
    h.step(Duration.ofMillis(4_500));
    assertThat(h.api.calls()).noneMatch(writesBy("me"));
    assertThat(h.api.calls()).noneMatch(Call::isWrite);

    h.advanceAndSettle(Duration.ofMillis(600), x -> x.elector.isLeader());
    Lease lease = h.api.lease();
    assertThat(LeaseWrites.isDeleting(lease)).isFalse();
    assertThat(LeaderElectionRecord.fromSpec(lease.getSpec()).holderIdentity()).isEqualTo("me");
  }

  @Test
  @DisplayName("a watching follower whose reads fail is ready once the watch has told it who leads")
  void aFollowerLearningTheHolderFromTheWatchIsReady() {
    h.api.createLease("other", 15, START_WALL, START_WALL, 0);
    h.api.fail(Call::isLeaseGet, 500, "InternalError", "etcdserver: request timed out");
    h.start(ElectorHarness.config("me", true, true), false);
    await().atMost(TIMEOUT).until(() -> h.listener.leaders.contains("other"));
    assertThat(h.api.calls()).as("its own reads failed").anyMatch(Call::isLeaseGet);
    assertThat(h.elector.firstRoundDone()).isTrue();
  }

  // -----------------------------------------------------------------------------------------------
  // S2

  @Test
  @DisplayName("S2: a lease duration that is not whole seconds is refused where the config is built")
  void fractionalLeaseDurationsAreRefused() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> new ElectionConfig("ns", "l", "me",
            Duration.ofMillis(10_900), Duration.ofSeconds(8), Duration.ofSeconds(2), true, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("leaseDuration must be whole seconds (the Lease stores seconds), got 10900ms");
  }

  // -----------------------------------------------------------------------------------------------
  // L1: a term that lapsed is never resumed

  @Test
  @DisplayName("L1: a renewal answered after the deadline does not revive the term: a new one starts, with new work")
  void aRenewalAnsweredAfterTheDeadlineStartsANewTerm() {
    h.start();
    Term first = h.elector.term();
    h.api.fail(c -> c.method().equals("PUT"), 500, "InternalError", "etcdserver: request timed out");
    h.step(Duration.ofSeconds(3));
    h.step(Duration.ofSeconds(3));
    h.step(Duration.ofSeconds(3)); // 9s: 1s of validity left
    h.api.clearFaults();
    // The next renewal is sent at 9.1s and its answer takes 1.5s: it arrives after the deadline.
    h.api.addFault(c -> {
      if (c.method().equals("PUT")) {
        h.ticker.advance(Duration.ofMillis(1_500));
      }
      return null;
    });
    h.advanceAndSettle(Duration.ofMillis(100), x -> x.listener.started.get() == 2);
    h.api.clearFaults();

    assertThat(first.hasEnded()).as("the first term is over for good").isTrue();
    assertThat(first.isValid()).isFalse();
    assertThat(h.listener.stopped).hasValue(1);
    Term second = h.elector.term();
    assertThat(second).isNotSameAs(first);
    assertThat(second.number()).isEqualTo(2);
    assertThat(second.isValid()).isTrue();
  }

  // -----------------------------------------------------------------------------------------------
  // L2, L3: failures of the work and of listeners

  @Test
  @DisplayName("L3: a metrics hook that throws is logged once and the election goes on")
  void aThrowingMetricsHookDoesNotStopTheElection() {
    try (ElectorHarness hh = new ElectorHarness();
        LogCapture logs = new LogCapture(ContainedMetrics.class)) {
      hh.metrics.broken = true;
      hh.start();
      hh.step(Duration.ofSeconds(2));
      hh.step(Duration.ofSeconds(2));
      hh.step(Duration.ofSeconds(2));

      assertThat(hh.elector.isLeader()).isTrue();
      assertThat(hh.elector.failure()).isNull();
      assertThat(hh.metrics.renewOk).hasValue(3);
      assertThat(logs.messages()).filteredOn(m -> m.contains("metrics hook")).hasSize(1);
    }
  }

  @Test
  @DisplayName("L3: a listener that throws is logged and the election goes on")
  void aThrowingListenerDoesNotStopTheElection() {
    ElectorHarness hh = new ElectorHarness(new RecordingListener() {
      @Override
      public void newLeader(String identity) {
        super.newLeader(identity);
        throw new IllegalStateException("metrics backend down");
      }

      @Override
      public void startedLeading(Term t) {
        super.startedLeading(t);
        throw new IllegalStateException("event sink down");
      }
    });
    try (hh; LogCapture logs = new LogCapture(Listeners.class)) {
      hh.start();
      hh.step(Duration.ofSeconds(2));
      hh.step(Duration.ofSeconds(2));

      assertThat(hh.elector.isLeader()).isTrue();
      assertThat(hh.thread().isAlive()).isTrue();
      assertThat(hh.api.count(c -> c.method().equals("PUT"))).isEqualTo(2);
      assertThat(logs.messages()).anyMatch(m -> m.endsWith(".newLeader failed; the election goes on"))
          .anyMatch(m -> m.endsWith(".startedLeading failed; the election goes on"));
    }
  }

  @Test
  @DisplayName("L2: work that fails beyond retrying (an Error) ends the term, releases the Lease and reports the failure")
  void anErrorInTheWorkStopsTheReplicaAndReleases() throws Exception {
    ElectorHarness hh = new ElectorHarness(new RecordingListener() {
      @Override
      public void startedLeading(Term t) {
        super.startedLeading(t);
        new FencedLoop(Duration.ofMillis(10), () -> {
          throw new AssertionError("a bug in the work");
        }).start(t);
      }
    });
    try (hh) {
      hh.start(ElectorHarness.config("me", true, false), false);
      await().atMost(TIMEOUT).until(() -> !hh.thread().isAlive());

      assertThat(hh.elector.failure()).isInstanceOf(AssertionError.class);
      assertThat(hh.api.record().holderIdentity()).as("released").isEmpty();
      assertThat(hh.api.record().isRelease()).isTrue();
    }
  }

  // -----------------------------------------------------------------------------------------------
  // L5: the Lease names us while we are not leading

  @Test
  @DisplayName("L5: a renewal stored after the step-down is taken back at once as a new term, backoff or not")
  void aLateStoredRenewalIsTakenBackAtOnce() {
    h.start(ElectorHarness.config("me", true, true), true);
    h.awaitWatching();
    h.api.fail(c -> c.method().equals("PUT"), 503, "ServiceUnavailable", "the server is busy");
    for (int i = 0; i < 5; i++) {
      h.step(Duration.ofSeconds(2));
    }
    h.advanceAndSettle(Duration.ofMillis(100), x -> x.listener.stopped.get() == 1);
    assertThat(h.elector.isLeader()).isFalse();
    h.api.clearFaults();

    // The renewal that was stuck in the API server lands now, naming us. The clock does not move:
    // the replica is in error backoff, yet must act on this at once.
    h.api.writeRecord(new LeaderElectionRecord("me", 15, START_WALL, START_WALL.plusSeconds(9), 0));

    await().atMost(TIMEOUT).until(() -> h.listener.started.get() == 2);
    assertThat(h.elector.isLeader()).isTrue();
    assertThat(h.elector.term().number()).isEqualTo(2);
  }

  // -----------------------------------------------------------------------------------------------
  // L8

  @Test
  @DisplayName("L8: leaseTransitions at its int32 maximum wraps to 0 with a warning instead of failing every takeover")
  void transitionsWrapAtTheMaximum() {
    h.api.createLease("other", 15, START_WALL, START_WALL, Integer.MAX_VALUE);
    try (LogCapture logs = new LogCapture(LeaderElector.class)) {
      h.start();
      h.step(Duration.ofSeconds(16));

      assertThat(h.elector.isLeader()).isTrue();
      assertThat(h.api.record().leaseTransitions()).isZero();
      assertThat(logs.messages()).contains("leaseTransitions of lease test/my-lease is at its"
          + " maximum (2147483647); counting again from 0");
    }
  }

  // -----------------------------------------------------------------------------------------------
  // L4: stop during a hung renewal (real time: the hang is a real-time hang)

  @Test
  @DisplayName("L4: a stop during a hung renewal cancels the work at once and exits within the shutdown bound")
  void aStopDuringAHungRenewalCancelsTheWorkAtOnce() throws Exception {
    try (MockApi api = new MockApi()) {
      List<Long> units = new CopyOnWriteArrayList<>();
      RecordingListener listener = new RecordingListener() {
        @Override
        public void startedLeading(Term t) {
          super.startedLeading(t);
          new FencedLoop(Duration.ofMillis(20), () -> units.add(System.nanoTime())).start(t);
        }
      };
      ElectionConfig config = new ElectionConfig("test", "my-lease", "me", Duration.ofSeconds(30),
          Duration.ofSeconds(20), Duration.ofMillis(300), true, false);
      LeaderElector elector = new LeaderElector(config, api.lock(), listener,
          new RecordingMetrics(), Ticker.SYSTEM);
      Thread thread = new Thread(elector, "elector-hung-renew");
      thread.start();
      await().atMost(TIMEOUT).until(elector::isLeader);
      api.addFault(c -> c.method().equals("PUT")
          ? MockApi.status(200, "", "").setBodyDelay(60, TimeUnit.SECONDS) : null);
      long puts = api.count(c -> c.method().equals("PUT"));
      await().atMost(TIMEOUT).until(() -> api.count(c -> c.method().equals("PUT")) > puts);

      long stoppedAt = System.nanoTime();
      elector.stop();

      assertThat(listener.term.hasEnded()).as("the term ends on the stop itself").isTrue();
      assertThat(thread.isAlive()).isTrue();
      assertThat(elector.awaitTermination(config.shutdownBound())).isTrue();
      long tookMillis = (System.nanoTime() - stoppedAt) / 1_000_000;
      assertThat(units).as("no unit of work started after the stop").allMatch(t -> t < stoppedAt);
      assertThat(tookMillis).as("the renew deadline is 20s; the stop does not wait for it")
          .isLessThan(config.shutdownBound().toMillis());
    }
  }

  @Test
  @DisplayName("L7: a response whose body stalls after the headers is abandoned at the request bound, and the stop is not held up")
  void aStalledBodyIsAbandonedAtTheRequestBound() throws Exception {
    try (StallingServer server = new StallingServer();
        KubernetesClient client = new KubernetesClientBuilder().withConfig(new ConfigBuilder()
            .withMasterUrl("http://127.0.0.1:" + server.port())
            .withRequestTimeout(60_000).withConnectionTimeout(5_000)
            .withRequestRetryBackoffLimit(0).build()).build();
        LogCapture logs = new LogCapture(FailureLog.class)) {
      ElectionConfig config = new ElectionConfig("test", "my-lease", "me", Duration.ofSeconds(3),
          Duration.ofSeconds(2), Duration.ofMillis(200), true, false);
      LeaderElector elector = new LeaderElector(config, new LeaseLock(client, "test", "my-lease"),
          new RecordingListener(), new RecordingMetrics(), Ticker.SYSTEM);
      Thread thread = new Thread(elector, "elector-stalled-body");
      thread.start();
      try {
        await().atMost(TIMEOUT).until(() -> logs.messages().stream().anyMatch(m ->
            m.startsWith("the get of lease test/my-lease did not complete within 1s; abandoned it")));
        assertThat(server.requests()).as("the elector went on trying").isGreaterThanOrEqualTo(1);
        assertThat(thread.isAlive()).isTrue();
      } finally {
        elector.stop();
        assertThat(elector.awaitTermination(config.shutdownBound())).isTrue();
      }
    }
  }

  /** Answers every request with headers and the first byte of a body, then nothing, for ever. */
  private static final class StallingServer implements AutoCloseable {

    private final ServerSocket socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    private final List<Socket> open = new CopyOnWriteArrayList<>();
    private final AtomicInteger requests = new AtomicInteger();
    private final Thread acceptor = new Thread(this::accept, "stalling-server");

    StallingServer() throws IOException {
      acceptor.setDaemon(true);
      acceptor.start();
    }

    int port() {
      return socket.getLocalPort();
    }

    int requests() {
      return requests.get();
    }

    private void accept() {
      while (!socket.isClosed()) {
        try {
          Socket s = socket.accept();
          open.add(s);
          Thread t = new Thread(() -> stall(s), "stalling-connection");
          t.setDaemon(true);
          t.start();
        } catch (IOException e) {
          return;
        }
      }
    }

    private void stall(Socket s) {
      try {
        InputStream in = s.getInputStream();
        OutputStream out = s.getOutputStream();
        int matched = 0;
        while (true) { // for each request on this connection: read its head, answer half
          int b = in.read();
          if (b < 0) {
            return;
          }
          matched = (b == '\r' || b == '\n') ? matched + 1 : 0;
          if (matched == 4) {
            matched = 0;
            requests.incrementAndGet();
            out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + "Content-Length: 4096\r\n\r\n{").getBytes(StandardCharsets.US_ASCII));
            out.flush();
          }
        }
      } catch (IOException e) {
        // closed
      }
    }

    @Override
    public void close() throws IOException {
      socket.close();
      for (Socket s : open) {
        s.close();
      }
    }
  }

  @Test
  @DisplayName("L4: the shutdown bound fits the pod's grace period for every valid timing")
  void theShutdownBoundIsSmallForEveryValidTiming() {
    for (int lease = 2; lease <= 120; lease += 3) {
      for (int renew = 1; renew < lease; renew += 2) {
        ElectionConfig c = new ElectionConfig("ns", "l", "me", Duration.ofSeconds(lease),
            Duration.ofSeconds(renew), Duration.ofMillis(renew * 1000L / 2), true, true);
        assertThat(c.shutdownBound()).as("lease %ds, renew %ds", lease, renew)
            .isLessThanOrEqualTo(Duration.ofSeconds(11));
        assertThat(c.requestTimeout()).isLessThan(c.renewDeadline());
      }
    }
  }

  @Test
  @DisplayName("L4: k8s/deploy.yaml gives the pod more grace than the longest stop (11 s + the 2 s halt margin)")
  void theDeploymentsGracePeriodCoversTheShutdownBound() throws IOException {
    String deploy = java.nio.file.Files.readString(java.nio.file.Path.of("k8s/deploy.yaml"));
    java.util.regex.Matcher m = java.util.regex.Pattern
        .compile("terminationGracePeriodSeconds: (\\d+)").matcher(deploy);
    assertThat(m.find()).isTrue();
    assertThat(Integer.parseInt(m.group(1))).isGreaterThan(11 + 2);
  }

  @Test
  @DisplayName("a follower's conflict is not an API error, and a read after it comes before the next write")
  void aConflictIsFollowedByARead() {
    h.api.createLease("other", 15, START_WALL, START_WALL, 1);
    h.start();
    AtomicInteger puts = new AtomicInteger();
    h.api.addFault(c -> c.method().equals("PUT") && puts.incrementAndGet() == 1
        ? MockApi.status(409, "Conflict", "the object has been modified") : null);
    h.step(Duration.ofSeconds(16));
    assertThat(h.elector.isLeader()).as("%s", h.api.calls()).isFalse();
    h.api.clearCalls();
    h.step(ROUND);
    assertThat(h.api.calls()).extracting(Call::method).startsWith("GET", "PUT");
    assertThat(h.elector.isLeader()).as("%s", h.api.calls()).isTrue();
  }
}
