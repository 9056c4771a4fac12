package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.harness.WorkLog;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A migration between the article's client-go program ({@code bench/clientgo}, client-go's
 * {@code RunOrDie} with a {@code LeaseLock}, built by scripts/build-clientgo.sh) and this
 * controller, both on one Lease, on a real kube-apiserver + etcd (issue 18). Both log the
 * article's klog lines ({@code successfully acquired lease ...}, {@code doing stuff...}), so one
 * {@link WorkLog} checks that no two identities of either program ever worked at overlapping
 * times.
 *
 * <p>Never skips: without the client-go binary (no Go on the machine) it fails and says what to do.
 */
@DisplayName("A mixed fleet: the article's client-go program and this controller on one Lease")
class MixedFleetIT extends ReplicaTestSupport {

  private static final Path ROOT = Path.of(System.getProperty("project.root", "."));
  private static final Path CLIENT_GO = ROOT.resolve("target/bench/clientgo");
  /** The same timings for both programs (the flags have the same names). */
  private static final List<String> TIMINGS = List.of("--lease-duration=6s",
      "--renew-deadline=4s", "--retry-period=1s", "--work-interval=500ms");
  private static final Duration LEASE = Duration.ofSeconds(6);
  /** A lapsed holder is taken over within the lease duration + 1.2 retry periods + 2 s of slack. */
  private static final Duration EXPIRY_BOUND = LEASE.plusMillis(1_200).plusSeconds(2);
  /** A release is taken at once: client-go polls (1.2 retry periods at most), ours watches. */
  private static final Duration RELEASE_BOUND = Duration.ofSeconds(4);
  /**
   * A crashed holder's claim is never cut short: it runs a lease duration from its last renewal
   * that the taker saw, which came at most about a retry period (+ the request) before the kill.
   */
  private static final Duration EXPIRY_FLOOR = LEASE.minusSeconds(2);
  private static final String FINALIZER = "leaderelection.github.io/holder";

  private ReplicaSet clientGo;

  @BeforeAll
  static void clientGoProgramBuilt() throws IOException {
    if (!Files.isExecutable(CLIENT_GO)) {
      fail(CLIENT_GO.toAbsolutePath().normalize() + " not found: the article's client-go program"
          + " (bench/clientgo) is built by scripts/build-clientgo.sh, which `make test` runs before"
          + " Maven. " + (goOnPath()
              ? "Go is installed: run scripts/build-clientgo.sh and read its output."
              : "Go is not installed on this machine (no `go` on the PATH): install Go (the"
                  + " version in bench/clientgo/go.mod or later, with the Go module proxy"
                  + " reachable), then run scripts/build-clientgo.sh."));
    }
    FileTime built = Files.getLastModifiedTime(CLIENT_GO);
    for (String source : List.of("main.go", "go.mod", "go.sum")) {
      Path path = ROOT.resolve("bench/clientgo").resolve(source);
      if (Files.getLastModifiedTime(path).compareTo(built) > 0) {
        fail(CLIENT_GO + " is older than " + path + ": rebuild it with scripts/build-clientgo.sh");
      }
    }
  }

  private static boolean goOnPath() {
    String path = System.getenv("PATH");
    return path != null && Stream.of(path.split(File.pathSeparator))
        .anyMatch(dir -> Files.isExecutable(Path.of(dir, "go")));
  }

  /** Both programs' replicas of this test on one Lease: this controller's and client-go's. */
  private void fleet(TestInfo info) {
    replicas(info, TIMINGS);
    String binary = CLIENT_GO.toAbsolutePath().toString();
    clientGo = ReplicaSet.of(controlPlane, replicas.namespace(), replicas.leaseName(), TIMINGS,
        (identity, args) -> {
          List<String> command = new ArrayList<>();
          command.add(binary);
          command.add("--identity=" + identity);
          command.addAll(args);
          return command;
        }, controlPlane.kubeconfig());
  }

