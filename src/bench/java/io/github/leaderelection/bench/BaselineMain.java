package io.github.leaderelection.bench;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElectionConfigBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaseLock;
import io.github.leaderelection.app.logging.LogSetup;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * The benchmark's baseline: the article's controller on fabric8's built-in
 * {@code LeaderElector} (followers poll the Lease every retry period with jitter, the leader does a
 * GET before every renewal). Same flags subset, same log lines and klog format as the real app, so
 * the benchmark reads both the same way. Unknown flags (e.g. {@code --health-port}) are ignored.
 *
 * <p>Not a test (the name does not end in Test/IT); started as a process by {@link Bench}.
 */
public final class BaselineMain {

  private BaselineMain() {
  }

  public static void main(String[] argv) throws Exception {
    Map<String, String> flags = parse(argv);
    String leaseName = flags.get("lease-name");
    if (leaseName == null) {
      System.err.println("--lease-name is required");
      System.exit(2);
    }
    String namespace = flags.getOrDefault("lease-namespace",
        env("POD_NAMESPACE", "default"));
    String identity = flags.getOrDefault("identity", env("POD_NAME", hostName()));
    Duration leaseDuration = duration(flags.getOrDefault("lease-duration", "15s"));
    Duration renewDeadline = duration(flags.getOrDefault("renew-deadline", "10s"));
    Duration retryPeriod = duration(flags.getOrDefault("retry-period", "2s"));
    Duration workInterval = duration(flags.getOrDefault("work-interval", "5s"));
    String key = namespace + "/" + leaseName;

    LogSetup.configure(LogSetup.Format.text, identity, key);
    Logger log = LoggerFactory.getLogger(BaselineMain.class);

    Config config = flags.containsKey("kubeconfig")
        ? Config.fromKubeconfig(null, Files.readString(Path.of(flags.get("kubeconfig"))),
            flags.get("kubeconfig"))
        : Config.autoConfigure(null);
    KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build();

    ScheduledExecutorService work = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "work");
      t.setDaemon(true);
      return t;
    });
    AtomicReference<ScheduledFuture<?>> loop = new AtomicReference<>();
    AtomicBoolean leading = new AtomicBoolean();
    // fabric8 calls these from inside its tryAcquireOrRenew: they must not block.
    LeaderCallbacks callbacks = new LeaderCallbacks(
        () -> {
          leading.set(true);
          log.info("successfully acquired lease {}", key);
          loop.set(work.scheduleAtFixedRate(() -> log.info("doing stuff..."), 0,
              workInterval.toMillis(), TimeUnit.MILLISECONDS));
        },
        () -> {
          ScheduledFuture<?> running = loop.getAndSet(null);
          if (running != null) {
            running.cancel(false);
          }
          if (leading.getAndSet(false)) {
            log.info("no longer the leader, staying inactive.");
          }
        },
        leader -> {
          if (leader == null || leader.isEmpty()) {
            return;
          }
          if (leader.equals(identity)) {
            log.info("still the leader!");
          } else {
            log.info("new leader is {}", leader);
          }
        });

    var elector = client.leaderElector().withConfig(new LeaderElectionConfigBuilder()
        .withName(leaseName)
        .withLock(new LeaseLock(namespace, leaseName, identity))
        .withLeaseDuration(leaseDuration)
        .withRenewDeadline(renewDeadline)
        .withRetryPeriod(retryPeriod)
        .withReleaseOnCancel(true)
        .withLeaderCallbacks(callbacks)
        .build()).build();

    log.info("attempting to acquire leader lease {}...", key);
    CompletableFuture<?> election = elector.start();
    CountDownLatch stopped = new CountDownLatch(1);
    for (String name : new String[] {"TERM", "INT"}) {
      Signal.handle(new Signal(name), signal -> {
        log.info("received SIG{}, shutting down", signal.getName());
        boolean wasLeading = leading.get();
        // Cancelling the future runs fabric8's stopLeading(): with ReleaseOnCancel it clears the
        // holder (a GET, then an update), then calls onStopLeading.
        election.cancel(true);
        if (wasLeading) {
          log.info("released lease {}", key);
        }
        stopped.countDown();
      });
    }
    stopped.await();
    work.shutdownNow();
    client.close();
    log.info("stopped");
    System.exit(0);
  }

  /** {@code --name=value}, {@code --name value} and {@code --flag}; anything else is ignored. */
  static Map<String, String> parse(String[] argv) {
    Map<String, String> flags = new HashMap<>();
    for (int i = 0; i < argv.length; i++) {
      String a = argv[i];
      if (!a.startsWith("--")) {
        continue;
      }
      int eq = a.indexOf('=');
      if (eq > 0) {
        flags.put(a.substring(2, eq), a.substring(eq + 1));
      } else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
        flags.put(a.substring(2), argv[++i]);
      } else {
        flags.put(a.substring(2), "true");
      }
    }
    return flags;
  }

  /** 15s, 500ms, 1m, 1.5s. */
  static Duration duration(String text) {
    String s = text.trim().toLowerCase(Locale.ROOT);
    if (s.endsWith("ms")) {
      return Duration.ofMillis(Long.parseLong(s.substring(0, s.length() - 2)));
    }
    double value = Double.parseDouble(s.substring(0, s.length() - 1));
    return switch (s.charAt(s.length() - 1)) {
      case 's' -> Duration.ofMillis(Math.round(value * 1000));
      case 'm' -> Duration.ofMillis(Math.round(value * 60_000));
      case 'h' -> Duration.ofMillis(Math.round(value * 3_600_000));
      default -> throw new IllegalArgumentException("bad duration: " + text);
    };
  }

  private static String env(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isBlank() ? fallback : value;
  }

  private static String hostName() {
    try {
      return java.net.InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return "baseline";
    }
  }
}
