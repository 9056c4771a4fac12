package io.github.leaderelection.election;

import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The application's {@link ElectionMetrics}, contained: a hook that throws is logged (once per
 * hook) and the election goes on. Metrics are never a reason to lose leadership.
 */
final class ContainedMetrics implements ElectionMetrics {

  private static final Logger log = LoggerFactory.getLogger(ContainedMetrics.class);

  private final ElectionMetrics metrics;
  private volatile boolean warned;

  ContainedMetrics(ElectionMetrics metrics) {
    this.metrics = metrics;
  }

  @Override
  public void renewAttempt(Duration latency, boolean success) {
    contain("renewAttempt", () -> metrics.renewAttempt(latency, success));
  }

  @Override
  public void apiError(ApiVerb verb, int code) {
    contain("apiError", () -> metrics.apiError(verb, code));
  }

  @Override
  public void slowpathExercised() {
    contain("slowpathExercised", metrics::slowpathExercised);
  }

  @Override
  public void transitionObserved() {
    contain("transitionObserved", metrics::transitionObserved);
  }

  private void contain(String hook, Runnable call) {
    try {
      call.run();
    } catch (RuntimeException e) {
      if (!warned) {
        warned = true;
        log.warn("metrics hook {}.{} failed; the election goes on (logged once): {}",
            metrics.getClass().getName(), hook, e.toString());
      }
    }
  }
}
