package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseSpec;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * The API server, reduced to one Lease with Kubernetes semantics: a resourceVersion from one
 * counter that every write (deletes too) advances, as etcd's revision does; updates conditional on
 * it (409 when stale, 404 when the Lease is gone) and on the uid (a re-created Lease is another
 * object); 409 on creating what exists (even while it is being deleted); no-op updates keep the
 * version; MicroTime stored to the microsecond; 422 for what validation rejects. Objects are copied
 * in and out: fabric8's model classes are mutable, and nobody may share the server's copy.
 *
 * <p>What a replica sends is built by {@link LeaseWrites}, exactly as the real client builds it
 * ({@link Campaign.Request#toSend()}), and the server applies Kubernetes' finalizer rules to it:
 * <ul>
 *   <li>a delete of an object with finalizers only sets {@code metadata.deletionTimestamp} (a new
 *       resourceVersion, a MODIFIED event; GET still returns it); a second delete changes nothing;
 *   <li>an update may not add a finalizer to an object being deleted (422);
 *   <li>an update that leaves an object being deleted without finalizers deletes it, as the real
 *       API server does (registry {@code Store.Update}, {@code deleteWithoutFinalizers}): that
 *       update's body is never stored. The reply is 200 with the body as sent ("clients are
 *       expecting an updated object if a PUT succeeded"), its resourceVersion still the one it
 *       was conditional on; watchers see a DELETED event carrying the <em>last stored</em> state
 *       (etcd's previous value, at the delete's revision): for a finished deletion, the holder's
 *       record, not the release that finished it;
 *   <li>a delete of an object without finalizers removes it at once (DELETED with its final state).
 * </ul>
 * {@code deletionTimestamp} and the uid are the server's: an update cannot change them.
 *
 * <p>Besides the Lease, the server keeps a second object: the <em>work record</em>, which the
 * leaders' units write through fenced writes ({@link #fencedWrite}). Its writes advance the same
 * revision counter (it is another key of the same etcd), so the Lease's resourceVersions, and with
 * them the fencing tokens ({@link Campaign#fencingToken}), grow with gaps, as in a real cluster.
 */
final class SimApiServer {

  static final String NAMESPACE = "default";
  static final String NAME = "sim";
  /** The server's own wall clock, for deletionTimestamp only (nobody compares it). */
  static final Instant EPOCH = Instant.parse("2026-11-24T00:00:00Z");

  /**
   * One watch event: the Lease after a change (ADDED or MODIFIED), or, with {@code deleted}, its
   * final state (DELETED).
   */
  record Change(Lease lease, boolean deleted) {
  }

  private final List<Consumer<Change>> watchers = new ArrayList<>();
  private Lease stored;
  private long resourceVersion = 100;
  private int uids;
  /** The server answers nothing until then (an etcd stall); requests wait in arrival order. */
  private long frozenUntil;
  private long lastReleaseStoredAt = -1;
  private long writes;
  private int deletionsMarked;
  private int deletionsFinished;
  private final List<String> invalid = new ArrayList<>();
  private final java.util.function.LongSupplier clock;
  // The work record.
  private boolean fencing = true;
  /** The token stored in the work record, -1 before its first write (as for an unfenced object). */
  private long recordToken = -1;
  private String recordWriter = "";
  /** The highest token of any accepted write, and who wrote under it. */
  private long highestAccepted = -1;
  private String highestWriter = "";
  private long fencedAccepted;
  private long fencedRefused;
  private final List<String> staleAccepted = new ArrayList<>();

  /** @param clock simulated real time, for deletionTimestamp */
  SimApiServer(java.util.function.LongSupplier clock) {
    this.clock = clock;
  }

  /** {@code watcher} sees every change, in order; each gets its own copy. */
  void addWatcher(Consumer<Change> watcher) {
    watchers.add(watcher);
  }

  void removeWatcher(Consumer<Change> watcher) {
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

  /** When a holder's release (a RELEASE write) was last applied, -1 if never. */
  long lastReleaseStoredAt() {
    return lastReleaseStoredAt;
  }

  long writes() {
    return writes;
  }

  /** The writes rejected as invalid (422), one line each: the elector never sends one. */
  List<String> invalid() {
    return invalid;
  }

  /** Hand deletes that only marked the Lease, and updates that then completed a deletion. */
  int[] deletions() {
    return new int[] {deletionsMarked, deletionsFinished};
  }

  /** Carries out one request that reached the server at {@code now}. */
  Campaign.Reply handle(Campaign.Request request, long now) {
    Campaign.Reply reply = switch (request.verb()) {
      case GET -> Campaign.Reply.ok(copy(stored));
      case CREATE -> create(request);
      case UPDATE -> update(request);
      default -> throw new IllegalArgumentException(request.verb().name());
    };
    if (request.purpose() == Campaign.Purpose.RELEASE && reply.failure() == null) {
      lastReleaseStoredAt = now;
    }
    return reply;
  }

  /** What the client sends: the object {@link LeaseWrites} built for the request. */
  private static Lease sent(Campaign.Request request) {
    return copy(request.toSend());
  }

  private Campaign.Reply create(Campaign.Request request) {
    if (stored != null) {
      return fail(request, 409, "AlreadyExists", "leases.coordination.k8s.io \"sim\" already exists");
    }
    Lease lease = sent(request);
    lease.getMetadata().setNamespace(NAMESPACE);
    lease.getMetadata().setName(NAME);
    lease.getMetadata().setUid("uid-" + (++uids));
    lease.getMetadata().setResourceVersion(null);
    lease.getMetadata().setDeletionTimestamp(null);
    lease.getMetadata().setDeletionGracePeriodSeconds(null);
    if (lease.getSpec() == null) {
      lease.setSpec(new LeaseSpec());
    }
    Campaign.Reply invalid = validate(request, lease);
    if (invalid != null) {
      return invalid;
    }
    put(lease);
    return Campaign.Reply.ok(copy(stored));
  }

  private Campaign.Reply update(Campaign.Request request) {
    if (stored == null) {
      return fail(request, 404, "NotFound", "leases.coordination.k8s.io \"sim\" not found");
    }
    Lease next = sent(request);
    String uid = next.getMetadata().getUid();
    if (uid != null && !uid.equals(stored.getMetadata().getUid())) {
      return fail(request, 409, "Conflict", "Precondition failed: UID in precondition: " + uid
          + ", UID in object meta: " + stored.getMetadata().getUid());
    }
    if (!Objects.equals(next.getMetadata().getResourceVersion(),
        stored.getMetadata().getResourceVersion())) {
      return fail(request, 409, "Conflict", "the object has been modified; please apply your"
          + " changes to the latest version and try again");
    }
    // The server's fields: whatever the body says, they stay as stored.
    next.getMetadata().setUid(stored.getMetadata().getUid());
    next.getMetadata().setDeletionTimestamp(stored.getMetadata().getDeletionTimestamp());
    next.getMetadata().setDeletionGracePeriodSeconds(
        stored.getMetadata().getDeletionGracePeriodSeconds());
    if (next.getSpec() == null) {
      next.setSpec(new LeaseSpec());
    }
    boolean deleting = LeaseWrites.isDeleting(stored);
    if (deleting) {
      for (String f : finalizers(next)) {
        if (!finalizers(stored).contains(f)) {
          return fail(request, 422, "Invalid", "Lease.coordination.k8s.io \"sim\" is invalid:"
              + " metadata.finalizers: Forbidden: no new finalizers can be added if the object is"
              + " being deleted, found new finalizers []string{\"" + f + "\"}");
        }
      }
    }
    Campaign.Reply invalid = validate(request, next);
    if (invalid != null) {
      return invalid;
    }
    if (deleting && finalizers(next).isEmpty()) {
      remove(); // the last finalizer is gone: so is the object
      deletionsFinished++;
      return Campaign.Reply.ok(next);
    }
    if (next.getSpec().equals(stored.getSpec())
        && finalizers(next).equals(finalizers(stored))
        && Objects.equals(labels(next), labels(stored))) {
      return Campaign.Reply.ok(copy(stored)); // a no-op update: nothing stored, no new version
    }
    if (deleting && finalizers(next).contains(FOREIGN_FINALIZER) && next.getSpec()
        .getHolderIdentity() != null && !next.getSpec().getHolderIdentity().isEmpty()) {
      heldWhileForeignDeleting++;
    }
    put(next);
    return Campaign.Reply.ok(copy(stored));
  }

  private Campaign.Reply validate(Campaign.Request request, Lease lease) {
    LeaseSpec spec = lease.getSpec();
    if (spec.getLeaseTransitions() != null && spec.getLeaseTransitions() < 0
        || spec.getLeaseDurationSeconds() != null && spec.getLeaseDurationSeconds() <= 0) {
      return fail(request, 422, "Invalid", "Lease.coordination.k8s.io \"sim\" is invalid");
    }
    truncateToMicros(spec);
    return null;
  }

  // ---------------------------------------------------------------------------------------------
  // The work record

  /** What the server did with one fenced write. */
  enum Fenced { ACCEPTED, REFUSED }

  /**
   * With {@code false}, the server stores every write of the work record, whatever its token: the
   * fencing rule is off, to show that the checker sees stale writes land.
   */
  void fencing(boolean on) {
    this.fencing = on;
  }

  /**
   * A fenced write of the work record under {@code token}, which reached the server at
   * {@code now}: decided here, in one step, with the library's own rule
   * ({@link FencedWriter#admits}). That is what {@link FencedWriter}'s GET, check, and update
   * conditional on the resourceVersion it read amount to: the update lands only on the object it
   * checked (else 409, and it reads and checks again), so the check and the write act as one
   * compare-and-set on the server.
   *
   * <p>A write accepted under a token below one accepted earlier is a stale write that landed:
   * the safety violation fencing exists to prevent ({@link #staleAccepted()}).
   */
  Fenced fencedWrite(String writer, long token, long now) {
    if (fencing && !FencedWriter.admits(recordToken, token)) {
      fencedRefused++;
      return Fenced.REFUSED;
    }
    if (token < highestAccepted) {
      staleAccepted.add("stale fenced write accepted at " + SimWorld.seconds(now) + ": " + writer
          + " under token " + token + ", after " + highestWriter + " under token "
          + highestAccepted + " (the record held " + recordToken + " by " + recordWriter + ")");
    } else {
      highestAccepted = token;
      highestWriter = writer;
    }
    recordToken = token;
    recordWriter = writer;
    fencedAccepted++;
    resourceVersion++; // another key of the same store: the revision moves on
    return Fenced.ACCEPTED;
  }

  /** The token stored in the work record, -1 before the first write. */
  long recordToken() {
    return recordToken;
  }

  /** Fenced writes stored. */
  long fencedAccepted() {
    return fencedAccepted;
  }

  /** Fenced writes refused because the record held a newer token ({@code stored > token}). */
  long fencedRefused() {
    return fencedRefused;
  }

  /** The stale writes that landed, one line each: must stay empty while fencing is on. */
  List<String> staleAccepted() {
    return staleAccepted;
  }

  // ---------------------------------------------------------------------------------------------
  // Hand edits, as with kubectl: unconditional, on whatever is stored.

  /**
   * {@code kubectl delete lease}: with the holder's finalizer on it, the Lease is only marked for
   * deletion (it stays, and whoever holds it keeps it visibly); without, it is gone at once.
   *
   * <p>Removing the finalizer by hand ({@link #handRemoveFinalizers()}) is not among the random
   * faults: it is an operator overriding the one mechanism that keeps a hand-deleted Lease visible
   * while its holder may still be working. After it, a replica that never saw the holder (or
   * missed a create and the delete after it) cannot tell the missing Lease from one that never
   * existed, which no rule based on observations can make safe (defects A and D). An overlap after
   * such an override is the operator's, not the elector's; one scripted test shows it happen.
   */
  void handDelete() {
    if (stored == null) {
      return;
    }
    if (finalizers(stored).isEmpty()) {
      remove();
      return;
    }
    if (LeaseWrites.isDeleting(stored)) {
      return; // already being deleted: nothing changes
    }
    if (finalizers(stored).contains(FOREIGN_FINALIZER)) {
      foreignDeletes++;
      if (!finalizers(stored).contains(LeaseWrites.FINALIZER)) {
        foreignOnlyDeletes++;
      }
    }
    Lease next = copy(stored);
    next.getMetadata().setDeletionTimestamp(
        EPOCH.plusNanos(clock.getAsLong()).truncatedTo(ChronoUnit.SECONDS).toString());
    next.getMetadata().setDeletionGracePeriodSeconds(0L);
    deletionsMarked++;
    put(next);
  }

  /**
   * {@code kubectl patch lease sim --type=merge -p '{"metadata":{"finalizers":null}}'}: an
   * explicit override, outside the safety contract (see {@link #handDelete()}). A Lease being
   * deleted is then gone.
   */
  void handRemoveFinalizers() {
    if (stored == null || finalizers(stored).isEmpty()) {
      return;
    }
    if (LeaseWrites.isDeleting(stored)) {
      remove();
      return;
    }
    Lease next = copy(stored);
    next.getMetadata().setFinalizers(null);
    put(next);
  }

  /** The finalizer of another controller that also manages the Lease (issue 18). */
  static final String FOREIGN_FINALIZER = "example.com/other-controller";
  private int foreignAdded;
  private int foreignRemoved;
  /** Hand deletes that marked a Lease carrying the other controller's finalizer. */
  private int foreignDeletes;
  /** Of those, the ones whose Lease did not carry ours: nobody may hold it until it is gone. */
  private int foreignOnlyDeletes;
  /** Writes of a held record stored on a Lease being deleted that the other finalizer holds. */
  private int heldWhileForeignDeleting;

  /**
   * Another controller adds its finalizer to the Lease, or removes it again, as it sees fit: added
   * only while the Lease is not being deleted (Kubernetes refuses new finalizers then), removed
   * at any time; if it was the last finalizer of a Lease being deleted, the Lease is gone.
   */
  void foreignController() {
    if (stored == null) {
      return;
    }
    if (finalizers(stored).contains(FOREIGN_FINALIZER)) {
      foreignLetsGo();
    } else if (!LeaseWrites.isDeleting(stored)) {
      Lease next = copy(stored);
      List<String> f = new ArrayList<>(finalizers(next));
      f.add(FOREIGN_FINALIZER);
      next.getMetadata().setFinalizers(f);
      foreignAdded++;
      put(next);
    }
  }

  /** The other controller removes its finalizer, if it is on the Lease. */
  void foreignLetsGo() {
    if (stored == null || !finalizers(stored).contains(FOREIGN_FINALIZER)) {
      return;
    }
    Lease next = copy(stored);
    List<String> f = new ArrayList<>(finalizers(next));
    f.remove(FOREIGN_FINALIZER);
    next.getMetadata().setFinalizers(f.isEmpty() ? null : f);
    foreignRemoved++;
    if (LeaseWrites.isDeleting(stored) && f.isEmpty()) {
      remove();
      deletionsFinished++;
      return;
    }
    put(next);
  }

  /**
   * A Lease being deleted that only the other controller's finalizer holds: nobody may hold it
   * (ours can no longer be added), so a leader exists only once that controller lets go.
   */
  boolean blockedByForeignFinalizer() {
    return stored != null && LeaseWrites.isDeleting(stored)
        && finalizers(stored).contains(FOREIGN_FINALIZER)
        && !finalizers(stored).contains(LeaseWrites.FINALIZER);
  }

  /**
   * The other controller's finalizer: added, removed, hand deletes it held up, held records
   * written on a Lease it held up while being deleted (the election going on on it), and hand
   * deletes of a Lease that carried it but not ours.
   */
  int[] foreignFinalizers() {
    return new int[] {foreignAdded, foreignRemoved, foreignDeletes, heldWhileForeignDeleting,
        foreignOnlyDeletes};
  }

  // ---------------------------------------------------------------------------------------------
  // The coordinated election controller's writes (SimElectionController)

  /** The server's own wall clock, which the coordinated election controller compares with. */
  Instant wallNow() {
    return EPOCH.plusNanos(clock.getAsLong());
  }

  /**
   * The election controller creates the Lease naming {@code holder}: no finalizer, no annotation,
   * no acquireTime; its renewTime on the server's clock.
   *
   * @return false if a Lease exists (the controller then reads it and updates it instead)
   */
  boolean controllerCreate(String holder, int durationSeconds) {
    if (stored != null) {
      return false;
    }
    Lease lease = new LeaseBuilder().withNewMetadata().withNamespace(NAMESPACE).withName(NAME)
        .withUid("uid-" + (++uids)).endMetadata().withNewSpec().withHolderIdentity(holder)
        .withLeaseDurationSeconds(durationSeconds)
        .withRenewTime(java.time.ZonedDateTime.ofInstant(wallNow(), java.time.ZoneOffset.UTC))
        .withStrategy("OldestEmulationVersion").endSpec().build();
    truncateToMicros(lease.getSpec());
    put(lease);
    return true;
  }

  /**
   * The election controller's update of the Lease it just read ({@code read}, conditional on its
   * resourceVersion, as the controller's Get and Update are): the spec it computed, metadata as
   * stored (finalizers, annotations and all).
   *
   * @return false on a conflict (the Lease changed or went away since {@code read})
   */
  boolean controllerUpdate(Lease read, LeaseSpec spec) {
    if (stored == null || !Objects.equals(read.getMetadata().getResourceVersion(),
        stored.getMetadata().getResourceVersion())) {
      return false;
    }
    Lease next = copy(stored);
    next.setSpec(spec);
    truncateToMicros(next.getSpec());
    put(next);
    return true;
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
    notifyWatchers(new Change(stored, false));
  }

  /** Deletes the stored object: watchers see its last state, at the delete's revision. */
  private void remove() {
    Lease last = copy(stored);
    last.getMetadata().setResourceVersion(Long.toString(++resourceVersion));
    stored = null;
    writes++;
    notifyWatchers(new Change(last, true));
  }

  private void notifyWatchers(Change change) {
    for (Consumer<Change> w : List.copyOf(watchers)) {
      w.accept(new Change(copy(change.lease()), change.deleted()));
    }
  }

  private static List<String> finalizers(Lease lease) {
    List<String> f = lease.getMetadata().getFinalizers();
    return f == null ? List.of() : f;
  }

  private static Map<String, String> labels(Lease lease) {
    Map<String, String> l = lease.getMetadata().getLabels();
    return l == null || l.isEmpty() ? Map.of() : l;
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

  private Campaign.Reply fail(Campaign.Request request, int code, String reason, String message) {
    if (code == 422) {
      invalid.add(request.purpose() + " #" + request.id() + ": " + message);
    }
    return Campaign.Reply.failed(failure(request.verb(), code, reason, message));
  }

  static LeaseApiException failure(ApiVerb verb, int code, String reason, String message) {
    return new LeaseApiException(verb, new KubernetesClientException(message, code,
        new StatusBuilder().withCode(code).withReason(reason).withMessage(message).build()), "sim");
  }
}
