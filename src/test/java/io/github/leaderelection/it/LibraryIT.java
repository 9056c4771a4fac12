package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.harness.ControlPlane;
import io.github.leaderelection.harness.EmbeddedService;
import io.github.leaderelection.harness.EmbeddedService.Event;
import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.ClassOrderer;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestClassOrder;

/**
 * The library's contract when services embed it, against a real kube-apiserver + etcd: two
 * services in this JVM (two identities, one shared {@link KubernetesClient}) and service processes
 * ({@link EmbeddedService#main}, on the packaged jar), each running one election per Lease on
 * three Leases. The behaviours run in order on one fleet (a run of a few minutes); the last one
 * checks the invariants over the whole run from every service's event lines and the ConfigMaps the
 * leaders wrote through fenced writes.
 */
@DisplayName("The library embedded in services: two services in one JVM plus service processes,"
    + " three Leases, a real kube-apiserver")
@TestClassOrder(ClassOrderer.OrderAnnotation.class)
class LibraryIT {

  private static final List<String> LEASES = List.of("lease-0", "lease-1", "lease-2");
  private static final String NAMESPACE = "library-it";
  private static final String A = "jvm-a";
  private static final String B = "jvm-b";
  /** A release hands over "within about a second"; generous for a loaded 2-core machine. */
  private static final Duration HANDOVER_BOUND = Duration.ofSeconds(3);
  /** A crash: the lease duration, the followers' retry (x1.2 jitter), plus slack for the load. */
  private static final Duration FAILOVER_BOUND = EmbeddedService.LEASE_DURATION
      .plus(EmbeddedService.RETRY_PERIOD.multipliedBy(12).dividedBy(10)).plusSeconds(3);
  /** How long an in-JVM service stays out when the test makes it step down. */
  private static final Duration STAY_OUT = Duration.ofSeconds(5);

  private static ControlPlane controlPlane;
  private static ReplicaSet processes;
  private static KubernetesClient admin;
  private static KubernetesClient shared;
  private static final List<String> inJvmLines = new CopyOnWriteArrayList<>();
  private static final Map<String, EmbeddedService> inJvm = new LinkedHashMap<>();
  private static final Set<String> closedServices = new LinkedHashSet<>();
  private static final List<String> figures = new CopyOnWriteArrayList<>();
  private static final List<Long> sigtermHandoverMillis = new CopyOnWriteArrayList<>();
  private static final List<Long> sigkillFailoverMillis = new CopyOnWriteArrayList<>();
  private static int processCount;
  /** System.nanoTime() when the last stay-out the test asked for ends. */
  private static long stayOutEndsNanos = System.nanoTime();
  private static final Map<Object, List<Event>> parsed = new IdentityHashMap<>();
  private static final Map<Object, Integer> parsedLines = new IdentityHashMap<>();

  @BeforeAll
  static void controlPlaneAndClients() throws Exception {
    controlPlane = ControlPlane.shared();
    String classpath = ReplicaSet.appJar() + File.pathSeparator + testkitClasses();
    // The processes run the packaged jar (the library inside it) plus the test kit's classes.
    processes = ReplicaSet.of(controlPlane, NAMESPACE, LEASES.get(0),
        List.of("--leases=" + String.join(",", LEASES)),
        ReplicaSet.classLauncher(classpath, EmbeddedService.class.getName()),
        controlPlane.kubeconfig());
    admin = controlPlane.adminClient();
    shared = EmbeddedService.client(controlPlane.kubeconfigYaml());
  }

  @AfterAll
  static void stopEverything() throws IOException {
    inJvm.values().forEach(EmbeddedService::close);
    if (processes != null) {
      processes.close();
    }
    if (shared != null) {
      shared.close();
    }
    if (admin != null) {
      admin.close();
    }
    String root = System.getProperty("project.root", ".");
    Path file = Path.of(root, "target", "library-it-events.log");
    Files.createDirectories(file.getParent());
    Files.write(file, events().stream().map(LibraryIT::format).toList());
    System.out.println("LibraryIT: every event in " + file);
    figures.forEach(f -> System.out.println("LibraryIT figure: " + f));
  }

  @Nested
  @Order(1)
  @DisplayName("Start-up: every Lease gets one leader among two services in one JVM (one shared"
      + " client) and three service processes, and every other service follows it")
  class StartUp {

