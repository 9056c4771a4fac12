package io.github.leaderelection.spring;

import io.github.leaderelection.election.LeaderElection;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/** What the health and info contributors report about the election. */
final class ElectionStatus {

  private ElectionStatus() {
  }

  /** Health: UP while the candidate runs and makes progress, DOWN once it failed or is wedged. */
  static String status(LeaderElection e, LeaderElectionLifecycle lifecycle) {
    if (e.failure().isPresent()) {
      return "DOWN";
    }
    if (!lifecycle.isRunning()) {
      return "OUT_OF_SERVICE";
    }
    return e.sinceProgress().compareTo(wedgedAfter(e)) > 0 ? "DOWN" : "UP";
  }

  /** Progress is made at least every retry period; this much longer without means wedged. */
  static Duration wedgedAfter(LeaderElection e) {
    Duration fiveRetries = e.retryPeriod().multipliedBy(5);
    return fiveRetries.compareTo(Duration.ofSeconds(30)) > 0 ? fiveRetries : Duration.ofSeconds(30);
  }

  static Map<String, Object> details(LeaderElection e, LeaderElectionLifecycle lifecycle) {
    Map<String, Object> d = new LinkedHashMap<>();
    d.put("lease", e.leaseKey());
    d.put("identity", e.identity());
    d.put("candidate", e.failure().isPresent() ? "failed"
        : lifecycle.isRunning() ? "running" : "stopped");
    d.put("role", e.isLeader() ? "leader" : "follower");
    d.put("holder", e.currentLeader().orElse(""));
    e.currentTerm().ifPresent(t -> d.put("fencingToken", t.fencingToken()));
    e.sinceLastWrite().ifPresent(s -> d.put("sinceLastRenewal", format(s)));
    d.put("sinceProgress", format(e.sinceProgress()));
    e.failure().ifPresent(f -> d.put("failure", f.toString()));
    return d;
  }

  static Map<String, Object> info(LeaderElection e) {
    Map<String, Object> d = new LinkedHashMap<>();
    d.put("lease", e.leaseKey());
    d.put("identity", e.identity());
    d.put("leader", e.isLeader());
    d.put("holder", e.currentLeader().orElse(""));
    d.put("leaseDuration", format(e.leaseDuration()));
    d.put("renewDeadline", format(e.renewDeadline()));
    d.put("retryPeriod", format(e.retryPeriod()));
    d.put("watch", e.isWatching());
    return d;
  }

  private static String format(Duration d) {
    return d.toMillis() + "ms";
  }
}
