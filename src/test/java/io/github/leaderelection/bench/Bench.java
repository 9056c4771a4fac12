package io.github.leaderelection.bench;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.github.leaderelection.harness.ControlPlane;
import io.github.leaderelection.harness.ReplicaSet;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code make bench}: this controller against a baseline on fabric8's built-in LeaderElector
 * ({@link BaselineMain}), 3 replicas each, on one local kube-apiserver + etcd. Writes
 * {@code results.json}, {@code results.md} and {@code latency.png} to the output directory.
 *
 * <p>Usage: {@code Bench [--rounds N] [--out DIR] [--only this|baseline] [--quick]
 * [--window SECONDS]}.
 *
 * <p>Plan: (1) per elector in turn, a steady-state window with only that elector running (the API
 * server's request counters have no namespace label, so the windows must not overlap): Lease
 * requests per minute, RSS; (2) both electors' failover rounds at the same time, each on its own
 * Lease: N graceful handovers (SIGTERM) and N crashes (SIGKILL), interleaved.
 */
public final class Bench {

  /** Run settings. */
  record Options(int rounds, Path out, Path logs, List<String> electors, boolean quick,
      Duration window,
      Duration leaseDuration, Duration renewDeadline, Duration retryPeriod, Duration workInterval,
      List<String> argv) {
  }

  private static final Pattern REQUEST_TOTAL = Pattern.compile(
      "^apiserver_request_total\\{([^}]*)}\\s+(\\S+)$");
  private static final Pattern LABEL = Pattern.compile("(\\w+)=\"([^\"]*)\"");

  /** Lease requests/min the API server sees with no replica running, by verb. */
  static Map<String, Double> background = Map.of();
  static double backgroundSeconds;

  /** System.nanoTime() at start, for progress lines. */
  static final long T0 = System.nanoTime();

  private Bench() {
  }

  public static void main(String[] args) throws Exception {
    Options options = parse(args);
    Instant started = Instant.now();
    String appJar = ReplicaSet.appJar().toString();
    String testClasses = Path.of(System.getProperty("bench.testClasses", "target/test-classes"))
        .toAbsolutePath().toString();
    System.out.printf("bench: %d rounds per scenario, electors %s, steady window %d s%n",
        options.rounds(), options.electors(), options.window().toSeconds());
    System.out.printf("bench: replica JVM flags: %s%n", System.getProperty("app.jvmFlags", ""));

    ControlPlane controlPlane = ControlPlane.start();
    List<Arm> arms = new ArrayList<>();
    String loadBefore = Report.loadAverage();
    try (KubernetesClient admin = controlPlane.adminClient()) {
      System.out.printf("bench: control plane up at %s (%.1f s)%n", controlPlane.url(),
          Duration.between(started, Instant.now()).toMillis() / 1000.0);
      long seed = 20261123L;
      for (String elector : options.electors()) {
        ReplicaSet.Launcher launcher = elector.equals("this") ? ReplicaSet.appLauncher()
            : ReplicaSet.classLauncher(appJar + ":" + testClasses,
                BaselineMain.class.getName());
        arms.add(new Arm(elector, controlPlane, admin, launcher, options, seed++));
      }
      // (0) the API server's own Lease traffic (its identity lease in kube-system), to subtract
      Duration bgWindow = options.quick() ? Duration.ofSeconds(10) : Duration.ofSeconds(30);
      Map<String, Double> bg0 = leaseRequests(admin);
      long n0 = System.nanoTime();
      Thread.sleep(bgWindow.toMillis());
      Map<String, Double> bg = new TreeMap<>();
      double bgSeconds = (System.nanoTime() - n0) / 1e9;
      minus(leaseRequests(admin), bg0).forEach((verb, n) -> bg.put(verb, n * 60 / bgSeconds));
      background = bg;
      backgroundSeconds = bgSeconds;
      System.out.printf("bench: background Lease requests/min with no replica running: %s%n", bg);
      // (1) steady state, one elector at a time
      for (Arm arm : arms) {
        arm.steady(options.window(), bg);
      }
      // (2) failover rounds, electors concurrently
      ExecutorService pool = Executors.newFixedThreadPool(arms.size());
      List<Future<?>> running = new ArrayList<>();
      for (Arm arm : arms) {
        running.add(pool.submit(() -> {
          arm.rounds(options.rounds());
          return null;
        }));
      }
      for (Future<?> f : running) {
        f.get();
      }
      pool.shutdown();
      String loadAfter = Report.loadAverage();
      Duration took = Duration.between(started, Instant.now());
      Report.write(options, arms, took, loadBefore, loadAfter, controlPlane);
    } finally {
      if (options.logs() != null) {
        for (Arm arm : arms) {
          arm.dumpLogs(options.logs());
        }
        System.out.printf("bench: replica logs in %s%n", options.logs());
      }
      arms.forEach(Arm::close);
      controlPlane.close();
    }
    System.exit(0);
  }

  static Options parse(String[] args) {
    int rounds = -1;
    Path out = Path.of("bench");
    Path logs = null;
    List<String> electors = List.of("this", "baseline");
    boolean quick = false;
    int window = -1;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      String value = null;
      int eq = a.indexOf('=');
      if (eq > 0) {
        value = a.substring(eq + 1);
        a = a.substring(0, eq);
      }
      switch (a) {
        case "--rounds" -> rounds = Integer.parseInt(value != null ? value : args[++i]);
        case "--out" -> out = Path.of(value != null ? value : args[++i]);
        case "--logs" -> logs = Path.of(value != null ? value : args[++i]);
        case "--only" -> electors = List.of(value != null ? value : args[++i]);
        case "--window" -> window = Integer.parseInt(value != null ? value : args[++i]);
        case "--quick" -> quick = true;
        case "-h", "--help" -> {
          System.out.println("usage: Bench [--rounds N (20)] [--out DIR (bench)]"
              + " [--only this|baseline] [--window SECONDS (60)] [--quick (2 rounds, 20 s window)]"
              + " [--logs DIR (keep every replica's log)]");
          System.exit(0);
        }
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    for (String e : electors) {
      if (!e.equals("this") && !e.equals("baseline")) {
        throw new IllegalArgumentException("--only takes this or baseline, not " + e);
      }
    }
    if (rounds < 0) {
      rounds = quick ? 2 : 20;
    }
    if (window < 0) {
      window = quick ? 20 : 60;
    }
    return new Options(rounds, out, logs, electors, quick, Duration.ofSeconds(window),
        Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofSeconds(2),
        Duration.ofSeconds(5), List.of(args));
  }

  /**
   * kube-apiserver's own count of requests on leases, by verb: {@code apiserver_request_total}
   * from its /metrics, summed over every other label (code, scope, ...). The counter has no
   * namespace label, so it counts every Lease request the API server served.
   */
  static Map<String, Double> leaseRequests(KubernetesClient admin) {
    String metrics = admin.raw("/metrics");
    if (metrics == null) {
      throw new IllegalStateException("GET /metrics returned nothing");
    }
    Map<String, Double> byVerb = new TreeMap<>();
    for (String line : metrics.split("\n")) {
      Matcher m = REQUEST_TOTAL.matcher(line.trim());
      if (!m.matches()) {
        continue;
      }
      Map<String, String> labels = new LinkedHashMap<>();
      Matcher l = LABEL.matcher(m.group(1));
      while (l.find()) {
        labels.put(l.group(1), l.group(2));
      }
      if ("leases".equals(labels.get("resource"))) {
        byVerb.merge(labels.getOrDefault("verb", "?"), Double.parseDouble(m.group(2)), Double::sum);
      }
    }
    return byVerb;
  }

  static Map<String, Double> minus(Map<String, Double> after, Map<String, Double> before) {
    Map<String, Double> delta = new TreeMap<>();
    after.forEach((verb, n) -> {
      double d = n - before.getOrDefault(verb, 0.0);
      if (d != 0) {
        delta.put(verb, d);
      }
    });
    return delta;
  }
}