    @Test
    @DisplayName("the first service leads every Lease; the four others each see it as leader of"
        + " each Lease and do no work")
    void everyLeaseHasOneLeaderAndTheOthersFollow() {
      startInJvm(A);
      awaitThat(Duration.ofSeconds(30), "jvm-a holds every Lease",
          () -> LEASES.stream().allMatch(l -> holder(l).equals(A)));
      Instant since = Instant.now();
      startInJvm(B);
      List<String> others = new ArrayList<>(List.of(B));
      for (int i = 0; i < 3; i++) {
        others.add(launchProcess().identity());
      }
      awaitThat(Duration.ofSeconds(120), "every other service sees jvm-a lead every Lease",
          () -> others.stream().allMatch(id -> LEASES.stream().allMatch(l ->
              events().stream().anyMatch(e -> e.identity().equals(id) && e.lease().equals(l)
                  && e.kind().equals("leader") && A.equals(e.fields().get("holder"))))));
      awaitEveryLeaseLed(Duration.ofSeconds(10), since);
      for (String lease : LEASES) {
        assertThat(holder(lease)).isEqualTo(A);
        assertThat(service(A).election(lease).isLeader()).isTrue();
        assertThat(service(B).election(lease).isLeader()).isFalse();
        assertThat(service(B).election(lease).currentLeader()).contains(A);
        assertThat(events().stream().filter(e -> e.kind().equals("started")
            && e.lease().equals(lease)).map(Event::identity).toList())
            .as("who started leading %s", lease).containsOnly(A);
      }
      assertInvariantsSoFar();
    }
  }

  @Nested
  @Order(2)
  @DisplayName("Close in one JVM: closing one service's election releases its Lease, another"
      + " service (in this JVM or another process) leads within about a second, and the closed"
      + " election is done")
  class CloseInOneJvm {

    @Test
    @DisplayName("jvm-a closes its election on lease-0: a new holder within the handover bound,"
        + " close() within its bound, and a reopened election on lease-0 follows the new leader")
    void closingAnElectionHandsItsLeaseOver() {
      String lease = "lease-0";
      assertThat(holder(lease)).isEqualTo(A);
      LeaderElection closing = service(A).election(lease);
      long token = closing.currentTerm().orElseThrow().fencingToken();
      Instant since = Instant.now();
      long start = System.nanoTime();
      CompletableFuture<Duration> closed =
          CompletableFuture.supplyAsync(() -> service(A).close(lease));
      Map<String, Long> handover = measureHandover(Set.of(lease), A, start, HANDOVER_BOUND);
      Duration closeTook = closed.join();

      assertThat(handover).as("ms until another holds %s after close()\n%s", lease, diagnostics())
          .containsKey(lease);
      assertThat(handover.get(lease)).isLessThanOrEqualTo(HANDOVER_BOUND.toMillis());
      assertThat(closeTook).isLessThanOrEqualTo(closing.shutdownBound());
      assertThat(closing.termination()).isCompleted();
      assertThat(closing.failure()).isEmpty();
      assertThat(closing.isLeader()).isFalse();
      awaitThat(Duration.ofSeconds(5), "jvm-a reports its lease-0 term stopped as CLOSED",
          () -> has(A, lease, "stopped", token, "CLOSED"));
      String next = holder(lease);
      awaitThat(Duration.ofSeconds(10), next + " works on lease-0",
          () -> workedSince(next, lease, since));

      LeaderElection reopened = service(A).reopen(lease);
      awaitThat(Duration.ofSeconds(10), "the reopened election knows the leader",
          () -> reopened.currentLeader().filter(next::equals).isPresent());
      assertThat(reopened.isLeader()).isFalse();
      figures.add(String.format("close in one JVM: jvm-a's close() of its lease-0 election took"
          + " %d ms; %s held lease-0 %d ms after close() was called", closeTook.toMillis(), next,
          handover.get(lease)));
    }
  }

  @Nested
  @Order(3)
  @DisplayName("Step down: a service that steps down releases its Lease at once, stays out for"
      + " the given time, and its election goes on")
  class StepDown {

