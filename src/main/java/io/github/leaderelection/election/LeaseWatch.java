package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A live view of the one Lease, so a follower learns of every renewal and release the moment it
 * happens instead of polling.
 *
 * <p>Built on a fabric8 informer restricted to the Lease's name: the informer lists, then watches
 * from the listed resourceVersion, and on a broken watch or 410 Gone it relists and resumes by
 * itself. While it is not watching ({@link #isLive()} false) the elector falls back to polling, so
 * a broken watch is never worse than client-go's behaviour.
 */
final class LeaseWatch implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(LeaseWatch.class);

  private final SharedIndexInformer<Lease> informer;

  private LeaseWatch(SharedIndexInformer<Lease> informer) {
    this.informer = informer;
  }

  /**
   * Starts watching in the background; returns at once.
   *
   * @param onChange called with the Lease after every change seen; on a delete, with its final
   *     state (when known) and then null
   */
  static LeaseWatch start(LeaseLock lock, Consumer<Lease> onChange) {
    SharedIndexInformer<Lease> informer = lock.resource().runnableInformer(0);
    informer.addEventHandler(new ResourceEventHandler<>() {
      @Override
      public void onAdd(Lease lease) {
        onChange.accept(lease);
      }

      @Override
      public void onUpdate(Lease oldLease, Lease newLease) {
        onChange.accept(newLease);
      }

      @Override
      public void onDelete(Lease lease, boolean finalStateUnknown) {
        if (!finalStateUnknown && lease != null) {
          onChange.accept(lease); // its last stored state, then its absence
        }
        onChange.accept(null);
      }
    });
    // Keep retrying whatever happens (API server down, no list/watch permission): polling covers
    // the gap, and the watch comes back by itself once the cause is fixed.
    AtomicBoolean warned = new AtomicBoolean();
    informer.exceptionHandler((started, t) -> {
      if (isForbidden(t) && warned.compareAndSet(false, true)) {
        log.warn("cannot watch lease {}/{} (403): following by polling instead; grant list and"
            + " watch on leases (see k8s/rbac.yaml) for instant takeovers", lock.namespace(),
            lock.name());
      } else {
        log.debug("lease watch interrupted, retrying: {}", t.toString());
      }
      return true;
    });
    informer.start();
    return new LeaseWatch(informer);
  }

  private static boolean isForbidden(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof KubernetesClientException k && k.getCode() == 403) {
        return true;
      }
    }
    return false;
  }

  /** True when the view is complete and current: initial list done and the watch connected. */
  boolean isLive() {
    return informer.hasSynced() && informer.isWatching();
  }

  @Override
  public void close() {
    informer.close();
  }
}
