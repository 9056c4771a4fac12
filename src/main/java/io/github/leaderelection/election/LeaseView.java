package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import java.util.concurrent.locks.ReentrantLock;

/**
 * What this replica has seen of the Lease, and when, on its own monotonic clock: the one store of
 * observations, written by the elector (answers to its requests) and by the watch, read by the
 * elector's rules and by the health endpoints. One lock (not a monitor) guards it all.
 *
 * <p>Besides the current record it remembers the <em>last holder seen</em> and when that holder
 * was last seen renewing. A Lease deleted or cleared by hand does not end that holder's claim: it
 * may still be working, and it keeps the claim until its lease duration has passed since this
 * replica last saw it renew. Only the holder's own release (see
 * {@link LeaderElectionRecord#isRelease()}) ends the claim at once.
 */
final class LeaseView {

  /**
   * One consistent reading of the view.
   *
   * @param known an answer from the API server (or the watch) has been seen at all
   * @param lease the Lease as last seen, null when it does not exist
   * @param record its record ({@link LeaderElectionRecord#ABSENT} when it does not exist)
   * @param observedAt when the record last changed, as far as this replica saw
   * @param durationNanos the record's lease duration (this replica's own if the record has none)
   * @param lastHolder the last non-empty holder seen, or empty when none was seen or it released
   * @param lastHolderDurationNanos the lease duration that holder wrote
   * @param lastHolderSeenAt when this replica last saw that holder write (acquire or renew)
   * @param version increments on every change of the record, or of the Lease's existence
   */
  public record Snapshot(boolean known, Lease lease, LeaderElectionRecord record, long observedAt,
      long durationNanos, String lastHolder, long lastHolderDurationNanos, long lastHolderSeenAt, long version) {

    public boolean exists() {
      return lease != null;
    }

    /** Marked for deletion: {@code kubectl delete} of a Lease that carries the holder's finalizer. */
    public boolean deleting() {
      return LeaseWrites.isDeleting(lease);
    }

    /**
     * Marked for deletion, but another controller's finalizer holds it too: removing ours would
     * not complete the deletion (see {@link LeaseWrites}).
     */
    public boolean deletionHeldByOthers() {
      return deleting() && LeaseWrites.hasOtherFinalizers(lease);
    }

    /** Carries our finalizer: it cannot vanish while a replica holds it. */
    public boolean protectedByUs() {
      return LeaseWrites.hasOurFinalizer(lease);
    }

    /** The holder's claim as this replica sees it: the record's holder, else the last one seen. */
    public boolean lastHolderKnown() {
      return !lastHolder.isEmpty();
    }
  }

  /** Not a monitor: the renewal path never pins a virtual thread. */
  private final ReentrantLock lock = new ReentrantLock();
  private final long defaultDurationNanos;
  private final String identity;
  private final String incarnation;
  private boolean known;
  private Lease lease;
  private LeaderElectionRecord record = LeaderElectionRecord.ABSENT;
  private long observedAt;
  private String lastHolder = "";
  private long lastHolderDurationNanos;
  private long lastHolderSeenAt;
  private long version;

  /**
   * @param defaultDurationNanos this replica's own lease duration, used for a record that carries
   *     none (rather than treating such a record as expired)
   */
  public LeaseView(long defaultDurationNanos) {
    this(defaultDurationNanos, null, null);
  }

  /**
   * The view of the election instance ({@code identity}, {@code incarnation}): a Lease naming our
   * identity under another incarnation is seen as held by somebody else (see
   * {@link Incarnation}).
   *
   * @param incarnation ours, or null to compare identities only
   */
  public LeaseView(long defaultDurationNanos, String identity, String incarnation) {
    this.defaultDurationNanos = defaultDurationNanos;
    this.identity = identity;
    this.incarnation = incarnation;
  }

  /**
   * Records the Lease as seen at {@code now} (null: it does not exist). A Lease older than the one
   * already seen (a watch event overtaken by our own write) is ignored.
   *
   * @return true if the record (or the Lease's existence) changed
   */
  public boolean observe(Lease seen, long now) {
    lock.lock();
    try {
      boolean firstAnswer = !known;
      known = true;
      if (seen == null) {
        boolean changed = lease != null || firstAnswer;
        lease = null;
        if (changed) {
          record = LeaderElectionRecord.ABSENT;
          observedAt = now;
          version++;
        }
        return changed;
      }
      if (lease != null && isOlder(seen, lease)) {
        return false;
      }
      LeaderElectionRecord next = identity == null ? LeaderElectionRecord.fromSpec(seen.getSpec())
          : Incarnation.seenBy(seen, identity, incarnation);
      boolean changed = lease == null || !next.equals(record);
      // Being marked for deletion is news (it changes what may be done), and so is a change of
      // the finalizers that hold a Lease being deleted; but neither is a renewal: the holder's
      // claim is still counted from its last write.
      boolean deletionNews = deletionState(seen) != deletionState(lease);
      lease = seen;
      if (deletionNews && !changed) {
        version++;
        return true;
      }
      if (changed) {
        record = next;
        observedAt = now;
        version++;
        if (next.isHeld()) {
          lastHolder = next.holderIdentity();
          lastHolderDurationNanos = durationNanos(next);
          lastHolderSeenAt = now;
        } else if (next.isRelease()) {
          lastHolder = "";
        }
      }
      return changed;
  
    } finally {
      lock.unlock();
    }
  }

  public Snapshot snapshot() {
    lock.lock();
    try {
      return new Snapshot(known, lease, record, observedAt, durationNanos(record), lastHolder, lastHolderDurationNanos,
          lastHolderSeenAt, version);
  
    } finally {
      lock.unlock();
    }
  }

  /** An answer about the Lease has been seen (from a request or the watch). */
  public boolean known() {
    lock.lock();
    try {
      return known;
  
    } finally {
      lock.unlock();
    }
  }

  public String holder() {
    lock.lock();
    try {
      return record.holderIdentity();
  
    } finally {
      lock.unlock();
    }
  }

  public long version() {
    lock.lock();
    try {
      return version;
  
    } finally {
      lock.unlock();
    }
  }

  /** The duration the holder wrote; if missing, our own, rather than treating it as expired. */
  long durationNanos(LeaderElectionRecord r) {
    return r.leaseDurationSeconds() > 0 ? r.leaseDurationSeconds() * 1_000_000_000L
        : defaultDurationNanos;
  }

  /**
   * What a Lease's deletion state allows: not being deleted (0); being deleted, and held by our
   * finalizer only (1), by others' only (2), or by both (3).
   */
  private static int deletionState(Lease lease) {
    if (!LeaseWrites.isDeleting(lease)) {
      return 0;
    }
    return (LeaseWrites.hasOurFinalizer(lease) ? 1 : 0)
        + (LeaseWrites.hasOtherFinalizers(lease) ? 2 : 0);
  }

  /**
   * resourceVersions are opaque, but in every API server backed by etcd they are increasing
   * integers; comparing them only ever drops an event that is provably stale. Anything that does
   * not parse is accepted (and a stale view is safe anyway: a write based on it gets 409).
   */
  static boolean isOlder(Lease candidate, Lease current) {
    try {
      return Long.parseLong(candidate.getMetadata().getResourceVersion())
          < Long.parseLong(current.getMetadata().getResourceVersion());
    } catch (RuntimeException e) {
      return false;
    }
  }
}
