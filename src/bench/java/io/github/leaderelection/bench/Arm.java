package io.github.leaderelection.bench;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.github.leaderelection.harness.ControlPlane;
import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.harness.WorkLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/**
 * One elector under test ("this", "this_jdk17", "baseline" or "clientgo"): its own namespace and
 * Lease on the shared control plane, 3 replicas (more in the scaling run), and every figure
 * measured for it.
 */
final class Arm implements AutoCloseable {

  static final int REPLICAS = 3;

  /** The number of replicas of this arm. */
  final int replicas;
  /** Whether the elector logs "released lease" on SIGTERM (client-go's does not log it). */
  final boolean logsRelease;

  /** A process start: the wall-clock time just before the spawn. */
  record Start(Replica replica, Instant spawnedAt, boolean alone) {
  }

  /** One change of the Lease as the benchmark's own watch delivered it. */
  record Renewal(Instant deliveredAt, String holder, Instant renewTime) {
  }

  /** A log line found: which replica, its klog timestamp. */
  record Found(Replica replica, Instant at) {
  }

  final String name;
  final Bench.Options options;
  private final KubernetesClient admin;
  private final ReplicaSet set;
  private final Random random;
  private int nextId;

  final List<Start> starts = new CopyOnWriteArrayList<>();
  final List<Double> handoverMs = new CopyOnWriteArrayList<>();
  final List<Double> fromKillMs = new CopyOnWriteArrayList<>();
  final List<Double> fromRenewMs = new CopyOnWriteArrayList<>();
  final List<Double> fromRenewRecordMs = new CopyOnWriteArrayList<>();
  final List<Double> rssMiB = new CopyOnWriteArrayList<>();
  final List<String> problems = new CopyOnWriteArrayList<>();
  final List<Renewal> renewals = new CopyOnWriteArrayList<>();
  Map<String, Double> requestsPerMinByVerb = new LinkedHashMap<>();
  Map<String, Double> rawRequestsPerMinByVerb = new LinkedHashMap<>();
  Map<String, Double> startupRequestsByVerb = new LinkedHashMap<>();
  /**
   * The work's own writes in the steady window: requests/min on ConfigMaps by verb (the
   * controller records each unit in one through a fenced write), net of the background. Kept
   * apart from the Lease requests, which stay the election's traffic only.
   */
  Map<String, Double> workRecordRequestsPerMinByVerb = new LinkedHashMap<>();
  /** Scaling run: Lease requests the API server answered 409 Conflict, per handover. */
  final List<Double> conflictsPerHandover = new CopyOnWriteArrayList<>();
  /** Scaling run: "(409 Conflict); not acquired this round" lines logged, per handover. */
  final List<Integer> conflictLinesPerHandover = new CopyOnWriteArrayList<>();
  /** CPU used in the steady window, % of one core: the leader's, and each follower's. */
  double idleCpuLeader = Double.NaN;
  final List<Double> idleCpuFollowers = new CopyOnWriteArrayList<>();
  double steadyWindowSeconds;
  int overlaps = -1;
  private volatile Watch watch;
  private volatile boolean closed;

  Arm(String name, ControlPlane controlPlane, KubernetesClient admin, ReplicaSet.Launcher launcher,
      Bench.Options options, long seed) {
    this(name, "bench-" + name.replace('_', '-'), REPLICAS, controlPlane, admin, launcher, options,
        seed);
  }

  Arm(String name, String namespace, int replicas, ControlPlane controlPlane,
      KubernetesClient admin, ReplicaSet.Launcher launcher, Bench.Options options, long seed) {
    this.name = name;
    this.replicas = replicas;
    this.logsRelease = !name.equals("clientgo");
    this.options = options;
    this.admin = admin;
    this.random = new Random(seed);
    this.set = ReplicaSet.of(controlPlane, namespace, "bench-lease", List.of(
        "--lease-duration=" + options.leaseDuration().toMillis() + "ms",
        "--renew-deadline=" + options.renewDeadline().toMillis() + "ms",
        "--retry-period=" + options.retryPeriod().toMillis() + "ms",
        "--work-interval=" + options.workInterval().toMillis() + "ms"),
        launcher, controlPlane.kubeconfig());
  }

  String namespace() {
    return set.namespace();
  }

  List<Replica> replicas() {
    return set.replicas();
  }

  // -----------------------------------------------------------------------------------------------
  // Steady state: API load, memory, start-up requests