  @AfterEach
  void stopClientGo() {
    if (clientGo != null) {
      clientGo.close();
    }
  }

  @Nested
  @DisplayName("Handovers")
  class Handovers {

    @Test
    @DisplayName("2 + 2 replicas over SIGTERMs and SIGKILLs: each program takes the other's release"
        + " at once and the other's lapsed Lease after the lease duration, in both directions;"
        + " 0 overlapping terms")
    void bothWaysByReleaseAndByExpiry(TestInfo info) throws Exception {
      fleet(info);
      List<String> figures = new ArrayList<>();
      // The migration starts from a client-go fleet; this controller's replicas join it.
      Replica g1 = clientGo.start("go-1");
      awaitLeading(g1, Duration.ofSeconds(20));
      Replica g2 = clientGo.start("go-2");
      Replica o1 = replicas.start("ours-1");
      Replica o2 = replicas.start("ours-2");
      awaitFollowing(g1, g2, o1, o2);

      // 1. client-go -> ours by release: the client-go fleet is rolled out (follower first).
      stop(g2);
      Handover h = handover(g1, false, List.of(o1, o2), RELEASE_BOUND);
      figures.add("client-go -> ours, release (SIGTERM): " + h);
      assertThat(g1.awaitExit(Duration.ofSeconds(15))).as(g1.log()).isZero();
      Replica ours = h.to();
      Replica oursFollower = ours == o1 ? o2 : o1;

      // 2. ours -> client-go by expiry: client-go replicas join, ours crash (follower stopped first).
      Replica g3 = clientGo.start("go-3");
      Replica g4 = clientGo.start("go-4");
      awaitFollowing(ours, g3, g4);
      stop(oursFollower);
      h = handover(ours, true, List.of(g3, g4), EXPIRY_BOUND);
      figures.add("ours -> client-go, expiry (SIGKILL): " + h);
      assertThat(finalizers(replicas.lease())).as("client-go's takeover keeps our finalizer")
          .contains(FINALIZER);
      Replica go = h.to();
      Replica goFollower = go == g3 ? g4 : g3;

      // 3. client-go -> ours by expiry: ours join, the client-go leader crashes.
      Replica o3 = replicas.start("ours-3");
      Replica o4 = replicas.start("ours-4");
      awaitFollowing(go, o3, o4);
      stop(goFollower);
      h = handover(go, true, List.of(o3, o4), EXPIRY_BOUND);
      figures.add("client-go -> ours, expiry (SIGKILL): " + h);
      ours = h.to();
      oursFollower = ours == o3 ? o4 : o3;

      // 4. ours -> client-go by release: client-go replicas join, ours are stopped.
      Replica g5 = clientGo.start("go-5");
      Replica g6 = clientGo.start("go-6");
      awaitFollowing(ours, g5, g6);
      stop(oursFollower);
      h = handover(ours, false, List.of(g5, g6), RELEASE_BOUND);
      figures.add("ours -> client-go, release (SIGTERM): " + h);
      assertThat(ours.awaitExit(Duration.ofSeconds(15))).as(ours.log()).isZero();
      assertThat(finalizers(replicas.lease())).as("our release removed our finalizer")
          .doesNotContain(FINALIZER);
      go = h.to();

      // 5. Everyone competing, 2 + 2: the client-go leader crashes, then its successor is stopped.
      Replica o5 = replicas.start("ours-5");
      Replica o6 = replicas.start("ours-6");
      awaitFollowing(go, o5, o6, go == g5 ? g6 : g5);
      List<Replica> all = List.of(g5, g6, o5, o6);
      h = handover(go, true, all, EXPIRY_BOUND);
      figures.add("2 + 2, SIGKILL of the client-go leader: " + h);
      Replica next = h.to();
      awaitFollowing(next, all.stream().filter(r -> r.isAlive() && r != next).toArray(Replica[]::new));
      h = handover(next, false, all, RELEASE_BOUND);
      figures.add("2 + 2, SIGTERM of " + next.identity() + ": " + h);
      Replica last = h.to();
      await(Duration.ofSeconds(10)).until(() -> WorkLog.units(last).size() >= 2);

      assertNoOverlap();
      System.out.printf("mixed fleet handovers (lease 6 s, renew 4 s, retry 1 s):%n  %s%n"
          + "  overlapping terms: %d%n", String.join("\n  ", figures),
          WorkLog.overlaps(everyone()).size());
    }
  }

