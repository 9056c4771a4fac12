package io.github.leaderelection.bench;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.github.leaderelection.harness.ControlPlane;
import io.github.leaderelection.harness.ReplicaSet;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

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
 * requests per minute (and the work record's ConfigMap requests, apart), RSS; (1b) many
 * elections in one process ({@link ManyElections}), alone too; (2) every elector's failover
 * rounds at the same time, each on its own Lease: N graceful handovers (SIGTERM) and N crashes
 * (SIGKILL), interleaved; (3) the scaling run, one arm and replica count at a time, with the 409
 * Conflicts per handover.
 */
public final class Bench {

  /** Run settings. */
  record Options(int rounds, Path out, Path logs, List<String> electors, boolean quick,
      Duration window,
      Duration leaseDuration, Duration renewDeadline, Duration retryPeriod, Duration workInterval,
      List<Integer> scaling, List<String> scalingArms, Duration scalingWindow, int scalingRounds,
      List<Integer> many, List<String> manyArms, Duration manyWindow, boolean manyFollowers,
      List<String> argv) {
  }

  /** Every arm, in report order. */
  static final List<String> ARMS = List.of("this", "clientgo", "baseline", "this_jdk17");

  /** Arms of the many-elections scenario ({@link ManyElections}), in report order. */
  static final List<String> MANY_ARMS = List.of("this", "this_bounded_http", "baseline", "clientgo");

  /** One point of the scaling run. */
  record ScalePoint(String arm, int replicas, double requestsPerMin, double handoverP99Ms,
      double rssMiBTotal, List<Double> handoverMs, double loadAverage, List<String> problems,
      List<Double> conflicts, List<Integer> conflictLines) {
  }

  static final List<ScalePoint> scalePoints = new ArrayList<>();

  /** The scaling run's arm while it runs, for the shutdown hook. */
  static final List<Arm> SCALING = new java.util.concurrent.CopyOnWriteArrayList<>();

  /** The image's JVM flags (JDK_JAVA_OPTIONS and the entrypoint's), once it is unpacked. */
  static volatile String imageJvmFlags = "";


  /** Lease requests/min the API server sees with no replica running, by verb. */
  static Map<String, Double> background = Map.of();
  /** The same for ConfigMaps (the controller's work record is one). */
  static Map<String, Double> configMapBackground = Map.of();
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

    // The many-elections scenario tells its two processes' Lease requests apart by user agent in
    // the API server's audit log, which logs Lease requests in that scenario's namespaces only.
    AuditLog audit = AuditLog.forNamespaces(ManyElections.plan(options).stream()
        .map(p -> ManyElections.namespace(p.getKey(), p.getValue())).toList());
    ControlPlane controlPlane = ControlPlane.start(audit.apiServerFlags());
    List<Arm> arms = new ArrayList<>();
    String loadBefore = Report.loadAverage();
    Launchers launchers = new Launchers(appJar, testClasses, controlPlane);
    // Stopped from outside (Ctrl-C, SIGTERM): no replica or API server is left behind.
    Thread cleanup = new Thread(() -> {
      arms.forEach(Arm::close);
      SCALING.forEach(Arm::close);
      ManyElections.RUNNING.forEach(ReplicaSet::close);
      controlPlane.close();
    }, "bench-cleanup");
    Runtime.getRuntime().addShutdownHook(cleanup);
    try (KubernetesClient admin = controlPlane.adminClient()) {
      System.out.printf("bench: control plane up at %s (%.1f s)%n", controlPlane.url(),
          Duration.between(started, Instant.now()).toMillis() / 1000.0);
      long seed = 20261123L;
      for (String elector : options.electors()) {
        String namespace = "bench-" + elector.replace('_', '-');
        arms.add(new Arm(elector, namespace, Arm.REPLICAS, controlPlane, admin,
            launchers.of(elector, namespace), options, seed++));
      }
      // (0) the API server's own Lease traffic (its identity lease in kube-system), to subtract
      Duration bgWindow = options.quick() ? Duration.ofSeconds(10) : Duration.ofSeconds(30);
      ApiCounts bg0 = ApiCounts.scrape(admin);
      long n0 = System.nanoTime();
      Thread.sleep(bgWindow.toMillis());
      ApiCounts bgDelta = ApiCounts.scrape(admin).minus(bg0);
      double bgSeconds = (System.nanoTime() - n0) / 1e9;
      Map<String, Double> bg = ApiCounts.perMinute(bgDelta.byVerb("leases"), bgSeconds, Map.of());
      background = bg;
      configMapBackground = ApiCounts.perMinute(bgDelta.byVerb("configmaps"), bgSeconds,
          Map.of());
      backgroundSeconds = bgSeconds;
      System.out.printf("bench: background Lease requests/min with no replica running: %s"
          + " (ConfigMaps: %s)%n", bg, configMapBackground);
      // (1) steady state, one elector at a time
      for (Arm arm : arms) {
        try {
          arm.steady(options.window(), bg);
        } catch (RuntimeException e) {
          arm.problems.add("steady state: " + e.getMessage());
          arm.say("steady state FAILED: %s", e.getMessage());
          arm.stop();
        }
      }
      // (1b) many elections in one process, alone on the API server
      if (!options.many().isEmpty() && !options.manyArms().isEmpty()) {
        ManyElections.run(options, controlPlane, admin, launchers, audit);
      }
      // (2) failover rounds, electors concurrently
      ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, arms.size()));
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
      for (Arm arm : arms) {
        arm.stop();
      }
      // (3) scaling: per arm and replica count, alone on the API server
      for (String name : options.scalingArms()) {
        for (int n : options.scaling()) {
          scale(name, n, controlPlane, admin, launchers, options, seed++);
        }
      }
      String loadAfter = Report.loadAverage();
      Duration took = Duration.between(started, Instant.now());
      Report.write(options, arms, took, loadBefore, loadAfter, controlPlane);
    } finally {
      Runtime.getRuntime().removeShutdownHook(cleanup);
      launchers.close();
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

  /**
   * The scaling run for one arm and replica count: {@code n} replicas on their own Lease, alone on
   * the API server; Lease requests/min over the window, total RSS at its end, then graceful
   * handovers (each a SIGTERM to the leader and a replacement).
   */
  static void scale(String name, int n, ControlPlane controlPlane, KubernetesClient admin,
      Launchers launchers, Options options, long seed) throws InterruptedException {
    String namespace = "bench-scale-" + name.replace('_', '-') + "-" + n;
    Arm arm = new Arm(name, namespace, n, controlPlane, admin, launchers.of(name, namespace),
        options, seed);
    SCALING.add(arm);
    try {
      arm.say("scaling: %d replicas", n);
      arm.steady(options.scalingWindow(), background, true);
      double rss = 0;
      for (double r : arm.rssMiB) {
        rss += Double.isNaN(r) ? 0 : r;
      }
      arm.handovers(options.scalingRounds());
      double p99 = Stats.percentile(arm.handoverMs, 99);
      ScalePoint point = new ScalePoint(name, n, arm.requestsPerMin(), p99, rss,
          List.copyOf(arm.handoverMs), Double.parseDouble(Report.loadAverage().split(" ")[0]),
          List.copyOf(arm.problems), List.copyOf(arm.conflictsPerHandover),
          List.copyOf(arm.conflictLinesPerHandover));
      scalePoints.add(point);
      arm.say("scaling %d replicas: %.1f Lease requests/min, handover p99 %.0f ms %s, 409s per"
          + " handover %s, RSS total %.0f MiB, load %s", n, point.requestsPerMin(), p99,
          arm.handoverMs, arm.conflictsPerHandover, rss, Report.loadAverage());
      arm.stop();
    } catch (RuntimeException e) {
      arm.say("scaling %d replicas FAILED: %s", n, e.getMessage());
      scalePoints.add(new ScalePoint(name, n, Double.NaN, Double.NaN, Double.NaN, List.of(),
          Double.NaN, List.of(e.getMessage()), List.of(), List.of()));
    } finally {
      if (options.logs() != null) {
        try {
          arm.dumpLogs(options.logs().resolve("scaling-" + n));
        } catch (java.io.IOException e) {
          arm.say("could not keep the logs: %s", e.getMessage());
        }
      }
      arm.close();
      SCALING.remove(arm);
    }
  }

  static Options parse(String[] args) {
    int rounds = -1;
    Path out = Path.of("bench");
    Path logs = null;
    List<String> electors = ARMS;
    boolean quick = false;
    int window = -1;
    List<Integer> scaling = null;
    List<String> scalingArms = List.of("this", "clientgo", "baseline");
    int scalingWindow = -1;
    int scalingRounds = -1;
    List<Integer> many = null;
    List<String> manyArms = MANY_ARMS;
    int manyWindow = -1;
    boolean manyFollowers = true;
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
        case "--only" -> {
          String v = value != null ? value : args[++i];
          electors = v.equals("none") ? List.of() : List.of(v.split(","));
        }
        case "--scaling" -> {
          String v = value != null ? value : args[++i];
          scaling = v.equals("none") ? List.of()
              : java.util.Arrays.stream(v.split(",")).map(Integer::parseInt).toList();
        }
        case "--scaling-arms" -> scalingArms = List.of((value != null ? value : args[++i])
            .split(","));
        case "--scaling-window" -> scalingWindow = Integer.parseInt(value != null ? value
            : args[++i]);
        case "--scaling-rounds" -> scalingRounds = Integer.parseInt(value != null ? value
            : args[++i]);
        case "--many" -> {
          String v = value != null ? value : args[++i];
          many = v.equals("none") ? List.of()
              : java.util.Arrays.stream(v.split(",")).map(Integer::parseInt).toList();
        }
        case "--many-arms" -> manyArms = List.of((value != null ? value : args[++i]).split(","));
        case "--many-window" -> manyWindow = Integer.parseInt(value != null ? value : args[++i]);
        case "--many-followers" -> manyFollowers = Boolean.parseBoolean(value != null ? value
            : args[++i]);
        case "--window" -> window = Integer.parseInt(value != null ? value : args[++i]);
        case "--quick" -> quick = true;
        case "-h", "--help" -> {
          System.out.println("usage: Bench [--rounds N (20)] [--out DIR (bench)]"
              + " [--only ARM,... of " + ARMS + " | none] [--window SECONDS (60)]"
              + " [--scaling N,... (3,10,30) | none] [--scaling-arms ARM,... (this,clientgo,"
              + "baseline)] [--scaling-window SECONDS (60)] [--scaling-rounds N (5)]"
              + " [--many N,... (1,10,100) | none: elections in one process]"
              + " [--many-arms ARM,... of " + MANY_ARMS + " (all; all but 'this' run at the"
              + " largest N only)] [--many-window SECONDS (30)]"
              + " [--many-followers true|false (true: a second process follows the N Leases)]"
              + " [--quick (2 rounds, 20 s windows, scaling 3,10 with 2 rounds, many 1,10 with"
              + " 15 s windows)]"
              + " [--logs DIR (keep every replica's log)]");
          System.exit(0);
        }
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    for (String e : electors) {
      if (!ARMS.contains(e)) {
        throw new IllegalArgumentException("--only takes arms of " + ARMS + ", not " + e);
      }
    }
    for (String e : scalingArms) {
      if (!ARMS.contains(e)) {
        throw new IllegalArgumentException("--scaling-arms takes arms of " + ARMS + ", not " + e);
      }
    }
    for (String e : manyArms) {
      if (!MANY_ARMS.contains(e)) {
        throw new IllegalArgumentException("--many-arms takes arms of " + MANY_ARMS + ", not "
            + e);
      }
    }
    if (many == null) {
      many = quick ? List.of(1, 10) : List.of(1, 10, 100);
    }
    if (manyWindow < 0) {
      manyWindow = quick ? 15 : 30;
    }
    if (rounds < 0) {
      rounds = quick ? 2 : 20;
    }
    if (window < 0) {
      window = quick ? 20 : 60;
    }
    if (scaling == null) {
      scaling = quick ? List.of(3, 10) : List.of(3, 10, 30);
    }
    if (scalingWindow < 0) {
      scalingWindow = quick ? 20 : 60;
    }
    if (scalingRounds < 0) {
      scalingRounds = quick ? 2 : 5;
    }
    return new Options(rounds, out, logs, electors, quick, Duration.ofSeconds(window),
        Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofSeconds(2),
        Duration.ofSeconds(5), scaling, scalingArms, Duration.ofSeconds(scalingWindow),
        scalingRounds, many, manyArms, Duration.ofSeconds(manyWindow), manyFollowers,
        List.of(args));
  }

  /**
   * kube-apiserver's own count of requests on leases, by verb: {@code apiserver_request_total}
   * from its /metrics, summed over every other label (code, scope, ...). The counter has no
   * namespace label, so it counts every Lease request the API server served.
   */
  static Map<String, Double> leaseRequests(KubernetesClient admin) {
    return ApiCounts.scrape(admin).byVerb("leases");
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
