package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.github.leaderelection.harness.ControlPlane.CommandResult;
import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * Issue 3, scenario 7: the project's RBAC manifest on a real API server. Replicas that hold only
 * the ServiceAccount's token elect a leader, watch the Lease and record Events; and the
 * ServiceAccount can do nothing else.
 */
class RbacIT extends ReplicaTestSupport {

  private static final String SA = "leaderelection-sa";
  private static final String LEASE = "my-lease";

  private static Path root() {
    return Path.of(System.getProperty("project.root", System.getProperty("user.dir")))
        .toAbsolutePath();
  }

  /** Applies {@code files} (relative to the project root) as admin into {@code namespace}. */
  private void apply(String namespace, String... files) {
    List<String> args = new ArrayList<>(List.of("apply", "-n", namespace));
    for (String file : files) {
      args.add("-f");
      args.add(root().resolve(file).toString());
    }
    CommandResult result = controlPlane.kubectl(args.toArray(String[]::new));
    assertThat(result.exitCode()).as(result.output()).isZero();
  }

  /**
   * A kubeconfig with nothing but a token of the ServiceAccount: no client certificate, no admin
   * credentials. The API server's serving certificate is verified with the CA of the admin
   * kubeconfig (the same cluster), so no TLS verification is skipped.
   */
  private Path tokenKubeconfig(String namespace) throws IOException {
    CommandResult minted = controlPlane.kubectl("create", "token", SA, "-n", namespace,
        "--duration=1h");
    assertThat(minted.exitCode()).as(minted.output()).isZero();
    String token = minted.output().trim();
    assertThat(token.split("\\.")).as("a JWT: %s", token).hasSize(3);
    String ca = clusterCa(controlPlane.kubeconfigYaml());
    String yaml = """
        apiVersion: v1
        kind: Config
        clusters:
          - name: local
            cluster:
              server: %s
              certificate-authority-data: %s
        users:
          - name: %s
            user:
              token: %s
        contexts:
          - name: sa
            context:
              cluster: local
              user: %s
              namespace: %s
        current-context: sa
        """.formatted(controlPlane.url(), ca, SA, token, SA, namespace);
    Path file = controlPlane.workDir().resolve(namespace + "-" + SA + ".kubeconfig");
    Files.writeString(file, yaml);
    return file;
  }

  /** The cluster CA of a kubeconfig, base64: inline data, or the file it names. */
  private static String clusterCa(String kubeconfig) throws IOException {
    Matcher data = Pattern.compile("(?m)^\\s*certificate-authority-data:\\s*(\\S+)\\s*$")
        .matcher(kubeconfig);
    if (data.find()) {
      return data.group(1);
    }
    Matcher file = Pattern.compile("(?m)^\\s*certificate-authority:\\s*(\\S+)\\s*$")
        .matcher(kubeconfig);
    assertThat(file.find()).as("a certificate authority in the admin kubeconfig:\n%s", kubeconfig)
        .isTrue();
    return Base64.getEncoder().encodeToString(
        Files.readAllBytes(Path.of(file.group(1).replaceAll("^[\"']|[\"']$", ""))));
  }

  private KubernetesClient clientFor(Path kubeconfig) throws IOException {
    return new KubernetesClientBuilder()
        .withConfig(Config.fromKubeconfig(Files.readString(kubeconfig))).build();
  }

  /** kube-apiserver's count of open WATCH requests on single Leases (fieldSelector by name). */
  private long namedLeaseWatches() {
    CommandResult metrics = controlPlane.kubectl("get", "--raw", "/metrics");
    assertThat(metrics.exitCode()).as(metrics.output()).isZero();
    Matcher m = Pattern.compile("(?m)^apiserver_longrunning_requests\\{([^}]*)\\} (\\S+)$")
        .matcher(metrics.output());
    long sum = 0;
    while (m.find()) {
      String labels = m.group(1);
      if (labels.contains("resource=\"leases\"") && labels.contains("scope=\"resource\"")
          && labels.contains("verb=\"WATCH\"")) {
        sum += (long) Double.parseDouble(m.group(2));
      }
    }
    return sum;
  }

