package io.github.leaderelection.app.health;

import io.github.leaderelection.app.DaemonExecutors;
import io.github.leaderelection.election.LeadershipListener;
import io.github.leaderelection.election.Term;
import io.github.leaderelection.election.TermEnd;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.util.concurrent.ExecutorService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Optional ({@code --label-leader}): keeps {@code leader=true|false} on this replica's own pod, so
 * {@code kubectl get pods -L leader} shows the leader at a glance. Needs {@code patch} on pods,
 * which the default Role deliberately does not grant (see k8s/optional/).
 */
public final class PodLabeler implements LeadershipListener {

  private static final Logger log = LoggerFactory.getLogger(PodLabeler.class);

  private final KubernetesClient client;
  private final String namespace;
  private final String pod;
  private final ExecutorService sender = DaemonExecutors.single("pod-label");

  public PodLabeler(KubernetesClient client, String namespace, String pod) {
    this.client = client;
    this.namespace = namespace;
    this.pod = pod;
    sender.execute(() -> label(false));
  }

  @Override
  public void startedLeading(Term term) {
    sender.execute(() -> label(true));
  }

  @Override
  public void stoppedLeading(Term term, TermEnd reason) {
    sender.execute(() -> label(false));
  }

  private void label(boolean leader) {
    try {
      client.pods().inNamespace(namespace).withName(pod).patch(
          PatchContext.of(PatchType.JSON_MERGE),
          "{\"metadata\":{\"labels\":{\"leader\":\"" + leader + "\"}}}");
    } catch (KubernetesClientException e) {
      log.warn("could not label pod {}/{} leader={} (HTTP {}){}", namespace, pod, leader,
          e.getCode(), e.getCode() == 403 ? ": apply k8s/optional/label-leader-rbac.yaml" : "");
    }
  }
}