    @Test
    @DisplayName("jvm-a steps down from lease-1 for 3 s: a new holder within the handover bound,"
        + " the term ends as STEPPED_DOWN, and the election stays open and follows")
    void steppingDownHandsTheLeaseOverAndTheElectionGoesOn() throws Exception {
      String lease = "lease-1";
      assertThat(holder(lease)).isEqualTo(A);
      LeaderElection election = service(A).election(lease);
      long token = election.currentTerm().orElseThrow().fencingToken();
      Instant since = Instant.now();
      long start = System.nanoTime();
      election.stepDown(Duration.ofSeconds(3));
      Map<String, Long> handover = measureHandover(Set.of(lease), A, start, HANDOVER_BOUND);
      assertThat(handover).as("ms until another holds %s after stepDown\n%s", lease,
          diagnostics()).containsKey(lease);
      assertThat(handover.get(lease)).isLessThanOrEqualTo(HANDOVER_BOUND.toMillis());
      awaitThat(Duration.ofSeconds(5), "jvm-a reports its lease-1 term stopped as STEPPED_DOWN",
          () -> has(A, lease, "stopped", token, "STEPPED_DOWN"));
      String next = holder(lease);
      awaitThat(Duration.ofSeconds(10), next + " works on lease-1",
          () -> workedSince(next, lease, since));
      Thread.sleep(3_500); // past the stay-out
      assertThat(election.termination()).isNotDone();
      assertThat(election.isLeader()).isFalse();
      assertThat(election.currentLeader()).contains(holder(lease));
      figures.add(String.format("step-down in one JVM: %s held lease-1 %d ms after jvm-a's"
          + " stepDown()", next, handover.get(lease)));
    }
  }

  @Nested
  @Order(4)
  @DisplayName("API server outage: stopped for longer than the renew deadline, every term ends"
      + " and its work stops; once the API server is back every Lease has a leader again and"
      + " every election campaigns on")
  class ApiServerOutage {

    @Test
    @DisplayName("kube-apiserver frozen 7 s: jvm-a's lease-2 term ends as EXPIRED within the renew"
        + " deadline, no unit runs past the lease duration, every Lease is led again afterwards")
    void termsEndDuringAnOutageAndEveryLeaseIsLedAgainAfter() throws Exception {
      String lease = "lease-2";
      assertThat(holder(lease)).isEqualTo(A);
      Map<String, String> before = holders();
      LeaderElection election = service(A).election(lease);
      long token = election.currentTerm().orElseThrow().fencingToken();
      Instant stoppedAt = Instant.now();
      long stopped = System.nanoTime();
      controlPlane.stopApiServer();
      long notLeaderMillis;
      Instant restartedAt;
      try {
        awaitThat(EmbeddedService.RENEW_DEADLINE.plusSeconds(3),
            "jvm-a no longer leads lease-2 with the API server stopped", () -> !election.isLeader());
        notLeaderMillis = (System.nanoTime() - stopped) / 1_000_000;
        long left = 7_000 - (System.nanoTime() - stopped) / 1_000_000;
        if (left > 0) {
          Thread.sleep(left);
        }
      } finally {
        controlPlane.startApiServer();
        restartedAt = Instant.now();
      }
      long restarted = System.nanoTime();
      assertThat(notLeaderMillis).isLessThanOrEqualTo(
          EmbeddedService.RENEW_DEADLINE.plusSeconds(2).toMillis());
      awaitThat(Duration.ofSeconds(5), "jvm-a reports its lease-2 term stopped as EXPIRED",
          () -> has(A, lease, "stopped", token, "EXPIRED"));

      Map<String, Long> ledAgain = new TreeMap<>();
      awaitThat(Duration.ofSeconds(30), "every Lease led and worked on after the outage", () -> {
        for (String l : LEASES) {
          if (!ledAgain.containsKey(l)) {
            String h = holder(l);
            if (isLive(h) && workedSince(h, l, restartedAt)) {
              ledAgain.put(l, (System.nanoTime() - restarted) / 1_000_000);
            }
          }
        }
        return ledAgain.size() == LEASES.size();
      });
      // Every term held at the stop ended within the lease duration: no unit of it ran later.
      Instant limit = stoppedAt.plus(EmbeddedService.LEASE_DURATION);
      for (Map.Entry<String, String> held : before.entrySet()) {
        List<Event> late = events().stream().filter(e -> e.kind().equals("unit")
            && e.lease().equals(held.getKey()) && e.identity().equals(held.getValue())
            && e.began().isBefore(restartedAt) && e.at().isAfter(limit)).toList();
        assertThat(late).as("units of %s on %s that ran past the lease duration after the stop",
            held.getValue(), held.getKey()).isEmpty();
      }
      Instant lastUnit = events().stream().filter(e -> e.kind().equals("unit")
              && e.began().isBefore(restartedAt) && e.at().isAfter(stoppedAt.minusSeconds(1)))
          .map(Event::at).filter(t -> t.isBefore(restartedAt)).max(Comparator.naturalOrder())
          .orElse(stoppedAt);
      for (EmbeddedService s : inJvm.values()) {
        LEASES.forEach(l -> assertThat(s.election(l).termination()).isNotDone());
      }
      figures.add(String.format("API server frozen 7 s: jvm-a stopped leading lease-2 %d ms"
          + " after the stop (renew deadline %d ms); last unit of any holder ended %d ms after the"
          + " stop; every Lease led and worked on again %s ms after the restart", notLeaderMillis,
          EmbeddedService.RENEW_DEADLINE.toMillis(),
          Duration.between(stoppedAt, lastUnit).toMillis(), ledAgain));
    }
  }

