package io.github.leaderelection.app.health;

import io.github.leaderelection.election.ApiVerb;
import io.github.leaderelection.election.ElectionMetrics;
import io.github.leaderelection.election.LeaderElection;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.Locale;

/**
 * The replica's Prometheus metrics. {@code leader_election_master_status} has client-go's name and
 * meaning, so existing dashboards and alerts work unchanged.
 */
public final class PrometheusMetrics implements ElectionMetrics {

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final String leaseName;
  private final Counter transitions;
  private final Histogram renewLatency;
  private final Counter renewFailures;
  private final Counter apiErrors;
  private final Counter slowpath;
  private volatile LeaderElection election;

  public PrometheusMetrics(String leaseName) {
    this.leaseName = leaseName;
    GaugeWithCallback.builder()
        .name("leader_election_master_status")
        .help("1 while this replica leads the election of the named lease, else 0")
        .labelNames("name")
        .callback(cb -> cb.call(election != null && election.isLeader() ? 1 : 0, leaseName))
        .register(registry);
    GaugeWithCallback.builder()
        .name("leader_election_seconds_since_last_renew")
        .help("Seconds since this replica last wrote the lease successfully (absent if never)")
        .labelNames("name")
        .callback(cb -> {
          LeaderElection e = election;
          if (e != null) {
            e.sinceLastWrite().ifPresent(d -> cb.call(d.toNanos() / 1e9, leaseName));
          }
        })
        .register(registry);
    transitions = Counter.builder()
        .withoutExemplars() // no exemplars: their sampler wakes a thread every second (idle CPU)
        .name("leader_election_transitions_total")
        .help("Leadership changes this replica observed (the holder changed to another identity)")
        .labelNames("name")
        .register(registry);
    renewLatency = Histogram.builder()
        .withoutExemplars()
        .name("leader_election_renew_duration_seconds")
        .help("Latency of the leader's renew requests")
        .labelNames("name", "result")
        .classicOnly()
        .classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
        .register(registry);
    renewFailures = Counter.builder()
        .withoutExemplars()
        .name("leader_election_renew_failures_total")
        .help("Renew attempts by the leader that failed")
        .labelNames("name")
        .register(registry);
    apiErrors = Counter.builder()
        .withoutExemplars()
        .name("leader_election_api_errors_total")
        .help("Failed Lease requests by verb and HTTP status (0 = no response)")
        .labelNames("name", "verb", "code")
        .register(registry);
    slowpath = Counter.builder()
        .withoutExemplars()
        .name("leader_election_slowpath_total")
        .help("Renewals by the leader that needed a GET first (its optimistic write conflicted),"
            + " as client-go counts them")
        .labelNames("name")
        .register(registry);
    // Export every series from the start (at zero), so dashboards and rate() see them before the
    // first event instead of a gap.
    transitions.labelValues(leaseName);
    renewFailures.labelValues(leaseName);
    slowpath.labelValues(leaseName);
    renewLatency.labelValues(leaseName, "success");
    renewLatency.labelValues(leaseName, "failure");
  }

  /**
   * Adds the JVM's own metrics (memory, GC, threads, CPU) on the first scrape: a few hundred
   * classes of JMX and some MiB that a replica nobody scrapes never needs.
   */
  private synchronized void registerJvmMetrics() {
    if (!jvmMetricsRegistered) {
      jvmMetricsRegistered = true;
      JvmMetrics.builder().register(registry);
    }
  }

  private boolean jvmMetricsRegistered;

  /** The election whose state the gauges read. */
  public void attach(LeaderElection election) {
    this.election = election;
  }

  @Override
  public void renewAttempt(Duration latency, boolean success) {
    renewLatency.labelValues(leaseName, success ? "success" : "failure")
        .observe(latency.toNanos() / 1e9);
    if (!success) {
      renewFailures.labelValues(leaseName).inc();
    }
  }

  @Override
  public void apiError(ApiVerb verb, int code) {
    apiErrors.labelValues(leaseName, verb.name().toLowerCase(Locale.ROOT), Integer.toString(code))
        .inc();
  }

  @Override
  public void slowpathExercised() {
    slowpath.labelValues(leaseName).inc();
  }

  @Override
  public void transitionObserved() {
    transitions.labelValues(leaseName).inc();
  }

  /** Writes everything in the Prometheus text format (version 0.0.4). */
  void writeTo(OutputStream out) throws IOException {
    registerJvmMetrics();
    PrometheusTextFormatWriter.create().write(out, registry.scrape());
  }

  static String contentType() {
    return PrometheusTextFormatWriter.CONTENT_TYPE;
  }
}
