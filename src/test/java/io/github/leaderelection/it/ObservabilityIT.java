package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.github.leaderelection.harness.Replica;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** What operators see: metrics, probes, Events, labels and JSON logs, against a real API server. */
class ObservabilityIT extends ReplicaTestSupport {

  private static final List<String> FAST = List.of("--lease-duration=4s", "--renew-deadline=3s",
      "--retry-period=500ms", "--work-interval=500ms", "--watchdog-grace=1s");
  private static final HttpClient HTTP = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(2)).build();

  @Test
  void masterStatusFlipsAndEventsTellTheStoryOfATakeover(TestInfo info) throws Exception {
    replicas(info, FAST).startAll("replica", 2);
    Replica old = awaitSingleLeader(Duration.ofSeconds(30));
    Replica other = replicas.replicas().stream().filter(r -> r != old).findFirst().orElseThrow();
    awaitThat(Duration.ofSeconds(10), "metrics show 1 on the leader, 0 on the follower",
        () -> masterStatus(old) == 1 && masterStatus(other) == 0);

    old.freeze();
    awaitThat(Duration.ofSeconds(20), "takeover while the leader is frozen",
        () -> other.identity().equals(replicas.holder()));
    awaitThat(Duration.ofSeconds(10), "0 -> 1 on the new leader", () -> masterStatus(other) == 1);
    old.thaw();
    awaitThat(Duration.ofSeconds(15), "1 -> 0 on the old leader", () -> masterStatus(old) == 0);
    assertThat(metric(old, "leader_election_transitions_total")).isGreaterThanOrEqualTo(1);
    assertThat(scrape(old)).contains("leader_election_renew_duration_seconds_bucket",
        "leader_election_seconds_since_last_renew", "jvm_memory_used_bytes");

    awaitThat(Duration.ofSeconds(15), "LeaderElection events on the Lease", () -> {
      List<String> messages = eventMessages();
      return messages.contains(old.identity() + " became leader")
          && messages.contains(old.identity() + " stopped leading")
          && messages.contains(other.identity() + " became leader");
    });
    String described = controlPlane.kubectl("describe", "lease", "my-lease", "-n",
        replicas.namespace()).output();
    assertThat(described).contains("LeaderElection", other.identity() + " became leader");
    assertNoOverlappingWork();
  }

  /**
   * L6: a leader cut off from the API server steps down (its work is fenced) and stays healthy:
   * a restart would not bring the API server back, and every replica would be restarted during an
   * outage. /healthz fails only for a wedged elector (see WatchdogTest).
   */
  @Test
  void healthzStaysGreenOnALeaderCutOffFromTheApiServer(TestInfo info) throws Exception {
    replicas(info, FAST).startAll("replica", 2);
    Replica leader = awaitSingleLeader(Duration.ofSeconds(30));
    Replica follower = replicas.replicas().stream().filter(r -> r != leader).findFirst()
        .orElseThrow();
    awaitThat(Duration.ofSeconds(15), "/healthz 200 on " + leader.identity(),
        () -> status(leader, "/healthz") == 200);
    awaitThat(Duration.ofSeconds(15), "/healthz 200 on " + follower.identity(),
        () -> status(follower, "/healthz") == 200);

    controlPlane.stopApiServer();
    try {
      awaitThat(Duration.ofSeconds(20), "the cut-off leader steps down",
          () -> leader.logged("no longer the leader, staying inactive."));
      // Past lease 4 s + grace 1 s without a renew, for a while: both stay healthy throughout.
      long until = System.nanoTime() + Duration.ofSeconds(8).toNanos();
      while (System.nanoTime() < until) {
        assertThat(status(leader, "/healthz")).as("/healthz of the cut-off ex-leader").isEqualTo(200);
        assertThat(status(follower, "/healthz")).as("/healthz of the follower").isEqualTo(200);
        Thread.sleep(500);
      }
    } finally {
      controlPlane.startApiServer();
    }
    awaitSingleLeader(Duration.ofSeconds(30));
    assertThat(leader.isAlive()).isTrue();
    assertNoOverlappingWork();
  }

  @Test
  void readyzIsServiceUnavailableUntilTheFirstRoundCompletes(TestInfo info) throws Exception {
    replicas(info, FAST);
    Replica replica;
    controlPlane.stopApiServer();
    try {
      replica = replicas.start("replica-0");
      awaitThat(Duration.ofSeconds(30), "/readyz answers 503 before the first round",
          () -> status(replica, "/readyz") == 503);
      awaitThat(Duration.ofSeconds(15), "/healthz 200 on " + replica.identity(),
        () -> status(replica, "/healthz") == 200);
    } finally {
      controlPlane.startApiServer();
    }
    awaitThat(Duration.ofSeconds(30), "/readyz 200 after the first round",
        () -> status(replica, "/readyz") == 200);
  }

  @Test
  void labelLeaderMarksTheLeaderPod(TestInfo info) throws Exception {
    replicas(info, FAST);
    for (String name : List.of("pod-0", "pod-1")) {
      replicas.withAdmin(c -> c.pods().inNamespace(replicas.namespace()).resource(
          new PodBuilder().withNewMetadata().withName(name).endMetadata()
              .withNewSpec().addNewContainer().withName("app").withImage("leaderelection:0.1.0")
              .endContainer().endSpec().build()).create());
    }
    replicas.start("pod-0", List.of("--label-leader"));
    replicas.start("pod-1", List.of("--label-leader"));
    Replica leader = awaitSingleLeader(Duration.ofSeconds(30));
    String follower = leader.identity().equals("pod-0") ? "pod-1" : "pod-0";
    awaitThat(Duration.ofSeconds(15), "leader=true on the leader's pod, false on the other",
        () -> "true".equals(podLabel(leader.identity())) && "false".equals(podLabel(follower)));
  }

  @Test
  void jsonLogsCarryIdentityLeaseAndEvent(TestInfo info) throws Exception {
    replicas(info, List.of("--log-format=json", "--work-interval=500ms"));
    Replica replica = replicas.start("json-0");
    awaitThat(Duration.ofSeconds(30), "doing stuff", () -> replica.logged("doing stuff..."));
    ObjectMapper json = new ObjectMapper();
    List<JsonNode> lines = new ArrayList<>();
    for (String line : replica.texts()) {
      if (line.startsWith("{")) {
        lines.add(json.readTree(line));
      }
    }
    assertThat(lines).isNotEmpty().allSatisfy(l -> {
      assertThat(l.path("identity").asText()).isEqualTo("json-0");
      assertThat(l.path("lease").asText()).isEqualTo(replicas.namespace() + "/my-lease");
      assertThat(l.path("ts").asText()).isNotEmpty();
      assertThat(l.path("level").asText()).isNotEmpty();
    });
    assertThat(lines).anySatisfy(l -> {
      assertThat(l.path("event").asText()).isEqualTo("acquired");
      assertThat(l.path("msg").asText()).startsWith("successfully acquired lease");
    });
  }

  private String podLabel(String pod) {
    var labels = replicas.withAdmin(c -> c.pods().inNamespace(replicas.namespace()).withName(pod)
        .get()).getMetadata().getLabels();
    return labels == null ? null : labels.get("leader");
  }

  private List<String> eventMessages() {
    return replicas.withAdmin(c -> c.v1().events().inNamespace(replicas.namespace()).list())
        .getItems().stream()
        .filter(e -> "my-lease".equals(e.getInvolvedObject().getName())
            && "Lease".equals(e.getInvolvedObject().getKind())
            && "LeaderElection".equals(e.getReason()))
        .map(Event::getMessage).toList();
  }

  private static double masterStatus(Replica replica) throws IOException, InterruptedException {
    return metric(replica, "leader_election_master_status");
  }

  private static double metric(Replica replica, String name)
      throws IOException, InterruptedException {
    Matcher m = Pattern.compile("(?m)^" + name + "\\{name=\"my-lease\"} (\\S+)$")
        .matcher(scrape(replica));
    if (!m.find()) {
      throw new AssertionError(name + " not found in /metrics of " + replica.identity());
    }
    return Double.parseDouble(m.group(1));
  }

  private static String scrape(Replica replica) throws IOException, InterruptedException {
    return body(replica, "/metrics");
  }

  private static int status(Replica replica, String path) {
    try {
      return get(replica, path).statusCode();
    } catch (IOException e) {
      return -1; // not listening yet
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  private static String body(Replica replica, String path)
      throws IOException, InterruptedException {
    return get(replica, path).body();
  }

  private static HttpResponse<String> get(Replica replica, String path)
      throws IOException, InterruptedException {
    return HTTP.send(HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + replica.healthPort() + path))
        .timeout(Duration.ofSeconds(3)).build(), HttpResponse.BodyHandlers.ofString());
  }
}
