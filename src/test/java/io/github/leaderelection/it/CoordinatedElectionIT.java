package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1beta1.LeaseCandidate;
import io.fabric8.kubernetes.api.model.coordination.v1beta1.LeaseCandidateList;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.github.leaderelection.harness.ControlPlane;
import io.github.leaderelection.harness.ControlPlane.CommandResult;
import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.harness.WorkLog;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * Coordinated leader election (KEP-4355) against a real kube-apiserver started with
 * {@code --feature-gates=CoordinatedLeaderElection=true
 * --runtime-config=coordination.k8s.io/v1beta1=true}: the election controller inside
 * kube-apiserver picks the holder among the replicas' LeaseCandidates; the replicas only renew.
 * Timings are generous: the server re-checks every 5 s and waits 5 s for answers to its pings.
 */
class CoordinatedElectionIT extends ReplicaTestSupport {

  private static final List<String> COMMON = List.of("--coordinated", "--lease-duration=6s",
      "--renew-deadline=4s", "--retry-period=1s", "--work-interval=500ms",
      "--lease-label=app.kubernetes.io/part-of=coordinated-it");
  private static final List<String> V135 =
      List.of("--binary-version=1.36.0", "--emulation-version=1.35.0");
  private static final List<String> V136 =
      List.of("--binary-version=1.36.0", "--emulation-version=1.36.0");
  private static final Duration ELECTION = Duration.ofSeconds(90);

  private LeaseHistory history;

  @Override
  protected ControlPlane controlPlane() {
    return ControlPlane.sharedCoordinated();
  }

  @AfterEach
  void stopHistory() {
    if (history != null) {
      history.close();
    }
  }

  /**
   * The Lease's holder and preferred holder as the test saw them change, through a watch (the
   * moment the API server stored each change, give or take a few ms).
   */
  private static final class LeaseHistory implements AutoCloseable {

    record Change(Instant at, String holder, String preferred) {
    }

    private final List<Change> changes = new CopyOnWriteArrayList<>();
    private final Watch watch;

    LeaseHistory(ReplicaSet replicas) {
      watch = replicas.withAdmin(admin -> admin.leases().inNamespace(replicas.namespace())
          .withName(replicas.leaseName()).watch(new Watcher<Lease>() {
            @Override
            public void eventReceived(Action action, Lease lease) {
              record(action == Action.DELETED ? null : lease);
            }

            @Override
            public void onClose(WatcherException cause) {
              // the test ends, or the watch broke: the history then shows no more changes
            }
          }));
    }

    private synchronized void record(Lease lease) {
      String holder = lease == null || lease.getSpec() == null
          || lease.getSpec().getHolderIdentity() == null ? "" : lease.getSpec().getHolderIdentity();
      String preferred = lease == null || lease.getSpec() == null
          || lease.getSpec().getPreferredHolder() == null ? "" : lease.getSpec().getPreferredHolder();
      Change last = changes.isEmpty() ? null : changes.get(changes.size() - 1);
      if (last == null || !last.holder().equals(holder) || !last.preferred().equals(preferred)) {
        changes.add(new Change(Instant.now(), holder, preferred));
      }
    }

    List<Change> changes() {
      return List.copyOf(changes);
    }

    /** The first time after {@code since} that the Lease named {@code holder}. */
    Optional<Instant> heldBy(String holder, Instant since) {
      return changes.stream().filter(c -> !c.at().isBefore(since) && c.holder().equals(holder))
          .map(Change::at).findFirst();
    }

    /** The first time after {@code since} that {@code preferred} was the preferred holder. */
    Optional<Instant> preferred(String preferred, Instant since) {
      return changes.stream().filter(c -> !c.at().isBefore(since)
          && c.preferred().equals(preferred)).map(Change::at).findFirst();
    }