  /**
   * Starts 3 replicas, waits for a steady election, then counts Lease requests at the API server
   * over {@code window} with nothing else touching this arm's Lease, samples every replica's RSS at
   * the end, and stops the replicas again (SIGTERM) so the next arm's window is not polluted.
   */
  void steady(Duration window, Map<String, Double> backgroundPerMin) throws InterruptedException {
    steady(window, backgroundPerMin, false);
  }

  /** As above; {@code keepRunning}: leave the replicas running afterwards (scaling run). */
  void steady(Duration window, Map<String, Double> backgroundPerMin, boolean keepRunning)
      throws InterruptedException {
    say("steady state: starting %d replicas", replicas);
    Map<String, Double> beforeStart = Bench.leaseRequests(admin);
    for (int i = 0; i < replicas; i++) {
      startReplica(false);
    }
    Replica leader = awaitSteady(steadyTimeout());
    startupRequestsByVerb = Bench.minus(Bench.leaseRequests(admin), beforeStart);
    say("steady: %s leads; lease requests from start to steady %s", leader.identity(),
        startupRequestsByVerb);
    Thread.sleep(options.retryPeriod().multipliedBy(3).toMillis()); // let start-up traffic end
    ApiCounts m0 = ApiCounts.scrape(admin);
    long n0 = System.nanoTime();
    // Idle CPU over the second half of the window: by then start-up and the JIT's warm-up are
    // over, and what is left is what the replica costs for as long as nothing changes.
    Thread.sleep(window.toMillis() / 2);
    Map<Replica, Long> cpu0 = new LinkedHashMap<>();
    for (Replica r : set.alive()) {
      cpu0.put(r, cpuNanos(r.pid()));
    }
    long n0cpu = System.nanoTime();
    Thread.sleep(window.toMillis() - window.toMillis() / 2);
    long n1cpu = System.nanoTime();
    for (Replica r : set.alive()) {
      rssMiB.add(rssMiB(r.pid()));
    }
    double cpuSeconds = (n1cpu - n0cpu) / 1e9;
    cpu0.forEach((r, nanos) -> {
      long after = cpuNanos(r.pid());
      if (nanos < 0 || after < 0) {
        return;
      }
      double percent = 100.0 * (after - nanos) / 1e9 / cpuSeconds;
      if (r == leader) {
        idleCpuLeader = percent;
      } else {
        idleCpuFollowers.add(percent);
      }
    });
    ApiCounts all = ApiCounts.scrape(admin).minus(m0);
    long n1 = System.nanoTime();
    steadyWindowSeconds = (n1 - n0) / 1e9;
    Map<String, Double> delta = all.byVerb("leases");
    workRecordRequestsPerMinByVerb = ApiCounts.perMinute(all.byVerb("configmaps"),
        steadyWindowSeconds, Bench.configMapBackground);
    delta.forEach((verb, n) -> rawRequestsPerMinByVerb.put(verb, n * 60.0 / steadyWindowSeconds));
    rawRequestsPerMinByVerb.forEach((verb, perMin) -> {
      double net = perMin - backgroundPerMin.getOrDefault(verb, 0.0);
      if (net > 0.05) {
        requestsPerMinByVerb.put(verb, net);
      }
    });
    say("steady: %.1f lease requests/min net of background (%s per min) over %.0f s %s;"
        + " work record (ConfigMap) requests/min %s; RSS MiB %s; CPU %% of a core: leader %.3f,"
        + " followers %s",
        requestsPerMinByVerb.values().stream().mapToDouble(Double::doubleValue)
        .sum(), requestsPerMinByVerb, steadyWindowSeconds, delta, workRecordRequestsPerMinByVerb,
        rssMiB, idleCpuLeader,
        idleCpuFollowers.stream().map(v -> String.format(java.util.Locale.ROOT, "%.3f", v))
            .toList());
    if (set.selfDeclaredLeaders().size() != 1 || set.alive().size() != replicas) {
      problems.add("steady window: the election was not steady throughout");
    }
    if (!keepRunning) {
      stopAll();
    }
  }

  /** Starting N JVMs on a shared 2-core machine takes a while: more time for more replicas. */
  Duration steadyTimeout() {
    return Duration.ofSeconds(90 + 4L * replicas);
  }

  /** Lease requests/min net of the background, summed over verbs (after {@link #steady}). */
  double requestsPerMin() {
    return requestsPerMinByVerb.values().stream().mapToDouble(Double::doubleValue).sum();
  }

