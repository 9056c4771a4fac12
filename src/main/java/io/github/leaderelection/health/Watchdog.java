package io.github.leaderelection.health;

import io.github.leaderelection.election.LeaderElector;
import java.time.Duration;

/**
 * The liveness rule of client-go's leader-election watchdog: a replica that believes it leads but
 * has not renewed for longer than the lease duration plus a grace is stuck, and a restart is the
 * cure. Followers are always live: waiting is their job.
 */
final class Watchdog {

  private final LeaderElector elector;
  private final long limitNanos;

  Watchdog(LeaderElector elector, Duration grace) {
    this.elector = elector;
    this.limitNanos = elector.config().leaseDuration().plus(grace).toNanos();
  }

  /** Null when healthy, else why not. */
  String problem() {
    if (!elector.believesLeading()) {
      return null;
    }
    long since = elector.nanosSinceLastRenew();
    if (since > limitNanos) {
      return String.format("leader election watchdog: this replica believes it holds lease %s but"
          + " has not renewed it for %.1fs (limit %.1fs)", elector.config().leaseKey(),
          since / 1e9, limitNanos / 1e9);
    }
    return null;
  }
}
