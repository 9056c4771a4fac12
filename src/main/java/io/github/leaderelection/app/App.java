package io.github.leaderelection.app;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.github.leaderelection.app.access.PermissionCheck;
import io.github.leaderelection.app.cli.Settings;
import io.github.leaderelection.app.health.HealthServer;
import io.github.leaderelection.app.health.LeaseEvents;
import io.github.leaderelection.app.health.PodLabeler;
import io.github.leaderelection.app.health.PrometheusMetrics;
import io.github.leaderelection.app.work.ArticleController;
import io.github.leaderelection.election.CoordinatedElectionUnavailableException;
import io.github.leaderelection.election.LeaderElection;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * Wires one replica together on the library's public API: the API client, the election with the
 * article's work, Events, pod label, health and metrics, and the signals that stop it.
 */
public final class App {

  private static final Logger log = LoggerFactory.getLogger(App.class);
  /** Beyond the election's own bound, before the process gives up on a clean exit. */
  private static final Duration HALT_MARGIN = Duration.ofSeconds(2);
  /** The exit code for a cluster that cannot do what the flags ask (like a bad flag). */
  private static final int EXIT_USAGE = 2;

  private final Settings settings;

  /**
   * @param settings validated, with the API client's configuration already checked (see
   *     {@code cli.KubeClientConfig}): bad input was answered before anything started
   */
  public App(Settings settings) {
    this.settings = settings;
  }

  /** Runs until SIGTERM/SIGINT; returns the exit code. */
  public int run() throws InterruptedException {
    // The port first, before anything starts or logs: a port that is taken is reported by the
    // process's last line, not followed by the election's first ones.
    HealthServer health = null;
    if (settings.healthPort() > 0) {
      try {
        health = HealthServer.bind(settings.healthPort());
      } catch (UncheckedIOException e) {
        log.error("cannot serve /healthz, /readyz and /metrics on port {}: {};"
            + " choose another --health-port (0 disables)", settings.healthPort(),
            e.getCause().getMessage());
        return 1;
      }
    }
    try {
      return run(health);
    } finally {
      if (health != null) {
        health.close();
      }
    }
  }

  private int run(HealthServer health) throws InterruptedException {
    try (KubernetesClient client = new KubernetesClientBuilder()
        .withConfig(settings.clientConfig()).build()) {
      PrometheusMetrics metrics = new PrometheusMetrics(settings.leaseName());
      ArticleController article = new ArticleController(settings.identity(), client,
          settings.namespace(), settings.workRecord());
      LeaseEvents events = new LeaseEvents(client, settings.namespace(), settings.leaseName(),
          settings.identity());
      LeaderElection.Builder builder = settings.election()
          .client(client)
          .metrics(metrics)
          .periodicWork(settings.workInterval(), article::unit)
          .listener(article)
          .listener(events);
      if (settings.labelLeader()) {
        builder.listener(new PodLabeler(client, settings.namespace(), settings.podName()));
      }
      LeaderElection election = builder.build();
      events.attach(election);
      metrics.attach(election);

      CompletableFuture<String> stopSignal = onTermination(election);
      log.info("starting as {} (lease {}, duration {}, renew deadline {}, retry period {}, {})",
          election.identity(), election.leaseKey(), election.leaseDuration().toMillis() + "ms",
          election.renewDeadline().toMillis() + "ms", election.retryPeriod().toMillis() + "ms",
          (election.isWatching() ? "watching" : "polling") + (election.isCoordinated()
              ? ", coordinated: binary version " + settings.binaryVersion()
                  + ", emulation version " + settings.emulationVersion() : ""));
      try {
        // The election starts first; the endpoints follow while its first request is on the
        // wire, off the start-up path (the JVM metrics only register on the first scrape).
        election.start();
      } catch (CoordinatedElectionUnavailableException e) {
        // No silent fallback to the usual election: reported before anything starts.
        log.error("--coordinated: {}", e.getMessage());
        return EXIT_USAGE;
      }
      PermissionCheck permissions = new PermissionCheck(settings.namespace(),
          PermissionCheck.needs(election, settings.workRecord(),
              settings.labelLeader() ? settings.podName() : null),
          PermissionCheck.selfSubjectAccessReview(client));
      permissions.startInBackground();
      if (health != null) {
        health.serve(election, metrics, settings.watchdogGrace());
      }
      try {
        CompletableFuture.anyOf(stopSignal, election.termination()).join();
      } catch (java.util.concurrent.CompletionException e) {
        // ended on its own: the failure is reported below
      }
      election.close();
      permissions.stop();
      events.close();
      Throwable failure = election.failure().orElse(null);
      if (failure instanceof CoordinatedElectionUnavailableException) {
        log.error("--coordinated: {}", failure.getMessage());
        return EXIT_USAGE;
      }
      if (failure != null) {
        log.error("stopped after a failure: {}", failure.toString());
        return 1;
      }
      log.info("stopped");
      return 0;
    }
  }

  /**
   * SIGTERM (kubectl delete pod, rollouts) and SIGINT (Ctrl-C) become a clean stop: the term ends
   * at once (its work is interrupted), the Lease is released, the process exits 0, all within
   * the election's {@link LeaderElection#shutdownBound()} (at most 11 s for any valid timings);
   * past that plus a margin it halts with 1. Handled as signals rather than a shutdown hook
   * because the JVM would otherwise exit with 143 and run the hook concurrently with everything.
   *
   * @return completes when a signal arrives
   */
  private static CompletableFuture<String> onTermination(LeaderElection election) {
    CompletableFuture<String> signalled = new CompletableFuture<>();
    Duration limit = election.shutdownBound().plus(HALT_MARGIN);
    for (String name : List.of("TERM", "INT")) {
      Signal.handle(new Signal(name), signal -> {
        log.info("received SIG{}, shutting down", signal.getName());
        // Bounds the whole exit, not only the election: closing the client, a pending Event. A
        // daemon thread: a process that exits in time never gets here.
        Thread watchdog = new Thread(() -> {
          try {
            Thread.sleep(limit.toMillis());
            log.error("shutdown did not finish within {}s; exiting anyway", limit.toSeconds());
            Runtime.getRuntime().halt(1);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }, "shutdown-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        // On this thread: the work stops now, not when the main thread gets to it.
        election.close();
        signalled.complete(signal.getName());
      });
    }
    return signalled;
  }
}
