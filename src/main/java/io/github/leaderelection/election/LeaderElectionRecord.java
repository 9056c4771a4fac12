package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.LeaseSpec;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;

/**
 * The election's state as stored in the Lease's spec: who holds it, for how long, since when.
 *
 * <p>The timestamps are informational (for {@code kubectl describe lease}); no replica trusts
 * another's clock. Expiry is judged from when a replica itself saw the record last change.
 *
 * @param holderIdentity current leader, or empty when nobody holds the lease (released)
 * @param leaseDurationSeconds how long followers must wait after the last change they observed
 * @param acquireTime when the current holder took the lease
 * @param renewTime when the current holder last renewed it
 * @param leaseTransitions how many times the lease changed hands
 * @param preferredHolder under coordinated election: the candidate the API server wants to lead
 *     next; set while another holds the Lease, it marks the end of that holder's term. Written
 *     by the server only: {@link #applyTo} leaves it as it is.
 */
record LeaderElectionRecord(
    String holderIdentity,
    int leaseDurationSeconds,
    Instant acquireTime,
    Instant renewTime,
    int leaseTransitions,
    String preferredHolder) {

  public LeaderElectionRecord {
    holderIdentity = holderIdentity == null ? "" : holderIdentity;
    preferredHolder = preferredHolder == null ? "" : preferredHolder;
  }

  /** A record as replicas write it: no preferred holder. */
  public LeaderElectionRecord(String holderIdentity, int leaseDurationSeconds, Instant acquireTime,
      Instant renewTime, int leaseTransitions) {
    this(holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaseTransitions, "");
  }

  /** Under coordinated election: the server has asked {@code identity} to give the Lease up. */
  public boolean isEndOfTermFor(String identity) {
    return isHeldBy(identity) && !preferredHolder.isEmpty() && !preferredHolder.equals(identity);
  }

  /** Reads the record from a Lease spec; absent fields become empty/zero. */
  public static LeaderElectionRecord fromSpec(LeaseSpec spec) {
    if (spec == null) {
      return new LeaderElectionRecord("", 0, null, null, 0);
    }
    return new LeaderElectionRecord(
        spec.getHolderIdentity(),
        spec.getLeaseDurationSeconds() == null ? 0 : spec.getLeaseDurationSeconds(),
        toInstant(spec.getAcquireTime()),
        toInstant(spec.getRenewTime()),
        spec.getLeaseTransitions() == null ? 0 : spec.getLeaseTransitions(),
        spec.getPreferredHolder());
  }

  /**
   * Writes this record into a spec, leaving any other spec fields (e.g. a coordinated-election
   * {@code strategy} set by someone else) as they were.
   */
  public void applyTo(LeaseSpec spec) {
    // No holder is written as "", never left out, as client-go writes it: kube-apiserver's
    // coordinated election controller (1.31-1.36) dereferences holderIdentity of an expired Lease
    // without a nil check, and a released Lease without the field panics the whole API server
    // (seen in CoordinatedElectionIT).
    spec.setHolderIdentity(holderIdentity);
    spec.setLeaseDurationSeconds(leaseDurationSeconds);
    spec.setAcquireTime(toZoned(acquireTime));
    spec.setRenewTime(toZoned(renewTime));
    spec.setLeaseTransitions(leaseTransitions);
  }

  /** The record of a Lease that does not exist (never created, or deleted). */
  public static final LeaderElectionRecord ABSENT = new LeaderElectionRecord("", 0, null, null, 0);

  /**
   * The record a holder writes when it gives the Lease up on shutdown: no holder and a lease
   * duration of one second. client-go's release writes exactly this too. It is the only form of
   * "nobody holds it" that a follower takes at once: a holder cleared or a Lease deleted any other
   * way (by hand) keeps the last holder seen until its lease duration has passed.
   */
  public static LeaderElectionRecord released(Instant now, int leaseTransitions) {
    return new LeaderElectionRecord("", 1, now, now, leaseTransitions);
  }

  public boolean isHeld() {
    return !holderIdentity.isEmpty();
  }

  /** Written by a holder's own release (see {@link #released}). */
  public boolean isRelease() {
    return holderIdentity.isEmpty() && leaseDurationSeconds == 1;
  }

  /**
   * {@code leaseTransitions} for the next holder. The field is an int32 in the API: at its maximum
   * a plain increment would be rejected (422) on every takeover, for ever, so it wraps to 0.
   */
  public int nextTransitions() {
    return leaseTransitions == Integer.MAX_VALUE || leaseTransitions < 0 ? 0 : leaseTransitions + 1;
  }

  public boolean isHeldBy(String identity) {
    return holderIdentity.equals(identity);
  }

  private static Instant toInstant(ZonedDateTime t) {
    return t == null ? null : t.toInstant();
  }

  private static ZonedDateTime toZoned(Instant t) {
    return t == null ? null : t.atZone(ZoneOffset.UTC);
  }
}
