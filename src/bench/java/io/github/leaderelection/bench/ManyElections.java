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
 * one shared API client), alone on the API server. Per point: the leading process alone over a
 * steady window (every election leads: each Lease has this one candidate), then, with
 * {@code followers}, a second process with the same N Leases (it follows every one of them) over
 * a second window. Per process: live threads, RSS, CPU over the window; per window: the Lease
 * requests the API server counted (the follower's = the second window's minus the first's).
 *
 * <p>Arms: {@code this} ({@link ManyMain}: this library's public API, default work threads),
 * {@code this_virtual} (the same with virtual work threads), {@code baseline}
 * ({@link ManyBaselineMain}: fabric8's {@code LeaderElector}) and {@code clientgo}
 * ({@code bench/clientgo/many}).
 */
final class ManyElections {

  /** One process's figures at the end of a window. */
  record Proc(String identity, long threads, double rssMiB, double cpuPercent,
      Map<String, Integer> threadsByName) {
  }

  /**
   * One point.
   *
   * @param leader the leading process, alone
   * @param leaderBesideFollower the leading process in the second window
   * @param follower the following process (second window), or null
   * @param leaderRequestsPerMin Lease requests/min by verb, first window (the leader alone)
   * @param followerRequestsPerMin second window's minus the first's, by verb, or empty
   */
  record Point(String arm, int elections, String runtime, Proc leader, Proc leaderBesideFollower,
      Proc follower, Map<String, Double> leaderRequestsPerMin,
      Map<String, Double> followerRequestsPerMin, Map<String, Double> otherRequestsPerMin,
      double windowSeconds, double loadAverage, List<String> problems) {

    double leaderRequests() {
      return ApiCounts.sum(leaderRequestsPerMin);
    }

    double followerRequests() {
      return follower == null ? Double.NaN : ApiCounts.sum(followerRequestsPerMin);
    }
  }

  static final List<Point> POINTS = new CopyOnWriteArrayList<>();
  /** Sets running now, for the shutdown hook. */
  static final List<ReplicaSet> RUNNING = new CopyOnWriteArrayList<>();

  private static final Pattern PROGRESS = Pattern.compile(
      "progress: leading (\\d+), following (\\d+), of (\\d+) elections");
  /** Start-up traffic and the JIT's first wave end before a window starts. */
  private static final Duration SETTLE = Duration.ofSeconds(8);

  private ManyElections() {
  }

  /** Every point of the scenario, in order. */
  static void run(Bench.Options options, ControlPlane controlPlane, KubernetesClient admin,
      Launchers launchers) throws InterruptedException {
    int most = options.many().stream().mapToInt(Integer::intValue).max().orElse(0);
    for (String arm : options.manyArms()) {
      List<Integer> ns = arm.equals("this") ? options.many() : List.of(most);
      for (int n : ns) {
        if (n <= 0) {
          continue;
        }
        try {
          point(arm, n, options, controlPlane, admin, launchers);
        } catch (RuntimeException e) {
          say(arm, "%d elections FAILED: %s", n, e.getMessage());
          POINTS.add(new Point(arm, n, Launchers.manyRuntime(arm), null, null, null, Map.of(),
              Map.of(), Map.of(), Double.NaN, Double.NaN, List.of(String.valueOf(e.getMessage()))));
        }
      }
    }
  }

  private static void point(String arm, int n, Bench.Options options, ControlPlane controlPlane,
      KubernetesClient admin, Launchers launchers) throws InterruptedException {
    String namespace = "bench-many-" + arm.replace('_', '-') + "-" + n;
    Duration window = options.manyWindow();
    List<String> args = new ArrayList<>(List.of(
        "--lease-duration=" + options.leaseDuration().toMillis() + "ms",
        "--renew-deadline=" + options.renewDeadline().toMillis() + "ms",
        "--retry-period=" + options.retryPeriod().toMillis() + "ms",
        "--work-interval=" + options.workInterval().toMillis() + "ms",
        "--elections=" + n));
    if (arm.equals("this_virtual")) {
      args.add("--virtual-work=true");
    }
    List<String> problems = new ArrayList<>();
    ReplicaSet set = ReplicaSet.of(controlPlane, namespace, "lease", args,
        launchers.many(arm), controlPlane.kubeconfig());
    RUNNING.add(set);
    try {
      say(arm, "%d elections in one process: starting the leading process", n);
      Replica a = set.start(arm + "-a");
      Duration timeout = Duration.ofSeconds(90 + n);
      awaitProgress(a, n, 0, timeout);
      say(arm, "%d elections: all lead; settling %d s, then a %d s window", n,
          SETTLE.toSeconds(), window.toSeconds());
      Thread.sleep(SETTLE.toMillis());
      Window w1 = Window.measure(admin, window, List.of(a));
      int[] after = progress(a);
      if (after[0] != n) {
        problems.add("leading process: " + after[0] + " of " + n + " elections led at the end of"
            + " the window");
      }
      Map<String, Double> leaderRequests = ApiCounts.perMinute(w1.delta.byVerb("leases"),
          w1.seconds, Bench.background);
      Map<String, Double> other = otherResources(w1);
      Proc leader = w1.procs.get(0);
      say(arm, "%d elections, leading process alone: %.1f Lease requests/min %s, threads %d,"
          + " RSS %.1f MiB, CPU %.2f %% of a core", n, ApiCounts.sum(leaderRequests),
          leaderRequests, leader.threads(), leader.rssMiB(), leader.cpuPercent());
      Proc leaderBeside = null;
      Proc follower = null;
      Map<String, Double> followerRequests = Map.of();
      if (options.manyFollowers()) {
        Replica b = set.start(arm + "-b");
        awaitProgress(b, 0, n, timeout);
        say(arm, "%d elections: the second process follows all; settling %d s, then a %d s"
            + " window", n, SETTLE.toSeconds(), window.toSeconds());
        Thread.sleep(SETTLE.toMillis());
        Window w2 = Window.measure(admin, window, List.of(a, b));
        if (progress(a)[0] != n || progress(b)[1] != n) {
          problems.add("second window: the election was not steady (leading process leads "
              + progress(a)[0] + ", follower follows " + progress(b)[1] + " of " + n + ")");
        }
        Map<String, Double> pair = ApiCounts.perMinute(w2.delta.byVerb("leases"), w2.seconds,
            Bench.background);
        Map<String, Double> diff = new TreeMap<>();
        pair.forEach((verb, perMin) -> {
          double d = perMin - leaderRequests.getOrDefault(verb, 0.0);
          if (Math.abs(d) > 0.05) {
            diff.put(verb, d);
          }
        });
        followerRequests = diff;
        leaderBeside = w2.procs.get(0);
        follower = w2.procs.get(1);
        say(arm, "%d elections, with a follower: %.1f Lease requests/min for both %s (follower"
            + " %s); follower threads %d, RSS %.1f MiB, CPU %.2f %%; leader CPU %.2f %%", n,
            ApiCounts.sum(pair), pair, diff, follower.threads(), follower.rssMiB(),
            follower.cpuPercent(), leaderBeside.cpuPercent());
      }
      POINTS.add(new Point(arm, n, Launchers.manyRuntime(arm), leader, leaderBeside, follower,
          leaderRequests, followerRequests, other, w1.seconds,
          Double.parseDouble(Report.loadAverage().split(" ")[0]), problems));
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
            threadsByName(r.pid())));
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
   * trailing numbers folded, so that 100 work threads count as one name.
   */
  static Map<String, Integer> threadsByName(long pid) {
    Map<String, Integer> out = new TreeMap<>();
    try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
      for (Path task : tasks.toList()) {
        try {
          String name = Files.readString(task.resolve("comm")).trim()
              .replaceAll("[-#_ ]?\\d+$", "").replaceAll("\\d+", "N");
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
