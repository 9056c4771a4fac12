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
 * {@link LeaderElectionRecord#isRelease()}) ends the claim at once. Only a holder's own write
 * (which always carries an {@code acquireTime}) starts or extends a claim: the coordinated
 * election controller of the API server names a holder without one, and its naming is nobody's
 * renewal, so the claim of the holder before it runs on.
 *
 * <p>The view also remembers whether its very first answer told who last held the Lease. A first
 * answer that shows it missing, cleared by hand, or named by the server does not: somebody this
 * replica never saw may have held it until just before, so such a view carries an
 * <em>unattributed claim</em> of one lease duration from that answer.
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
   * @param unattributedUntil the end of the unattributed claim (see {@link LeaseView}), or
   *     {@link Long#MIN_VALUE} when the first answer named a holder, or a release
   * @param namingUnaccountedUntil for a record the server named (held, no acquireTime): if this
   *     replica cannot tell who wrote the Lease last before that naming, one lease duration from
   *     when it first saw the naming; else {@link Long#MIN_VALUE} (see {@link #observe})
   */
  public record Snapshot(boolean known, Lease lease, LeaderElectionRecord record, long observedAt,
      long durationNanos, String lastHolder, long lastHolderDurationNanos, long lastHolderSeenAt,
      long version, long unattributedUntil, long namingUnaccountedUntil) {

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
  private long unattributedUntil = Long.MIN_VALUE;
  /** The incarnation annotation and the uid of the Lease on the last holder write or release seen. */
  private String lastWriterIncarnation;
  private String lastWriterUid;
  private long namingUnaccountedUntil = Long.MIN_VALUE;

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
        if (firstAnswer) {
          unattributedUntil = now + defaultDurationNanos;
        }
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
      boolean holderWrote = next.isHeld() && next.acquireTime() != null;
      if (firstAnswer && !holderWrote && !next.isRelease()) {
        unattributedUntil = now + defaultDurationNanos;
      }
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
        namingUnaccountedUntil = Long.MIN_VALUE;
        if (holderWrote) {
          lastHolder = next.holderIdentity();
          lastHolderDurationNanos = durationNanos(next);
          lastHolderSeenAt = now;
          lastWriterIncarnation = Incarnation.of(seen);
          lastWriterUid = seen.getMetadata().getUid();
        } else if (next.isRelease()) {
          lastHolder = "";
          lastWriterIncarnation = null;
          lastWriterUid = seen.getMetadata().getUid();
        } else if (next.isHeld() && !accountedFor(seen)) {
          // Named by the server over a state this replica did not see last: whoever wrote the
          // Lease in between (a twin, a holder seen by others only, an object re-created after a
          // delete) may still work. Such a holder is waited out like one seen just now.
          namingUnaccountedUntil = now + defaultDurationNanos;
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
      return new Snapshot(known, lease, record, observedAt, durationNanos(record), lastHolder,
          lastHolderDurationNanos, lastHolderSeenAt, version, unattributedUntil,
          namingUnaccountedUntil);
  
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

  /**
   * Whether a Lease the server named was last written, before the naming, by the holder write or
   * the release this replica saw last: the naming keeps metadata as it was, so the same object
   * (uid) carrying the same holder incarnation (none after a release, which removes it) shows
   * that nobody of ours wrote in between.
   */
  private boolean accountedFor(Lease named) {
    return lastWriterUid != null && lastWriterUid.equals(named.getMetadata().getUid())
        && java.util.Objects.equals(lastWriterIncarnation, Incarnation.of(named));
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
