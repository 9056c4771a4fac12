package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseSpec;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.Resource;

/**
 * The lock: one {@code coordination.k8s.io/v1} Lease, read and written through fabric8's typed API.
 *
 * <p>Every write is conditional. An update carries the {@code resourceVersion} of the object it was
 * computed from, so the API server rejects it with 409 Conflict if anybody wrote in between; a
 * create fails with 409 if the Lease appeared meanwhile. That is what makes the race between
 * candidates safe: at most one of several concurrent writers can succeed.
 */
public final class LeaseLock {

  /** The API verbs the elector uses, for error messages that name the missing permission. */
  public enum Verb { GET, CREATE, UPDATE, WATCH, LIST }

  private final KubernetesClient client;
  private final String namespace;
  private final String name;
  private final java.util.Map<String, String> labels;

  public LeaseLock(KubernetesClient client, String namespace, String name) {
    this(client, namespace, name, java.util.Map.of());
  }

  /**
   * @param labels put on the Lease with every write (client-go's {@code NewWithLabels}); other
   *     labels on the Lease are kept
   */
  public LeaseLock(KubernetesClient client, String namespace, String name,
      java.util.Map<String, String> labels) {
    this.client = client;
    this.namespace = namespace;
    this.name = name;
    this.labels = java.util.Map.copyOf(labels);
  }

  /** The current Lease, or null if it does not exist. */
  public Lease get() {
    return call(Verb.GET, () -> resource().get());
  }

  /** Creates the Lease holding {@code record}; fails with 409 if it already exists. */
  public Lease create(LeaderElectionRecord record) {
    LeaseSpec spec = new LeaseSpec();
    record.applyTo(spec);
    Lease lease = new LeaseBuilder()
        .withNewMetadata().withNamespace(namespace).withName(name).withLabels(
            labels.isEmpty() ? null : new java.util.TreeMap<>(labels)).endMetadata()
        .withSpec(spec)
        .build();
    return call(Verb.CREATE, () -> client.leases().inNamespace(namespace).resource(lease).create());
  }

  /**
   * Replaces the record in {@code base}, conditional on {@code base}'s resourceVersion: a 409
   * means somebody else wrote since {@code base} was read.
   */
  public Lease update(Lease base, LeaderElectionRecord record) {
    if (base.getMetadata().getResourceVersion() == null) {
      // Without a resourceVersion the write would be unconditional: never allowed here.
      throw new IllegalArgumentException("refusing an update without resourceVersion");
    }
    Lease next = new LeaseBuilder(base).build();
    if (next.getSpec() == null) {
      next.setSpec(new LeaseSpec());
    }
    record.applyTo(next.getSpec());
    if (!labels.isEmpty()) {
      java.util.Map<String, String> merged = new java.util.TreeMap<>();
      if (next.getMetadata().getLabels() != null) {
        merged.putAll(next.getMetadata().getLabels());
      }
      merged.putAll(labels);
      next.getMetadata().setLabels(merged);
    }
    return call(Verb.UPDATE, () -> client.leases().inNamespace(namespace).resource(next).update());
  }

  public String namespace() {
    return namespace;
  }

  public String name() {
    return name;
  }

  Resource<Lease> resource() {
    return client.leases().inNamespace(namespace).withName(name);
  }

  private <T> T call(Verb verb, java.util.function.Supplier<T> request) {
    try {
      return request.get();
    } catch (KubernetesClientException e) {
      throw new LeaseApiException(verb, e, String.valueOf(client.getMasterUrl()));
    }
  }
}
