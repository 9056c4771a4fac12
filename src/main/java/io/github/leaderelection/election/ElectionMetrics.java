package io.github.leaderelection.election;

import java.time.Duration;

/**
 * Events of one election, for monitoring (counters, histograms), given to
 * {@link LeaderElection.Builder#metrics}. Every method does nothing by default: implement the ones
 * you count. State that is read rather than counted is queried on the election itself
 * ({@link LeaderElection#isLeader()}, {@link LeaderElection#sinceLastWrite()},
 * {@link LeaderElection#sinceProgress()}).
 *
 * <p><b>Threads.</b> Every method is called on the shared elector thread that runs the state
 * machines of all elections in the process, one call at a time per election. Each call must
 * return at once (increment a counter: no I/O, no lock that another thread may hold for long).
 * A hook that throws is logged once and the election goes on: metrics never cost leadership.
 */
public interface ElectionMetrics {

  /** Reports nothing: the default of {@link LeaderElection.Builder#metrics}. */
  ElectionMetrics NONE = new ElectionMetrics() {
  };

  /**
   * A renewal of the Lease by the current leader finished, successfully or not.
   *
   * @param latency from sending the request to its answer (or to giving up on it)
   * @param success true if the API server stored the renewal
   */
  default void renewAttempt(Duration latency, boolean success) {
  }

  /**
   * A Lease request failed. A 409 Conflict (a lost race, the normal outcome for all but one
   * candidate) is not reported here.
   *
   * @param verb the request's verb
   * @param code the HTTP status, or 0 when there was no answer (unreachable, timed out)
   */
  default void apiError(ApiVerb verb, int code) {
  }

  /** The leader had to read the Lease before renewing (its optimistic write conflicted). */
  default void slowpathExercised() {
  }

  /** The observed holder changed to another identity (counted by every replica that sees it). */
  default void transitionObserved() {
  }
}
