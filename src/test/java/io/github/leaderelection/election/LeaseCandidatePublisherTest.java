package io.github.leaderelection.election;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.coordination.v1beta1.LeaseCandidate;
import io.fabric8.kubernetes.api.model.coordination.v1beta1.LeaseCandidateBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1beta1.LeaseCandidateList;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The LeaseCandidate publisher against fabric8's mock API server in CRUD mode. */
class LeaseCandidatePublisherTest {

  private static final String NS = "test";
  private static final LeaseCandidatePublisher.Candidacy CANDIDACY =
      new LeaseCandidatePublisher.Candidacy(NS, "pod-a", "my-lease", "1.36.0", "1.35.0");
  private static final String DISCOVERY = "/apis/coordination.k8s.io/v1beta1";
  private static final String SERVED = """
      {"kind":"APIResourceList","apiVersion":"v1","groupVersion":"coordination.k8s.io/v1beta1",
       "resources":[{"name":"leasecandidates","singularName":"leasecandidate","namespaced":true,
       "kind":"LeaseCandidate","verbs":["create","delete","get","list","update","watch"]}]}""";

  static {
    java.util.logging.Logger.getLogger("io.fabric8.mockwebserver")
        .setLevel(java.util.logging.Level.WARNING);
  }

  private final KubernetesCrudDispatcher crud = new KubernetesCrudDispatcher();
  private final AtomicBoolean served = new AtomicBoolean(true);
  /** Holds DELETE requests this long, as a slow API server would. */
  private volatile long deleteDelayMillis;
  /** When the last DELETE of a candidate was answered (System.nanoTime), 0 before. */
  private final java.util.concurrent.atomic.AtomicLong deletedAt =
      new java.util.concurrent.atomic.AtomicLong();
  private final List<String> writes = new CopyOnWriteArrayList<>();
  private final List<LeaseCandidatePublisher.NotServed> notServed = new CopyOnWriteArrayList<>();
  private KubernetesMockServer server;
  private KubernetesClient client;
  private KubernetesClient testClient;
  private LeaseCandidatePublisher publisher;

