package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
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
final class LeaseLock {


  private final KubernetesClient client;
  private final String namespace;
  private final String name;

  public LeaseLock(KubernetesClient client, String namespace, String name) {
    this.client = client;
    this.namespace = namespace;
    this.name = name;
  }

  /** The current Lease, or null if it does not exist. */
  public Lease get() {
    return call(ApiVerb.GET, () -> resource().get());
  }

  /**
   * Creates the Lease holding {@code record}, as {@link LeaseWrites} builds it without labels;
   * fails with 409 if it already exists. (The elector sends the objects its requests carry.)
   */
  public Lease create(LeaderElectionRecord record) {
    return create(LeaseWrites.forCreate(namespace, name, record, java.util.Map.of(), true));
  }

  /** Creates {@code lease} (built by {@link LeaseWrites}); fails with 409 if it already exists. */
  public Lease create(Lease lease) {
    return call(ApiVerb.CREATE, () -> client.leases().inNamespace(namespace).resource(lease).create());
  }

  /**
   * Replaces the record in {@code base}, conditional on {@code base}'s resourceVersion: a 409
   * means somebody else wrote since {@code base} was read.
   */
  public Lease update(Lease base, LeaderElectionRecord record) {
    return update(LeaseWrites.forUpdate(base, record, java.util.Map.of(), true));
  }

  /** Writes {@code next} (built by {@link LeaseWrites}), conditional on its resourceVersion. */
  public Lease update(Lease next) {
    if (next.getMetadata().getResourceVersion() == null) {
      // Without a resourceVersion the write would be unconditional: never allowed here.
      throw new IllegalArgumentException("refusing an update without resourceVersion");
    }
    return call(ApiVerb.UPDATE, () -> client.leases().inNamespace(namespace).resource(next).update());
  }

  KubernetesClient client() {
    return client;
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

  private <T> T call(ApiVerb verb, java.util.function.Supplier<T> request) {
    try {
      return request.get();
    } catch (KubernetesClientException e) {
      throw new LeaseApiException(verb, e, String.valueOf(client.getMasterUrl()));
    }
  }
}
