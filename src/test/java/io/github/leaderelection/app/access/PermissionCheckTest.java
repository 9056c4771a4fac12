package io.github.leaderelection.app.access;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.KubernetesClientException;
import io.github.leaderelection.app.access.PermissionCheck.Need;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.election.LogCapture;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class PermissionCheckTest {

  private static final Duration D15 = Duration.ofSeconds(15);

  /** Never connects: the elections are built, not started. */
  private static final KubernetesClient CLIENT = new KubernetesClientBuilder()
      .withConfig(new ConfigBuilder().withMasterUrl("https://127.0.0.1:1").build()).build();

  private static LeaderElection config(boolean coordinated, boolean watch) {
    LeaderElection.Builder b = LeaderElection.builder(CLIENT).lease("ns", "my-lease")
        .identity("pod-a").leaseDuration(D15).watch(watch);
    if (coordinated) {
      b.coordinated("1.0.0", null);
    }
    return b.build();
  }

  private static List<String> asText(List<Need> needs) {
    return needs.stream().map(n -> n.verb() + " " + n.target() + " " + n.manifest()).toList();
  }

  @Test
  @DisplayName("the usual election needs the Lease (get, update, list, watch by name; create) and"
      + " events, all from k8s/rbac.yaml")
  void usualNeeds() {
    assertThat(asText(PermissionCheck.needs(config(false, true), "", null))).containsExactly(
        "get leases.coordination.k8s.io/my-lease k8s/rbac.yaml",
        "update leases.coordination.k8s.io/my-lease k8s/rbac.yaml",
        "list leases.coordination.k8s.io/my-lease k8s/rbac.yaml",
        "watch leases.coordination.k8s.io/my-lease k8s/rbac.yaml",
        "create leases.coordination.k8s.io k8s/rbac.yaml",
        "create events k8s/rbac.yaml");
    assertThat(asText(PermissionCheck.needs(config(false, false), "", null)))
        .noneMatch(n -> n.startsWith("list") || n.startsWith("watch"));
  }

  @Test
  @DisplayName("coordinated: no Lease create (the server creates it), plus the replica's own"
      + " LeaseCandidate from k8s/coordinated/; --label-leader adds its pod")
  void coordinatedAndLabelNeeds() {
    List<String> needs = asText(PermissionCheck.needs(config(true, true), "", "pod-a"));
    assertThat(needs).doesNotContain("create leases.coordination.k8s.io k8s/rbac.yaml");
    assertThat(needs).contains(
        "create leasecandidates.coordination.k8s.io k8s/coordinated/",
        "get leasecandidates.coordination.k8s.io/pod-a k8s/coordinated/",
        "update leasecandidates.coordination.k8s.io/pod-a k8s/coordinated/",
        "delete leasecandidates.coordination.k8s.io/pod-a k8s/coordinated/",
        "list leasecandidates.coordination.k8s.io/pod-a k8s/coordinated/",
        "watch leasecandidates.coordination.k8s.io/pod-a k8s/coordinated/",
        "get pods/pod-a k8s/optional/label-leader-rbac.yaml",
        "patch pods/pod-a k8s/optional/label-leader-rbac.yaml");
  }

  @Test
  @DisplayName("the line names exactly the missing verbs per resource and the manifests")
  void describeIsOneLine() {
    List<Need> needs = PermissionCheck.needs(config(true, true), "", null);
    List<Need> missing = needs.stream().filter(n -> n.resource().equals("leasecandidates")
        || (n.resource().equals("leases") && n.verb().equals("watch"))).toList();
    String line = PermissionCheck.describe("ns", missing);
    assertThat(line).isEqualTo("missing permissions in namespace ns:"
        + " watch on leases.coordination.k8s.io/my-lease;"
        + " create on leasecandidates.coordination.k8s.io;"
        + " get,update,delete,list,watch on leasecandidates.coordination.k8s.io/pod-a"
        + " (granted by k8s/rbac.yaml and k8s/coordinated/); the election keeps retrying");
    assertThat(line).doesNotContain("\n");
  }

  @Test
  @DisplayName("missing permissions are logged once, rechecked, and the grant is reported; the"
      + " check never throws")
  void rechecksUntilGranted() throws Exception {
    Set<String> granted = ConcurrentHashMap.newKeySet();
    AtomicInteger asked = new AtomicInteger();
    PermissionCheck check = new PermissionCheck("ns", PermissionCheck.needs(config(false, true), "",
        null), (namespace, need) -> {
          asked.incrementAndGet();
          assertThat(namespace).isEqualTo("ns");
          if (asked.get() == 1) {
            throw new KubernetesClientException("connection refused");
          }
          return granted.contains(need.resource());
        });
    try (LogCapture logs = new LogCapture(PermissionCheck.class)) {
      Thread t = new Thread(() -> check.run(Duration.ofMillis(50)));
      t.start();
      granted.add("events");
      Awaitility.await().atMost(Duration.ofSeconds(5))
          .until(() -> check.lastMissing() != null && !check.lastMissing().isEmpty());
      Thread.sleep(300); // several rechecks with the same answer: still one line
      assertThat(logs.messages()).filteredOn(m -> m.startsWith("missing permissions"))
          .singleElement().satisfies(m -> assertThat(m).contains(
              "get,update,list,watch on leases.coordination.k8s.io/my-lease",
              "create on leases.coordination.k8s.io", "(granted by k8s/rbac.yaml)")
              .doesNotContain("events"));
      assertThat(logs.messages()).filteredOn(m -> m.startsWith("permission check: cannot ask"))
          .hasSize(1);
      granted.add("leases");
      t.join(5000);
      assertThat(t.isAlive()).isFalse();
      assertThat(check.lastMissing()).isEmpty();
      assertThat(logs.messages()).last().asString()
          .isEqualTo("permission check: all permissions in namespace ns are granted now");
    }
  }

  @Test
  @DisplayName("stop ends the rechecking while something is still missing")
  void stopEndsIt() throws Exception {
    PermissionCheck check = new PermissionCheck("ns", PermissionCheck.needs(config(false, true), "",
        null), (namespace, need) -> false);
    try (LogCapture logs = new LogCapture(PermissionCheck.class)) {
      Thread t = check.startInBackground();
      Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> check.lastMissing() != null);
      check.stop();
      t.join(5000);
      assertThat(t.isAlive()).isFalse();
    }
  }
}
