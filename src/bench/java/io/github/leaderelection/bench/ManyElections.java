package io.github.leaderelection.bench;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.github.leaderelection.harness.ControlPlane;
import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.harness.WorkLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The "many elections in one process" scenario: one process running N elections (one Lease each,
 * one shared API client), alone on the API server. Per point: the leading process is started and
 * leads every Lease (each has this one candidate); with {@code followers}, a second process with
 * the same N elections then starts and follows all of them; once both are steady, one window
 * measures per process the live threads, RSS and CPU, and the Lease requests it sent, told apart
 * by user agent in the API server's audit log ({@link AuditLog}); the API server's request
 * counter over the same window cross-checks the total.
 *
 * <p>Arms: {@code this} ({@link ManyMain}: this library's public API, default work threads),
 * {@code this_bounded_http} (the same on a client with a bounded HTTP executor), {@code baseline}
 * ({@link ManyBaselineMain}: fabric8's {@code LeaderElector}) and {@code clientgo}
 * ({@code bench/clientgo/many}).
 */
final class ManyElections {

  /** One process's figures: threads and RSS at the end of the window, CPU and requests over it. */
  record Proc(String identity, long threads, double rssMiB, double cpuPercent,
      Map<String, Integer> threadsByName, Map<String, Double> leaseRequestsPerMin) {

    double requests() {
      return ApiCounts.sum(leaseRequestsPerMin);
    }

    Proc withRequests(Map<String, Double> perMin) {
      return new Proc(identity, threads, rssMiB, cpuPercent, threadsByName, perMin);
    }
  }

  /**
   * One point.
   *
   * @param leader the leading process
   * @param follower the following process, or null
   * @param allLeaseRequestsPerMin every Lease request in the window by verb, from the API
   *     server's counter, net of its background (cross-check of the audit log's per process)
   * @param otherRequestsPerMin requests on other resources in the window (none expected)
   */
  record Point(String arm, int elections, String runtime, Proc leader, Proc follower,
      Map<String, Double> allLeaseRequestsPerMin, Map<String, Double> otherRequestsPerMin,
      double windowSeconds, double loadAverage, List<String> problems) {

    double leaderRequests() {
      return leader == null ? Double.NaN : leader.requests();
    }

    double followerRequests() {
      return follower == null ? Double.NaN : follower.requests();
    }
  }

  static final List<Point> POINTS = new CopyOnWriteArrayList<>();
  /** Sets running now, for the shutdown hook. */
  static final List<ReplicaSet> RUNNING = new CopyOnWriteArrayList<>();

  private static final Pattern PROGRESS = Pattern.compile(
      "progress: leading (\\d+), following (\\d+), of (\\d+) elections");
  /** The name given to fabric8's executor threads ({@code -<id>-pool-<n>-thread-<m>}). */
  static final String FABRIC8_POOL = "fabric8 executor (-<id>-pool-N-thread-N)";
  /** Start-up traffic and the JIT's first wave end before the window starts. */
  static final Duration SETTLE = Duration.ofSeconds(10);

  private ManyElections() {
  }

  /** The points to run, as (arm, N): 'this' at every N, the other arms at the largest. */
  static List<Map.Entry<String, Integer>> plan(Bench.Options options) {
    int most = options.many().stream().mapToInt(Integer::intValue).max().orElse(0);
    List<Map.Entry<String, Integer>> plan = new ArrayList<>();
    for (String arm : options.manyArms()) {
      for (int n : arm.equals("this") ? options.many() : List.of(most)) {
        if (n > 0) {
          plan.add(Map.entry(arm, n));
        }
      }
    }
    return plan;
  }

  static String namespace(String arm, int n) {
    return "bench-many-" + arm.replace('_', '-') + "-" + n;
  }

  /** Every point of the scenario, in order. */
  static void run(Bench.Options options, ControlPlane controlPlane, KubernetesClient admin,
      Launchers launchers, AuditLog audit) throws InterruptedException {
    for (Map.Entry<String, Integer> p : plan(options)) {
      String arm = p.getKey();
      int n = p.getValue();
      try {
        point(arm, n, options, controlPlane, admin, launchers, audit);
      } catch (RuntimeException e) {
        say(arm, "%d elections FAILED: %s", n, e.getMessage());
        POINTS.add(new Point(arm, n, Launchers.manyRuntime(arm), null, null, Map.of(), Map.of(),
            Double.NaN, Double.NaN, List.of(String.valueOf(e.getMessage()))));
      }
    }
  }

  private static void point(String arm, int n, Bench.Options options, ControlPlane controlPlane,
      KubernetesClient admin, Launchers launchers, AuditLog audit) throws InterruptedException {
    Duration window = options.manyWindow();
    List<String> args = new ArrayList<>(List.of(
        "--lease-duration=" + options.leaseDuration().toMillis() + "ms",
        "--renew-deadline=" + options.renewDeadline().toMillis() + "ms",
        "--retry-period=" + options.retryPeriod().toMillis() + "ms",
        "--work-interval=" + options.workInterval().toMillis() + "ms",
        "--elections=" + n));
    if (arm.equals("this_bounded_http")) {
      args.add("--http-threads=" + ManyMain.HTTP_THREADS);
    }
    List<String> problems = new ArrayList<>();
    ReplicaSet set = ReplicaSet.of(controlPlane, namespace(arm, n), "lease", args,
        launchers.many(arm), controlPlane.kubeconfig());
    RUNNING.add(set);
    try {
      say(arm, "%d elections in one process: starting the leading process", n);
      Replica a = set.start(arm + "-a");
      Duration timeout = Duration.ofSeconds(90 + n);
      awaitProgress(a, n, 0, timeout);
      List<Replica> procs = new ArrayList<>(List.of(a));
      if (options.manyFollowers()) {
        say(arm, "%d elections: the first process leads all; starting the following process", n);
        Replica b = set.start(arm + "-b");
        awaitProgress(b, 0, n, timeout);
        procs.add(b);
      }
      say(arm, "%d elections: steady; settling %d s, then a %d s window", n, SETTLE.toSeconds(),
          window.toSeconds());
      Thread.sleep(SETTLE.toMillis());
      long offset = audit.offset();
      Window w = Window.measure(admin, window, procs);
      Map<String, Map<String, Double>> byAgent = audit.since(offset);
      if (progress(a)[0] != n || (procs.size() > 1 && progress(procs.get(1))[1] != n)) {
        problems.add("the election was not steady in the window (leading process leads "
            + progress(a)[0] + (procs.size() > 1 ? ", follower follows "
            + progress(procs.get(1))[1] : "") + " of " + n + ")");
      }
      List<Proc> measured = new ArrayList<>();
      for (int i = 0; i < procs.size(); i++) {
        Replica r = procs.get(i);
        Map<String, Double> perMin = ApiCounts.perMinute(byAgent.getOrDefault(r.identity(),
            Map.of()), w.seconds, Map.of());
        measured.add(w.procs.get(i).withRequests(perMin));
      }
      byAgent.keySet().stream().filter(k -> procs.stream().noneMatch(r -> r.identity()
          .equals(k))).forEach(k -> problems.add("Lease requests from an unknown user agent " + k
              + ": " + byAgent.get(k)));
      Map<String, Double> all = ApiCounts.perMinute(w.delta.byVerb("leases"), w.seconds,
          Bench.background);
      Proc leader = measured.get(0);
      Proc follower = measured.size() > 1 ? measured.get(1) : null;
      say(arm, "%d elections: leading process %.1f Lease requests/min %s, threads %d, RSS %.1f"
          + " MiB, CPU %.2f %% of a core%s; all Lease requests (API server's counter) %.1f/min",
          n, leader.requests(), leader.leaseRequestsPerMin(), leader.threads(), leader.rssMiB(),
          leader.cpuPercent(), follower == null ? "" : String.format(Locale.ROOT, "; following"
              + " process %.1f/min %s, threads %d, RSS %.1f MiB, CPU %.2f %%",
              follower.requests(), follower.leaseRequestsPerMin(), follower.threads(),
              follower.rssMiB(), follower.cpuPercent()), ApiCounts.sum(all));
      POINTS.add(new Point(arm, n, Launchers.manyRuntime(arm), leader, follower, all,
          otherResources(w), w.seconds, Double.parseDouble(Report.loadAverage().split(" ")[0]),
          problems));
      for (Replica r : set.alive()) {
        r.terminate();
      }
      for (Replica r : set.replicas()) {
        try {
          r.awaitExit(Duration.ofSeconds(60));
        } catch (IllegalStateException e) {
          problems.add(r.identity() + " did not exit within 60 s of SIGTERM");
        }
      }
    } finally {
      set.close();
      RUNNING.remove(set);
    }
  }

  /** Requests/min on other resources than Leases in a window (should be none: like with like). */
  private static Map<String, Double> otherResources(Window w) {
    Map<String, Double> out = new TreeMap<>();
    w.delta.counts().forEach((k, v) -> {
      if (!k.resource().equals("leases") && !k.resource().isEmpty()
          && !k.verb().equals("WATCH")) {
        out.merge(k.resource() + " " + k.verb(), v * 60 / w.seconds, Double::sum);
      }
    });
    return out;
  }

  /** A measuring window: API counts, and per process CPU over it, threads and RSS at its end. */
  private record Window(ApiCounts delta, double seconds, List<Proc> procs) {

    static Window measure(KubernetesClient admin, Duration length, List<Replica> replicas)
        throws InterruptedException {
      ApiCounts m0 = ApiCounts.scrape(admin);
      long[] cpu0 = new long[replicas.size()];
      for (int i = 0; i < cpu0.length; i++) {
        cpu0[i] = Arm.cpuNanos(replicas.get(i).pid());
      }
      long n0 = System.nanoTime();
      Thread.sleep(length.toMillis());
      long n1 = System.nanoTime();
      List<Proc> procs = new ArrayList<>();
      for (int i = 0; i < cpu0.length; i++) {
        Replica r = replicas.get(i);
        long after = Arm.cpuNanos(r.pid());
        double cpu = cpu0[i] < 0 || after < 0 ? Double.NaN
            : 100.0 * (after - cpu0[i]) / (n1 - n0);
        procs.add(new Proc(r.identity(), threads(r.pid()), Arm.rssMiB(r.pid()), cpu,
            threadsByName(r.pid()), Map.of()));
      }
      ApiCounts m1 = ApiCounts.scrape(admin);
      double seconds = (System.nanoTime() - n0) / 1e9;
      return new Window(m1.minus(m0), seconds, procs);
    }
  }

  /** Live threads of a process ({@code Threads:} of /proc/<pid>/status), -1 if it is gone. */
  static long threads(long pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
        if (line.startsWith("Threads:")) {
          return Long.parseLong(line.substring("Threads:".length()).trim());
        }
      }
    } catch (IOException | RuntimeException e) {
      // gone
    }
    return -1;
  }

  /**
   * Live threads by name ({@code /proc/<pid>/task/<tid>/comm}: the kernel keeps 15 characters),
   * numbers folded to N, so that 100 work threads count as one name.
   */
  static Map<String, Integer> threadsByName(long pid) {
    Map<String, Integer> out = new TreeMap<>();
    try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
      for (Path task : tasks.toList()) {
        try {
          String name = Files.readString(task.resolve("comm")).trim().replaceAll("\\d+", "N");
          if (name.startsWith("-N-poo")) {
            // fabric8's Utils.daemonThreadFactory: "<simple class name, here empty>-<id>-pool-..."
            name = FABRIC8_POOL;
          }
          out.merge(name, 1, Integer::sum);
        } catch (IOException e) {
          // ended meanwhile
        }
      }
    } catch (IOException | RuntimeException e) {
      // gone
    }
    return out;
  }

  /** The last progress line of a process: {leading, following}, or {-1, -1}. */
  static int[] progress(Replica r) {
    int[] last = {-1, -1};
    for (String line : r.texts()) {
      Matcher m = PROGRESS.matcher(WorkLog.message(line));
      if (m.find()) {
        last = new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
      }
    }
    return last;
  }

  private static void awaitProgress(Replica r, int leading, int following, Duration timeout)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      int[] p = progress(r);
      if (p[0] == leading && p[1] == following) {
        return;
      }
      if (!r.isAlive()) {
        throw new IllegalStateException(r.identity() + " exited " + r.exitCode() + ": "
            + tail(r));
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(String.format(Locale.ROOT, "%s: not leading %d and"
            + " following %d within %d s (last progress: leading %d, following %d)",
            r.identity(), leading, following, timeout.toSeconds(), p[0], p[1]));
      }
      Thread.sleep(100);
    }
  }

  private static String tail(Replica r) {
    List<String> t = r.texts();
    return String.join(" | ", t.subList(Math.max(0, t.size() - 5), t.size()));
  }

  private static void say(String arm, String format, Object... args) {
    System.out.printf("%6.1fs [%-8s] %s%n", (System.nanoTime() - Bench.T0) / 1e9, "many-" + arm,
        String.format(format, args));
    System.out.flush();
  }
}
