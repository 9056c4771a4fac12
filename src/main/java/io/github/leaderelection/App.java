package io.github.leaderelection;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.github.leaderelection.access.PermissionCheck;
import io.github.leaderelection.cli.Settings;
import io.github.leaderelection.coordinated.LeaseCandidatePublisher;
import io.github.leaderelection.coordinated.WithdrawBeforeRelease;
import io.github.leaderelection.election.ElectionConfig;
import io.github.leaderelection.election.LeaderElector;
import io.github.leaderelection.election.LeadershipListener;
import io.github.leaderelection.election.LeaseLock;
import io.github.leaderelection.election.Listeners;
import io.github.leaderelection.election.Ticker;
import io.github.leaderelection.health.HealthServer;
import io.github.leaderelection.health.LeaseEvents;
import io.github.leaderelection.health.PodLabeler;
import io.github.leaderelection.health.PrometheusMetrics;
import io.github.leaderelection.work.ArticleController;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/** Wires one replica together: API client, elector, the article's work, health and metrics. */
public final class App {

  private static final Logger log = LoggerFactory.getLogger(App.class);
  /** Beyond the elector's own bound, before the process gives up on a clean exit. */
  private static final Duration HALT_MARGIN = Duration.ofSeconds(2);
  /**
   * Bound of the LeaseCandidate's deletion on shutdown. It runs alongside the elector's stop and
   * the release waits for it as for the work (see WithdrawBeforeRelease), within the work-stop
   * wait, so it adds nothing to the shutdown bound.
   */
  private static final Duration WITHDRAW_BOUND = Duration.ofSeconds(2);
  /** The exit code for a cluster that cannot do what the flags ask (like a bad flag). */
  private static final int EXIT_USAGE = 2;

  private final Settings settings;
  private final Config clientConfig;

  /**
   * @param clientConfig the API client's configuration, already checked (see
   *     {@code cli.KubeClientConfig}): bad input was answered before anything started
   */
  public App(Settings settings, Config clientConfig) {
    this.settings = settings;
    this.clientConfig = clientConfig;
  }

  /** Runs until SIGTERM/SIGINT; returns the exit code. */
  public int run() throws InterruptedException {
    ElectionConfig election = settings.election();
    try (KubernetesClient client = new KubernetesClientBuilder().withConfig(clientConfig).build()) {
      LeaseCandidatePublisher candidate = null;
      AtomicReference<String> notServed = new AtomicReference<>();
      if (election.coordinated()) {
        // No silent fallback to the usual election: a cluster without coordinated election is
        // a configuration error, reported before anything starts.
        try {
          LeaseCandidatePublisher.checkServed(client);
        } catch (LeaseCandidatePublisher.NotServed e) {
          log.error("{}", e.getMessage());
          return EXIT_USAGE;
        } catch (KubernetesClientException e) {
          // Unreachable right now: the publisher retries, and checks again on a 404.
          log.debug("cannot check for lease candidates yet: {}", e.toString());
        }
      }
      AtomicReference<LeaderElector> electorRef = new AtomicReference<>();
      if (election.coordinated()) {
        candidate = new LeaseCandidatePublisher(client, new LeaseCandidatePublisher.Candidacy(
            election.namespace(), election.identity(), election.leaseName(),
            settings.binaryVersion(), settings.emulationVersion()),
            LeaseCandidatePublisher.DEFAULT_RENEW_INTERVAL, e -> {
              log.error("{}", e.getMessage());
              notServed.set(e.getMessage());
              electorRef.get().stop();
            });
      }
      PrometheusMetrics metrics = new PrometheusMetrics(election.leaseName());
      List<LeadershipListener> listeners = new ArrayList<>();
      if (candidate != null) {
        listeners.add(new WithdrawBeforeRelease(candidate, WITHDRAW_BOUND));
      }
      listeners.add(new ArticleController(election.identity(), settings.workInterval()));
      LeaseEvents events = new LeaseEvents(client, election);
      listeners.add(events);
      if (settings.labelLeader()) {
        listeners.add(new PodLabeler(client, election.namespace(), settings.podName()));
      }
      LeaderElector elector = new LeaderElector(election,
          new LeaseLock(client, election.namespace(), election.leaseName()),
          new Listeners(listeners), metrics, Ticker.SYSTEM);
      electorRef.set(elector);
      events.attach(elector);
      metrics.attach(elector);

      onTermination(elector, candidate);
      log.info("starting as {} (lease {}, duration {}, renew deadline {}, retry period {}, {})",
          election.identity(), election.leaseKey(), election.leaseDuration().toMillis() + "ms",
          election.renewDeadline().toMillis() + "ms", election.retryPeriod().toMillis() + "ms",
          (election.watch() ? "watching" : "polling") + (election.coordinated()
              ? ", coordinated: binary version " + settings.binaryVersion()
                  + ", emulation version " + settings.emulationVersion() : ""));
      // The election starts first; the endpoints follow while its first request is on the wire,
      // off the start-up path (the JVM metrics only register on the first scrape).
      Thread electorThread = new Thread(elector, "elector");
      electorThread.start();
      if (candidate != null) {
        candidate.start();
      }
      PermissionCheck permissions = new PermissionCheck(election.namespace(),
          PermissionCheck.needs(election, settings.labelLeader() ? settings.podName() : null),
          PermissionCheck.selfSubjectAccessReview(client));
      permissions.startInBackground();
      HealthServer health = null;
      if (settings.healthPort() > 0) {
        try {
          health = HealthServer.start(settings.healthPort(), elector, metrics,
              settings.watchdogGrace());
        } catch (UncheckedIOException e) {
          log.error("cannot serve /healthz, /readyz and /metrics on port {}: {};"
              + " choose another --health-port (0 disables)", settings.healthPort(),
              e.getCause().getMessage());
          elector.stop();
          electorThread.join();
          permissions.stop();
          if (candidate != null) {
            candidate.close(WITHDRAW_BOUND);
          }
          return 1;
        }
      }
      electorThread.join();
      permissions.stop();
      if (candidate != null) {
        // Deleted since the stop began; waits for that, at most WITHDRAW_BOUND from its start.
        candidate.close(WITHDRAW_BOUND);
      }
      events.close();
      if (health != null) {
        health.close();
      }
      if (notServed.get() != null) {
        return EXIT_USAGE;
      }
      Throwable failure = elector.failure();
      if (failure != null) {
        log.error("stopped after a failure: {}", failure.toString());
        return 1;
      }
      log.info("stopped");
      return 0;
    }
  }

  /**
   * SIGTERM (kubectl delete pod, rollouts) and SIGINT (Ctrl-C) become a clean stop: the work ends
   * at once, the Lease is released, the process exits 0, all within the elector's
   * {@link ElectionConfig#shutdownBound()} (at most 11 s for any valid timings); past that plus a
   * margin it halts with 1. Handled as signals rather than a shutdown hook because the JVM would
   * otherwise exit with 143 and run the hook concurrently with everything.
   */
  private static void onTermination(LeaderElector elector, LeaseCandidatePublisher candidate) {
    Duration limit = elector.config().shutdownBound().plus(HALT_MARGIN);
    for (String name : List.of("TERM", "INT")) {
      Signal.handle(new Signal(name), signal -> {
        log.info("received SIG{}, shutting down", signal.getName());
        if (candidate != null) {
          // First: no ping is answered any more, and the release waits for the deletion (see
          // WithdrawBeforeRelease), so a replica on its way out cannot be elected again.
          candidate.withdraw();
        }
        elector.stop();
        // Bounds the whole exit, not only the elector: closing the client, a pending Event. A
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
      });
    }
  }
}
