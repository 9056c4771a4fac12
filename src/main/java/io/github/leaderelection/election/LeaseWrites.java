package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The Lease objects this replica writes, built in one place (the API client and the simulation
 * send exactly these).
 *
 * <p>A held Lease carries the finalizer {@value #FINALIZER}. A {@code kubectl delete} of it then
 * only marks it for deletion: the holder stays visible to everyone, nobody can mistake the missing
 * Lease for a free one while the holder may still be working, and the deletion completes when the
 * holder has stopped and released it, or when another replica has waited out its claim (the
 * "finish delete" write, which removes the finalizer). Without it, no rule based on what a replica
 * observed can make a hand delete safe: a replica that did not see the holder, or missed a create
 * and the delete after it, cannot tell a deleted Lease from one that never existed. A release
 * removes the finalizer too, so an unheld Lease can always be deleted at once.
 *
 * <p><b>Another controller's finalizer</b> beside ours changes one thing: removing ours no longer
 * completes a deletion, and while the old Lease exists no new one can be created (409
 * AlreadyExists, "object is being deleted"). Ours is then never removed while another finalizer
 * remains (a release keeps it): the Lease stays protected, and the election goes on on it, marked
 * for deletion, until the other controller removes its finalizer; the deletion then completes
 * through us as above. No finalizer can be added to a Lease being deleted (422 Forbidden), so a
 * Lease being deleted that carries another controller's finalizer but not ours cannot be made
 * safe to hold (it may vanish under its holder at any moment, and a replica that never saw the
 * holder would then create a new one): nobody holds it, and a new Lease is created once it is
 * gone (see {@link ElectionRules}).
 */
final class LeaseWrites {

  /** Held by whoever holds the Lease: see the class comment. */
  public static final String FINALIZER = "leaderelection.github.io/holder";

  private LeaseWrites() {
  }

  /** The Lease to create, holding {@code record}. */
  public static Lease forCreate(String namespace, String name, LeaderElectionRecord record,
      Map<String, String> labels, boolean finalize) {
    return forCreate(namespace, name, record, labels, finalize, null);
  }

  /**
   * The Lease to create, holding {@code record} under {@code incarnation} (see
   * {@link Incarnation}; null writes none).
   */
  public static Lease forCreate(String namespace, String name, LeaderElectionRecord record,
      Map<String, String> labels, boolean finalize, String incarnation) {
    LeaseSpec spec = new LeaseSpec();
    record.applyTo(spec);
    Lease lease = new LeaseBuilder()
        .withNewMetadata().withNamespace(namespace).withName(name).endMetadata()
        .withSpec(spec)
        .build();
    finish(lease, record, labels, finalize, incarnation);
    return lease;
  }

  /**
   * {@code base} with {@code record} written into it; conditional on {@code base}'s resourceVersion
   * when sent as an update.
   */
  public static Lease forUpdate(Lease base, LeaderElectionRecord record, Map<String, String> labels,
      boolean finalize) {
    return forUpdate(base, record, labels, finalize, null);
  }

  /**
   * {@code base} with {@code record} written into it under {@code incarnation} (see
   * {@link Incarnation}: set while the record is held, removed by a release; null leaves the
   * annotation as it is).
   */
  public static Lease forUpdate(Lease base, LeaderElectionRecord record, Map<String, String> labels,
      boolean finalize, String incarnation) {
    Lease next = new LeaseBuilder(base).build();
    if (next.getSpec() == null) {
      next.setSpec(new LeaseSpec());
    }
    record.applyTo(next.getSpec());
    finish(next, record, labels, finalize, incarnation);
    return next;
  }

  /** Marked for deletion ({@code kubectl delete} of a Lease with the finalizer). */
  public static boolean isDeleting(Lease lease) {
    return lease != null && lease.getMetadata() != null
        && lease.getMetadata().getDeletionTimestamp() != null;
  }

  /** The Lease's finalizers (never null). */
  static List<String> finalizers(Lease lease) {
    return lease == null || lease.getMetadata() == null
        || lease.getMetadata().getFinalizers() == null ? List.of()
        : lease.getMetadata().getFinalizers();
  }

  /** Carries our finalizer. */
  static boolean hasOurFinalizer(Lease lease) {
    return finalizers(lease).contains(FINALIZER);
  }

  /** Carries a finalizer other than ours: removing ours alone does not complete a deletion. */
  static boolean hasOtherFinalizers(Lease lease) {
    return finalizers(lease).stream().anyMatch(f -> !FINALIZER.equals(f));
  }

  private static void finish(Lease lease, LeaderElectionRecord record, Map<String, String> labels,
      boolean finalize, String incarnation) {
    if (incarnation != null) {
      Map<String, String> annotations = new TreeMap<>();
      if (lease.getMetadata().getAnnotations() != null) {
        annotations.putAll(lease.getMetadata().getAnnotations());
      }
      if (record.isHeld()) {
        annotations.put(Incarnation.ANNOTATION, incarnation);
      } else {
        annotations.remove(Incarnation.ANNOTATION); // released: no holder, no incarnation
      }
      lease.getMetadata().setAnnotations(annotations.isEmpty() ? null : annotations);
    }
    if (!labels.isEmpty()) {
      Map<String, String> merged = new TreeMap<>();
      if (lease.getMetadata().getLabels() != null) {
        merged.putAll(lease.getMetadata().getLabels());
      }
      merged.putAll(labels);
      lease.getMetadata().setLabels(merged);
    }
    if (!finalize) {
      return;
    }
    List<String> finalizers = lease.getMetadata().getFinalizers() == null ? new ArrayList<>()
        : new ArrayList<>(lease.getMetadata().getFinalizers());
    if (!record.isHeld()) {
      // Released, or a deletion finished off: nobody to protect. But while another controller's
      // finalizer holds the Lease, removing ours completes nothing, and ours could never be put
      // back on it once it is being deleted: it stays, so the next holder is protected too.
      if (!hasOtherFinalizers(lease)) {
        finalizers.remove(FINALIZER);
      }
    } else if (!isDeleting(lease) && !finalizers.contains(FINALIZER)) {
      finalizers.add(FINALIZER); // (no new finalizer may be added to a Lease being deleted)
    }
    lease.getMetadata().setFinalizers(finalizers.isEmpty() ? null : finalizers);
  }
}
