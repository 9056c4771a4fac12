package io.github.leaderelection.election;

import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * On shutdown, holds the leader's release of the Lease until its LeaseCandidate is deleted.
 *
 * <p>Why: the server elects among the candidates that have renewed in the last 5 s, and answering
 * its pings keeps ours that fresh. A release that reaches the server while our candidate still
 * exists can get this very replica elected again, on its way out; the Lease then has to expire
 * before anyone else leads (measured: about 10 s instead of 0.1 s). The elector releases only
 * once the term's work has stopped, so the wait is one more unit of that work: a thread started
 * with the term that, when the term ends during a shutdown, waits for the deletion (bounded).
 * When the term ends any other way (a step-down), it ends at once.
 */
final class WithdrawBeforeRelease {

  private static final Logger log = LoggerFactory.getLogger(WithdrawBeforeRelease.class);

  private final LeaseCandidatePublisher publisher;
  private final Duration bound;

  /**
   * @param bound the longest the release waits for the deletion, counted from the start of the
   *     withdrawal; within the elector's work-stop wait, so the shutdown bound holds
   */
  WithdrawBeforeRelease(LeaseCandidatePublisher publisher, Duration bound) {
    this.publisher = publisher;
    this.bound = bound;
  }

  /** The unit of the term's work that waits: until the term ends, then for the withdrawal. */
  Runnable waitFor(Term term) {
    return () -> {
      try {
        while (!term.awaitEnd(Duration.ofMinutes(1))) {
          // the term runs on
        }
        if (publisher.withdrawing() && !publisher.awaitWithdrawn(bound)) {
          log.warn("lease candidate {} not deleted within {} ms; releasing the Lease anyway",
              publisher.candidacy().key(), bound.toMillis());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    };
  }
}
