package io.github.leaderelection.election;

/**
 * Leader work that runs for the whole term, as Curator's {@code takeLeadership}, given to
 * {@link LeaderElection.Builder#work}: each time this replica becomes leader, the election calls
 * {@link #lead} once, for that term, on a new thread from the
 * {@linkplain LeaderElection.Builder#workThreadFactory work thread factory} (never on the
 * election's own threads, so it may block).
 *
 * <ul>
 *   <li><b>Returning gives leadership up at once</b>: the term ends ({@link TermEnd#WORK_RETURNED}),
 *       the Lease is released so that a follower takes over without waiting for it to expire, and
 *       this replica campaigns again after {@link LeaderElection.Builder#requeueDelay}. Throwing an
 *       exception does the same, after a WARN log line (none if the term had ended already, or
 *       for an {@link InterruptedException}). Throwing an {@link Error} ends the term as
 *       {@link TermEnd#WORK_FAILED} and closes the election ({@link LeaderElection#failure()}).</li>
 *   <li><b>Losing leadership interrupts the thread</b>: the moment the term ends (lost, lapsed,
 *       stepped down, closed) the work thread is interrupted; the work must then return promptly.
 *       The release of the Lease waits for it, up to {@link LeaderElection#WORK_STOP_WAIT}; work
 *       still running after that keeps the Lease unreleased (followers wait for it to expire), so
 *       a follower never starts while this work may still run. {@link LeaderElection#close()}
 *       waits the same way, and returns after that bound even if the work has not returned.</li>
 *   <li>Before each action with outside effects, check {@link Term#isValid()}; write through
 *       {@link Term#fencedUpdate} where a late write must be refused.</li>
 * </ul>
 */
@FunctionalInterface
public interface LeaderWork {

  /**
   * Leads for as long as {@code term} lasts, or until it returns.
   *
   * @param term the term: its validity, time left, fencing token and end
   * @throws Exception anything: logged, and leadership is given up as on return
   */
  void lead(Term term) throws Exception;
}
