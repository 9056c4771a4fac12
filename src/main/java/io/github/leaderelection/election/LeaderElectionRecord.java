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
 */
public record LeaderElectionRecord(
    String holderIdentity,
    int leaseDurationSeconds,
    Instant acquireTime,
    Instant renewTime,
    int leaseTransitions) {

  public LeaderElectionRecord {
    holderIdentity = holderIdentity == null ? "" : holderIdentity;
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
        spec.getLeaseTransitions() == null ? 0 : spec.getLeaseTransitions());
  }

  /**
   * Writes this record into a spec, leaving any other spec fields (e.g. a coordinated-election
   * {@code strategy} set by someone else) as they were.
   */
  public void applyTo(LeaseSpec spec) {
    spec.setHolderIdentity(holderIdentity.isEmpty() ? null : holderIdentity);
    spec.setLeaseDurationSeconds(leaseDurationSeconds);
    spec.setAcquireTime(toZoned(acquireTime));
    spec.setRenewTime(toZoned(renewTime));
    spec.setLeaseTransitions(leaseTransitions);
  }

  public boolean isHeld() {
    return !holderIdentity.isEmpty();
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