  @Nested
  @Order(5)
  @DisplayName("Crash: a service process killed with SIGKILL loses its Leases to the other services"
      + " within about the lease duration")
  class Crash {

    @Test
    @DisplayName("SIGKILL of a process holding Leases: each one has another holder that works"
        + " within the lease duration + 1.2 x retry period (+3 s for the load)")
    void aKilledProcessIsReplacedWithinTheLeaseDuration() throws Exception {
      Replica victim = processHoldingALease();
      Set<String> held = heldBy(victim.identity());
      Instant since = Instant.now();
      long start = System.nanoTime();
      victim.kill();
      Map<String, Long> failover = measureHandover(held, victim.identity(), start,
          FAILOVER_BOUND);
      assertThat(victim.awaitExit(Duration.ofSeconds(10))).isEqualTo(137);
      assertThat(failover.keySet()).as("Leases taken over after the SIGKILL of %s\n%s",
          victim.identity(), diagnostics()).containsExactlyInAnyOrderElementsOf(held);
      failover.values().forEach(ms -> assertThat(ms).as("failover ms %s", failover)
          .isLessThanOrEqualTo(FAILOVER_BOUND.toMillis()));
      for (String lease : held) {
        String next = holder(lease);
        awaitThat(Duration.ofSeconds(10), next + " works on " + lease,
            () -> workedSince(next, lease, since));
      }
      sigkillFailoverMillis.addAll(failover.values());
      figures.add(String.format("SIGKILL of %s (held %s): failover ms per Lease %s (lease duration"
          + " %d ms, bound %d ms)", victim.identity(), held, failover,
          EmbeddedService.LEASE_DURATION.toMillis(), FAILOVER_BOUND.toMillis()));
      startProcess(); // the replacement, as a ReplicaSet would start one
    }
  }

  @Nested
  @Order(6)
  @DisplayName("Graceful stop: a service process stopped with SIGTERM closes its elections and its"
      + " Leases change hands within about a second")
  class GracefulStop {

    @Test
    @DisplayName("SIGTERM of a process holding Leases: each one has another holder within the"
        + " handover bound; the process reports every election closed and every term CLOSED")
    void aTerminatedProcessHandsItsLeasesOverAtOnce() throws Exception {
      Replica victim = processHoldingALease();
      Set<String> held = heldBy(victim.identity());
      Map<String, Long> handover = terminate(victim, held);
      for (String lease : held) {
        assertThat(handover.get(lease)).as("handover ms %s", handover)
            .isLessThanOrEqualTo(HANDOVER_BOUND.toMillis());
      }
      figures.add(String.format("SIGTERM of %s (held %s): handover ms per Lease %s", victim
          .identity(), held, handover));
      startProcess();
    }
  }

  @Nested
  @Order(7)
  @DisplayName("Re-election: as the other services stop one by one, the last one left leads every"
      + " Lease, so its elections campaigned again after each lost term (closed and reopened,"
      + " stepped down, expired)")
  class Drain {

