package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import java.util.function.Consumer;

/**
 * One replica's watch of the Lease, like the fabric8 informer behind {@link LeaseWatch}: a list,
 * then an ordered stream of changes, each delivered after its own delay. The stream can break
 * (a gap: the change that broke it and those after are lost); the client notices after a while
 * ({@link #live()} turns false and the Campaign polls), reconnects, and relists: the current state
 * is delivered, a deletion only if its cache still held the Lease.
 *
 * <p>Deliveries are what {@link LeaseWatch} hands the view: a DELETED event as the object's final
 * state, then null (one delivery: the handler calls both in a row); a relist that no longer finds
 * the Lease its cache held as null only (the informer's {@code DeletedFinalStateUnknown} carries
 * the last object it knew, which is stale, and {@link LeaseWatch} passes no state for it).
 */
final class SimWatch {

  private final SimWorld world;
  private final SimReplica replica;
  private final Consumer<SimApiServer.Change> feed = this::changed;
  private boolean connected;
  private boolean live;
  private boolean closed;
  private boolean cacheHasLease;
  private long lastDeliveryAt;
  private long breaks;

  SimWatch(SimWorld world, SimReplica replica) {
    this.world = world;
    this.replica = replica;
  }

  /** Synced and watching: what the Campaign's {@code watchLive} supplier reads. */
  boolean live() {
    return live;
  }

  void start() {
    world.scheduler().after(world.latency(), this::connect);
  }

  void close() {
    closed = true;
    connected = false;
    live = false;
    world.server().removeWatcher(feed);
  }

  /** The stream breaks now; the client notices soon and reconnects after {@code downNanos}. */
  void breakFor(long downNanos) {
    if (closed || !connected) {
      return;
    }
    world.server().removeWatcher(feed);
    connected = false;
    long generation = ++breaks;
    long noticeAfter = world.uniform(0, Math.min(downNanos, 2_000_000_000L));
    world.scheduler().after(noticeAfter, () -> {
      if (breaks == generation && !connected) {
        live = false;
      }
    });
    world.scheduler().at(world.clipToQuiet(world.now() + downNanos), this::connect);
  }

  private void connect() {
    if (closed || connected) {
      return;
    }
    if (replica.partitioned() || world.server().frozenUntil() > world.now()) {
      world.scheduler().after(world.uniform(200_000_000L, 1_000_000_000L), this::connect);
      return;
    }
    connected = true;
    world.server().addWatcher(feed);
    deliver(world.server().current(), false, true);
  }

  private void changed(SimApiServer.Change change) {
    if (world.watchGap()) {
      world.trace(replica, "watch gap");
      breakFor(world.uniform(100_000_000L, 10_000_000_000L));
      return;
    }
    deliver(change.lease(), change.deleted(), false);
  }

  /**
   * @param lease the Lease (a relist: null when there is none), or with {@code deleted} its final
   *     state
   */
  private void deliver(Lease lease, boolean deleted, boolean relist) {
    long at = Math.max(lastDeliveryAt, world.now() + world.watchLatency());
    lastDeliveryAt = at;
    world.scheduler().at(at, () -> replica.deliver(() -> {
      if (closed) {
        return;
      }
      if (relist) {
        live = connected; // unless it broke again meanwhile
        if (lease == null && !cacheHasLease) {
          return; // the informer has nothing to say about a Lease it never had
        }
      }
      if (deleted) {
        cacheHasLease = false;
        replica.observeDeleted(lease);
        return;
      }
      cacheHasLease = lease != null;
      replica.observe(lease);
    }));
  }
}
