package io.github.leaderelection.app.health;

import io.github.leaderelection.election.LeaderElection;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * The liveness rule: the elector's thread must keep going round its loop. It does so at least
 * every retry period whatever the API server does, since requests run on threads of their own and
 * are abandoned at their bound. So a thread that has not gone round for the lease duration plus a
 * grace is wedged (a deadlock, a listener that never returns), and a restart is the cure.
 *
 * <p>Deliberately not client-go's rule ("believes it leads but has not renewed"): a replica that
 * stepped down because the API server is unreachable is doing the right thing, waiting and
 * retrying. Restarting it would not bring the API server back, and every replica would be
 * restarted during an outage. Its work is already fenced off by its term.
 */
final class Watchdog {

  private final Supplier<Duration> sinceProgress;
  private final String leaseKey;
  private final long limitNanos;

  Watchdog(LeaderElection election, Duration grace) {
    this(election::sinceProgress, election.leaseKey(), election.leaseDuration(), grace);
  }

  /**
   * @param sinceProgress the time since the election last made progress
   */
  Watchdog(Supplier<Duration> sinceProgress, String leaseKey, Duration leaseDuration,
      Duration grace) {
    this.sinceProgress = sinceProgress;
    this.leaseKey = leaseKey;
    this.limitNanos = leaseDuration.plus(grace).toNanos();
  }

  /** Null when healthy, else why not. */
  String problem() {
    long since = sinceProgress.get().toNanos();
    if (since > limitNanos) {
      return since == Long.MAX_VALUE
          ? "leader election watchdog: the elector of lease " + leaseKey
              + " has stopped"
          : String.format("leader election watchdog: the elector of lease %s has not made progress"
              + " for %.1fs (limit %.1fs)", leaseKey, since / 1e9,
              limitNanos / 1e9);
    }
    return null;
  }
}
