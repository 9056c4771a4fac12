package io.github.leaderelection.app.work;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.election.LogCapture;
import io.github.leaderelection.election.MockApi;
import io.github.leaderelection.election.Term;
import io.github.leaderelection.election.TermEnd;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** The article's controller: its messages, and each unit recorded with a fenced write. */
class ArticleControllerTest {

  private static final String STOPPED = "no longer the leader, staying inactive.";
  private static final String WORK = "doing stuff...";
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  @Test
  @DisplayName("tells who leads in the article's words")
  void tellsWhoLeadsInTheArticlesWords() {
    ArticleController controller = new ArticleController("pod-a", null, "test", "");
    try (LogCapture logs = new LogCapture(ArticleController.class)) {
      controller.newLeader("pod-a");
      controller.newLeader("pod-b");
      controller.stoppedLeading(null, TermEnd.TAKEN_OVER); // never led: nothing to wait for
      assertThat(logs.messages()).containsExactly("still the leader!", "new leader is pod-b",
          STOPPED);
    }
  }

  @Nested
  @DisplayName("the work record")
  class WorkRecord {

    @Test
    @DisplayName("each unit is written to the ConfigMap under the term's fencing token (the"
        + " acquiring write's resourceVersion), naming the leader")
    void recordsEachUnit() {
      try (MockApi api = new MockApi();
          LeaderElection election = election(api, new ArticleController("me", api.client(),
              MockApi.NAMESPACE, "my-lease-work"))) {
        election.start();
        ConfigMap cm = awaitRecord(api, 2);
        Term term = election.currentTerm().orElseThrow();
        assertThat(cm.getData()).containsEntry("leader", "me")
            .containsEntry("fencingToken", Long.toString(term.fencingToken()));
        assertThat(cm.getMetadata().getAnnotations())
            .containsEntry("leaderelection.github.io/fencing-token",
                Long.toString(term.fencingToken()))
            .containsEntry("leaderelection.github.io/fenced-by", "me");
        Lease lease = api.lease();
        assertThat(term.fencingToken()).isPositive()
            .isLessThanOrEqualTo(Long.parseLong(lease.getMetadata().getResourceVersion()));
      }
    }

    @Test
    @DisplayName("a record written under a newer token refuses the unit's write: logged, nothing"
        + " overwritten")
    void newerTokenRefusesTheWrite() {
      try (MockApi api = new MockApi();
          LogCapture logs = new LogCapture(ArticleController.class);
          LeaderElection election = election(api, new ArticleController("me", api.client(),
              MockApi.NAMESPACE, "my-lease-work"))) {
        election.start();
        awaitRecord(api, 1);
        // A newer leader's write, conditional like any: retried if the unit wrote in between.
        await().atMost(TIMEOUT).until(() -> {
          ConfigMap cm = api.client().configMaps().inNamespace(MockApi.NAMESPACE)
              .withName("my-lease-work").get();
          Map<String, String> annotations = new HashMap<>(cm.getMetadata().getAnnotations());
          annotations.put("leaderelection.github.io/fencing-token", "9999999");
          annotations.put("leaderelection.github.io/fenced-by", "newer-leader");
          cm.getMetadata().setAnnotations(annotations);
          cm.getData().put("leader", "newer-leader");
          try {
            api.client().resource(cm).update();
            return true;
          } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
            if (e.getCode() == 409) {
              return false;
            }
            throw e;
          }
        });
        await().atMost(TIMEOUT).until(() -> logs.messages().stream()
            .anyMatch(m -> m.contains("under the newer token 9999999 by newer-leader")));
        ConfigMap after = api.client().configMaps().inNamespace(MockApi.NAMESPACE)
            .withName("my-lease-work").get();
        assertThat(after.getData()).containsEntry("leader", "newer-leader");
      }
    }
  }

  private static LeaderElection election(MockApi api, ArticleController controller) {
    return LeaderElection.builder(api.client())
        .lease(MockApi.NAMESPACE, MockApi.LEASE)
        .identity("me")
        .leaseDuration(Duration.ofSeconds(2))
        .renewDeadline(Duration.ofSeconds(1))
        .retryPeriod(Duration.ofMillis(200))
        .watch(false)
        .periodicWork(Duration.ofMillis(50), controller::unit)
        .listener(controller)
        .build();
  }

  private static ConfigMap awaitRecord(MockApi api, int units) {
    return await().atMost(TIMEOUT).until(() -> api.client().configMaps()
        .inNamespace(MockApi.NAMESPACE).withName("my-lease-work").get(), cm -> cm != null
        && cm.getData() != null
        && Integer.parseInt(cm.getData().getOrDefault("unitsInTerm", "0")) >= units);
  }
}