    @Test
    @DisplayName("SIGTERM every process, close jvm-b: jvm-a leads and works on every Lease; then"
        + " jvm-a's close releases them all")
    void theLastServiceLeftLeadsEveryLease() throws Exception {
      // Every service campaigns again (no stay-out left), so each stop has a taker at once.
      long stayOut = stayOutEndsNanos - System.nanoTime();
      if (stayOut > 0) {
        Thread.sleep(stayOut / 1_000_000 + 500);
      }
      awaitEveryLeaseLed(Duration.ofSeconds(30), Instant.now().minusSeconds(2));
      List<Map<String, Long>> handovers = new ArrayList<>();
      for (Replica p : processes.alive()) {
        Set<String> held = heldBy(p.identity());
        Map<String, Long> handover = terminate(p, held);
        handovers.add(handover);
        handover.values().forEach(ms -> assertThat(ms).as("handover ms %s", handover)
            .isLessThanOrEqualTo(HANDOVER_BOUND.toMillis()));
      }
      Set<String> heldByB = heldBy(B);
      long start = System.nanoTime();
      CompletableFuture<Void> closing = CompletableFuture.runAsync(() -> service(B).close());
      Map<String, Long> fromB = measureHandover(heldByB, B, start, HANDOVER_BOUND);
      closing.join();
      closedServices.add(B);
      handovers.add(fromB);
      Instant drained = Instant.now();
      awaitThat(Duration.ofSeconds(40), "jvm-a leads and works on every Lease",
          () -> LEASES.stream().allMatch(l -> holder(l).equals(A) && workedSince(A, l, drained)));
      // jvm-a had lost a term of each Lease before: its elections campaigned again.
      assertThat(events().stream().filter(e -> e.identity().equals(A) && e.kind().equals("stopped"))
          .map(e -> e.lease() + ":" + e.fields().get("reason")).toList())
          .contains("lease-0:CLOSED", "lease-1:STEPPED_DOWN", "lease-2:EXPIRED");
      for (String lease : LEASES) {
        assertThat(service(A).election(lease).isLeader()).isTrue();
        assertThat(events().stream().filter(e -> e.identity().equals(A) && e.lease().equals(lease)
            && e.kind().equals("started")).count()).as("terms of jvm-a on %s", lease)
            .isGreaterThanOrEqualTo(2);
      }
      figures.add("drain: handover ms per stop (SIGTERM of each process, then jvm-b's close): "
          + handovers);

      service(A).close();
      closedServices.add(A);
      awaitThat(Duration.ofSeconds(5), "every Lease released by jvm-a's close",
          () -> LEASES.stream().allMatch(l -> holder(l).isEmpty()));
      assertThat(events().stream().filter(e -> e.identity().equals(A) && e.kind().equals("closed"))
          .filter(e -> "true".equals(e.fields().get("ended"))).map(Event::lease).distinct()
          .count()).isEqualTo(LEASES.size());
    }
  }

  @Nested
  @Order(8)
  @DisplayName("Whole run: per Lease never two identities working at once, fencing tokens strictly"
      + " increasing term after term, and no fenced write from an older token accepted after a"
      + " newer one")
  class WholeRun {

