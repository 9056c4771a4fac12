package io.github.leaderelection.election;

/**
 * One unit of periodic leader work (the article's shape: "doing stuff..." every few seconds),
 * given to {@link LeaderElection.Builder#periodicWork}. While this replica leads, the election
 * runs a unit every interval on the term's work thread, and only while the term is valid (checked
 * before every unit, on the local monotonic clock).
 *
 * <ul>
 *   <li>A unit that throws an exception is logged and the term goes on: the next unit runs at the
 *       next interval. An {@link Error} ends the term and closes the election (the Lease is
 *       released; {@link LeaderElection#failure()} tells why).</li>
 *   <li>When the term ends, the running unit's thread is interrupted; no further unit starts.</li>
 * </ul>
 */
@FunctionalInterface
public interface UnitOfWork {

  /**
   * Does one unit of work for {@code term}.
   *
   * @param term the current term: check it before effects; its token fences writes
   * @throws Exception logged; the term goes on
   */
  void run(Term term) throws Exception;
}