  @Nested
  @DisplayName("A Lease that still carries our finalizer under a client-go holder")
  class FinalizerUnderClientGo {

    @ParameterizedTest(name = "client-go stopped by {0}")
    @ValueSource(strings = {"SIGTERM", "SIGKILL"})
    @DisplayName("is kept, marked for deletion, by a kubectl delete for as long as client-go"
        + " renews it (our replicas do not work meanwhile); once client-go stops, the deletion"
        + " completes (after its release at once, after a crash once its claim ran out) and our"
        + " replicas lead on a new Lease; 0 overlapping terms")
    void holdsUpADeleteWhileClientGoRenews(String signal, TestInfo info) throws Exception {
      fleet(info);
      // Our replica creates the Lease (with our finalizer); client-go takes it over by expiry.
      Replica o1 = replicas.start("ours-1");
      awaitLeading(o1, Duration.ofSeconds(30));
      Replica g1 = clientGo.start("go-1");
      awaitFollowing(o1, g1);
      Handover takeover = handover(o1, true, List.of(g1), EXPIRY_BOUND);
      Lease taken = replicas.lease();
      assertThat(finalizers(taken)).as("a takeover by expiry keeps our finalizer")
          .containsExactly(FINALIZER);
      Replica o2 = replicas.start("ours-2");
      Replica o3 = replicas.start("ours-3");
      awaitFollowing(g1, o2, o3);

      // kubectl delete (waiting for the deletion, as by default) while client-go holds the Lease.
      String uid = taken.getMetadata().getUid();
      Path kubectlLog = Files.createTempFile("kubectl-delete", ".log");
      Instant deleted = Instant.now();
      Process kubectl = new ProcessBuilder(controlPlane.kubectlBinary().toString(),
          "--kubeconfig=" + controlPlane.kubeconfig(), "delete", "lease", replicas.leaseName(),
          "-n", replicas.namespace(), "--timeout=120s")
          .redirectErrorStream(true).redirectOutput(kubectlLog.toFile()).start();
      try {
        awaitMixed(Duration.ofSeconds(10), "the Lease marked for deletion", () -> {
          Lease now = replicas.lease();
          return now != null && now.getMetadata().getDeletionTimestamp() != null;
        });
        Lease marked = replicas.lease();
        int goUnits = WorkLog.units(g1).size();

        // Two lease durations: client-go renews the marked Lease, the deletion waits for it.
        Thread.sleep(LEASE.multipliedBy(2).toMillis());
        Lease still = replicas.lease();
        assertThat(still).as("the Lease is still there").isNotNull();
        assertThat(still.getMetadata().getUid()).isEqualTo(uid);
        assertThat(still.getMetadata().getDeletionTimestamp()).isNotNull();
        assertThat(finalizers(still)).containsExactly(FINALIZER);
        assertThat(still.getSpec().getHolderIdentity()).isEqualTo(g1.identity());
        assertThat(still.getMetadata().getResourceVersion())
            .as("client-go renews the Lease being deleted")
            .isNotEqualTo(marked.getMetadata().getResourceVersion());
        assertThat(WorkLog.units(g1).size()).as("client-go works on").isGreaterThan(goUnits + 10);
        assertThat(kubectl.isAlive()).as("kubectl delete still waits: %s",
            Files.readString(kubectlLog)).isTrue();
        for (Replica r : List.of(o2, o3)) {
          assertThat(r.logged("successfully acquired lease")).as(r.log()).isFalse();
          assertThat(WorkLog.units(r)).as(r.log()).isEmpty();
        }

        // client-go stops: by its release at once, by a crash once its claim has run out.
        boolean crash = signal.equals("SIGKILL");
        Instant stopped = Instant.now();
        if (crash) {
          g1.kill();
        } else {
          g1.terminate();
        }
        assertThat(kubectl.waitFor(EXPIRY_BOUND.toSeconds() + 5, TimeUnit.SECONDS))
            .as("kubectl delete returns once client-go stopped").isTrue();
        Instant deletionCompleted = Instant.now();
        String kubectlOutput = Files.readString(kubectlLog, StandardCharsets.UTF_8);
        assertThat(kubectl.exitValue()).as(kubectlOutput).isZero();
        assertThat(kubectlOutput).contains("\"" + replicas.leaseName() + "\" deleted");
        awaitMixed(EXPIRY_BOUND, "a new Lease held by one of ours", () -> {
          Lease now = replicas.lease();
          return now != null && !uid.equals(now.getMetadata().getUid())
              && now.getSpec() != null
              && List.of(o2.identity(), o3.identity()).contains(now.getSpec().getHolderIdentity());
        });
        Replica next = replicas.byIdentity(replicas.holder()).orElseThrow();
        Instant acquired = acquiredAfter(next, stopped).orElseThrow();
        long millis = Duration.between(stopped, acquired).toMillis();
        if (crash) {
          // Our replicas count client-go's claim like anyone's: not finished off before it ran out.
          assertThat(millis).as("finished off only after client-go's claim ran out")
              .isGreaterThanOrEqualTo(EXPIRY_FLOOR.toMillis());
          assertThat(millis).isLessThanOrEqualTo(EXPIRY_BOUND.toMillis());
        } else {
          assertThat(g1.awaitExit(Duration.ofSeconds(15))).as(g1.log()).isZero();
          assertThat(millis).isLessThanOrEqualTo(RELEASE_BOUND.toMillis());
        }
        assertThat(finalizers(replicas.lease())).containsExactly(FINALIZER);
        await(Duration.ofSeconds(10)).until(() -> WorkLog.units(next).size() >= 2);
        assertNoOverlap();
        System.out.printf("mixed fleet finalizer, client-go stopped by %s: client-go took our"
                + " Lease over %s; kubectl delete held up %d ms (client-go renewing), completed"
                + " %d ms after the %s; our %s leads on a new Lease %d ms after it%n",
            signal, takeover, Duration.between(deleted, deletionCompleted).toMillis(),
            Duration.between(stopped, deletionCompleted).toMillis(), signal, next.identity(),
            millis);
      } finally {
        kubectl.destroyForcibly();
        Files.deleteIfExists(kubectlLog);
      }
    }
  }

