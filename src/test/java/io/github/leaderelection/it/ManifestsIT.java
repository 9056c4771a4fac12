package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.github.leaderelection.harness.ControlPlane;
import io.github.leaderelection.harness.ControlPlane.CommandResult;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every manifest under k8s/ is accepted by a real API server ({@code kubectl apply
 * --dry-run=server}, strict field validation), alone and through the kustomization, and says what
 * the project promises: the JVM flags of the image, the Lease the Role is limited to, the security
 * context.
 */
class ManifestsIT {

  private static final AtomicInteger COUNTER = new AtomicInteger();

  private final ControlPlane controlPlane = ControlPlane.shared();

  private static Path root;

  @BeforeAll
  static void findProjectRoot() {
    Path candidate = Path.of(System.getProperty("project.root", System.getProperty("user.dir")));
    assertThat(candidate.resolve("k8s/kustomization.yaml"))
        .as("k8s/kustomization.yaml under the project root (system property project.root)")
        .isRegularFile();
    root = candidate.toAbsolutePath();
  }

  private String freshNamespace() {
    String namespace = "manifests-" + COUNTER.incrementAndGet() + "-" + ProcessHandle.current().pid();
    CommandResult created = controlPlane.kubectl("create", "namespace", namespace);
    assertThat(created.exitCode()).as(created.output()).isZero();
    return namespace;
  }

  private static List<Path> manifests() throws IOException {
    try (Stream<Path> files = Files.walk(root.resolve("k8s"))) {
      return files.filter(Files::isRegularFile)
          .filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml"))
          .filter(p -> !p.getFileName().toString().equals("kustomization.yaml"))
          .sorted()
          .toList();
    }
  }

  @Test
  void everyManifestPassesServerSideDryRun() throws IOException {
    String namespace = freshNamespace();
    List<Path> manifests = manifests();
    assertThat(manifests).extracting(p -> root.relativize(p).toString())
        .contains("k8s/rbac.yaml", "k8s/deploy.yaml", "k8s/pdb.yaml",
            "k8s/optional/label-leader-rbac.yaml");
    for (Path manifest : manifests) {
      CommandResult result = controlPlane.kubectl("apply", "--dry-run=server", "--validate=strict",
          "-n", namespace, "-f", manifest.toString());
      assertThat(result.exitCode()).as("kubectl apply --dry-run=server -f %s:\n%s",
          root.relativize(manifest), result.output()).isZero();
      assertThat(result.output()).contains("(server dry run)");
    }
  }

  @Test
  void kustomizationPassesServerSideDryRun() {
    String namespace = freshNamespace();
    CommandResult result = controlPlane.kubectl("apply", "-k", root.resolve("k8s").toString(),
        "--dry-run=server", "--validate=strict", "-n", namespace);
    assertThat(result.exitCode()).as("kubectl apply -k k8s/ --dry-run=server:\n%s",
        result.output()).isZero();
    assertThat(result.output()).contains(
        "serviceaccount/leaderelection-sa created (server dry run)",
        "role.rbac.authorization.k8s.io/leaderelection-role created (server dry run)",
        "rolebinding.rbac.authorization.k8s.io/leaderelection-rolebinding created (server dry run)",
        "deployment.apps/leaderelection created (server dry run)",
        "poddisruptionbudget.policy/leaderelection created (server dry run)");
    // The optional pod-labelling permission is not in the default set.
    assertThat(result.output()).doesNotContain("label-leader");
  }

  @Test
  void deploymentRunsTheImagesJvmFlagsAndLeaseAsTheRoleAllows() throws IOException {
    Deployment deployment = load("k8s/deploy.yaml", Deployment.class);
    Role role = load("k8s/rbac.yaml", Role.class);
    PodSpec pod = deployment.getSpec().getTemplate().getSpec();
    Container container = pod.getContainers().get(0);

    assertThat(deployment.getSpec().getReplicas()).isEqualTo(3);
    assertThat(container.getArgs()).contains("--lease-name=my-lease");
    assertThat(pod.getServiceAccountName()).isEqualTo("leaderelection-sa");

    // One set of JVM flags everywhere: pom.xml (app.jvmFlags), the Dockerfile, the Deployment.
    String jvmFlags = System.getProperty("app.jvmFlags", "").trim();
    assertThat(jvmFlags).as("system property app.jvmFlags (set by failsafe)").isNotEmpty();
    String deployed = container.getEnv().stream()
        .filter(e -> e.getName().equals("JDK_JAVA_OPTIONS")).map(EnvVar::getValue)
        .findFirst().orElse("");
    assertThat(deployed.trim().replaceAll("\\s+", " ")).isEqualTo(jvmFlags);
    assertThat(Files.readString(root.resolve("Dockerfile")))
        .contains("ENV JDK_JAVA_OPTIONS=\"" + jvmFlags + "\"");

    // The Role's single-object rule names the Lease the Deployment elects with.
    List<PolicyRule> rules = role.getRules();
    assertThat(rules).anySatisfy(rule -> {
      assertThat(rule.getResources()).containsExactly("leases");
      assertThat(rule.getResourceNames()).containsExactly("my-lease");
    });
    assertThat(rules).allSatisfy(rule -> {
      assertThat(rule.getVerbs()).doesNotContain("*");
      assertThat(rule.getResources()).doesNotContain("*");
      assertThat(rule.getApiGroups()).doesNotContain("*");
    });

    // The hardening issue 4 asks for.
    assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
    assertThat(pod.getSecurityContext().getRunAsUser()).isEqualTo(65532L);
    assertThat(pod.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
    assertThat(container.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
    assertThat(container.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
    assertThat(container.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
    assertThat(container.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
    assertThat(container.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
    assertThat(container.getResources().getRequests()).containsKeys("cpu", "memory");
    assertThat(container.getResources().getLimits()).containsKey("memory");
  }

  private <T extends HasMetadata> T load(String file, Class<T> type) throws IOException {
    try (KubernetesClient client = controlPlane.adminClient();
        InputStream in = Files.newInputStream(root.resolve(file))) {
      return client.load(in).items().stream().filter(type::isInstance).map(type::cast)
          .findFirst().orElseThrow(() -> new AssertionError("no " + type.getSimpleName()
              + " in " + file));
    }
  }
}
