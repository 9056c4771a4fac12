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
    STEP_DOWN
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
      // Ours, or deleted / cleared by hand: followers still count our claim, so renewing (or
      // re-creating) the Lease simply continues the term.
      return Decision.of(Action.RENEW);
    }
    if (record.isHeldBy(me)) {
      return Decision.of(Action.RETAKE);
    }
    if (record.isHeld()) {
      long until = view.observedAt() + view.durationNanos();
      return now < until ? new Decision(Action.WAIT, until, record.holderIdentity())
          : Decision.of(Action.TAKE_OVER);
    }
    if (view.exists() && record.isRelease()) {
      return Decision.of(Action.TAKE_OVER);
    }
    // Deleted or cleared by hand. The last holder seen may still be working: its claim runs on.
    Action free = view.exists() ? Action.TAKE_OVER : Action.CREATE;
    if (view.lastHolderKnown() && !view.lastHolder().equals(me)) {
      long until = view.lastHolderSeenAt() + view.lastHolderDurationNanos();
      return now < until ? new Decision(Action.WAIT, until, view.lastHolder()) : Decision.of(free);
    }
    if (!view.lastHolderKnown() && view.exists()) {
      // A holder cleared before we ever saw one: somebody we never saw may be working. Count its
      // claim from when we first saw the record in this state. (A Lease that does not exist and
      // never did, as far as we know, is simply created: a fresh group has to start somewhere.)
      long until = view.observedAt() + view.durationNanos();
      return now < until ? new Decision(Action.WAIT, until, "") : Decision.of(free);
    }
    return Decision.of(free);
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