  @Test
  void replicasWithOnlyTheServiceAccountTokenElectWatchAndRecordEvents(TestInfo info)
      throws IOException {
    String namespace = namespaceFor(info);
    controlPlane.kubectl("create", "namespace", namespace);
    apply(namespace, "k8s/rbac.yaml", "k8s/work-record.yaml");
    Path kubeconfig = tokenKubeconfig(namespace);

    CommandResult whoami = controlPlane.kubectlWith(kubeconfig, "auth", "whoami");
    assertThat(whoami.output()).as(whoami.output())
        .contains("system:serviceaccount:" + namespace + ":" + SA);

    // The exact requests the app's Lease informer makes (list, then watch, both with
    // fieldSelector metadata.name=my-lease) are authorized by the resourceNames rule ...
    try (KubernetesClient sa = clientFor(kubeconfig)) {
      SharedIndexInformer<Lease> informer =
          sa.leases().inNamespace(namespace).withName(LEASE).runnableInformer(0);
      try {
        informer.start();
        await(Duration.ofSeconds(30)).alias("informer on lease " + LEASE + " synced and watching")
            .until(() -> informer.hasSynced() && informer.isWatching());
      } finally {
        informer.close();
      }
      // ... while listing all Leases, or reading another one, is not.
      assertThatThrownBy(() -> sa.leases().inNamespace(namespace).list())
          .isInstanceOfSatisfying(KubernetesClientException.class,
              e -> assertThat(e.getCode()).isEqualTo(403));
      assertThatThrownBy(() -> sa.leases().inNamespace(namespace).withName("other-lease").get())
          .isInstanceOfSatisfying(KubernetesClientException.class,
              e -> assertThat(e.getCode()).isEqualTo(403));
    }

    long watchesBefore = namedLeaseWatches();
    replicas = ReplicaSet.of(controlPlane, namespace, LEASE, List.of("--work-interval=1s"),
        ReplicaSet.appLauncher(), kubeconfig);
    replicas.startAll("sa-replica", 3);

    Replica leader = awaitSingleLeader(Duration.ofSeconds(60));
    await(Duration.ofSeconds(30)).until(() -> leader.logged("doing stuff..."));
    for (Replica follower : replicas.replicas()) {
      if (follower != leader) {
        await(Duration.ofSeconds(30)).alias(follower.log())
            .until(() -> follower.logged("new leader is " + leader.identity()));
      }
    }
    // Every replica (followers and leader alike) keeps a watch open on the Lease.
    await(Duration.ofSeconds(60)).alias("3 more watches on a named Lease than before (were "
        + watchesBefore + ")\n" + replicas.logs())
        .until(() -> namedLeaseWatches() >= watchesBefore + 3);

    // The leader recorded its Event on the Lease.
    await(Duration.ofSeconds(30)).alias("an Event on lease " + LEASE + "\n" + replicas.logs())
        .until(() -> replicas.withAdmin(admin -> admin.v1().events().inNamespace(namespace)
            .list().getItems().stream()
            .filter(e -> LEASE.equals(e.getInvolvedObject().getName()))
            .map(Event::getMessage)
            .anyMatch(m -> m.equals(leader.identity() + " became leader"))));

    for (Replica replica : replicas.replicas()) {
      assertThat(replica.texts()).as(replica.log()).noneMatch(
          line -> line.toLowerCase(Locale.ROOT).contains("forbidden")
              || line.contains("could not record event")
              || line.contains(" 403"));
    }
    assertNoOverlappingWork();
  }

  /** One row of {@code kubectl auth can-i --list}. */
  private record Rule(String resource, String nonResourceUrls, String resourceNames,
      String verbs) {
  }

  /** A row: resource (blank for non-resource URLs), then three bracketed lists. */
  private static final Pattern ROW = Pattern.compile(
      "^(\\S*)\\s*(\\[[^\\]]*\\])\\s+(\\[[^\\]]*\\])\\s+(\\[[^\\]]*\\])\\s*$");

