package io.github.leaderelection.election;

/**
 * Notifications about leadership, for logs, metrics, Events and labels, given to
 * {@link LeaderElection.Builder#listener}. Every method does nothing by default. The leader's work
 * does not belong here: give it to the builder ({@link LeaderElection.Builder#work} or
 * {@link LeaderElection.Builder#periodicWork}), which runs it on the term's thread, interrupts it
 * when the term ends and makes the release wait for it.
 *
 * <p><b>Threads and order.</b> Listeners are called off the election's critical path, on the
 * listener executor ({@link LeaderElection.Builder#listenerExecutor}; by default a few threads
 * shared by all elections in the process), one call at a time per election, in the order the
 * events happened, and in the order the listeners were added: for every term exactly one
 * {@link #startedLeading} and then exactly one {@link #stoppedLeading}. A slow listener delays
 * only later listener calls of its election, never a renewal; one that throws a
 * {@link RuntimeException} is logged and the others still run. By the time a call runs, the state
 * may have moved on (a {@code startedLeading} may arrive when the term has already ended): check
 * the term. {@link LeaderElection#close()} does not wait for listener calls: the
 * {@code stoppedLeading} of the term it ended may run after it has returned.
 */
public interface LeadershipListener {

  /**
   * This replica became leader for {@code term}.
   *
   * @param term the new term (maybe ended already by the time this runs)
   */
  default void startedLeading(Term term) {
  }

  /**
   * The term that {@link #startedLeading} announced has ended; its work has been interrupted
   * (it may still be finishing: {@link Term#awaitWorkStopped}).
   *
   * @param term the term that ended
   * @param reason why it ended
   */
  default void stoppedLeading(Term term, TermEnd reason) {
  }

  /**
   * The holder of the Lease changed, as this replica observed it (also to this replica itself,
   * once it leads). Never called with an empty identity: a released Lease is not a new leader.
   *
   * @param identity the new holder
   */
  default void newLeader(String identity) {
  }
}
