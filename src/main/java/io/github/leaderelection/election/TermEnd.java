package io.github.leaderelection.election;

/**
 * Why a {@link Term} ended. Every term ends exactly once, for one of these reasons; the log line
 * that reports it adds the details (which holder, which deadline).
 */
public enum TermEnd {

  /**
   * The Lease was not renewed within the renew deadline (API server unreachable or slow, or this
   * process was paused). The work had to stop before any other replica may take over.
   */
  EXPIRED(false),
  /** Another replica holds the Lease now (this replica's renewal was lost or overtaken). */
  TAKEN_OVER(false),
  /** Somebody else released the Lease (wrote the release record while this replica led). */
  RELEASED_BY_OTHER(false),
  /** The Lease was deleted by hand ({@code kubectl delete lease}); the deletion may complete. */
  DELETED(false),
  /**
   * Coordinated election only: the API server marked the end of this holder's term by naming a
   * different {@code preferredHolder}.
   */
  END_OF_TERM(false),
  /** The whole-term work ({@link LeaderWork#lead}) returned or threw: leadership was given up. */
  WORK_RETURNED(true),
  /** {@link LeaderElection#stepDown} was called. */
  STEPPED_DOWN(true),
  /** {@link LeaderElection#close()} was called (for the controller: SIGTERM). */
  CLOSED(true),
  /**
   * The work failed beyond retrying (an {@link Error} such as {@link OutOfMemoryError}): the
   * election closes itself, releasing the Lease.
   */
  WORK_FAILED(true),
  /** The election itself failed unexpectedly; the Lease is left to expire. */
  ELECTION_FAILED(false);

  private final boolean chosen;

  TermEnd(boolean chosen) {
    this.chosen = chosen;
  }

  /**
   * Whether this replica chose to end the term rather than lost it. After a chosen end the Lease
   * is released once the work has stopped (unless {@link LeaderElection.Builder#releaseOnClose}
   * is off), so that a follower takes over at once; after a lost end this replica does not
   * release it.
   *
   * @return true for {@link #WORK_RETURNED}, {@link #STEPPED_DOWN}, {@link #CLOSED} and
   *     {@link #WORK_FAILED}
   */
  public boolean chosen() {
    return chosen;
  }
}
