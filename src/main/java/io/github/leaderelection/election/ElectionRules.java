package io.github.leaderelection.election;

/**
 * The election's rules in one place: given what this replica has seen of the Lease, when, and
 * whether it leads, what may it do now? A pure function of its arguments; the elector carries the
 * decision out.
 *
 * <p>Safety rests on three rules. A holder's claim lasts, for every other replica, until the lease
 * duration it wrote has passed on that replica's monotonic clock since it last saw the holder
 * write; a leader stops working at {@code renewDeadline} (shorter) after its last successful write
 * was <em>sent</em>. Every write is conditional on the resourceVersion it was computed from.
 * And the claim survives the Lease being deleted or its holder cleared by hand: only the holder's
 * own release ends it early.
 */
public final class ElectionRules {

  private ElectionRules() {
  }

  /** What to do. */
  public enum Action {
    /** Nothing is known of the Lease yet, or what is known may be stale: GET it first. */
    READ,
    /** The Lease does not exist and nobody's claim is pending: create it naming us. */
    CREATE,
    /** We lead: write our record again (or create the Lease again if it was deleted). */
    RENEW,
    /** The previous holder's claim has ended (expired or released): write our record. */
    TAKE_OVER,
    /**
     * The Lease names us while we do not lead (we restarted, or a renewal was stored after we
     * stepped down). Nobody else can be working under our name: take it back at once as a new
     * term, rather than leave the group leaderless until it expires.
     */
    RETAKE,
    /** Someone else's claim is still running: wait until {@link Decision#until()}. */
    WAIT,
    /** We lead, but the Lease names someone else (or was released by someone else): stop at once. */
    STEP_DOWN,
    /**
     * The Lease was deleted by hand while held, and the claim on it has ended (or is ours, and our
     * work has stopped): release it and remove the holder's finalizer, so the deletion completes;
     * then it is created anew. See {@link LeaseWrites}.
     */
    FINISH_DELETE
  }

  /**
   * @param until for {@link Action#WAIT}: when the claim ends, on the monotonic clock
   * @param holder the holder whose claim decided (for logs), or empty
   */
  public record Decision(Action action, long until, String holder) {

    static Decision of(Action action) {
      return new Decision(action, 0, "");
    }
  }

  /** The usual election, where replicas take the Lease themselves. */
  public static Decision decide(LeaseView.Snapshot view, long now, String me, boolean leading) {
    return decide(view, now, me, leading, false);
  }

  /**
   * @param view what this replica has seen, and when
   * @param now the monotonic clock now
   * @param me this replica's identity
   * @param leading whether this replica currently holds a valid term
   * @param coordinated whether the API server picks the holder (coordinated leader election)
   */
  public static Decision decide(LeaseView.Snapshot view, long now, String me, boolean leading,
      boolean coordinated) {
    if (!view.known()) {
      return Decision.of(Action.READ);
    }
    LeaderElectionRecord record = view.record();
    if (coordinated) {
      return coordinated(record, me, leading);
    }
    if (leading) {
      if (record.isHeld() && !record.isHeldBy(me)) {
        return new Decision(Action.STEP_DOWN, 0, record.holderIdentity());
      }
      if (record.isRelease()) {
        // Not ours: we have not released. Whoever wrote it told the followers to take over now.
        return new Decision(Action.STEP_DOWN, 0, "");
      }
      if (view.deleting()) {
        return new Decision(Action.STEP_DOWN, 0, me); // an operator deleted it: let it go
      }
      // Ours, or deleted / cleared by hand: followers still count our claim, so renewing (or
      // re-creating) the Lease simply continues the term.
      return Decision.of(Action.RENEW);
    }
    // A Lease being deleted is never taken over, only finished off once nobody's claim runs.
    Action takeOver = view.deleting() ? Action.FINISH_DELETE : Action.TAKE_OVER;
    if (record.isHeldBy(me)) {
      return Decision.of(view.deleting() ? Action.FINISH_DELETE : Action.RETAKE);
    }
    if (record.isHeld()) {
      long until = view.observedAt() + view.durationNanos();
      return now < until ? new Decision(Action.WAIT, until, record.holderIdentity())
          : Decision.of(takeOver);
    }
    if (view.exists() && record.isRelease()) {
      return Decision.of(takeOver);
    }
    if (!view.exists()) {
      // Deleted. Held Leases carry the holder's finalizer, so a held Lease that is deleted stays
      // visible until its claim has ended; one that is gone was released or finished off. Still,
      // a Lease written by an older version (no finalizer), or a finalizer removed by hand: the
      // last holder seen keeps its claim. A replica that saw none simply creates the Lease.
      if (view.lastHolderKnown() && !view.lastHolder().equals(me)) {
        long until = view.lastHolderSeenAt() + view.lastHolderDurationNanos();
        return now < until ? new Decision(Action.WAIT, until, view.lastHolder())
            : Decision.of(Action.CREATE);
      }
      return Decision.of(Action.CREATE);
    }
    // Cleared by hand (not a release). Whoever held it may still be working: the holder we last
    // saw, or one we never saw. Wait out both: the last holder's claim, and a full lease duration
    // from when we first saw the record cleared.
    long until = view.observedAt() + view.durationNanos();
    String holder = "";
    if (view.lastHolderKnown() && !view.lastHolder().equals(me)) {
      long claim = view.lastHolderSeenAt() + view.lastHolderDurationNanos();
      if (claim > until) {
        until = claim;
        holder = view.lastHolder();
      }
    }
    return now < until ? new Decision(Action.WAIT, until, holder) : Decision.of(takeOver);
  }

  /**
   * Coordinated election: the API server writes the holder; a replica never creates or takes over
   * the Lease. It leads while the Lease names it, and stops when the server marks the end of its
   * term (a preferred holder other than itself). Safety still rests on the fence: the server names
   * a new holder only once the old one's lease has expired or been released.
   */
  private static Decision coordinated(LeaderElectionRecord record, String me, boolean leading) {
    if (leading) {
      if (record.isHeld() && !record.isHeldBy(me)) {
        return new Decision(Action.STEP_DOWN, 0, record.holderIdentity());
      }
      if (!record.isHeldBy(me)) {
        return new Decision(Action.STEP_DOWN, 0, ""); // released or deleted: not ours to recreate
      }
      if (record.isEndOfTermFor(me)) {
        return new Decision(Action.STEP_DOWN, 0, record.preferredHolder());
      }
      return Decision.of(Action.RENEW);
    }
    if (record.isHeldBy(me) && !record.isEndOfTermFor(me)) {
      return Decision.of(Action.RETAKE); // the server named us
    }
    return new Decision(Action.WAIT, Long.MAX_VALUE, record.holderIdentity());
  }
}