    /** Every holder named from {@code since} on (the one then included), in order, no repeats. */
    List<String> holdersSince(Instant since) {
      List<String> holders = new ArrayList<>();
      List<Change> all = changes();
      for (int i = 0; i < all.size(); i++) {
        Change c = all.get(i);
        boolean inEffect = !c.at().isBefore(since)
            || (i + 1 < all.size() ? !all.get(i + 1).at().isBefore(since) : true);
        if (inEffect && !c.holder().isEmpty()
            && (holders.isEmpty() || !holders.get(holders.size() - 1).equals(c.holder()))) {
          holders.add(c.holder());
        }
      }
      return holders;
    }

    @Override
    public void close() {
      watch.close();
    }

    @Override
    public String toString() {
      return changes.stream().map(c -> c.at() + " holder=" + c.holder() + " preferred="
          + c.preferred()).collect(Collectors.joining("\n  ", "lease history:\n  ", ""));
    }
  }

  /** The replica set with the common flags; the Lease's history is recorded from the start. */
  private ReplicaSet start(TestInfo info) {
    ReplicaSet set = replicas(info, COMMON);
    history = new LeaseHistory(set);
    return set;
  }

  /**
   * Starts a replica and waits until its candidate is published, and then a second more: the
   * server breaks ties between equal versions by the candidates' creationTimestamp, which has
   * whole seconds, and two candidates of one second are ordered at random on every pass (it then
   * moves the Lease back and forth between them). A rollout creating pods one by one does not
   * hit this; replicas started in the same second can.
   */
  private Replica start(String identity, List<String> versions) throws InterruptedException {
    Replica replica = replicas.start(identity, versions);
    awaitThat(Duration.ofSeconds(60), identity + " publishes its candidate",
        () -> replica.logged("published lease candidate"));
    Thread.sleep(1_100);
    return replica;
  }

  /** Waits until {@code replica} holds the Lease, says it leads and works. */
  private void awaitLeads(Replica replica, Duration atMost) {
    awaitThat(atMost, replica.identity() + " leads and works\n" + history,
        () -> replica.identity().equals(replicas.holder()) && replica.believesLeading()
            && replica.logged("doing stuff..."));
  }

  private List<String> candidates() {
    return replicas.withAdmin(admin -> admin.resources(LeaseCandidate.class,
            LeaseCandidateList.class).inNamespace(replicas.namespace()).list().getItems()
        .stream().map(c -> c.getMetadata().getName()).sorted().toList());
  }

  /**
   * Each candidate's renewTime and pingTime as ages: the server pings a candidate that has not
   * renewed in the last 5 s and waits up to 5 s for the answer before it elects, so these explain
   * how long an election takes.
   */
  private String candidateTimes() {
    Instant now = Instant.now();
    return replicas.withAdmin(admin -> admin.resources(LeaseCandidate.class,
            LeaseCandidateList.class).inNamespace(replicas.namespace()).list().getItems()
        .stream().map(c -> c.getMetadata().getName() + " renewed "
            + age(c.getSpec().getRenewTime(), now) + " ago, pinged "
            + age(c.getSpec().getPingTime(), now) + " ago")
        .collect(Collectors.joining("; ")));
  }

  private static String age(io.fabric8.kubernetes.api.model.MicroTime t, Instant now) {
    return t == null || t.getTime() == null ? "never"
        : String.format("%.1f s", seconds(Instant.parse(t.getTime()), now));
  }

  private static double seconds(Instant from, Instant to) {
    return Duration.between(from, to).toMillis() / 1000.0;
  }

  /** When {@code replica} logged {@code fragment} first, by its own klog timestamp. */
  private static Instant loggedAt(Replica replica, String fragment) {
    return replica.texts().stream().filter(l -> l.contains(fragment))
        .map(WorkLog::timestamp).filter(Objects::nonNull).findFirst()
        .orElseThrow(() -> new AssertionError(replica.identity() + " never logged '" + fragment
            + "'\n" + replica.log()));
  }

