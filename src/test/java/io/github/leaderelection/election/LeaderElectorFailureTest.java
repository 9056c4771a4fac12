package io.github.leaderelection.election;

import static io.github.leaderelection.election.ElectorHarness.ROUND;
import static io.github.leaderelection.election.ElectorHarness.TIMEOUT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** API failures: one clear line for the operator, no crash, and the election resumes afterwards. */
class LeaderElectorFailureTest {

  private final ElectorHarness h = new ElectorHarness();

  @AfterEach
  void tearDown() throws InterruptedException {
    h.close();
  }

  private static List<ILoggingEvent> warnings(LogCapture logs) {
    return logs.events().stream().filter(e -> e.getLevel() == Level.WARN).toList();
  }

  private static void assertOneCleanLine(ILoggingEvent event) {
    assertThat(event.getFormattedMessage()).doesNotContain("\n").doesNotContain("Exception:");
    assertThat(event.getThrowableProxy()).as("no stack trace").isNull();
  }

  @Test
  void forbiddenNamesTheVerbAndTheRbacManifestAndTheElectionResumesOnceFixed() {
    h.api.fail(c -> c.isLeaseGet(), 403, "Forbidden", "leases.coordination.k8s.io \"my-lease\" is"
        + " forbidden: User \"system:serviceaccount:test:default\" cannot get resource \"leases\"");
    try (LogCapture logs = new LogCapture(FailureLog.class)) {
      h.start();
      h.step(ROUND);
      h.step(ROUND);

      assertThat(h.metrics.errors).containsExactly("GET/403", "GET/403", "GET/403");
      List<ILoggingEvent> warnings = warnings(logs);
      assertThat(warnings).as("the same failure is logged once, not every round").hasSize(1);
      assertOneCleanLine(warnings.get(0));
      assertThat(warnings.get(0).getFormattedMessage()).isEqualTo(
          "forbidden (403): missing permission to get leases.coordination.k8s.io in namespace test;"
              + " apply k8s/rbac.yaml (Role leaderelection-role grants get, create, update on leases)"
              + " and bind it to this pod's ServiceAccount");
      assertThat(h.thread().isAlive()).isTrue();
      assertThat(h.elector.isLeader()).isFalse();
      assertThat(h.elector.firstRoundDone()).isFalse();

      h.api.clearFaults();
      h.step(ROUND);

      assertThat(h.elector.isLeader()).isTrue();
      assertThat(h.elector.firstRoundDone()).isTrue();
      assertThat(logs.messages()).contains(
          "lease test/my-lease requests succeed again after 3 failed attempts");
    }
  }

  @Test
  void aMissingNamespaceSaysSo() {
    // GET of a Lease in a missing namespace is a plain 404 (fabric8 returns null); the create says
    // which namespace is missing.
    h.api.fail(c -> c.method().equals("POST"), 404, "NotFound", "namespaces \"test\" not found");
    try (LogCapture logs = new LogCapture(FailureLog.class)) {
      h.start();
      h.step(ROUND);

      assertThat(h.metrics.errors).containsExactly("CREATE/404", "CREATE/404");
      List<ILoggingEvent> warnings = warnings(logs);
      assertThat(warnings).hasSize(1);
      assertOneCleanLine(warnings.get(0));
      assertThat(warnings.get(0).getFormattedMessage()).isEqualTo(
          "namespace test not found (404) when trying to create lease test/my-lease;"
              + " create the namespace or pass --lease-namespace");
      assertThat(h.thread().isAlive()).isTrue();
      assertThat(h.api.record()).isNull();
    }
  }

  @Test
  void aForbiddenRenewKeepsLeadershipUntilTheDeadlineAndSaysWhichVerbIsMissing() {
    h.start();
    h.api.fail(c -> c.method().equals("PUT"), 403, "Forbidden", "cannot update resource \"leases\"");
    try (LogCapture logs = new LogCapture(FailureLog.class)) {
      h.step(Duration.ofSeconds(2));
      assertThat(h.elector.isLeader()).isTrue();
      assertThat(warnings(logs)).singleElement().satisfies(e -> {
        assertOneCleanLine(e);
        assertThat(e.getFormattedMessage())
            .startsWith("forbidden (403): missing permission to update leases.coordination.k8s.io");
      });
    }
  }

  @Test
  void serverErrorsAreRetriedWithBackoffAndDoNotCrash() {
    h.api.fail(c -> c.isLeaseGet(), 500, "InternalError", "etcdserver: leader changed");
    try (LogCapture logs = new LogCapture(FailureLog.class)) {
      h.start();
      // A follower in error backs off: a round that is due after 1 retry period is not taken yet
      // after the second failure (backoff 2x).
      h.step(ROUND);
      assertThat(h.metrics.errors).hasSize(2);
      assertThat(warnings(logs)).singleElement().satisfies(e -> {
        assertThat(e.getFormattedMessage()).doesNotContain("\n")
            .startsWith("API error 500 on get of lease test/my-lease: ")
            .contains("etcdserver: leader changed");
        assertThat(e.getThrowableProxy()).isNull();
      });
      assertThat(h.thread().isAlive()).isTrue();
    }
  }

