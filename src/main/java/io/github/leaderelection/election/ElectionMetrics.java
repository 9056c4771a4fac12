package io.github.leaderelection.election;

import java.time.Duration;

/** What the elector reports for monitoring. The default does nothing; see {@code health.PrometheusMetrics}. */
public interface ElectionMetrics {

  ElectionMetrics NONE = new ElectionMetrics() {
  };

  /** A renew by the current leader finished, successfully or not, after {@code latency}. */
  default void renewAttempt(Duration latency, boolean success) {
  }

  /** A Lease request failed; {@code code} is the HTTP status or 0 when the server was unreachable. */
  default void apiError(ApiVerb verb, int code) {
  }

  /** The leader had to read the Lease before renewing (its optimistic write conflicted). */
  default void slowpathExercised() {
  }

  /** The observed holder changed to another identity (counted by every replica that sees it). */
  default void transitionObserved() {
  }
}
