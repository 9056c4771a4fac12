package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.util.Objects;
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
 *
 * <p>A watch can also be dead while it looks alive: after a network partition that drops packets
 * (no FIN, no RST), its connection delivers nothing, and neither fabric8 nor the JDK HTTP client
 * sends pings that would notice (fabric8 ignores its websocket ping interval on the JDK client),
 * so the informer keeps reporting {@code isWatching()} until TCP gives up, about 15 minutes. The
 * elector therefore never trusts a watch beyond its signs of life ({@link #lastActivity}: the
 * initial list, every event and every bookmark move the informer's resourceVersion) and replaces
 * it ({@link Distrust}) when a request sent after it started timed out, or when it has been silent
 * for a lease duration. A replacement counts as live only once it has listed again, that is once
 * a request went through; one that has not listed a request timeout after it started is replaced
 * as soon as the API server answers again, rather than after the informer's back-off.
 */
final class LeaseWatch implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(LeaseWatch.class);

  /** Why a watch is no longer trusted and is replaced by a new one. */
  enum Distrust {
    /**
     * A Lease request sent after the watch started was not answered in time: the connections to
     * the API server may be dead, the watch's among them.
     */
    REQUEST_TIMED_OUT,
    /** No event, bookmark or list for a lease duration, while the Lease is renewed far more often. */
    SILENT,
    /**
     * Not listed a request timeout after it started, while the API server answers Lease requests:
     * its informer is stuck or waiting out a back-off grown during an outage.
     */
    NOT_LISTED
  }

  private final SharedIndexInformer<Lease> informer;
  private final long startedNanos;
  /** The informer's last failure was an HTTP status: the server answers it (403, 5xx...). */
  private volatile boolean answered;
  /** Owned by the elector thread ({@link #lastActivity}). */
  private String lastVersion;
  private long lastActivityNanos;

  private LeaseWatch(SharedIndexInformer<Lease> informer, long startedNanos) {
    this.informer = informer;
    this.startedNanos = startedNanos;
    this.lastActivityNanos = startedNanos;
  }

  /**
   * Starts watching in the background; returns at once.
   *
   * @param onChange called with the Lease after every change seen; on a delete, with its final
   *     state (when known) and then null
   * @param nowNanos the elector's clock now: when the watch started
   * @param warnedForbidden shared by the watches of one election, so that a watch replaced for
   *     want of permission does not warn again
   */
  static LeaseWatch start(LeaseLock lock, Consumer<Lease> onChange, long nowNanos,
      AtomicBoolean warnedForbidden) {
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
    LeaseWatch watch = new LeaseWatch(informer, nowNanos);
    informer.exceptionHandler((started, t) -> {
      watch.answered = httpStatus(t) > 0;
      if (httpStatus(t) == 403 && warnedForbidden.compareAndSet(false, true)) {
        log.warn("cannot watch lease {}/{} (403): following by polling instead; grant list and"
            + " watch on leases (see k8s/rbac.yaml) for instant takeovers", lock.namespace(),
            lock.name());
      } else {
        log.debug("lease watch interrupted, retrying: {}", t.toString());
      }
      return true;
    });
    informer.start();
    return watch;
  }

  /** The HTTP status behind {@code t}, or 0 if no response arrived. */
  private static int httpStatus(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof KubernetesClientException k && k.getCode() > 0) {
        return k.getCode();
      }
    }
    return 0;
  }

  /** True when the view is complete and current: initial list done and the watch connected. */
  boolean isLive() {
    return informer.hasSynced() && informer.isWatching();
  }

  /** True once the informer has listed the Lease (the view it feeds is complete). */
  boolean hasListed() {
    return informer.hasSynced();
  }

  /**
   * True if it has not listed and the server answered its last attempt with an HTTP status (no
   * list or watch permission, an API server starting): its connection works, its informer
   * retries by itself, and a new one would fare no better.
   */
  boolean refusedByServer() {
    return !informer.hasSynced() && answered;
  }

  /** When it was started (monotonic): a request sent later that times out condemns it. */
  long startedNanos() {
    return startedNanos;
  }

  /**
   * Notes a sign of life seen since the last call: the informer's resourceVersion moves with its
   * list, every event and every bookmark. Called by the elector on each turn.
   *
   * @return when the watch last showed a sign of life (monotonic), its start if never
   */
  long lastActivity(long nowNanos) {
    String version = informer.lastSyncResourceVersion();
    if (version != null && !Objects.equals(version, lastVersion)) {
      lastVersion = version;
      lastActivityNanos = nowNanos;
    }
    return lastActivityNanos;
  }

  @Override
  public void close() {
    informer.close();
  }
}
