package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.leaderelection.harness.ControlPlane;
import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.springdemo.SpringDemoApp;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.ClassOrderer;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestClassOrder;

/**
 * The Spring Boot integration against a real kube-apiserver + etcd: a small Boot service
 * ({@link SpringDemoApp}: one {@code @Scheduled(fixedRate = 300) @LeaderOnly} job, the actuator)
 * started as three JVMs, taken through a crash (SIGKILL), a graceful stop (SIGTERM) and a rolling
 * restart. The behaviours run in order on one fleet; the last one checks, from every run each
 * process recorded (start and end instants on the one clock of this machine), that no two runs of
 * different instances ever overlapped.
 */
@DisplayName("Spring Boot: one pod runs the @Scheduled @LeaderOnly job, over crash, SIGTERM and a"
    + " rolling restart, on a real kube-apiserver")
@TestClassOrder(ClassOrderer.OrderAnnotation.class)
class SpringBootIT {

  private static final String NAMESPACE = "spring-boot-it";
  private static final String LEASE = "spring-demo";
  private static final Duration LEASE_DURATION = Duration.ofSeconds(5);
  private static final Duration RETRY = Duration.ofSeconds(1);
  /** The bound for a graceful handover. */
  private static final Duration SIGTERM_HANDOVER = Duration.ofSeconds(1);
  /** A crash: the lease duration, the followers' retry (x1.2 jitter), plus slack for the load. */
  private static final Duration FAILOVER_BOUND =
      LEASE_DURATION.plus(RETRY.multipliedBy(12).dividedBy(10)).plusSeconds(3);
  private static final Duration STARTUP = Duration.ofSeconds(90);

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(2)).build();

  private static ControlPlane controlPlane;
  private static ReplicaSet replicas;
  private static int started;
  private static final List<String> figures = new CopyOnWriteArrayList<>();
  /** When each killed replica died (its unfinished run ended then at the latest). */
  private static final Map<String, Instant> killedAt = new HashMap<>();

  @BeforeAll
  static void fleet() {
    controlPlane = ControlPlane.shared();
    replicas = ReplicaSet.of(controlPlane, NAMESPACE, LEASE, List.of(
            "--leaderelection.lease-duration=" + LEASE_DURATION.toSeconds() + "s",
            "--leaderelection.renew-deadline=3s",
            "--leaderelection.retry-period=" + RETRY.toSeconds() + "s",
            "--management.endpoints.web.exposure.include=health,info,metrics",
            "--management.endpoint.health.show-details=always",
            "--spring.main.banner-mode=off"),
        SpringBootIT::command, controlPlane.kubeconfig());
  }

  /** The Boot app on the test class path, with JVM flags for a small Boot service. */
  private static List<String> command(String identity, List<String> args) {
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:+UseSerialGC", "-Xms16m", "-Xmx192m", "-XX:TieredStopAtLevel=1", "-Xss512k",
        "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path"),
        SpringDemoApp.class.getName()));
    command.addAll(args);
    return command;
  }

  @AfterAll
  static void stop() {
    if (replicas != null) {
      replicas.close();
    }
    figures.forEach(f -> System.out.println("SpringBootIT figure: " + f));
  }

  @Nested
  @Order(1)
  @DisplayName("Start-up: three instances, one leader; its health, its gauge and the Lease agree")
  class StartUp {

    @Test
    @DisplayName("one instance holds the Lease and runs the job; health says leader on it and"
        + " follower with the same holder on the others; leader_election_master_status is 1 on it"
        + " and 0 on the others")
    void oneLeaderAndEveryEndpointAgrees() {
      long t0 = System.nanoTime();
      for (int i = 0; i < 3; i++) {
        launch();
      }
      awaitThat(STARTUP, "every instance answers /actuator/health",
          () -> replicas.alive().stream().allMatch(r -> health(r).isPresent()));
      figures.add("start-up of 3 Boot JVMs until every health endpoint answers: "
          + (System.nanoTime() - t0) / 1_000_000 + " ms");
      Replica leader = awaitLeaderOtherThan(null, Duration.ofSeconds(30));
      awaitThat(Duration.ofSeconds(10), leader.identity() + " runs the job",
          () -> runs(leader).size() >= 3);
      assertEndpointsAgreeWithTheLease();
    }
  }

  @Nested
  @Order(2)
  @DisplayName("Crash: after a SIGKILL of the leader another instance leads after about the lease"
      + " duration")
  class Crash {

    @Test
    @DisplayName("SIGKILL the leader: a new holder between the lease duration less a retry period"
        + " and the failover bound; it runs the job")
    void sigkillFailsOverInAboutTheLeaseDuration() throws Exception {
      Replica leader = replicas.leader().orElseThrow();
      long t0 = System.nanoTime();
      leader.kill();
      killedAt.put(leader.identity(), Instant.now());
      Replica next = awaitLeaderOtherThan(leader.identity(), FAILOVER_BOUND);
      long took = (System.nanoTime() - t0) / 1_000_000;
      leader.awaitExit(Duration.ofSeconds(10));
      assertThat(took).as("ms from SIGKILL to a new holder")
          .isGreaterThanOrEqualTo(LEASE_DURATION.minus(RETRY).toMillis() - 500)
          .isLessThanOrEqualTo(FAILOVER_BOUND.toMillis());
      int before = runs(next).size();
      awaitThat(Duration.ofSeconds(10), next.identity() + " runs the job",
          () -> runs(next).size() >= before + 2);
      figures.add("crash failover: new holder " + took + " ms after SIGKILL (lease duration "
          + LEASE_DURATION.toMillis() + " ms)");
      launch(); // the ReplicaSet controller's replacement
      awaitThat(STARTUP, "the replacement answers", () -> replicas.alive().stream()
          .allMatch(r -> health(r).isPresent()));
      assertEndpointsAgreeWithTheLease();
    }
  }

  @Nested
  @Order(3)
  @DisplayName("Graceful stop: SIGTERM of the leader hands the Lease over in under a second")
  class GracefulStop {

    @Test
    @DisplayName("SIGTERM the leader: its in-flight run ends, the Lease is released, another"
        + " instance holds it within 1 s, and the stopped JVM exits")
    void sigtermHandsOverAtOnce() throws Exception {
      Long took = terminateLeaderAndMeasure();
      assertThat(took).as("ms from SIGTERM to a new holder\n" + replicas.logs())
          .isLessThan(SIGTERM_HANDOVER.toMillis());
      figures.add("SIGTERM handover: new holder " + took + " ms after SIGTERM");
      launch();
      awaitThat(STARTUP, "the replacement answers", () -> replicas.alive().stream()
          .allMatch(r -> health(r).isPresent()));
      assertEndpointsAgreeWithTheLease();
    }
  }

  @Nested
  @Order(4)
  @DisplayName("Rolling restart: each old instance replaced by a new one, the leader last;"
      + " every handover under a second")
  class RollingRestart {

    @Test
    @DisplayName("three new instances replace the three old ones one at a time (new one up, then"
        + " SIGTERM to an old one); the Lease ends on a new instance and the job runs there")
    void rollingRestart() throws Exception {
      List<Replica> old = new ArrayList<>(replicas.alive());
      String holder = replicas.holder();
      old.sort((a, b) -> Boolean.compare(a.identity().equals(holder),
          b.identity().equals(holder))); // followers first, the leader last, as a rollout may
      List<Long> handovers = new ArrayList<>();
      for (Replica r : old) {
        Replica fresh = launch();
        awaitThat(STARTUP, fresh.identity() + " answers", () -> health(fresh).isPresent());
        if (r.identity().equals(replicas.holder())) {
          handovers.add(terminateAndMeasure(r));
        } else {
          r.terminate();
          assertThat(r.awaitExit(Duration.ofSeconds(30))).as(r.log()).isNotEqualTo(137);
        }
      }
      assertThat(handovers).isNotEmpty()
          .allSatisfy(ms -> assertThat(ms).isLessThan(SIGTERM_HANDOVER.toMillis()));
      Replica leader = awaitLeaderOtherThan(null, Duration.ofSeconds(10));
      assertThat(old).doesNotContain(leader);
      int before = runs(leader).size();
      awaitThat(Duration.ofSeconds(10), leader.identity() + " runs the job",
          () -> runs(leader).size() >= before + 2);
      assertEndpointsAgreeWithTheLease();
      figures.add("rolling restart: handovers " + handovers + " ms after SIGTERM");
    }
  }

  @Nested
  @Order(5)
  @DisplayName("Over the whole run: no two instances' runs of the job ever overlapped")
  class NoOverlap {

    @Test
    @DisplayName("every recorded run (start, end) of every instance, crashed ones included: 0"
        + " overlaps between instances; fencing tokens never go back from one leader to the next")
    void noOverlappingRuns() {
      replicas.alive().forEach(Replica::terminate);
      replicas.alive().forEach(r -> {
        try {
          r.awaitExit(Duration.ofSeconds(30));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });
      List<Run> all = new ArrayList<>();
      replicas.replicas().forEach(r -> all.addAll(runs(r)));
      all.sort((a, b) -> a.start.compareTo(b.start));
      List<String> overlaps = new ArrayList<>();
      for (int i = 0; i < all.size(); i++) {
        for (int j = i + 1; j < all.size() && !all.get(j).start.isAfter(all.get(i).end); j++) {
          if (!all.get(i).identity.equals(all.get(j).identity)) {
            overlaps.add(all.get(i) + " overlaps " + all.get(j));
          }
        }
      }
      long identities = all.stream().map(Run::identity).distinct().count();
      assertThat(identities).as("instances that ran the job").isGreaterThanOrEqualTo(4);
      assertThat(overlaps).as("overlapping runs among %d runs", all.size()).isEmpty();
      long lastToken = Long.MIN_VALUE;
      String lastIdentity = null;
      for (Run run : all) {
        if (!run.identity.equals(lastIdentity)) {
          assertThat(run.token).as("token of %s after %s", run, lastIdentity)
              .isGreaterThan(lastToken);
        }
        lastToken = Math.max(lastToken, run.token);
        lastIdentity = run.identity;
      }
      long interrupted = replicas.replicas().stream().flatMap(r -> r.texts().stream())
          .filter(l -> l.startsWith(SpringDemoApp.RUN_END) && l.endsWith(" interrupted"))
          .count();
      figures.add(all.size() + " runs by " + identities + " instances, 0 overlapping, "
          + interrupted + " interrupted");
    }
  }

  // --- helpers ---

  private static Replica launch() {
    return replicas.start("spring-" + started++);
  }

  private static long terminateLeaderAndMeasure() throws InterruptedException {
    return terminateAndMeasure(replicas.leader().orElseThrow());
  }

  /** SIGTERM {@code leader}; the ms until another holds the Lease. */
  private static long terminateAndMeasure(Replica leader) throws InterruptedException {
    long t0 = System.nanoTime();
    leader.terminate();
    awaitLeaderOtherThan(leader.identity(), Duration.ofSeconds(20));
    long took = (System.nanoTime() - t0) / 1_000_000;
    int exit = leader.awaitExit(Duration.ofSeconds(30));
    assertThat(exit).as("exit code after SIGTERM\n" + leader.log()).isIn(0, 143);
    assertThat(leader.logged("lease released")).as(leader.log()).isTrue();
    return took;
  }

  private static Replica awaitLeaderOtherThan(String previous, Duration within) {
    awaitThat(within, "a holder other than " + previous, () -> {
      String holder = replicas.holder();
      return !holder.isEmpty() && !holder.equals(previous)
          && replicas.byIdentity(holder).filter(Replica::isAlive).isPresent();
    });
    return replicas.leader().orElseThrow();
  }

  /** Health (role, holder) and the gauge of every live instance agree with the Lease. */
  private static void assertEndpointsAgreeWithTheLease() {
    awaitThat(Duration.ofSeconds(15), "every instance's health and gauge agree with the Lease",
        () -> {
          String holder = replicas.holder();
          for (Replica r : replicas.alive()) {
            Optional<JsonNode> health = health(r);
            if (health.isEmpty()) {
              return false;
            }
            JsonNode details = health.get().path("components").path("leaderElection")
                .path("details");
            boolean leads = r.identity().equals(holder);
            if (!details.path("holder").asText().equals(holder)
                || !details.path("role").asText().equals(leads ? "leader" : "follower")
                || !details.path("candidate").asText().equals("running")
                || gauge(r) != (leads ? 1.0 : 0.0)) {
              return false;
            }
          }
          return true;
        });
  }

  private static Optional<JsonNode> health(Replica r) {
    return get(r, "/actuator/health");
  }

  private static double gauge(Replica r) {
    return get(r, "/actuator/metrics/leader.election.master.status")
        .map(j -> j.path("measurements").path(0).path("value").asDouble(-1)).orElse(-1.0);
  }

  private static Optional<JsonNode> get(Replica r, String path) {
    try {
      HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(
              URI.create("http://127.0.0.1:" + r.healthPort() + path))
          .timeout(Duration.ofSeconds(3)).build(), HttpResponse.BodyHandlers.ofString());
      return response.statusCode() == 200 || response.statusCode() == 503
          ? Optional.of(JSON.readTree(response.body())) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  /** One run of the job as its instance recorded it. */
  record Run(String identity, long token, Instant start, Instant end) {
  }

  /**
   * The runs {@code r} recorded; a run without an end (the process was killed in it) ends when
   * the process was killed.
   */
  private static List<Run> runs(Replica r) {
    List<Run> runs = new ArrayList<>();
    Map<String, String[]> open = new HashMap<>();
    String[] current = null;
    for (String line : r.texts()) {
      if (line.startsWith(SpringDemoApp.RUN_START + " ")) {
        current = line.split(" ");
      } else if (line.startsWith(SpringDemoApp.RUN_END + " ") && current != null) {
        String[] end = line.split(" ");
        runs.add(new Run(current[1], token(current[2]), at(current[3]), at(end[3])));
        current = null;
      }
    }
    if (current != null) {
      Instant end = killedAt.getOrDefault(r.identity(), Instant.now());
      runs.add(new Run(current[1], token(current[2]), at(current[3]), end));
    }
    open.clear();
    return runs;
  }

  private static long token(String field) {
    return Long.parseLong(field.substring("token=".length()));
  }

  private static Instant at(String field) {
    return Instant.parse(field.substring("at=".length()));
  }

  private static void awaitThat(Duration within, String what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + within.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not within " + within + ": " + what + "\n"
            + tail(replicas.logs()));
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted waiting for " + what);
      }
    }
  }

  private static String tail(String logs) {
    String[] lines = logs.split("\n");
    return String.join("\n", List.of(lines).subList(Math.max(0, lines.length - 200),
        lines.length));
  }
}
