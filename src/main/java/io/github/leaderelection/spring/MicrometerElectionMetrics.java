package io.github.leaderelection.spring;

import io.github.leaderelection.election.ApiVerb;
import io.github.leaderelection.election.ElectionMetrics;
import io.github.leaderelection.election.LeaderElection;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.time.Duration;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * The controller's Prometheus series through Micrometer: with Prometheus' naming they come out as
 * {@code leader_election_master_status}, {@code leader_election_seconds_since_last_renew},
 * {@code leader_election_transitions_total}, {@code leader_election_renew_duration_seconds},
 * {@code leader_election_renew_failures_total}, {@code leader_election_api_errors_total} and
 * {@code leader_election_slowpath_total}, each with the tag {@code name} (the lease name).
 * Hooks before the registry is bound count nothing; they never block or throw.
 */
final class MicrometerElectionMetrics implements ElectionMetrics, MeterBinder {

  private final String leaseName;
  private final Supplier<LeaderElection> election;
  private volatile MeterRegistry registry;
  private volatile Counter transitions;
  private volatile Counter renewFailures;
  private volatile Counter slowpath;
  private volatile Timer renewSuccess;
  private volatile Timer renewFailure;

  MicrometerElectionMetrics(String leaseName, Supplier<LeaderElection> election) {
    this.leaseName = leaseName;
    this.election = election;
  }

  @Override
  public void bindTo(MeterRegistry r) {
    Gauge.builder("leader.election.master.status", this, m -> m.leading() ? 1 : 0)
        .description("1 while this instance leads the election of the named lease, else 0")
        .tag("name", leaseName).register(r);
    Gauge.builder("leader.election.seconds.since.last.renew", this, m -> m.sinceLastRenew())
        .description("Seconds since this instance last wrote the lease successfully (NaN if never)")
        .tag("name", leaseName).register(r);
    transitions = Counter.builder("leader.election.transitions")
        .description("Leadership changes this instance observed")
        .tag("name", leaseName).register(r);
    renewFailures = Counter.builder("leader.election.renew.failures")
        .description("Renew attempts by the leader that failed")
        .tag("name", leaseName).register(r);
    slowpath = Counter.builder("leader.election.slowpath")
        .description("Renewals by the leader that needed a GET first")
        .tag("name", leaseName).register(r);
    renewSuccess = renewTimer(r, "success");
    renewFailure = renewTimer(r, "failure");
    registry = r;
  }

  private Timer renewTimer(MeterRegistry r, String result) {
    return Timer.builder("leader.election.renew.duration")
        .description("Latency of the leader's renew requests")
        .tags("name", leaseName, "result", result).register(r);
  }

  private boolean leading() {
    LeaderElection e = election.get();
    return e != null && e.isLeader();
  }

  private double sinceLastRenew() {
    LeaderElection e = election.get();
    return e == null ? Double.NaN
        : e.sinceLastWrite().map(d -> d.toNanos() / 1e9).orElse(Double.NaN);
  }

  @Override
  public void renewAttempt(Duration latency, boolean success) {
    Timer t = success ? renewSuccess : renewFailure;
    if (t != null) {
      t.record(latency);
    }
    Counter failures = renewFailures;
    if (!success && failures != null) {
      failures.increment();
    }
  }

  @Override
  public void apiError(ApiVerb verb, int code) {
    MeterRegistry r = registry;
    if (r != null) {
      Counter.builder("leader.election.api.errors")
          .description("Failed Lease requests by verb and HTTP status (0 = no response)")
          .tags("name", leaseName, "verb", verb.name().toLowerCase(Locale.ROOT),
              "code", Integer.toString(code))
          .register(r).increment();
    }
  }

  @Override
  public void slowpathExercised() {
    Counter c = slowpath;
    if (c != null) {
      c.increment();
    }
  }

  @Override
  public void transitionObserved() {
    Counter c = transitions;
    if (c != null) {
      c.increment();
    }
  }
}