  @BeforeEach
  void startServer() {
    Dispatcher dispatcher = new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        if (request.getPath().startsWith(DISCOVERY) && !request.getPath().contains("/namespaces")) {
          return served.get()
              ? new MockResponse().setResponseCode(200).setBody(SERVED)
                  .setHeader("Content-Type", "application/json")
              : new MockResponse().setResponseCode(404).setBody("404 page not found");
        }
        if (!served.get()) {
          return new MockResponse().setResponseCode(404).setBody("{\"kind\":\"Status\","
              + "\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"NotFound\","
              + "\"message\":\"the server could not find the requested resource\",\"code\":404}")
              .setHeader("Content-Type", "application/json");
        }
        if (!"GET".equals(request.getMethod()) && !"test".equals(request.getHeader("User-Agent"))) {
          writes.add(request.getMethod());
        }
        if ("DELETE".equals(request.getMethod())) {
          try {
            Thread.sleep(deleteDelayMillis);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          MockResponse response = crud.dispatch(request);
          deletedAt.set(System.nanoTime());
          return response;
        }
        return crud.dispatch(request);
      }
    };
    server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
        dispatcher, false);
    server.init();
    client = server.createClient(b -> b.editOrNewConfig().withRequestRetryBackoffLimit(0)
        .withRequestTimeout(5_000).withWatchReconnectInterval(200).endConfig());
    testClient = server.createClient(b -> b.editOrNewConfig().withUserAgent("test")
        .withRequestRetryBackoffLimit(0).endConfig());
  }

  @AfterEach
  void stopServer() {
    if (publisher != null) {
      publisher.close(Duration.ofSeconds(2));
    }
    client.close();
    testClient.close();
    MockApi.destroy(server);
  }

  private static ConditionFactory await() {
    return Awaitility.await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20));
  }

  private Resource<LeaseCandidate> candidate() {
    return testClient.resources(LeaseCandidate.class, LeaseCandidateList.class).inNamespace(NS)
        .withName(CANDIDACY.name());
  }

  private LeaseCandidatePublisher start(Duration renewInterval) {
    publisher = new LeaseCandidatePublisher(client, CANDIDACY, renewInterval, notServed::add);
    publisher.start();
    return publisher;
  }

  private static Instant renewTime(LeaseCandidate c) {
    return LeaseCandidatePublisher.parse(c.getSpec().getRenewTime());
  }

  /** Pings the candidate as the API server's election controller does: sets pingTime. */
  private void ping(Instant at) {
    LeaseCandidate current = candidate().get();
    current.getSpec().setPingTime(LeaseCandidatePublisher.micro(at));
    testClient.resource(current).update();
  }

  @Test
  @DisplayName("publishes a candidate named after the identity, for the Lease, with both versions"
      + " and strategy OldestEmulationVersion")
  void publishesTheCandidate() {
    Instant before = Instant.now().minusSeconds(1);
    start(Duration.ofMinutes(5));
    await().until(() -> candidate().get() != null);
    LeaseCandidate c = candidate().get();
    assertThat(c.getMetadata().getNamespace()).isEqualTo(NS);
    assertThat(c.getSpec().getLeaseName()).isEqualTo("my-lease");
    assertThat(c.getSpec().getBinaryVersion()).isEqualTo("1.36.0");
    assertThat(c.getSpec().getEmulationVersion()).isEqualTo("1.35.0");
    assertThat(c.getSpec().getStrategy()).isEqualTo("OldestEmulationVersion");
    assertThat(renewTime(c)).isAfter(before);
    assertThat(c.getSpec().getRenewTime().getTime())
        .matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z");
    await().until(publisher::published);
  }

  @Test
  @DisplayName("answers a ping at once (well inside the server's 5 s): renewTime after pingTime")
  void answersEveryPing() {
    start(Duration.ofMinutes(5));
    await().until(() -> candidate().get() != null && publisher.watching());
    for (int i = 0; i < 3; i++) {
      Instant pinged = Instant.now();
      long sent = System.nanoTime();
      ping(pinged);
      await().until(() -> renewTime(candidate().get()).isAfter(pinged));
      assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sent))
          .as("ping answered within a second").isLessThan(1000);
    }
  }

  @Test
  @DisplayName("a ping stamped by a server clock ahead of ours is answered with a renewTime after"
      + " it, so the answer counts")
  void answersAPingFromTheFuture() {
    start(Duration.ofMinutes(5));
    await().until(() -> candidate().get() != null && publisher.watching());
    Instant ahead = Instant.now().plusSeconds(30);
    ping(ahead);
    await().until(() -> renewTime(candidate().get()).isAfter(ahead));
    assertThat(renewTime(candidate().get())).isBefore(ahead.plusSeconds(1));
  }

  @Test
  @DisplayName("renews the candidate every renew interval without being pinged")
  void renewsPeriodically() {
    start(Duration.ofMillis(200));
    await().until(() -> candidate().get() != null);
    Instant first = renewTime(candidate().get());
    await().until(() -> renewTime(candidate().get()).isAfter(first));
    Instant second = renewTime(candidate().get());
    await().until(() -> renewTime(candidate().get()).isAfter(second));
  }

  @Test
  @DisplayName("a candidate deleted behind its back is published again")
  void republishesADeletedCandidate() {
    start(Duration.ofMinutes(5));
    await().until(() -> candidate().get() != null && publisher.watching());
    String version = candidate().get().getMetadata().getResourceVersion();
    candidate().delete();
    await().until(() -> {
      LeaseCandidate c = candidate().get();
      return c != null && !c.getMetadata().getResourceVersion().equals(version);
    });
  }

  @Test
  @DisplayName("a leftover candidate of the same name for another Lease is replaced (leaseName is"
      + " immutable)")
  void replacesACandidateForAnotherLease() {
    testClient.resources(LeaseCandidate.class, LeaseCandidateList.class).inNamespace(NS)
        .resource(new LeaseCandidateBuilder().withNewMetadata().withName("pod-a")
            .withNamespace(NS).endMetadata().withNewSpec().withLeaseName("other-lease")
            .withBinaryVersion("1.0.0").withEmulationVersion("1.0.0")
            .withStrategy("OldestEmulationVersion").endSpec().build()).create();
    start(Duration.ofMinutes(5));
    await().until(() -> {
      LeaseCandidate c = candidate().get();
      return c != null && "my-lease".equals(c.getSpec().getLeaseName());
    });
    assertThat(candidate().get().getSpec().getEmulationVersion()).isEqualTo("1.35.0");
  }

  @Test
  @DisplayName("withdraw deletes the candidate and answers no ping afterwards")
  void withdrawDeletesAndGoesQuiet() throws Exception {
    start(Duration.ofMillis(100));
    await().until(() -> candidate().get() != null);
    publisher.withdraw().get(5, TimeUnit.SECONDS);
    assertThat(candidate().get()).isNull();
    writes.clear();
    Thread.sleep(500); // several renew intervals: nothing is published again
    assertThat(candidate().get()).isNull();
    assertThat(writes).isEmpty();
  }

  @Test
  @DisplayName("on shutdown the leader releases the Lease only after its candidate is deleted,"
      + " even when the delete is slow: the server cannot elect it again on its way out")
  void theReleaseWaitsForTheWithdrawal() throws Exception {
    start(Duration.ofMinutes(5));
    await().until(() -> candidate().get() != null);
    deleteDelayMillis = 800;
    try (io.github.leaderelection.election.MockApi lease =
        new io.github.leaderelection.election.MockApi()) {
      io.github.leaderelection.election.ElectionConfig config =
          new io.github.leaderelection.election.ElectionConfig("test", "my-lease", "pod-a",
              Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofMillis(300), true, false);
      io.github.leaderelection.election.LeaderElector elector =
          new io.github.leaderelection.election.LeaderElector(config, lease.lock(),
              new io.github.leaderelection.election.Listeners(List.of(
                  new io.github.leaderelection.election.RecordingListener(),
                  withdrawGate(publisher, Duration.ofSeconds(2)))),
              new io.github.leaderelection.election.RecordingMetrics(),
              io.github.leaderelection.election.Ticker.SYSTEM);
      Thread thread = new Thread(elector, "elector-withdraw-first");
      thread.start();
      await().until(elector::isLeader);
      // The gate starts on the elector's turn right after the term: a stop before that would end
      // the term first and no gate would start (the test is about the gate, not that race).
      await().until(() -> Thread.getAllStackTraces().keySet().stream()
          .anyMatch(t -> t.isAlive() && t.getName().equals("candidate-withdrawal")));

      long stopped = System.nanoTime();
      publisher.withdraw(); // as App's SIGTERM handler: first the candidate, then the elector
      elector.stop();
      assertThat(elector.awaitTermination(config.shutdownBound())).isTrue();

      assertThat(candidate().get()).isNull();
      List<io.github.leaderelection.election.MockApi.Call> releases = lease.calls().stream()
          .filter(c -> c.method().equals("PUT") && c.body() != null
              && c.body().contains("\"leaseDurationSeconds\":1")).toList();
      assertThat(releases).as("released").hasSize(1);
      assertThat(releases.get(0).tickerNanos()).as("the release came after the delete")
          .isGreaterThan(deletedAt.get());
      assertThat(TimeUnit.NANOSECONDS.toMillis(deletedAt.get() - stopped))
          .as("the delete was held up 800 ms").isGreaterThanOrEqualTo(700);
    }
  }

  @Test
  @DisplayName("a step-down (no shutdown) is not held up by the withdrawal gate")
  void aStepDownIsNotHeldUp() throws Exception {
    try (io.github.leaderelection.election.MockApi lease =
        new io.github.leaderelection.election.MockApi()) {
      publisher = new LeaseCandidatePublisher(client, CANDIDACY, Duration.ofMinutes(5),
          notServed::add);
      io.github.leaderelection.election.Term[] term = new io.github.leaderelection.election.Term[1];
      io.github.leaderelection.election.ElectionConfig config =
          new io.github.leaderelection.election.ElectionConfig("test", "my-lease", "pod-a",
              Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofMillis(300), true, false);
      io.github.leaderelection.election.LeaderElector elector =
          new io.github.leaderelection.election.LeaderElector(config, lease.lock(),
              withdrawGate(publisher, Duration.ofSeconds(2)),
              new io.github.leaderelection.election.RecordingMetrics(),
              io.github.leaderelection.election.Ticker.SYSTEM);
      Thread thread = new Thread(elector, "elector-step-down");
      thread.start();
      await().until(elector::isLeader);
      term[0] = elector.term();
      // Someone else takes the Lease: the replica steps down; its gate thread ends at once.
      lease.writeRecord(new io.github.leaderelection.election.LeaderElectionRecord("other", 15,
          Instant.now(), Instant.now(), 1));
      await().until(() -> !elector.isLeader());
      assertThat(term[0].awaitWorkStopped(Duration.ofSeconds(1))).isTrue();
      elector.stop();
      assertThat(elector.awaitTermination(config.shutdownBound())).isTrue();
    }
  }

  @Test
  @DisplayName("checkServed: a server without the API gets one line saying what to enable")
  void checkServed() {
    assertThatCode(() -> LeaseCandidatePublisher.checkServed(client)).doesNotThrowAnyException();
    served.set(false);
    assertThatThrownBy(() -> LeaseCandidatePublisher.checkServed(client))
        .isInstanceOf(LeaseCandidatePublisher.NotServed.class)
        .hasMessageContaining("does not serve leasecandidates.coordination.k8s.io v1beta1")
        .hasMessageContaining("--feature-gates=CoordinatedLeaderElection=true")
        .hasMessageContaining("--runtime-config=coordination.k8s.io/v1beta1=true")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"))
        .satisfies(e -> assertThat(e.getStackTrace()).isEmpty());
  }

  @Test
  @DisplayName("an API turned off after start is reported through the callback, not retried"
      + " silently")
  void notServedAfterStartIsReported() {
    served.set(false);
    start(Duration.ofMinutes(5));
    await().until(() -> !notServed.isEmpty());
    assertThat(notServed.get(0).getMessage()).contains("does not serve leasecandidates");
  }

  /** The gate as the election installs it: a thread of each term that waits for the withdrawal. */
  private static LeadershipListener withdrawGate(LeaseCandidatePublisher publisher,
      Duration bound) {
    return new LeadershipListener() {
      @Override
      public void startedLeading(Term term) {
        term.startWork(SharedThreads.daemons("candidate-withdrawal", false),
            new WithdrawBeforeRelease(publisher, bound).waitFor(term), false);
      }
    };
  }
}