  @Test
  @DisplayName("the API server elects the oldest emulation version; after a SIGKILL it elects"
      + " another; a SIGTERM of the holder hands over; never two at work")
  void oldestEmulationVersionLeadsAndTheServerReplacesLostHolders(TestInfo info)
      throws Exception {
    start(info);
    Replica newA = start("v136-a", V136);
    Replica old = start("v135", V135);
    Replica newB = start("v136-b", V136);
    awaitLeads(old, ELECTION);
    awaitThat(Duration.ofSeconds(30), "three candidates",
        () -> candidates().equals(List.of("v135", "v136-a", "v136-b")));
    // The server created the Lease without labels; the holder's first write adds its own.
    assertThat(replicas.lease().getMetadata().getLabels())
        .containsEntry("app.kubernetes.io/part-of", "coordinated-it");
    for (Replica r : List.of(newA, newB)) {
      // The first election may pick a 1.36 replica when it was the only candidate yet; the
      // server then ends its term for v135 (see anOlderCandidateEndsTheTermOfANewerHolder).
      awaitThat(Duration.ofSeconds(30), r.identity() + " follows v135",
          () -> r.logged("new leader is v135") && !r.believesLeading());
    }

    // SIGKILL: the candidate stays behind but no longer answers pings; the Lease expires
    // (6 s), the server pings, waits 5 s for answers and elects one of the two that answered.
    Instant killed = Instant.now();
    old.kill();
    // v136-a: same versions as v136-b, but the older candidate.
    awaitThat(ELECTION, "v136-a elected after the kill\n" + history,
        () -> "v136-a".equals(replicas.holder()));
    Instant elected = history.holdersSince(killed).stream()
        .filter(h -> !h.equals("v135")).findFirst()
        .flatMap(h -> history.heldBy(h, killed)).orElseThrow();
    Replica next = newA;
    awaitLeads(next, Duration.ofSeconds(30));
    Replica other = newB;

    // SIGTERM of the holder: candidate withdrawn first, work stopped, Lease released; the
    // server elects the remaining candidate without waiting for an expiry.
    String before = candidateTimes();
    Instant terminated = Instant.now();
    next.terminate();
    awaitThat(ELECTION, other.identity() + " elected after the SIGTERM\n" + history,
        () -> other.identity().equals(replicas.holder()));
    Instant handedOver = history.heldBy(other.identity(), terminated).orElseThrow();
    assertThat(next.awaitExit(Duration.ofSeconds(30))).as(next.log()).isZero();
    assertThat(next.logged("withdrew lease candidate " + replicas.namespace() + "/"
        + next.identity())).as(next.log()).isTrue();
    assertThat(next.logged("released lease " + replicas.namespace() + "/my-lease"))
        .as(next.log()).isTrue();
    awaitLeads(other, Duration.ofSeconds(30));
    assertThat(candidates()).as("the killed replica's candidate stays (no one deleted it);"
        + " the terminated one's is gone").containsExactly("v135", other.identity());
    assertNoOverlappingWork();

    System.out.printf("coordinated: SIGKILL of the holder -> server's next election %.2f s"
        + " (lease 6 s + the server's ping round); SIGTERM of the holder -> next election"
        + " %.2f s, of which the replica's own stop until its release %.2f s (candidates at the"
        + " SIGTERM: %s)%n", seconds(killed, elected), seconds(terminated, handedOver),
        seconds(terminated, loggedAt(next, "released lease")), before);
  }

  @Test
  @DisplayName("rolling upgrade: the old version leads until the last old candidate leaves,"
      + " then a new one is elected; never two at work")
  void rollingUpgradeKeepsTheOldVersionLeadingUntilTheLastOldCandidateLeaves(TestInfo info)
      throws Exception {
    List<String> v135 = List.of("--binary-version=1.35.0", "--emulation-version=1.35.0");
    start(info);
    List<Replica> olds = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      olds.add(start("old-" + i, v135));
    }
    awaitThat(ELECTION, "an old replica leads\n" + history,
        () -> replicas.leader().filter(olds::contains).map(Replica::believesLeading)
            .orElse(false));
    Replica leader = replicas.leader().orElseThrow();
    awaitLeads(leader, Duration.ofSeconds(30));
    Instant upgradeStarted = Instant.now();

