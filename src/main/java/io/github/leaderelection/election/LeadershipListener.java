package io.github.leaderelection.election;

/**
 * What the elector tells the rest of the program. Called on the elector's thread: implementations
 * must return quickly (start a thread for long work, as {@code LeaderWork} does).
 */
public interface LeadershipListener {

  /** This replica just became leader; {@code leadership} is the fence for its work. */
  default void startedLeading(Leadership leadership) {
  }

  /**
   * This replica is no longer leader (lost the lease, could not renew in time, or shutting down).
   * Called after the leadership was revoked, so a fenced worker has already been told to stop.
   */
  default void stoppedLeading() {
  }

  /** The observed holder changed (possibly to this replica itself). Never called with an empty holder. */
  default void newLeader(String identity) {
  }
}
