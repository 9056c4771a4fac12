package io.github.leaderelection.election;

/**
 * One unit of periodic leader work (the article's shape: "doing stuff..." every few seconds),
 * given to {@link LeaderElection.Builder#periodicWork}. Each term gets one work thread from the
 * {@linkplain LeaderElection.Builder#workThreadFactory work thread factory}; on it the election
 * runs a unit right after the term starts, then one {@code interval} after the previous unit
 * returned (a slow unit delays the next one, units never overlap), and only while the term is
 * valid (checked before every unit, on the local monotonic clock).
 *
 * <ul>
 *   <li>A unit that throws an exception is logged (WARN) and the term goes on: the next unit runs
 *       after the interval. An {@link Error} ends the term and closes the election (the Lease is
 *       released; {@link LeaderElection#failure()} tells why).</li>
 *   <li>When the term ends (lost, lapsed, stepped down, closed), the running unit's thread is
 *       interrupted and no further unit starts. The release of the Lease, and
 *       {@link LeaderElection#close()}, wait for the running unit up to
 *       {@link LeaderElection#WORK_STOP_WAIT}: return promptly when interrupted.</li>
 * </ul>
 */
@FunctionalInterface
public interface UnitOfWork {

  /**
   * Does one unit of work for {@code term}.
   *
   * @param term the current term: check it before effects; its token fences writes
   * @throws Exception logged; the term goes on (an {@link InterruptedException}, or any exception
   *     once the term has ended, just ends the units quietly)
   */
  void run(Term term) throws Exception;
}