    @Test
    @DisplayName("0 overlapping terms, strictly increasing tokens, and each ConfigMap's token"
        + " history non-decreasing, ending at the highest token of its Lease")
    void theInvariantsHeldOverTheWholeRun() {
      assertThat(closedServices).as("the run before this ran to its end").contains(A, B);
      assertInvariantsSoFar();
      List<Event> events = events();
      assertThat(events.stream().filter(e -> e.kind().equals("failed")).toList()).isEmpty();
      for (String lease : LEASES) {
        List<TermSpan> terms = terms(events, lease);
        long highest = terms.stream().mapToLong(TermSpan::token).max().orElseThrow();
        TermSpan last = terms.get(terms.size() - 1);
        ConfigMap cm = admin.configMaps().inNamespace(NAMESPACE)
            .withName(EmbeddedService.workConfigMap(lease)).get();
        assertThat(cm).as("ConfigMap of %s", lease).isNotNull();
        Map<String, String> annotations = cm.getMetadata().getAnnotations();
        List<Long> history = Arrays.stream(cm.getData().get(EmbeddedService.HISTORY_KEY)
            .split(",")).map(Long::parseLong).toList();
        for (int i = 1; i < history.size(); i++) {
          assertThat(history.get(i)).as("accepted write %d of %s after one under token %d", i,
              lease, history.get(i - 1)).isGreaterThanOrEqualTo(history.get(i - 1));
        }
        assertThat(Long.parseLong(annotations.get(EmbeddedService.TOKEN_ANNOTATION)))
            .as("token annotation of %s", lease).isEqualTo(highest)
            .isEqualTo(history.get(history.size() - 1));
        assertThat(annotations.get(EmbeddedService.HOLDER_ANNOTATION)).isEqualTo(last.identity());
        Set<Long> termTokens = terms.stream().map(TermSpan::token).collect(Collectors.toSet());
        assertThat(termTokens).as("every accepted write under a known term's token")
            .containsAll(history);
        List<String> unlogged = new ArrayList<>();
        for (TermSpan t : terms) {
          long accepted = history.stream().filter(x -> x == t.token()).count();
          assertThat(accepted).as("accepted writes of %s vs its units logged ok", t)
              .isGreaterThanOrEqualTo(t.ok());
          if (accepted > t.ok()) {
            // a unit whose write landed but whose line never came: killed, or its answer lost
            unlogged.add(t.token() + " by " + t.identity() + ": " + (accepted - t.ok())
                + " (units with errors: " + t.errors() + ")");
          }
        }
        long ok = terms.stream().mapToLong(TermSpan::ok).sum();
        long stale = terms.stream().mapToLong(TermSpan::stale).sum();
        long lost = terms.stream().mapToLong(TermSpan::lost).sum();
        long errors = terms.stream().mapToLong(TermSpan::errors).sum();
        figures.add(String.format("%s: %d terms, tokens %s (holders %s); units ok %d, refused"
            + " stale %d, lost %d, errors %d; ConfigMap: %d accepted writes, token annotation %s"
            + " by %s = highest token %d; accepted but not logged ok: %s", lease, terms.size(),
            terms.stream().map(TermSpan::token).toList(),
            terms.stream().map(TermSpan::identity).toList(), ok, stale, lost, errors,
            history.size(), annotations.get(EmbeddedService.TOKEN_ANNOTATION),
            annotations.get(EmbeddedService.HOLDER_ANNOTATION), highest, unlogged));
      }
      figures.add("SIGTERM handover ms (all): " + sigtermHandoverMillis
          + "; SIGKILL failover ms: " + sigkillFailoverMillis);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The invariants

  /** One term of a Lease as the event lines show it. */
  record TermSpan(String lease, long token, String identity, Instant started, Instant firstBegan,
      Instant lastEnded, long ok, long stale, long lost, long errors) {

    Instant start() {
      return firstBegan == null || started.isBefore(firstBegan) ? started : firstBegan;
    }

    boolean worked() {
      return firstBegan != null;
    }
  }

  /** The terms of {@code lease}, in the order they started. */
  private static List<TermSpan> terms(List<Event> events, String lease) {
    Map<Long, List<Event>> byToken = new TreeMap<>();
    events.stream().filter(e -> e.lease().equals(lease)
            && (e.kind().equals("started") || e.kind().equals("unit")))
        .forEach(e -> byToken.computeIfAbsent(e.token(), k -> new ArrayList<>()).add(e));
    List<TermSpan> terms = new ArrayList<>();
    byToken.forEach((token, list) -> {
      Set<String> who = list.stream().map(Event::identity).collect(Collectors.toSet());
      assertThat(who).as("identities with token %d on %s", token, lease).hasSize(1);
      Optional<Instant> started = list.stream().filter(e -> e.kind().equals("started"))
          .map(Event::at).findFirst();
      assertThat(started).as("a started event for token %d on %s (by %s)", token, lease, who)
          .isPresent();
      List<Event> units = list.stream().filter(e -> e.kind().equals("unit")).toList();
      Instant first = units.stream().map(Event::began).min(Comparator.naturalOrder()).orElse(null);
      Instant last = units.stream().map(Event::at).max(Comparator.naturalOrder()).orElse(null);
      terms.add(new TermSpan(lease, token, who.iterator().next(), started.get(), first, last,
          count(units, "ok"), count(units, "stale"), count(units, "lost"),
          units.stream().filter(u -> u.fields().get("write").startsWith("error")).count()));
    });
    terms.sort(Comparator.comparing(TermSpan::start));
    return terms;
  }

  private static long count(List<Event> units, String outcome) {
    return units.stream().filter(u -> outcome.equals(u.fields().get("write"))).count();
  }

  /**
   * Per Lease: the work of different terms never overlaps (first unit's start to last unit's end),
   * and the tokens strictly increase in the order the terms started.
   */
  private static void assertInvariantsSoFar() {
    List<Event> events = events();
    for (String lease : LEASES) {
      List<TermSpan> terms = terms(events, lease);
      List<TermSpan> working = terms.stream().filter(TermSpan::worked).toList();
      List<String> overlaps = new ArrayList<>();
      for (int i = 0; i < working.size(); i++) {
        for (int j = i + 1; j < working.size(); j++) {
          TermSpan a = working.get(i);
          TermSpan b = working.get(j);
          if (!a.firstBegan().isAfter(b.lastEnded()) && !b.firstBegan().isAfter(a.lastEnded())) {
            overlaps.add(a + " overlaps " + b);
          }
        }
      }
      assertThat(overlaps).as("overlapping terms on %s\n%s", lease, diagnostics()).isEmpty();
      for (int i = 1; i < terms.size(); i++) {
        assertThat(terms.get(i).token()).as("token of term %d of %s (%s) after %s", i, lease,
            terms.get(i), terms.get(i - 1)).isGreaterThan(terms.get(i - 1).token());
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The fleet

  private static EmbeddedService startInJvm(String identity) {
    EmbeddedService service = EmbeddedService.start(shared, NAMESPACE, identity, LEASES,
        inJvmLines::add);
    inJvm.put(identity, service);
    return service;
  }

  private static EmbeddedService service(String identity) {
    return Objects.requireNonNull(inJvm.get(identity), identity);
  }

  private static Replica launchProcess() {
    processCount++;
    return processes.start("proc-" + processCount);
  }

  /** Starts a service process and waits until it campaigns: it knows every Lease's leader. */
  private static Replica startProcess() {
    Replica process = launchProcess();
    awaitThat(Duration.ofSeconds(120), process.identity() + " knows the leader of every Lease",
        () -> LEASES.stream().allMatch(l -> events().stream().anyMatch(e -> e.lease().equals(l)
            && e.identity().equals(process.identity()) && e.kind().equals("leader"))));
    return process;
  }

  private static boolean isLive(String identity) {
    if (identity == null || identity.isEmpty()) {
      return false;
    }
    if (inJvm.containsKey(identity)) {
      return !closedServices.contains(identity);
    }
    return processes.byIdentity(identity).filter(Replica::isAlive).isPresent();
  }

  /**
   * A live process that holds a Lease. If the services in this JVM hold all of them, they step
   * down from lease-0 (staying out for a while) until a process leads it.
   */
  private static Replica processHoldingALease() {
    for (int round = 0; round < 4; round++) {
      for (String lease : LEASES) {
        Optional<Replica> p = processes.byIdentity(holder(lease)).filter(Replica::isAlive);
        if (p.isPresent()) {
          return p.get();
        }
      }
      String lease = LEASES.get(0);
      String holder = holder(lease);
      if (inJvm.containsKey(holder)) {
        service(holder).election(lease).stepDown(STAY_OUT);
        stayOutEndsNanos = System.nanoTime() + STAY_OUT.toNanos();
        awaitThat(Duration.ofSeconds(10), "lease-0 changes hands after " + holder + " stepped down",
            () -> !holder(lease).isEmpty() && !holder(lease).equals(holder));
      } else {
        awaitThat(Duration.ofSeconds(10), "lease-0 led", () -> isLive(holder(lease)));
      }
    }
    throw new AssertionError("no process leads a Lease: " + holders() + "\n" + diagnostics());
  }

  /**
   * SIGTERM {@code process}; measures the handover of the Leases it held and checks it closed
   * every election and reported every term it held CLOSED.
   */
  private static Map<String, Long> terminate(Replica process, Set<String> held) throws Exception {
    Map<String, Long> tokens = new LinkedHashMap<>();
    for (String lease : held) {
      tokens.put(lease, lastStarted(process.identity(), lease));
    }
    Instant since = Instant.now();
    long start = System.nanoTime();
    process.terminate();
    Map<String, Long> handover = measureHandover(held, process.identity(), start, HANDOVER_BOUND);
    int exit = process.awaitExit(Duration.ofSeconds(20));
    assertThat(handover.keySet()).as("Leases taken over after the SIGTERM of %s\n%s",
        process.identity(), diagnostics()).containsExactlyInAnyOrderElementsOf(held);
    assertThat(exit).as("exit code of %s on SIGTERM (143: by the signal, after the shutdown"
        + " hook)", process.identity()).isEqualTo(143);
    for (String lease : LEASES) {
      assertThat(has(process.identity(), lease, "closed", -1, null))
          .as("%s closed its election on %s\n%s", process.identity(), lease, process.log())
          .isTrue();
    }
    tokens.forEach((lease, token) -> assertThat(has(process.identity(), lease, "stopped", token,
        "CLOSED")).as("%s's term %d of %s stopped as CLOSED\n%s", process.identity(), token, lease,
        process.log()).isTrue());
    for (String lease : held) {
      String next = holder(lease);
      awaitThat(Duration.ofSeconds(10), next + " works on " + lease,
          () -> workedSince(next, lease, since));
    }
    sigtermHandoverMillis.addAll(handover.values());
    return handover;
  }

  /**
   * Polls the Leases until each has a holder other than {@code from}; returns the milliseconds from
   * {@code startNanos} per Lease (polling up to twice the bound, so a slow one is measured too).
   */
  private static Map<String, Long> measureHandover(Set<String> leases, String from,
      long startNanos, Duration bound) {
    Map<String, Long> millis = new TreeMap<>();
    long deadline = startNanos + bound.toNanos() * 2;
    while (millis.size() < leases.size() && System.nanoTime() < deadline) {
      for (String lease : leases) {
        if (!millis.containsKey(lease)) {
          String h = holder(lease);
          if (!h.isEmpty() && !h.equals(from)) {
            millis.put(lease, (System.nanoTime() - startNanos) / 1_000_000);
          }
        }
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    return millis;
  }

  /** Waits until every Lease has a live holder that did a unit accepted after {@code since}. */
  private static void awaitEveryLeaseLed(Duration atMost, Instant since) {
    awaitThat(atMost, "every Lease led by a live service that works",
        () -> LEASES.stream().allMatch(l -> {
          String h = holder(l);
          return isLive(h) && workedSince(h, l, since);
        }));
  }

  private static boolean workedSince(String identity, String lease, Instant since) {
    return events().stream().anyMatch(e -> e.kind().equals("unit") && e.lease().equals(lease)
        && e.identity().equals(identity) && "ok".equals(e.fields().get("write"))
        && e.began().isAfter(since));
  }

  private static long lastStarted(String identity, String lease) {
    return events().stream().filter(e -> e.kind().equals("started")
            && e.identity().equals(identity) && e.lease().equals(lease))
        .mapToLong(Event::token).reduce((a, b) -> b).orElse(-1);
  }

  /** An event of {@code kind} (token and reason checked when given). */
  private static boolean has(String identity, String lease, String kind, long token,
      String reason) {
    return events().stream().anyMatch(e -> e.identity().equals(identity)
        && e.lease().equals(lease) && e.kind().equals(kind) && (token < 0 || e.token() == token)
        && (reason == null || reason.equals(e.fields().get("reason"))));
  }

  private static Set<String> heldBy(String identity) {
    Set<String> held = new LinkedHashSet<>();
    holders().forEach((lease, h) -> {
      if (h.equals(identity)) {
        held.add(lease);
      }
    });
    return held;
  }

  private static Map<String, String> holders() {
    Map<String, String> holders = new TreeMap<>();
    LEASES.forEach(l -> holders.put(l, holder(l)));
    return holders;
  }

  private static String holder(String lease) {
    Lease l = admin.leases().inNamespace(NAMESPACE).withName(lease).get();
    return l == null || l.getSpec() == null || l.getSpec().getHolderIdentity() == null ? ""
        : l.getSpec().getHolderIdentity();
  }

  /** Every event so far, of the services in this JVM and of every process (alive or not). */
  private static synchronized List<Event> events() {
    List<Event> all = new ArrayList<>(parseNew(inJvmLines, inJvmLines));
    if (processes != null) {
      processes.replicas().forEach(r -> all.addAll(parseNew(r, r.texts())));
    }
    all.sort(Comparator.comparing(Event::at));
    return all;
  }

  /** The events of one source: its lines parsed so far, plus the new ones. */
  private static List<Event> parseNew(Object source, List<String> lines) {
    List<Event> events = parsed.computeIfAbsent(source, k -> new ArrayList<>());
    for (int i = parsedLines.getOrDefault(source, 0); i < lines.size(); i++) {
      Event e = Event.parse(lines.get(i));
      if (e != null) {
        events.add(e);
      }
    }
    parsedLines.put(source, lines.size());
    return events;
  }

  private static String format(Event e) {
    StringBuilder s = new StringBuilder().append(e.at()).append(' ').append(e.identity())
        .append(' ').append(e.lease()).append(' ').append(e.kind());
    e.fields().forEach((k, v) -> s.append(' ').append(k).append('=').append(v));
    return s.toString();
  }

  /** The last events and the tail of every process's log, for failure messages. */
  private static String diagnostics() {
    StringBuilder s = new StringBuilder("holders: ").append(holders()).append("\nlast events:\n");
    List<Event> events = events();
    events.subList(Math.max(0, events.size() - 80), events.size())
        .forEach(e -> s.append("  ").append(format(e)).append('\n'));
    for (Replica r : processes.replicas()) {
      List<String> lines = r.texts().stream().filter(l -> Event.parse(l) == null).toList();
      s.append("library log of ").append(r.identity()).append(" (tail):\n");
      lines.subList(Math.max(0, lines.size() - 15), lines.size())
          .forEach(l -> s.append("  ").append(l).append('\n'));
    }
    return s.toString();
  }

  private static void awaitThat(Duration atMost, String what, Callable<Boolean> condition) {
    try {
      Awaitility.await().atMost(atMost).pollInterval(Duration.ofMillis(50))
          .pollDelay(Duration.ZERO).until(condition);
    } catch (ConditionTimeoutException e) {
      throw new AssertionError("not within " + atMost + ": " + what + "\n" + diagnostics(), e);
    }
  }

  private static Path testkitClasses() throws URISyntaxException {
    return Path.of(EmbeddedService.class.getProtectionDomain().getCodeSource().getLocation()
        .toURI());
  }
}
