package io.github.leaderelection.election;

/**
 * Leader work that runs for the whole term, as Curator's {@code takeLeadership}: the election
 * calls {@link #lead} on a work thread when this replica becomes leader.
 *
 * <ul>
 *   <li><b>Returning gives leadership up at once</b>: the term ends ({@link TermEnd#WORK_RETURNED}),
 *       the Lease is released so that a follower takes over without waiting for it to expire, and
 *       this replica campaigns again after {@link LeaderElection.Builder#requeueDelay}. Throwing
 *       does the same, after a log line.</li>
 *   <li><b>Losing leadership interrupts the thread</b>: the moment the term ends (lost, lapsed,
 *       closed) the work thread is interrupted; the work must then return promptly. The release
 *       of the Lease waits for it (up to {@link LeaderElection#WORK_STOP_WAIT}), so a follower
 *       never starts while this work still runs.</li>
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