  // -----------------------------------------------------------------------------------------------

  /** One handover: who gave the Lease up, how, who took it and when (from the klog lines). */
  private record Handover(Replica from, Replica to, boolean crash, long acquiredMillis,
      long workGapMillis) {
    @Override
    public String toString() {
      return String.format("%s -> %s: acquired %d ms after the %s, work gap %d ms",
          from.identity(), to.identity(), acquiredMillis, crash ? "SIGKILL" : "SIGTERM",
          workGapMillis);
    }
  }

  /**
   * Stops {@code leader} (SIGKILL if {@code crash}, else SIGTERM) and waits for one of
   * {@code candidates} to take the Lease within {@code bound}. The time is measured from the
   * signal to the new holder's {@code successfully acquired lease} line; the work gap from the
   * old holder's last unit to the new one's first.
   */
  private Handover handover(Replica leader, boolean crash, List<Replica> candidates,
      Duration bound) throws Exception {
    await(Duration.ofSeconds(10)).until(() -> WorkLog.units(leader).size() >= 2);
    Instant signalled = Instant.now();
    if (crash) {
      leader.kill();
    } else {
      leader.terminate();
    }
    awaitMixed(bound.plusSeconds(1), "a new holder among " + names(candidates) + " after the "
        + (crash ? "SIGKILL" : "SIGTERM") + " of " + leader.identity(), () -> candidates.stream()
            .anyMatch(r -> r.isAlive() && r.identity().equals(replicas.holder())
                && acquiredAfter(r, signalled).isPresent()));
    String holder = replicas.holder();
    Replica next = candidates.stream().filter(r -> r.identity().equals(holder)).findFirst()
        .orElseThrow();
    Instant acquired = acquiredAfter(next, signalled).orElseThrow();
    long millis = Duration.between(signalled, acquired).toMillis();
    assertThat(millis).as("%s took over from %s within %s", next.identity(), leader.identity(),
        bound).isLessThanOrEqualTo(bound.toMillis());
    if (crash) {
      assertThat(millis).as("%s waited out the claim of %s", next.identity(), leader.identity())
          .isGreaterThanOrEqualTo(EXPIRY_FLOOR.toMillis());
    }
    await(Duration.ofSeconds(10)).until(() -> firstUnitAfter(next, signalled).isPresent());
    leader.awaitExit(Duration.ofSeconds(15));
    Instant lastOld = WorkLog.units(leader).stream().map(WorkLog.Unit::at)
        .reduce((a, b) -> b).orElseThrow();
    Instant firstNew = firstUnitAfter(next, signalled).orElseThrow();
    return new Handover(leader, next, crash, millis, Duration.between(lastOld, firstNew).toMillis());
  }