  /**
   * {@code rounds} graceful handovers only (the scaling run), replicas already running, this arm
   * alone on the API server: each handover's 409 Conflicts on Leases are counted from the API
   * server's counter, from just before the SIGTERM until the election is steady again (the new
   * leader works, the replacement replica follows it).
   */
  void handovers(int rounds) throws InterruptedException {
    for (int i = 1; i <= rounds; i++) {
      try {
        awaitSteady(steadyTimeout());
        randomPhase();
        ApiCounts m0 = ApiCounts.scrape(admin);
        Instant t0 = Instant.now();
        handover(i, rounds, false);
        awaitSteady(steadyTimeout());
        ApiCounts delta = ApiCounts.scrape(admin).minus(m0);
        double conflicts = delta.withCode("leases", "409");
        int lines = 0;
        for (Replica r : set.replicas()) {
          for (String line : r.texts()) {
            Instant at = WorkLog.timestamp(line);
            if (at != null && !at.isBefore(t0)
                && WorkLog.message(line).contains("(409 Conflict); not acquired this round")) {
              lines++;
            }
          }
        }
        conflictsPerHandover.add(conflicts);
        conflictLinesPerHandover.add(lines);
        say("handover %d/%d: %.0f Lease requests answered 409 Conflict (%d replicas logged a lost"
            + " race); Lease requests meanwhile %s", i, rounds, conflicts, lines, delta.counts()
            .entrySet().stream().filter(e -> e.getKey().resource().equals("leases"))
            .map(e -> e.getKey().verb() + " " + e.getKey().code() + ": " + Math.round(e.getValue()))
            .toList());
      } catch (RuntimeException e) {
        problems.add("handover round " + i + ": " + e.getMessage());
        say("handover %d/%d FAILED: %s", i, rounds, e.getMessage());
        recover();
      }
    }
  }

  /** Stops every replica (SIGTERM, then waits). */
  void stop() throws InterruptedException {
    stopAll();
  }