  private static List<Rule> parseCanIList(String output) {
    List<Rule> rules = new ArrayList<>();
    for (String line : output.split("\n")) {
      if (line.isBlank() || line.startsWith("Resources")) {
        continue;
      }
      Matcher m = ROW.matcher(line);
      assertThat(m.matches()).as("unparsed row of kubectl auth can-i --list: '%s'", line).isTrue();
      rules.add(new Rule(m.group(1), m.group(2), m.group(3), m.group(4)));
    }
    return rules;
  }

  @Test
  void theServiceAccountHasLeastPrivilege(TestInfo info) throws IOException {
    String namespace = namespaceFor(info);
    controlPlane.kubectl("create", "namespace", namespace);
    apply(namespace, "k8s/rbac.yaml", "k8s/work-record.yaml");
    Path kubeconfig = tokenKubeconfig(namespace);

    CommandResult list = controlPlane.kubectlWith(kubeconfig, "auth", "can-i", "--list",
        "-n", namespace);
    assertThat(list.exitCode()).as(list.output()).isZero();
    List<Rule> rules = parseCanIList(list.output());

    // What the controller needs, and the self-review rules every authenticated user has.
    Set<Rule> allowed = Set.of(
        new Rule("events", "[]", "[]", "[create]"),
        new Rule("leases.coordination.k8s.io", "[]", "[]", "[create]"),
        new Rule("leases.coordination.k8s.io", "[]", "[my-lease]", "[get update list watch]"),
        new Rule("configmaps", "[]", "[my-lease-work]", "[get update]"),
        new Rule("selfsubjectreviews.authentication.k8s.io", "[]", "[]", "[create]"),
        new Rule("selfsubjectaccessreviews.authorization.k8s.io", "[]", "[]", "[create]"),
        new Rule("selfsubjectrulesreviews.authorization.k8s.io", "[]", "[]", "[create]"));
    List<Rule> resourceRules = rules.stream().filter(r -> !r.resource().isEmpty()).toList();
    assertThat(resourceRules).as(list.output()).isNotEmpty().allMatch(allowed::contains);
    assertThat(resourceRules).as(list.output()).contains(
        new Rule("leases.coordination.k8s.io", "[]", "[my-lease]", "[get update list watch]"),
        new Rule("configmaps", "[]", "[my-lease-work]", "[get update]"),
        new Rule("events", "[]", "[]", "[create]"));
    // Discovery (non-resource URLs such as /api/*, /version): read-only.
    assertThat(rules.stream().filter(r -> r.resource().isEmpty())).as(list.output())
        .allMatch(r -> r.verbs().equals("[get]"));
    assertThat(rules).as(list.output()).noneMatch(r -> r.verbs().contains("*")
        || r.resource().contains("*") || r.resource().startsWith("secrets")
        || r.resource().startsWith("pods"));

    Map<String, String> answers = Map.ofEntries(
        Map.entry("get secrets", "no"),
        Map.entry("get configmaps/other", "no"),
        Map.entry("create configmaps", "no"),
        Map.entry("delete configmaps/my-lease-work", "no"),
        Map.entry("list secrets", "no"),
        Map.entry("delete leases", "no"),
        Map.entry("delete leases/my-lease", "no"),
        Map.entry("patch leases/my-lease", "no"),
        Map.entry("list leases", "no"),
        Map.entry("get leases/other-lease", "no"),
        Map.entry("create pods", "no"),
        Map.entry("patch pods", "no"),
        Map.entry("get configmaps", "no"),
        Map.entry("list events", "no"),
        Map.entry("get leases/my-lease", "yes"),
        Map.entry("update leases/my-lease", "yes"),
        Map.entry("watch leases/my-lease", "yes"),
        Map.entry("create leases", "yes"),
        Map.entry("create events", "yes"));
    answers.forEach((question, expected) -> {
      String[] verbAndResource = question.split(" ");
      CommandResult answer = controlPlane.kubectlWith(kubeconfig, "auth", "can-i",
          verbAndResource[0], verbAndResource[1], "-n", namespace);
      assertThat(answer.output().trim()).as("can-i %s", question).isEqualTo(expected);
      assertThat(answer.exitCode()).as("can-i %s", question).isEqualTo(expected.equals("yes") ? 0 : 1);
    });
  }

