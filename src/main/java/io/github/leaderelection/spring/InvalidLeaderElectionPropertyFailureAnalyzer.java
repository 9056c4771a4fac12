package io.github.leaderelection.spring;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** Turns a bad {@code leaderelection.*} value into Boot's start-up failure report: one line, the property named. */
class InvalidLeaderElectionPropertyFailureAnalyzer
    extends AbstractFailureAnalyzer<InvalidLeaderElectionPropertyException> {

  @Override
  protected FailureAnalysis analyze(Throwable rootFailure,
      InvalidLeaderElectionPropertyException cause) {
    return new FailureAnalysis("Invalid leader election setting: " + cause.getMessage(),
        "Correct that property (application.properties or .yaml, or the environment, e.g."
            + " LEADERELECTION_LEASE_DURATION), or set leaderelection.enabled=false.", cause);
  }
}
