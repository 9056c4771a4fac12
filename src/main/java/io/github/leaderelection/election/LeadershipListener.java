package io.github.leaderelection.election;

/**
 * What the elector tells the rest of the program. Called on the elector's thread: implementations
 * must return quickly (start the work with {@link Term#startWork}). An exception is logged and the
 * election goes on.
 */
public interface LeadershipListener {

  /**
   * This replica just became leader; {@code term} is the fence for its work and owns its
   * cancellation: start the work with {@link Term#startWork}.
   */
  default void startedLeading(Term term) {
  }

  /**
   * This replica is no longer leader (lost the lease, could not renew in time, or shutting down).
   * Called after the term ended, so a fenced worker has already been told to stop.
   */
  default void stoppedLeading() {
  }

  /** The observed holder changed (possibly to this replica itself). Never called with an empty holder. */
  default void newLeader(String identity) {
  }
}