  @Test
  @org.junit.jupiter.api.DisplayName("without the Role, the start-up permission check names"
      + " exactly the missing verbs and resources and k8s/rbac.yaml in one line; the replica"
      + " keeps running and is elected once the Role is applied")
  void missingPermissionsAreNamedInOneLineAndTheReplicaKeepsTrying(TestInfo info)
      throws Exception {
    String namespace = namespaceFor(info);
    controlPlane.kubectl("create", "namespace", namespace);
    CommandResult sa = controlPlane.kubectl("create", "serviceaccount", SA, "-n", namespace);
    assertThat(sa.exitCode()).as(sa.output()).isZero();
    Path kubeconfig = tokenKubeconfig(namespace);
    replicas = ReplicaSet.of(controlPlane, namespace, LEASE, List.of("--retry-period=1s",
        "--renew-deadline=4s", "--lease-duration=6s"), ReplicaSet.appLauncher(), kubeconfig);
    Replica replica = replicas.start("no-role");

    String expected = "missing permissions in namespace " + namespace + ":"
        + " get,update,list,watch on leases.coordination.k8s.io/" + LEASE + ";"
        + " create on leases.coordination.k8s.io; create on events; get,update on configmaps/"
        + LEASE + "-work (granted by k8s/rbac.yaml);"
        + " the election keeps retrying";
    await(Duration.ofSeconds(60)).alias("the permission check's line\n" + replica.log())
        .until(() -> replica.logged(expected));
    Thread.sleep(3_000);
    assertThat(replica.isAlive()).as(replica.log()).isTrue();
    assertThat(replica.log()).doesNotContain("\tat ").doesNotContain("Exception:");

    apply(namespace, "k8s/rbac.yaml", "k8s/work-record.yaml");
    await(Duration.ofSeconds(90)).alias("elected once the Role exists\n" + replica.log())
        .until(() -> replica.logged("successfully acquired lease " + namespace + "/" + LEASE));
    await(Duration.ofSeconds(60)).alias("the check sees the grant\n" + replica.log())
        .until(() -> replica.logged("permission check: all permissions in namespace "
            + namespace + " are granted now"));
    assertThat(replica.count(l -> l.contains("missing permissions in namespace")))
        .as("one line while nothing changed\n%s", replica.log()).isEqualTo(1);
  }

  @Test
  void optionalRoleLetsReplicasLabelTheirPods(TestInfo info) throws IOException {
    String namespace = namespaceFor(info);
    controlPlane.kubectl("create", "namespace", namespace);
    apply(namespace, "k8s/rbac.yaml", "k8s/work-record.yaml",
        "k8s/optional/label-leader-rbac.yaml");
    Path kubeconfig = tokenKubeconfig(namespace);

    // Pod objects named like the replicas stand in for their pods (nothing runs them here).
    List<String> names = List.of("label-0", "label-1");
    try (KubernetesClient admin = controlPlane.adminClient()) {
      for (String name : names) {
        admin.pods().inNamespace(namespace).resource(new PodBuilder()
            .withNewMetadata().withName(name).endMetadata()
            .withNewSpec().withServiceAccountName(SA).withAutomountServiceAccountToken(false)
              .addNewContainer().withName("app").withImage("leaderelection:0.1.0").endContainer()
            .endSpec().build()).create();
      }
    }
    replicas = ReplicaSet.of(controlPlane, namespace, LEASE, List.of("--label-leader"),
        ReplicaSet.appLauncher(), kubeconfig);
    names.forEach(replicas::start);
    Replica leader = awaitSingleLeader(Duration.ofSeconds(60));

    try (KubernetesClient admin = controlPlane.adminClient()) {
      await(Duration.ofSeconds(30)).alias("leader=true|false labels\n" + replicas.logs())
          .until(() -> names.stream().allMatch(name -> {
            Map<String, String> labels = admin.pods().inNamespace(namespace).withName(name).get()
                .getMetadata().getLabels();
            return labels != null && String.valueOf(name.equals(leader.identity()))
                .equals(labels.get("leader"));
          }));
    }
    for (Replica replica : replicas.replicas()) {
      assertThat(replica.texts()).as(replica.log())
          .noneMatch(line -> line.contains("could not label pod"));
    }
  }
}
