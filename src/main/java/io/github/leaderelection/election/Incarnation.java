package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;

/**
 * Tells two processes with one identity apart. A StatefulSet pod force-deleted on an unreachable
 * node comes back under the same name while the old process may still run, cut off; a copied
 * identity does the same. If a Lease naming our identity counted as ours, the new process would
 * take it back at once and work while the old one's fence still runs.
 *
 * <p>So a holder is an identity <em>and</em> an incarnation: a random id drawn once per election
 * instance, written beside {@code holderIdentity} in the annotation {@value #ANNOTATION} with every
 * write that holds the Lease (and removed by a release). A Lease that names our identity under
 * another incarnation, or under none (written by client-go, by an older version, or by hand), is
 * held by somebody else: it is waited out like any other holder (a lease duration after it was
 * last seen renewing), and {@code kubectl get lease} still shows the pod name. Only our own
 * writes, stored late, are taken back at once.
 *
 * <p>In coordinated mode too. There the API server names the holder by identity and leaves the
 * annotation as it was, so a Lease that names us under another incarnation is also how the
 * server's naming looks: the named replica takes it only once the previous holder's claim has
 * ended (see {@link ElectionRules}).
 */
final class Incarnation {

  /** Where the holder's incarnation is kept on the Lease. */
  static final String ANNOTATION = "leaderelection.github.io/holder-incarnation";

  /** How a holder of our identity under another incarnation is shown (logs, current leader). */
  static final String OTHER_PROCESS = " (another process)";

  private static final SecureRandom RANDOM = new SecureRandom();

  private Incarnation() {
  }

  /** A new incarnation id: 16 hex digits, 64 random bits. */
  static String newId() {
    byte[] bytes = new byte[8];
    RANDOM.nextBytes(bytes);
    return HexFormat.of().formatHex(bytes);
  }

  /** The incarnation written on {@code lease}, or null. */
  static String of(Lease lease) {
    Map<String, String> annotations = lease == null || lease.getMetadata() == null ? null
        : lease.getMetadata().getAnnotations();
    return annotations == null ? null : annotations.get(ANNOTATION);
  }

  /**
   * The Lease's record as the election instance ({@code identity}, {@code incarnation}) must read
   * it: a holder of our identity under another incarnation (or none) is shown as
   * {@code <identity> (another process)}, so every rule treats it as somebody else.
   *
   * @param incarnation ours, or null to compare identities only
   */
  static LeaderElectionRecord seenBy(Lease lease, String identity, String incarnation) {
    LeaderElectionRecord record = LeaderElectionRecord.fromSpec(lease.getSpec());
    if (incarnation == null || !record.isHeldBy(identity)
        || incarnation.equals(of(lease))) {
      return record;
    }
    return new LeaderElectionRecord(identity + OTHER_PROCESS, record.leaseDurationSeconds(),
        record.acquireTime(), record.renewTime(), record.leaseTransitions(),
        record.preferredHolder());
  }

  /**
   * Whether {@code holder}, as {@link #seenBy} shows it, is our {@code identity} under another
   * incarnation (or none).
   */
  static boolean isAnotherProcessOf(String holder, String identity) {
    return holder.equals(identity + OTHER_PROCESS);
  }

  /** As {@link #seenBy(Lease, String, String)}, for the election {@code config} describes. */
  static LeaderElectionRecord seenBy(Lease lease, ElectionConfig config) {
    return seenBy(lease, config.identity(), config.ownIncarnation());
  }
}
