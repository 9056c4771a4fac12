package io.github.leaderelection.app.health;

import io.github.leaderelection.app.DaemonExecutors;
import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.election.LeadershipListener;
import io.github.leaderelection.election.Term;
import io.github.leaderelection.election.TermEnd;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Records Kubernetes Events on the Lease, as client-go's resource lock does, so
 * {@code kubectl describe lease} and {@code kubectl get events} tell who became leader and when.
 *
 * <p>Best effort and off the elector's thread: an Event that cannot be written (API down, no RBAC
 * for events) is logged once and never delays the election.
 */
public final class LeaseEvents implements LeadershipListener, AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(LeaseEvents.class);
  static final String REASON = "LeaderElection";
  private static final DateTimeFormatter TIMESTAMP = DateTimeFormatter
      .ofPattern("yyyy-MM-dd'T'HH:mm:ss'Z'", Locale.ROOT).withZone(ZoneOffset.UTC);

  private final KubernetesClient client;
  private final String namespace;
  private final String leaseName;
  private final String identity;
  private final ExecutorService sender = DaemonExecutors.single("lease-events");
  private volatile LeaderElection election;
  private volatile boolean warned;

  public LeaseEvents(KubernetesClient client, String namespace, String leaseName,
      String identity) {
    this.client = client;
    this.namespace = namespace;
    this.leaseName = leaseName;
    this.identity = identity;
  }

  /** The election whose last written Lease gives the Events their object's uid. */
  public void attach(LeaderElection election) {
    this.election = election;
  }

  @Override
  public void startedLeading(Term term) {
    record(identity + " became leader");
  }

  @Override
  public void stoppedLeading(Term term, TermEnd reason) {
    record(identity + " stopped leading");
  }

  private void record(String message) {
    LeaderElection e = election;
    String uid = e == null ? null : e.leaseUid().orElse(null);
    Instant now = Instant.now();
    sender.execute(() -> post(message, uid, now));
  }

  private void post(String message, String uid, Instant when) {
    String time = TIMESTAMP.format(when);
    try {
      client.v1().events().inNamespace(namespace).resource(new EventBuilder()
          .withNewMetadata()
            .withName(leaseName + "." + UUID.randomUUID().toString().substring(0, 13)
                .replace("-", ""))
            .withNamespace(namespace)
          .endMetadata()
          .withInvolvedObject(new ObjectReferenceBuilder()
              .withApiVersion("coordination.k8s.io/v1").withKind("Lease")
              .withNamespace(namespace).withName(leaseName).withUid(uid)
              .build())
          .withReason(REASON)
          .withMessage(message)
          .withType("Normal")
          .withNewSource().withComponent("leaderelection").withHost(identity).endSource()
          .withReportingComponent("leaderelection")
          .withReportingInstance(identity)
          .withFirstTimestamp(time)
          .withLastTimestamp(time)
          .withCount(1)
          .build()).create();
    } catch (KubernetesClientException e) {
      if (!warned) {
        warned = true;
        log.warn("could not record event '{}' on lease {} ({}{}); events are best effort",
            message, namespace + "/" + leaseName, e.getCode() == 0 ? "no response" : "HTTP " + e.getCode(),
            e.getCode() == 403 ? ": grant create on events, see k8s/rbac.yaml" : "");
      }
    }
  }

  @Override
  public void close() {
    sender.shutdown();
    try {
      sender.awaitTermination(1, TimeUnit.SECONDS); // best effort, inside the shutdown bound
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