  private void stopAll() throws InterruptedException {
    List<Replica> alive = set.alive();
    alive.forEach(Replica::terminate);
    for (Replica r : alive) {
      try {
        r.awaitExit(Duration.ofSeconds(30));
      } catch (IllegalStateException e) {
        problems.add(r.identity() + " did not exit on SIGTERM within 30 s");
        r.close();
      }
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Failover rounds

  /** {@code rounds} graceful handovers and {@code rounds} crash failovers, interleaved. */
  void rounds(int rounds) throws InterruptedException {
    startWatch();
    while (set.alive().size() < replicas) {
      startReplica(false);
    }
    for (int i = 1; i <= rounds; i++) {
      try {
        handover(i, rounds);
      } catch (RuntimeException e) {
        problems.add("handover round " + i + ": " + e.getMessage());
        say("handover %d/%d FAILED: %s", i, rounds, e.getMessage());
        recover();
      }
      try {
        crash(i, rounds);
      } catch (RuntimeException e) {
        problems.add("crash round " + i + ": " + e.getMessage());
        say("crash %d/%d FAILED: %s", i, rounds, e.getMessage());
        recover();
      }
    }
    awaitSteady(Duration.ofSeconds(60));
    overlaps = WorkLog.overlaps(set.replicas()).size();
    if (overlaps > 0) {
      problems.add(overlaps + " overlapping work terms: " + WorkLog.overlaps(set.replicas()));
    }
  }

  private void handover(int round, int rounds) throws InterruptedException {
    handover(round, rounds, true);
  }

  /** {@code prepare}: wait for a steady election and a random phase first (else done already). */
  private void handover(int round, int rounds, boolean prepare) throws InterruptedException {
    Replica leader = awaitSteady(steadyTimeout());
    if (prepare) {
      randomPhase();
    }
    Instant t0 = Instant.now();
    leader.terminate();
    Found next = awaitLine(leader, m -> m.equals("doing stuff..."), t0, Duration.ofSeconds(30));
    double ms = millis(t0, next.at());
    handoverMs.add(ms);
    say("handover %d/%d: %s -> %s, first work %.0f ms after SIGTERM", round, rounds,
        leader.identity(), next.replica().identity(), ms);
    int code = leader.awaitExit(Duration.ofSeconds(30));
    if (code != 0) {
      problems.add("handover round " + round + ": " + leader.identity() + " exited " + code);
    }
    if (logsRelease && !leader.logged("released lease")) {
      problems.add("handover round " + round + ": " + leader.identity() + " did not log a release");
    }
    startReplica();
  }

  private void crash(int round, int rounds) throws InterruptedException {
    Replica leader = awaitSteady(Duration.ofSeconds(60));
    randomPhase();
    Instant t0 = Instant.now();
    leader.kill();
    Found next = awaitLine(leader, m -> m.startsWith("successfully acquired lease"), t0,
        options.leaseDuration().plusSeconds(30));
    double fromKill = millis(t0, next.at());
    fromKillMs.add(fromKill);
    // The dead leader's last successful write: the last change to the Lease naming it holder that
    // our watch delivered before the new leader's acquisition (a renewal in flight at the kill may
    // still have been committed, and then it counts).
    Renewal last = null;
    for (Renewal r : renewals) {
      if (r.holder().equals(leader.identity()) && r.deliveredAt().isBefore(next.at())) {
        last = r;
      }
    }
    if (last == null) {
      problems.add("crash round " + round + ": no renewal of " + leader.identity() + " seen");
      say("crash %d/%d: %s -> %s, %.0f ms after SIGKILL (no renewal seen)", round, rounds,
          leader.identity(), next.replica().identity(), fromKill);
    } else {
      double fromRenew = millis(last.deliveredAt(), next.at());
      fromRenewMs.add(fromRenew);
      if (last.renewTime() != null) {
        fromRenewRecordMs.add(millis(last.renewTime(), next.at()));
      }
      say("crash %d/%d: %s -> %s, acquired %.0f ms after SIGKILL, %.0f ms after its last"
          + " renewTime (%.0f ms after our watch saw it)", round, rounds, leader.identity(),
          next.replica().identity(), fromKill, last.renewTime() == null ? Double.NaN
              : millis(last.renewTime(), next.at()), fromRenew);
    }
    leader.awaitExit(Duration.ofSeconds(10));
    startReplica();
  }

  /** After a failed round: kill what is stuck, refill to 3 replicas, wait for a leader. */
  private void recover() throws InterruptedException {
    while (set.alive().size() < replicas) {
      startReplica();
    }
    try {
      awaitSteady(steadyTimeout());
    } catch (RuntimeException e) {
      problems.add("recovery: " + e.getMessage() + "; restarting all replicas");
      set.alive().forEach(Replica::close);
      for (int i = 0; i < replicas; i++) {
        startReplica(false);
      }
      awaitSteady(steadyTimeout().plusSeconds(30));
    }
  }

  /** Kill/terminate at a random point of the renewal cycle, not in step with it. */
  private void randomPhase() throws InterruptedException {
    Thread.sleep(500 + random.nextInt((int) Math.max(1, options.retryPeriod().toMillis())));
  }

  // -----------------------------------------------------------------------------------------------
  // Observation helpers

  Replica startReplica() {
    return startReplica(true);
  }

  /** {@code alone}: no other replica of ours is starting at the same time. */
  Replica startReplica(boolean alone) {
    String identity = name + "-" + nextId++;
    Instant spawned = Instant.now();
    Replica replica = set.start(identity);
    starts.add(new Start(replica, spawned, alone));
    return replica;
  }

  /**
   * Waits for 3 live replicas, exactly one of which says it leads and has worked, while the other
   * two have reported it as the new leader. Judged from the logs alone: no API request of ours.
   */
  Replica awaitSteady(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      List<Replica> alive = set.alive();
      List<Replica> leaders = set.selfDeclaredLeaders();
      if (alive.size() == replicas && leaders.size() == 1) {
        Replica leader = leaders.get(0);
        boolean followed = alive.stream().filter(r -> r != leader)
            .allMatch(r -> leader.identity().equals(lastReportedLeader(r)));
        if (followed && leader.logged("doing stuff...")) {
          return leader;
        }
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("no steady election within " + timeout.toSeconds()
            + " s (alive " + alive.size() + ", self-declared leaders "
            + leaders.stream().map(Replica::identity).toList() + ")");
      }
      Thread.sleep(50);
    }
  }

  private static String lastReportedLeader(Replica replica) {
    String leader = null;
    for (String line : replica.texts()) {
      String msg = WorkLog.message(line);
      if (msg.startsWith("new leader is ")) {
        leader = msg.substring("new leader is ".length()).trim();
      }
    }
    return leader;
  }

  /** The first line of another replica matching {@code message}, timestamped at or after {@code t0}. */
  private Found awaitLine(Replica except, Predicate<String> message, Instant t0, Duration timeout)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      Found best = null;
      for (Replica r : set.replicas()) {
        if (r == except) {
          continue;
        }
        for (String line : r.texts()) {
          Instant at = WorkLog.timestamp(line);
          if (at != null && !at.isBefore(t0) && message.test(WorkLog.message(line))) {
            if (best == null || at.isBefore(best.at())) {
              best = new Found(r, at);
            }
            break;
          }
        }
      }
      if (best != null) {
        return best;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("no new leader within " + timeout.toSeconds() + " s after "
            + except.identity() + " was stopped");
      }
      Thread.sleep(20);
    }
  }

  private void startWatch() {
    if (closed) {
      return;
    }
    watch = admin.leases().inNamespace(set.namespace()).withName(set.leaseName())
        .watch(new Watcher<Lease>() {
          @Override
          public void eventReceived(Action action, Lease lease) {
            Instant now = Instant.now();
            if (lease == null || lease.getSpec() == null) {
              return;
            }
            String holder = lease.getSpec().getHolderIdentity();
            renewals.add(new Renewal(now, holder == null ? "" : holder,
                lease.getSpec().getRenewTime() == null ? null
                    : lease.getSpec().getRenewTime().toInstant()));
          }

          @Override
          public void onClose(WatcherException cause) {
            // fabric8 reconnects by itself; a 410 Gone ends the watch: start a new one.
            if (!closed) {
              problems.add("benchmark's lease watch closed (" + cause.getMessage() + "); restarted");
              startWatch();
            }
          }
        });
  }

  /**
   * CPU time of a process in nanoseconds, all its threads, including those that ended: the
   * scheduler's run time of the live threads ({@code /proc/<pid>/task/<tid>/schedstat},
   * nanosecond precision) plus what the ended ones used (the process's utime + stime in
   * {@code /proc/<pid>/stat} minus the live threads' own, in 10 ms ticks); -1 if it is gone.
   */
  static long cpuNanos(long pid) {
    Path proc = Path.of("/proc", Long.toString(pid));
    try (var dirs = Files.list(proc.resolve("task"))) {
      long liveNanos = 0;
      long liveTicks = 0;
      for (Path task : dirs.toList()) {
        try {
          long ticks = statTicks(task.resolve("stat"));
          long nanos = Long.parseLong(Files.readString(task.resolve("schedstat")).trim()
              .split("\\s+")[0]);
          liveTicks += ticks;
          liveNanos += nanos;
        } catch (IOException | RuntimeException e) {
          // the thread ended meanwhile: the process total below counts it
        }
      }
      long endedTicks = Math.max(0, statTicks(proc.resolve("stat")) - liveTicks);
      return liveNanos + endedTicks * 10_000_000L;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /** utime + stime of a /proc stat file, in clock ticks (USER_HZ = 100). */
  private static long statTicks(Path stat) throws IOException {
    String s = Files.readString(stat);
    String[] f = s.substring(s.lastIndexOf(')') + 2).trim().split("\\s+");
    return Long.parseLong(f[11]) + Long.parseLong(f[12]);
  }

  static double rssMiB(long pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
        if (line.startsWith("VmRSS:")) {
          String[] parts = line.trim().split("\\s+");
          return Long.parseLong(parts[1]) / 1024.0; // kB
        }
      }
    } catch (IOException | RuntimeException e) {
      // gone
    }
    return Double.NaN;
  }

  /** Milliseconds from spawn to the "attempting to acquire leader lease" line, per start. */
  List<Double> startupMs() {
    return startupMs(false);
  }

  /** Start-up times; {@code aloneOnly}: only replicas that started on their own. */
  List<Double> startupMs(boolean aloneOnly) {
    List<Double> out = new ArrayList<>();
    for (Start s : starts) {
      if (aloneOnly && !s.alone()) {
        continue;
      }
      for (String line : s.replica().texts()) {
        if (WorkLog.message(line).startsWith("attempting to acquire leader lease")) {
          Instant at = WorkLog.timestamp(line);
          if (at != null) {
            out.add(millis(s.spawnedAt(), at));
          }
          break;
        }
      }
    }
    return out;
  }

  static double millis(Instant from, Instant to) {
    return Duration.between(from, to).toNanos() / 1e6;
  }

  void say(String format, Object... args) {
    System.out.printf("%6.1fs [%-8s] %s%n", (System.nanoTime() - Bench.T0) / 1e9, name,
        String.format(format, args));
    System.out.flush();
  }

  /** Every replica's log, one file each, for looking into a run. */
  void dumpLogs(Path dir) throws IOException {
    Path mine = Files.createDirectories(dir.resolve(name));
    for (Replica r : set.replicas()) {
      Files.write(mine.resolve(r.identity() + ".log"), r.texts());
    }
  }

  @Override
  public void close() {
    closed = true;
    Watch w = watch;
    if (w != null) {
      w.close();
    }
    set.close();
  }
}