    // Replace the other old replicas one by one, as a Deployment rollout would.
    int n = 0;
    for (Replica old : olds) {
      if (old == leader) {
        continue;
      }
      old.terminate();
      assertThat(old.awaitExit(Duration.ofSeconds(30))).as(old.log()).isZero();
      Replica fresh = start("new-" + n++, V136);
      awaitThat(Duration.ofSeconds(30), fresh.identity() + " is a candidate",
          () -> candidates().contains(fresh.identity()));
      // Time for the server to reconsider (it re-checks every 5 s): the old leader stays.
      Thread.sleep(6_000);
      assertThat(replicas.holder()).as("%s\n%s", history, replicas.logs())
          .isEqualTo(leader.identity());
    }
    assertThat(history.holdersSince(upgradeStarted)).as(history.toString())
        .containsExactly(leader.identity());

    // The last old replica leaves: SIGTERM hands over to a new one.
    Instant terminated = Instant.now();
    leader.terminate();
    awaitThat(ELECTION, "a new replica elected after the last old one left\n" + history,
        () -> replicas.holder().startsWith("new-"));
    Instant handedOver = history.heldBy(replicas.holder(), terminated).orElseThrow();
    assertThat(leader.awaitExit(Duration.ofSeconds(30))).as(leader.log()).isZero();
    Replica next = replicas.leader().orElseThrow();
    awaitLeads(next, Duration.ofSeconds(30));
    Replica last = start("new-" + n, V136);
    awaitThat(Duration.ofSeconds(30), last.identity() + " is a candidate",
        () -> candidates().contains(last.identity()));
    assertThat(history.holdersSince(upgradeStarted)).as(history.toString())
        .containsExactly(leader.identity(), next.identity());
    assertNoOverlappingWork();
    System.out.printf("coordinated rolling upgrade: %s led throughout; SIGTERM of the last old"
        + " holder -> %s elected after %.2f s%n", leader.identity(), next.identity(),
        seconds(terminated, handedOver));
  }

  @Test
  @DisplayName("an older candidate ends a newer holder's term: the server sets preferredHolder,"
      + " the holder steps down at once, hands the Lease back (no waiting for it to expire) and"
      + " does not take it again; the older one leads")
  void anOlderCandidateEndsTheTermOfANewerHolder(TestInfo info) throws Exception {
    start(info);
    Replica newer = start("newer", V136);
    awaitLeads(newer, ELECTION);
    Instant joined = Instant.now();
    Replica older = start("older", V135);
    awaitThat(ELECTION, "the server prefers 'older'\n" + history,
        () -> history.preferred("older", joined).isPresent());
    awaitThat(Duration.ofSeconds(15), "newer steps down", () -> !newer.believesLeading());
    awaitLeads(older, ELECTION);
    assertThat(newer.isAlive()).isTrue();
    assertThat(newer.logged("end of term on lease " + replicas.namespace()
        + "/my-lease: the API server prefers older as the next holder")).as(newer.log()).isTrue();
    assertThat(newer.count(l -> l.contains("successfully acquired lease"))).as(newer.log())
        .isEqualTo(1);
    assertNoOverlappingWork();

    Instant preferred = history.preferred("older", joined).orElseThrow();
    Instant steppedDown = loggedAt(newer, "end of term on lease");
    Instant elected = history.heldBy("older", joined).orElseThrow();
    assertThat(newer.logged("released lease " + replicas.namespace() + "/my-lease"))
        .as(newer.log()).isTrue();
    // Handed back, the server names the older one at once; left to expire, it would take the
    // lease duration (6 s) and the server's ping round.
    assertThat(Duration.between(steppedDown, elected)).isLessThan(Duration.ofSeconds(4));
    System.out.printf("coordinated end of term: preferredHolder set -> the holder stepped down"
        + " (its log) %.3f s; step-down -> the older candidate elected %.2f s (the holder hands"
        + " the Lease back at once; it used to be left to expire: 6 s, then the ping round)%n",
        seconds(preferred, steppedDown), seconds(steppedDown, elected));
  }

  @Test
  @DisplayName("replicas holding only the ServiceAccount's token, with k8s/rbac.yaml and the"
      + " Component's Role, publish, answer pings, lead and withdraw without a single 403")
  void theServiceAccountWithTheComponentsRoleIsEnough(TestInfo info) throws Exception {
    String namespace = namespaceFor(info);
    Path root = Path.of(System.getProperty("project.root", System.getProperty("user.dir")))
        .toAbsolutePath();
    assertThat(controlPlane.kubectl("create", "namespace", namespace).exitCode()).isZero();
    CommandResult applied = controlPlane.kubectl("apply", "-n", namespace,
        "-f", root.resolve("k8s/rbac.yaml").toString(),
        "-f", root.resolve("k8s/work-record.yaml").toString(),
        "-f", root.resolve("k8s/coordinated/leasecandidate-rbac.yaml").toString());
    assertThat(applied.exitCode()).as(applied.output()).isZero();
    CommandResult token = controlPlane.kubectl("create", "token", "leaderelection-sa", "-n",
        namespace, "--duration=1h");
    assertThat(token.exitCode()).as(token.output()).isZero();
    // The admin kubeconfig's cluster and CA, with the ServiceAccount's token as the only user.
    Path kubeconfig = controlPlane.workDir().resolve(namespace + "-sa.kubeconfig");
    java.nio.file.Files.copy(controlPlane.kubeconfig(), kubeconfig);
    for (List<String> edit : List.of(
        List.of("config", "set-credentials", "sa", "--token=" + token.output().trim()),
        List.of("config", "set-context", "--current", "--user=sa", "--namespace=" + namespace))) {
      List<String> command = new ArrayList<>(List.of(controlPlane.kubectlBinary().toString(),
          "--kubeconfig=" + kubeconfig));
      command.addAll(edit);
      CommandResult result = CommandResult.run(command, Duration.ofSeconds(30));
      assertThat(result.exitCode()).as(result.output()).isZero();
    }
    String kubeconfigText = java.nio.file.Files.readString(kubeconfig);
    assertThat(kubeconfigText).contains("token:");

    replicas = ReplicaSet.of(controlPlane, namespace, "my-lease", COMMON,
        ReplicaSet.appLauncher(), kubeconfig);
    history = new LeaseHistory(replicas);
    Replica newer = start("sa-v136", V136);
    Replica older = start("sa-v135", V135);
    awaitLeads(older, ELECTION);
    Instant terminated = Instant.now();
    older.terminate();
    assertThat(older.awaitExit(Duration.ofSeconds(30))).as(older.log()).isZero();
    awaitThat(ELECTION, "sa-v136 elected after the SIGTERM\n" + history,
        () -> "sa-v136".equals(replicas.holder()));
    awaitLeads(newer, Duration.ofSeconds(30));
    assertThat(older.logged("withdrew lease candidate " + namespace + "/sa-v135"))
        .as(older.log()).isTrue();
    for (Replica r : replicas.replicas()) {
      assertThat(r.texts()).as(r.log()).noneMatch(line -> line.contains(" 403")
          || line.toLowerCase(java.util.Locale.ROOT).contains("forbidden")
          || line.contains("missing permissions") || line.contains("cannot "));
    }
    assertNoOverlappingWork();
    System.out.printf("coordinated with the ServiceAccount's token: SIGTERM of the holder -> next"
        + " election %.2f s, of which the replica's own stop until its release %.2f s%n",
        seconds(terminated, history.heldBy("sa-v136", terminated).orElseThrow()),
        seconds(terminated, loggedAt(older, "released lease")));
  }

  @Test
  @DisplayName("on an API server without coordinated election, --coordinated says what to"
      + " enable in one line and exits 2")
  void withoutTheFeatureTheReplicaSaysWhatToEnableAndExits2(TestInfo info) throws Exception {
    ReplicaSet plain = ReplicaSet.of(ControlPlane.shared(), namespaceFor(info), "my-lease",
        COMMON);
    try {
      Replica replica = plain.start("lonely", V136);
      assertThat(replica.awaitExit(Duration.ofSeconds(60))).as(replica.log()).isEqualTo(2);
      List<String> errors = replica.texts().stream().filter(l -> l.startsWith("E")).toList();
      assertThat(errors).as(replica.log()).hasSize(1);
      assertThat(errors.get(0)).contains("does not serve leasecandidates",
          "--feature-gates=CoordinatedLeaderElection=true",
          "--runtime-config=coordination.k8s.io/v1beta1=true");
      assertThat(replica.log()).doesNotContain("Exception").doesNotContain("\tat ")
          .doesNotContain("successfully acquired lease");
      assertThat(plain.lease()).as("no silent fallback: the Lease was never created").isNull();
    } finally {
      plain.close();
    }
  }

  @Test
  @DisplayName("the k8s/coordinated/ Component applies on top of k8s/ and grants exactly the"
      + " leasecandidate verbs the publisher uses")
  void theCoordinatedComponentGrantsLeaseCandidatesWithLeastPrivilege(TestInfo info)
      throws java.io.IOException {
    String namespace = namespaceFor(info);
    Path root = Path.of(System.getProperty("project.root", System.getProperty("user.dir")))
        .toAbsolutePath();
    assertThat(controlPlane.kubectl("create", "namespace", namespace).exitCode()).isZero();
    // An overlay of a user's own, as the Component's comment shows (kustomize wants relative
    // paths, and no overlay inside its base).
    Path overlay = java.nio.file.Files.createDirectories(
        controlPlane.workDir().resolve("overlay-" + namespace));
    java.nio.file.Files.writeString(overlay.resolve("kustomization.yaml"), """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [%s]
        components: [%s]
        """.formatted(overlay.relativize(root.resolve("k8s")),
        overlay.relativize(root.resolve("k8s/coordinated"))));
    CommandResult dryRun = controlPlane.kubectl("apply", "-k", overlay.toString(),
        "--dry-run=server", "--validate=strict", "-n", namespace);
    assertThat(dryRun.exitCode()).as(dryRun.output()).isZero();
    assertThat(dryRun.output()).contains(
        "role.rbac.authorization.k8s.io/leaderelection-coordinated created (server dry run)",
        "rolebinding.rbac.authorization.k8s.io/leaderelection-coordinated created (server dry run)",
        "role.rbac.authorization.k8s.io/leaderelection-role created (server dry run)",
        "deployment.apps/leaderelection created (server dry run)");
    CommandResult rendered = controlPlane.kubectl("kustomize", overlay.toString());
    assertThat(rendered.output()).as(rendered.output()).contains("- --coordinated");

    CommandResult applied = controlPlane.kubectl("apply", "-n", namespace,
        "-f", root.resolve("k8s/rbac.yaml").toString(),
        "-f", root.resolve("k8s/work-record.yaml").toString(),
        "-f", root.resolve("k8s/coordinated/leasecandidate-rbac.yaml").toString());
    assertThat(applied.exitCode()).as(applied.output()).isZero();
    String sa = "system:serviceaccount:" + namespace + ":leaderelection-sa";
    for (String verb : List.of("get", "create", "update", "delete", "list", "watch")) {
      CommandResult answer = controlPlane.kubectl("auth", "can-i", verb,
          "leasecandidates.coordination.k8s.io", "-n", namespace, "--as=" + sa);
      assertThat(answer.output().trim()).as("can-i %s leasecandidates", verb).isEqualTo("yes");
    }
    for (String denied : List.of("patch leasecandidates.coordination.k8s.io",
        "deletecollection leasecandidates.coordination.k8s.io", "delete leases",
        "patch leases/my-lease")) {
      String[] parts = denied.split(" ");
      CommandResult answer = controlPlane.kubectl("auth", "can-i", parts[0], parts[1],
          "-n", namespace, "--as=" + sa);
      assertThat(answer.output().trim()).as("can-i %s", denied).isEqualTo("no");
    }
    assertThat(controlPlane.kubectl("auth", "can-i", "get",
        "leasecandidates.coordination.k8s.io", "-n", "default", "--as=" + sa).output().trim())
        .as("namespaced: nothing in other namespaces").isEqualTo("no");
  }
}
