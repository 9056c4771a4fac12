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
 *
 * <p>A held Lease always carries our finalizer ({@link LeaseWrites}), so a hand delete cannot make
 * it vanish under its holder. When another controller's finalizer holds a Lease being deleted as
 * well, the deletion waits for that controller, not for us: if ours is on it, the Lease is still
 * protected and the election simply goes on on it (renewals, releases, take-overs by the usual
 * rules), and the deletion completes through us once the other finalizer is gone. If ours is not
 * on it (it was removed while another one remained), nobody may hold it, since no finalizer can be
 * added to it any more: the replicas wait ({@link Action#BLOCKED}) until it is gone, then create a
 * new Lease at once. Either way a leader exists within the usual bound (a release at once, a lapsed
 * holder one lease duration after it was last seen renewing) except in that last case, where it
 * exists as soon as the other controller has let go.
 */
final class ElectionRules {

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
     * The Lease names this very process while it does not lead (a renewal of ours was stored after
     * we stepped down; another process of our identity is somebody else, see
     * {@link Incarnation}). Nobody else can be working as this process: take it back at once as a
     * new term, rather than leave the group leaderless until it expires.
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
    FINISH_DELETE,
    /**
     * The Lease is being deleted and another controller's finalizer holds it, but ours is gone:
     * it may vanish at any moment, so holding it would not be safe (a replica that never saw the
     * holder would create a new Lease while the holder works), and no new one can be created while
     * it exists. Take nothing; wait (and warn) until that controller lets go.
     */
    BLOCKED
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
      return coordinated(view, now, me, leading);
    }
    // A Lease being deleted that another controller's finalizer holds too: with ours on it, it is
    // as good as any (the deletion waits for that controller, and ours keeps it protected); without
    // ours, nobody may hold it.
    boolean deleting = view.deleting() && !view.deletionHeldByOthers();
    boolean blocked = view.deletionHeldByOthers() && !view.protectedByUs();
    if (leading) {
      if (record.isHeld() && !record.isHeldBy(me)) {
        return new Decision(Action.STEP_DOWN, 0, record.holderIdentity());
      }
      if (record.isRelease()) {
        // Not ours: we have not released. Whoever wrote it told the followers to take over now.
        return new Decision(Action.STEP_DOWN, 0, "");
      }
      if (deleting || blocked) {
        return new Decision(Action.STEP_DOWN, 0, me); // an operator deleted it: let it go
      }
      // Ours, or deleted / cleared by hand: followers still count our claim, so renewing (or
      // re-creating) the Lease simply continues the term.
      return Decision.of(Action.RENEW);
    }
    if (blocked) {
      return new Decision(Action.BLOCKED, Long.MAX_VALUE, record.holderIdentity());
    }
    // A Lease being deleted is never taken over, only finished off once nobody's claim runs.
    Action takeOver = deleting ? Action.FINISH_DELETE : Action.TAKE_OVER;
    if (record.isHeldBy(me)) {
      return Decision.of(deleting ? Action.FINISH_DELETE : Action.RETAKE);
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
   * Coordinated election: the API server's election controller names the holder; a replica never
   * creates or takes over the Lease. It leads while the Lease names it, and stops when the server
   * marks the end of its term (a preferred holder other than itself).
   *
   * <p>The server names a new holder once {@code renewTime + leaseDurationSeconds} is past on
   * <em>its</em> clock, and {@code renewTime} is the old holder's wall clock: a holder whose clock
   * runs behind the server's is replaced while its own fence still runs. So the named replica
   * trusts no clock but its own, as in the usual election: it works only once the previous
   * holder's claim has ended by its own observation (a lease duration after it last saw that
   * holder renew, or at once if that holder released). If it cannot tell who wrote the Lease last
   * before the naming (its first answer already showed the Lease missing, cleared or named, or
   * the naming covers writes it did not see: a twin's, or a Lease re-created after a delete), it
   * also waits one lease duration from when it saw that (see {@link LeaseView}). Meanwhile it leaves the Lease as the server wrote it. A Lease named after a hand
   * delete or clear is covered by the same claim. Only a Lease written by this very process (its
   * own renewal stored late) is taken back at once.
   */
  private static Decision coordinated(LeaseView.Snapshot view, long now, String me,
      boolean leading) {
    LeaderElectionRecord record = view.record();
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
    boolean ownWrite = record.isHeldBy(me);
    boolean named = ownWrite || Incarnation.isAnotherProcessOf(record.holderIdentity(), me);
    if (!named) {
      return new Decision(Action.WAIT, Long.MAX_VALUE, record.holderIdentity());
    }
    if (ownWrite) {
      // Our own write, stored late: nobody else works under it. Unless the server has ended our
      // term on it: that Lease is being handed back (see Terms), not taken again, unless the
      // hand-back failed and the server left it to us for a whole lease duration (a preference
      // left over, which only a new naming clears).
      long handBack = view.observedAt() + view.durationNanos();
      return record.isEndOfTermFor(me) && now < handBack
          ? new Decision(Action.WAIT, handBack, record.preferredHolder())
          : Decision.of(Action.RETAKE);
    }
    // Named by the server. A preferred holder on it is one left over: the server clears it when
    // it names anew, and keeps it when it names the same holder again, which would keep the Lease
    // unheld for good. The end of term, if still meant, comes once we lead.
    long until = Math.max(view.unattributedUntil(), view.namingUnaccountedUntil());
    String holder = "";
    if (view.lastHolderKnown() && !view.lastHolder().equals(me)) {
      long claim = view.lastHolderSeenAt() + view.lastHolderDurationNanos();
      if (claim > until) {
        until = claim;
        holder = view.lastHolder();
      }
    }
    return now < until ? new Decision(Action.WAIT, until, holder) : Decision.of(Action.RETAKE);
  }

  // ---------------------------------------------------------------------------------------------
  // When to act, and on what: the rules around the decision

  /** Cap of the error back-off, as a multiple of the retry period. */
  static final int MAX_BACKOFF_FACTOR = 4;

  /**
   * Re-read or trust the view? The Lease must be read before a decision when nothing is known
   * yet, when a write of ours lost a race (our view is behind the winner's write), or when a
   * follower is not watching (its view is only as fresh as its last read). A leader trusts its
   * own last write; a watching follower trusts the watch. A view read just now is trusted.
   *
   * @param fresh the view was read just now, by the request whose answer is being acted on
   * @param conflicted a write of ours lost a race that the watch has not yet settled
   */
  static boolean mustRead(boolean known, boolean fresh, boolean conflicted, boolean leading,
      boolean watching) {
    return !known || (!fresh && (conflicted || (!leading && !watching)));
  }

  /**
   * A lost race is settled by the watch once it has shown any change since the conflict (the
   * winner's write): a watching follower then decides from its view without a read.
   */
  static boolean raceSettledByWatch(boolean leading, boolean watching, long version,
      long versionAtConflict) {
    return !leading && watching && version != versionAtConflict;
  }

  /**
   * After a lost race, a watching follower waits for the winner's write to arrive by the watch,
   * and reads only if it has not come by its next poll: a release raced for by 30 replicas would
   * otherwise cost 29 reads at once.
   */
  static boolean awaitWinnersWrite(boolean conflicted, boolean fresh, long version,
      long versionAtConflict) {
    return conflicted && !fresh && version == versionAtConflict;
  }

  /**
   * The retake shortcut: the Lease names us while we do not lead (a renewal stored late, or we
   * restarted). Only we can be working under our name, so take it back now, whatever the back-off
   * says, rather than leave the group leaderless for a lease duration. Once per version seen, so
   * a retake that fails is not repeated against the same state.
   */
  static boolean retakeNow(LeaseView.Snapshot seen, String me, long retakeTriedAtVersion) {
    return seen.record().isHeldBy(me) && seen.version() != retakeTriedAtVersion;
  }

  /**
   * How long until the next attempt. A leader retries every retry period until its deadline;
   * after an error a follower backs off exponentially (x1, x2, x4 the retry period, plus up to 20 %
   * jitter), so an unreachable or misconfigured API server is not hammered by every replica, and
   * the election resumes soon after the cause is fixed; otherwise a follower spreads its polls
   * over [retry, 2.2 x retry), client-go's jitter.
   *
   * @param consecutiveErrors failed requests in a row, this one included (for an error)
   * @param random a uniform number in [0, 1)
   */
  static long retryDelayNanos(long retryNanos, boolean leading, boolean error,
      int consecutiveErrors, double random) {
    if (leading) {
      return retryNanos;
    }
    if (error) {
      long factor = 1L << Math.min(Math.max(0, consecutiveErrors - 1),
          Integer.numberOfTrailingZeros(MAX_BACKOFF_FACTOR));
      return (long) (retryNanos * factor * (1 + 0.2 * random));
    }
    return (long) (retryNanos * (1 + ElectionConfig.JITTER_FACTOR * random));
  }

  /**
   * Whether a timed-out Lease request condemns the Lease watch: only a watch that has listed
   * (one that never did is not trusted anyway, and its informer keeps retrying) and that was
   * started before the request went out (a request older than the watch says nothing about the
   * connections the watch opened). Without this, a watch on a dead connection keeps reporting
   * itself live until TCP gives up, and a watching follower never polls.
   */
  static boolean distrustWatchAfterTimeout(boolean watchSynced, long watchStartedNanos,
      long requestSentNanos) {
    return watchSynced && requestSentNanos - watchStartedNanos >= 0;
  }

  /**
   * Whether a watch that has not listed yet is replaced now that the API server answered a Lease
   * request: its informer may be waiting out a back-off grown during the outage, or be stuck on
   * a connection that died, while a new one lists at once on a connection that works. Only once it
   * has had a request timeout to list ({@code graceNanos}), so a watch just starting is left be.
   */
  static boolean replaceUnlistedWatch(boolean watchListed, long watchStartedNanos, long nowNanos,
      long graceNanos) {
    return !watchListed && nowNanos - watchStartedNanos >= graceNanos;
  }

  /**
   * Whether the Lease watch has been silent for too long: no list, event or bookmark for
   * {@code boundNanos} (a lease duration). While anybody leads, the Lease changes every retry
   * period, so a silent watch is a dead one; while nobody leads, replacing it costs one list.
   */
  static boolean distrustSilentWatch(long lastActivityNanos, long nowNanos, long boundNanos) {
    return nowNanos - lastActivityNanos >= boundNanos;
  }

  /**
   * When a release may go out: only when configured, only if our own last write still names us
   * (a Lease somebody else wrote since is never touched: the release is conditional on that
   * write), and only once the work of every term of ours has stopped (a release lets a follower in
   * at once, so it must never cut short the margin of work still running).
   *
   * @param lastWritten our last successful write, or null
   */
  static boolean mayRelease(boolean releaseConfigured, LeaderElectionRecord lastWritten,
      String me, boolean workRunning) {
    return releaseConfigured && lastWritten != null && lastWritten.isHeldBy(me) && !workRunning;
  }
}