  /** Stops a follower (SIGTERM) and waits for it to exit. */
  private static void stop(Replica follower) throws InterruptedException {
    follower.terminate();
    assertThat(follower.awaitExit(Duration.ofSeconds(15))).as(follower.log()).isZero();
  }

  private void awaitLeading(Replica replica, Duration atMost) {
    awaitMixed(atMost, replica.identity() + " leads and works",
        () -> replica.identity().equals(replicas.holder()) && WorkLog.units(replica).size() >= 1);
  }

  /** Waits until each of {@code followers} has logged that {@code leader} leads. */
  private void awaitFollowing(Replica leader, Replica... followers) {
    for (Replica r : followers) {
      awaitMixed(Duration.ofSeconds(30), r.identity() + " follows " + leader.identity(),
          () -> r.logged("new leader is " + leader.identity()));
    }
  }

  /** The first {@code successfully acquired lease} line of {@code r} at or after {@code t}. */
  private static Optional<Instant> acquiredAfter(Replica r, Instant t) {
    return r.texts().stream()
        .filter(l -> WorkLog.message(l).startsWith("successfully acquired lease"))
        .map(WorkLog::timestamp).filter(at -> at != null && !at.isBefore(t)).findFirst();
  }

  private static Optional<Instant> firstUnitAfter(Replica r, Instant t) {
    return WorkLog.units(r).stream().map(WorkLog.Unit::at).filter(at -> !at.isBefore(t))
        .findFirst();
  }

  private List<Replica> everyone() {
    List<Replica> all = new ArrayList<>(replicas.replicas());
    all.addAll(clientGo.replicas());
    return all;
  }

  private String allLogs() {
    return replicas.logs() + clientGo.logs();
  }

  private void assertNoOverlap() {
    assertThat(WorkLog.overlaps(everyone()))
        .as("overlapping work between identities; logs:\n%s", allLogs()).isEmpty();
  }

  private void awaitMixed(Duration atMost, String what, Callable<Boolean> condition) {
    try {
      await(atMost).until(condition);
    } catch (ConditionTimeoutException e) {
      throw new AssertionError("not within " + atMost + ": " + what + "\nLease: "
          + replicas.lease() + "\n" + allLogs(), e);
    }
  }

  private static String names(List<Replica> rs) {
    return rs.stream().map(Replica::identity).toList().toString();
  }

  private static List<String> finalizers(Lease lease) {
    return lease == null || lease.getMetadata().getFinalizers() == null ? List.of()
        : lease.getMetadata().getFinalizers();
  }
}