  /** No API server at all: retried with backoff, no crash, and a clean stop. */
  @Test
  void anUnreachableApiServerDoesNotCrashTheElector() throws Exception {
    try (Unreachable u = new Unreachable()) {
      await().atMost(TIMEOUT).until(() -> u.metrics.errors.size() >= 3);
      assertThat(u.thread.isAlive()).isTrue();
      assertThat(u.metrics.errors).allMatch(e -> e.startsWith("GET/"));
      List<ILoggingEvent> warnings = warnings(u.logs);
      assertThat(warnings).as("logged once, not every retry").hasSize(1);
      assertOneCleanLine(warnings.get(0));
      assertThat(u.elector.isLeader()).isFalse();
      assertThat(u.listener.started).hasValue(0);
    }
  }

  /** The line must say what happened: the API server cannot be reached (no HTTP status at all). */
  @Test
  void anUnreachableApiServerIsReportedAsSuch() throws Exception {
    try (Unreachable u = new Unreachable()) {
      await().atMost(TIMEOUT).until(() -> !warnings(u.logs).isEmpty());
      assertThat(warnings(u.logs).get(0).getFormattedMessage())
          .startsWith("cannot reach the API server http://127.0.0.1:" + u.port)
          .contains(" to get lease test/my-lease (")
          .endsWith("retrying with backoff");
      assertThat(u.metrics.errors).allMatch(e -> e.equals("GET/0"));
    }
  }

  /** An elector whose API server does not exist (a port nobody listens on), on real time. */
  private static final class Unreachable implements AutoCloseable {
    final RecordingMetrics metrics = new RecordingMetrics();
    final RecordingListener listener = new RecordingListener();
    final LogCapture logs = new LogCapture(FailureLog.class);
    final KubernetesClient client;
    final LeaderElector elector;
    final Thread thread;
    final int port;

    Unreachable() throws Exception {
      try (ServerSocket s = new ServerSocket(0)) {
        port = s.getLocalPort();
      }
      client = new KubernetesClientBuilder().withConfig(new ConfigBuilder()
          .withMasterUrl("http://127.0.0.1:" + port)
          .withRequestRetryBackoffLimit(0)
          .withConnectionTimeout(2_000)
          .withRequestTimeout(2_000)
          .build()).build();
      elector = new LeaderElector(
          new ElectionConfig("test", "my-lease", "me", Duration.ofSeconds(2), Duration.ofSeconds(1),
              Duration.ofMillis(100), true, false),
          new LeaseLock(client, "test", "my-lease"), listener, metrics, Ticker.SYSTEM);
      thread = new Thread(elector, "elector-unreachable");
      thread.start();
    }

    @Override
    public void close() {
      try {
        elector.stop();
        assertThat(elector.awaitTermination(TIMEOUT)).isTrue();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      } finally {
        client.close();
        logs.close();
      }
    }
  }

  /**
   * A renew that hangs: the leader gives up at its renew deadline while the request is still in
   * flight, not when the request finally times out. Real time (system ticker), as the in-flight
   * wait is a real-time wait.
   */
  @Test
  void aHangingRenewEndsLeadershipAtTheRenewDeadline() throws Exception {
    try (MockApi api = new MockApi()) {
      RecordingListener listener = new RecordingListener();
      Duration renewDeadline = Duration.ofSeconds(2);
      LeaderElector elector = new LeaderElector(
          new ElectionConfig("test", "my-lease", "me", Duration.ofSeconds(3), renewDeadline,
              Duration.ofMillis(200), false, false),
          api.lock(), listener, new RecordingMetrics(), Ticker.SYSTEM);
      Thread thread = new Thread(elector, "elector-hang");
      thread.start();
      try {
        await().atMost(TIMEOUT).until(elector::isLeader);
        await().atMost(TIMEOUT).until(() -> api.count(c -> c.method().equals("PUT")) >= 1);
        api.addFault(c -> c.method().equals("PUT")
            ? MockApi.status(200, "", "").setBodyDelay(10, TimeUnit.SECONDS) : null);
        Term term = listener.term;

        await().atMost(TIMEOUT).until(() -> listener.stopped.get() == 1);

        long heldFor = listener.stoppedAtNanos - term.lastRenewSentNanos();
        assertThat(Duration.ofNanos(heldFor))
            .isGreaterThanOrEqualTo(renewDeadline)
            .isLessThan(renewDeadline.plusMillis(1_500));
        assertThat(term.isValid()).isFalse();
        assertThat(listener.revokedBeforeStopped).isTrue();
      } finally {
        elector.stop();
        assertThat(elector.awaitTermination(TIMEOUT)).isTrue();
      }
    }
  }

}
