package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseSpec;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * The API server, reduced to one Lease with Kubernetes semantics: a resourceVersion from one
 * counter that every write (deletes too) advances, as etcd's revision does; updates conditional on
 * it (409 when stale, 404 when the Lease is gone) and on the uid (a re-created Lease is another
 * object); 409 on creating what exists; no-op updates keep the version; MicroTime stored to the
 * microsecond; 422 for what validation rejects. Objects are copied in and out: fabric8's model
 * classes are mutable, and nobody may share the server's copy.
 */
final class SimApiServer {

  static final String NAMESPACE = "default";
  static final String NAME = "sim";

  private final List<Consumer<Lease>> watchers = new ArrayList<>();
  private Lease stored;
  private long resourceVersion = 100;
  private int uids;
  /** The server answers nothing until then (an etcd stall); requests wait in arrival order. */
  private long frozenUntil;
  private long lastReleaseStoredAt = -1;
  private long writes;

  /** {@code watcher} sees every change, the Lease or null once deleted, in order. */
  void addWatcher(Consumer<Lease> watcher) {
    watchers.add(watcher);
  }

  void removeWatcher(Consumer<Lease> watcher) {
    watchers.remove(watcher);
  }

  Lease current() {
    return copy(stored);
  }

  long frozenUntil() {
    return frozenUntil;
  }

  void freezeUntil(long until) {
    frozenUntil = Math.max(frozenUntil, until);
  }

  /** When a holder's release (empty holder, 1s) was last stored, -1 if never. */
  long lastReleaseStoredAt() {
    return lastReleaseStoredAt;
  }

  long writes() {
    return writes;
  }

  /** Carries out one request that reached the server at {@code now}. */
  Campaign.Reply handle(Campaign.Request request, long now) {
    return switch (request.verb()) {
      case GET -> Campaign.Reply.ok(copy(stored));
      case CREATE -> create(request, now);
      case UPDATE -> update(request, now);
      default -> throw new IllegalArgumentException(request.verb().name());
    };
  }

  private Campaign.Reply create(Campaign.Request request, long now) {
    if (stored != null) {
      return fail(request, 409, "AlreadyExists", "leases.coordination.k8s.io \"sim\" already exists");
    }
    LeaseSpec spec = new LeaseSpec();
    request.record().applyTo(spec);
    Lease lease = new LeaseBuilder()
        .withNewMetadata().withNamespace(NAMESPACE).withName(NAME)
        .withUid("uid-" + (++uids)).endMetadata()
        .withSpec(spec)
        .build();
    return store(request, lease, now);
  }

  private Campaign.Reply update(Campaign.Request request, long now) {
    if (stored == null) {
      return fail(request, 404, "NotFound", "leases.coordination.k8s.io \"sim\" not found");
    }
    Lease base = request.base();
    String uid = base.getMetadata().getUid();
    if (uid != null && !uid.equals(stored.getMetadata().getUid())) {
      return fail(request, 409, "Conflict", "Precondition failed: UID in precondition: " + uid
          + ", UID in object meta: " + stored.getMetadata().getUid());
    }
    if (!Objects.equals(base.getMetadata().getResourceVersion(),
        stored.getMetadata().getResourceVersion())) {
      return fail(request, 409, "Conflict", "the object has been modified; please apply your"
          + " changes to the latest version and try again");
    }
    Lease next = copy(base);
    if (next.getSpec() == null) {
      next.setSpec(new LeaseSpec());
    }
    request.record().applyTo(next.getSpec());
    return store(request, next, now);
  }

  private Campaign.Reply store(Campaign.Request request, Lease lease, long now) {
    LeaseSpec spec = lease.getSpec();
    if (spec.getLeaseTransitions() != null && spec.getLeaseTransitions() < 0
        || spec.getLeaseDurationSeconds() != null && spec.getLeaseDurationSeconds() <= 0) {
      return fail(request, 422, "Invalid", "Lease.coordination.k8s.io \"sim\" is invalid");
    }
    truncateToMicros(spec);
    if (stored != null && spec.equals(stored.getSpec())) {
      return Campaign.Reply.ok(copy(stored)); // a no-op update: nothing stored, no new version
    }
    if (LeaderElectionRecord.fromSpec(spec).isRelease()) {
      lastReleaseStoredAt = now;
    }
    put(lease);
    return Campaign.Reply.ok(copy(stored));
  }

  // Hand edits, as with kubectl: unconditional, on whatever is stored.

  void handDelete() {
    if (stored != null) {
      stored = null;
      resourceVersion++;
      writes++;
      notifyWatchers();
    }
  }

  /** Removes the holder and keeps the duration: not a release, which only the holder writes. */
  void handClearHolder() {
    if (stored != null) {
      Lease next = copy(stored);
      next.getSpec().setHolderIdentity(null);
      if (next.getSpec().getLeaseDurationSeconds() != null
          && next.getSpec().getLeaseDurationSeconds() == 1) {
        next.getSpec().setLeaseDurationSeconds(2); // an edit that looked like a release would be one
      }
      put(next);
    }
  }

  void handMaxTransitions() {
    if (stored != null) {
      Lease next = copy(stored);
      next.getSpec().setLeaseTransitions(Integer.MAX_VALUE);
      put(next);
    }
  }

  private void put(Lease lease) {
    lease.getMetadata().setResourceVersion(Long.toString(++resourceVersion));
    stored = copy(lease);
    writes++;
    notifyWatchers();
  }

  private void notifyWatchers() {
    for (Consumer<Lease> w : List.copyOf(watchers)) {
      w.accept(copy(stored));
    }
  }

  private static void truncateToMicros(LeaseSpec spec) {
    if (spec.getAcquireTime() != null) {
      spec.setAcquireTime(spec.getAcquireTime().truncatedTo(ChronoUnit.MICROS));
    }
    if (spec.getRenewTime() != null) {
      spec.setRenewTime(spec.getRenewTime().truncatedTo(ChronoUnit.MICROS));
    }
  }

  static Lease copy(Lease lease) {
    return lease == null ? null : new LeaseBuilder(lease).build();
  }

  static Campaign.Reply fail(Campaign.Request request, int code, String reason, String message) {
    return Campaign.Reply.failed(failure(request.verb(), code, reason, message));
  }

  static LeaseApiException failure(LeaseLock.Verb verb, int code, String reason, String message) {
    return new LeaseApiException(verb, new KubernetesClientException(message, code,
        new StatusBuilder().withCode(code).withReason(reason).withMessage(message).build()), "sim");
  }
}
