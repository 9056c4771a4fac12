package io.github.leaderelection.demo;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import io.github.leaderelection.election.Durations;
import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.harness.ControlPlane;
import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.harness.TempDirs;
import io.github.leaderelection.harness.WorkLog;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.awaitility.Awaitility;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code make demo}: leader election in action without a cluster. Starts a local control plane
 * (kube-apiserver + etcd), runs replicas of the real jar as processes, and tells the article's
 * story by itself: the leader crashes (SIGKILL) and a follower takes over once the Lease expires;
 * the next leader is stopped gracefully (SIGTERM), releases the Lease, and a follower takes over at
 * once. Ends with a summary table and the check that matters: one leader at a time.
 */
@Command(
    name = "make demo",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    usageHelpAutoWidth = true,
    description = {
        "Leader election in action, no cluster needed: a local kube-apiserver + etcd, N replicas"
            + " of target/leaderelection.jar as processes, a crash and a graceful handover per"
            + " round, then a summary. Options go through DEMO_ARGS:"
            + " make demo DEMO_ARGS=\"--rounds 2 --lease-duration 6s\".",
        ""},
    footer = {"",
        "Ctrl-C at any moment stops every process the demo started and removes its temporary"
            + " files.",
        "Exit codes: 0 when every check passed, 1 when one failed, 2 for bad options."})
public final class Demo implements Callable<Integer> {

  private static final String PODS = "app.kubernetes.io/name=leaderelection";

  @Option(names = "--replicas", defaultValue = "3", paramLabel = "<n>",
      description = "Replicas to run (at least 2). Default: ${DEFAULT-VALUE}, as the article.")
  int replicaCount;

  @Option(names = "--lease-duration", defaultValue = "15s", converter = DurationOption.class,
      paramLabel = "<duration>",
      description = "The Lease duration, whole seconds: a crash failover takes about this long."
          + " Default: ${DEFAULT-VALUE}, as the article.")
  Duration leaseDuration;

  @Option(names = "--renew-deadline", converter = DurationOption.class, paramLabel = "<duration>",
      description = "Default: 2/3 of the lease duration (10s for 15s).")
  Duration renewDeadline;

  @Option(names = "--retry-period", converter = DurationOption.class, paramLabel = "<duration>",
      description = "Default: 2/15 of the lease duration (2s for 15s).")
  Duration retryPeriod;

  @Option(names = "--work-interval", converter = DurationOption.class, paramLabel = "<duration>",
      description = "Time between two 'doing stuff...' of the leader."
          + " Default: 1/3 of the lease duration (5s for 15s).")
  Duration workInterval;

  @Option(names = "--rounds", defaultValue = "1", paramLabel = "<n>",
      description = "Rounds of the story; each is one crash and one graceful handover."
          + " Default: ${DEFAULT-VALUE}.")
  int rounds;

  @Option(names = "--tty", negatable = true,
      description = "Live view with a redrawn panel (--tty) or plain timestamped lines"
          + " (--no-tty). Default: live when stdout is a terminal and CI is not true.")
  Boolean tty;

  @Option(names = "--pause", converter = DurationOption.class, paramLabel = "<duration>",
      description = "Time to look at the screen between steps. Default: 3s live, 0s plain.")
  Duration pause;

  @Option(names = "--lease-name", defaultValue = "my-lease", paramLabel = "<name>",
      description = "Default: ${DEFAULT-VALUE}.")
  String leaseName;

  @Option(names = "--namespace", defaultValue = "default", paramLabel = "<namespace>",
      description = "Default: ${DEFAULT-VALUE}.")
  String namespace;

  @Spec
  CommandSpec spec;

  private final PrintStream out = System.out;
  private Screen screen;
  private Session session;
  private ReplicaSet replicas;
  private int nextIndex;
  private final List<Handover> handovers = new ArrayList<>();
  private final List<String> problems = new ArrayList<>();

  public static void main(String[] args) {
    CommandLine cmd = new CommandLine(new Demo());
    cmd.setParameterExceptionHandler((e, a) -> {
      e.getCommandLine().getErr().println("demo: " + e.getMessage());
      e.getCommandLine().getErr().println("Try 'make demo DEMO_ARGS=--help' for more information.");
      return 2;
    });
    int code = cmd.execute(args);
    // --help, a bad option: the directory scripts/demo.sh made for the demo was not used
    String given = System.getProperty("demo.tmpdir");
    if (given != null) {
      TempDirs.deleteTree(Path.of(given));
    }
    System.exit(code);
  }

  /** Whether to draw the live view when neither --tty nor --no-tty is given. */
  static boolean autoTty() {
    return !"true".equalsIgnoreCase(System.getenv("CI")) && System.console() != null
        && !"dumb".equals(System.getenv("TERM"));
  }

  @Override
  public Integer call() {
    validate();
    boolean live = tty != null ? tty : autoTty();
    Duration lookTime = pause != null ? pause : live ? Duration.ofSeconds(3) : Duration.ZERO;
    session = Session.open(out);
    quietLogging();
    screen = Screen.create(live, out);
    session.screen(screen);
    long started = System.nanoTime();
    int code;
    try {
      screen.start();
      tellStory(lookTime);
      code = summary();
    } catch (Exception e) {
      if (session.interrupted()) {
        return 130; // the shutdown hook reports and cleans up
      }
      problems.add(e.getClass().getSimpleName() + ": " + e.getMessage());
      screen.stop();
      dumpLogs();
      code = 1;
    } finally {
      screen.stop();
    }
    int running = (int) ProcessHandle.current().descendants().filter(ProcessHandle::isAlive)
        .count();
    session.close();
    long left = ProcessHandle.current().descendants().filter(ProcessHandle::isAlive).count();
    screen.say(String.format(Locale.ROOT, "cleanup: stopped %d processes (replicas,"
        + " kube-apiserver, etcd), removed %s; %s", running, session.tmp(),
        left == 0 ? "nothing left running" : left + " processes left running!"));
    if (left != 0) {
      problems.add(left + " child processes still running after cleanup");
      code = 1;
    }
    double took = (System.nanoTime() - started) / 1e9;
    if (code == 0) {
      screen.say(String.format(Locale.ROOT, "demo: OK (%.0fs)", took));
    } else {
      screen.say("demo: FAILED " + String.join("; ", problems));
    }
    return code;
  }

  private void validate() {
    if (replicaCount < 2) {
      throw usage("--replicas must be at least 2 (one leader, one to take over), got "
          + replicaCount);
    }
    if (rounds < 1) {
      throw usage("--rounds must be at least 1, got " + rounds);
    }
    if (leaseDuration.toMillis() % 1000 != 0 || leaseDuration.toSeconds() < 2) {
      throw usage("--lease-duration must be whole seconds, at least 2s, got "
          + Durations.format(leaseDuration));
    }
    if (renewDeadline == null) {
      renewDeadline = Duration.ofMillis(leaseDuration.toMillis() * 2 / 3);
    }
    if (retryPeriod == null) {
      retryPeriod = Duration.ofMillis(leaseDuration.toMillis() * 2 / 15);
    }
    if (workInterval == null) {
      workInterval = Duration.ofMillis(leaseDuration.toMillis() / 3);
    }
    try {
      LeaderElection.builder(null).lease("default", "my-lease").identity("demo")
          .leaseDuration(leaseDuration).renewDeadline(renewDeadline).retryPeriod(retryPeriod)
          .validate();
    } catch (IllegalArgumentException e) {
      throw usage(e.getMessage().replace("leaseDuration", "--lease-duration")
          .replace("renewDeadline", "--renew-deadline").replace("retryPeriod", "--retry-period"));
    }
    if (workInterval.isZero() || workInterval.isNegative()) {
      throw usage("--work-interval must be greater than 0");
    }
  }

  private ParameterException usage(String message) {
    return new ParameterException(spec.commandLine(), message);
  }

  private List<String> replicaArgs() {
    return List.of(
        "--lease-duration=" + leaseDuration.toSeconds() + "s",
        "--renew-deadline=" + renewDeadline.toMillis() + "ms",
        "--retry-period=" + retryPeriod.toMillis() + "ms",
        "--work-interval=" + workInterval.toMillis() + "ms");
  }

  private String fmt(Duration d) {
    return Durations.format(d);
  }

  // ---- the story ----

  private void tellStory(Duration lookTime) throws InterruptedException {
    screen.step("Leader election demo: " + replicaCount + " replicas, one Lease, no cluster");
    screen.say("Replicas of the real app (" + ReplicaSet.appJar().getFileName() + ") run as"
        + " processes against a local kube-apiserver + etcd and compete for the Lease "
        + namespace + "/" + leaseName + ".");
    screen.say("Timings: lease duration " + fmt(leaseDuration) + ", renew deadline "
        + fmt(renewDeadline) + ", retry period " + fmt(retryPeriod) + ", 'doing stuff...' every "
        + fmt(workInterval) + ".");
    screen.say("The story (" + rounds + (rounds == 1 ? " round" : " rounds") + "): the leader"
        + " crashes (SIGKILL) and a follower takes over once the Lease expires (about "
        + fmt(leaseDuration) + "); a replacement starts; the new leader is stopped gracefully"
        + " (SIGTERM), releases the Lease, and a follower takes over at once.");
    screen.say("Ctrl-C stops everything at any moment.");

    ControlPlane cp = startControlPlane();

    screen.step("Starting " + replicaCount + " replicas");
    screen.hint("a Deployment with " + replicaCount + " replicas; each pod's name is its"
        + " identity (env POD_NAME)", "kubectl apply -k k8s/", "kubectl get pods -l " + PODS);
    replicas = ReplicaSet.of(cp, namespace, leaseName, replicaArgs());
    session.replicas(replicas);
    screen.follow(replicas);
    for (int i = 0; i < replicaCount; i++) {
      startReplica(null);
    }
    Replica leader = awaitStableLeader();
    screen.say(leader.identity() + " won the race for the Lease and leads: it logs 'doing"
        + " stuff...' every " + fmt(workInterval) + " and renews the Lease every "
        + fmt(retryPeriod) + "; the others follow ('new leader is " + leader.identity() + "').");
    screen.hint("who holds the Lease, and each replica's log",
        "kubectl get lease " + leaseName + " -o yaml      # or: kubectl describe lease "
            + leaseName,
        "kubectl logs -l " + PODS + " --prefix");
    look(lookTime, "the leader renews the Lease every " + fmt(retryPeriod) + ": watch renewTime");

    for (int round = 1; round <= rounds; round++) {
      leader = crash(round, leader, lookTime);
      leader = graceful(round, leader, lookTime);
    }
  }

  private ControlPlane startControlPlane() {
    boolean offline = Boolean.parseBoolean(System.getProperty("kubeapitest.offline", "true"));
    String version = System.getProperty("kubeapitest.version", "1.36.3");
    screen.step("Starting the control plane: kube-apiserver + etcd " + version + " on 127.0.0.1");
    screen.say(offline
        ? "Local binaries from " + System.getProperty("kubeapitest.dir", "~/.kubeapitest")
            + " (scripts/provision-control-plane.sh built them if they were missing)."
        : "fabric8 kube-api-test downloads the binaries on the first run (this takes a while).");
    screen.status("starting kube-apiserver and etcd (usually 5-30s)");
    long t0 = System.nanoTime();
    ControlPlane cp = ControlPlane.start();
    session.controlPlane(cp);
    screen.clearStatus();
    screen.say(String.format(Locale.ROOT, "control plane ready at %s after %.1fs", cp.url(),
        (System.nanoTime() - t0) / 1e9));
    screen.hint("any cluster will do, e.g. kind (make kind-up)",
        "kind create cluster --name leaderelection");
    return cp;
  }

  private Replica startReplica(String why) {
    String identity = "demo-" + nextIndex++;
    Replica r = replicas.start(identity);
    screen.say("started " + identity + " (pid " + r.pid() + ")"
        + (why == null ? "" : ": " + why));
    return r;
  }

  private Replica crash(int round, Replica leader, Duration lookTime)
      throws InterruptedException {
    String id = leader.identity();
    screen.step("Round " + round + ": crash: kill the leader " + id + " (SIGKILL)");
    screen.say(id + " gets no chance to release the Lease. The followers take over only when"
        + " they have not seen it renewed for the lease duration (" + fmt(leaseDuration) + ").");
    screen.hint("a crash sends no SIGTERM: the container is OOM-killed or its node is lost."
        + " (Deleting the pod, as the article does, stops it gracefully: that is the next step.)"
        + " Watch the holder change", "kubectl get lease " + leaseName + " -w");
    Handover h = handover(round, Handover.Kind.CRASH, leader, Replica::kill,
        "waiting for the Lease to expire (" + fmt(leaseDuration) + " after the last renewal)");
    screen.say(String.format(Locale.ROOT, "crash failover: %s holds the Lease %.2fs after the"
        + " kill (about the lease duration, %s); it logged 'successfully acquired lease' after"
        + " %.2fs.", h.newLeader(), h.leaseSeconds(), fmt(leaseDuration), h.loggedSeconds()));
    startReplica("a replacement, as the Deployment's ReplicaSet would create one");
    Replica next = awaitStableLeader();
    screen.hint("the Lease names the new holder; leaseTransitions went up by one",
        "kubectl describe lease " + leaseName, "kubectl get pods -l " + PODS);
    look(lookTime, next.identity() + " leads now; the replacement follows");
    return next;
  }

  private Replica graceful(int round, Replica leader, Duration lookTime)
      throws InterruptedException {
    String id = leader.identity();
    screen.step("Round " + round + ": graceful: stop the leader " + id + " (SIGTERM)");
    screen.say(id + " stops its work, clears holderIdentity ('released lease') and exits; the"
        + " followers watch the Lease, see it free and take over at once.");
    screen.hint("deleting the pod (so do a rollout and a node drain) sends SIGTERM",
        "kubectl delete pod " + id);
    Handover h = handover(round, Handover.Kind.GRACEFUL, leader, Replica::terminate,
        "waiting for the handover");
    int exit = leader.awaitExit(Duration.ofSeconds(60));
    boolean released = leader.logged("released lease " + namespace + "/" + leaseName);
    screen.say(String.format(Locale.ROOT, "graceful handover: %s holds the Lease %.2fs after"
        + " the SIGTERM (no waiting for the lease to expire); %s %s and exited with %d.",
        h.newLeader(), h.leaseSeconds(), id,
        released ? "released the Lease" : "did NOT log 'released lease'", exit));
    if (exit != 0 || !released) {
      problems.add(id + " on SIGTERM: exit " + exit + (released ? "" : ", no 'released lease'"));
    }
    startReplica("a replacement");
    Replica next = awaitStableLeader();
    look(lookTime, next.identity() + " leads now");
    return next;
  }

  /** Signals the leader, measures until another replica holds the Lease and says so. */
  private Handover handover(int round, Handover.Kind kind, Replica old, Consumer<Replica> signal,
      String waiting) {
    screen.status(waiting);
    Instant at = Instant.now();
    long t0 = System.nanoTime();
    signal.accept(old);
    AtomicReference<String> holder = new AtomicReference<>("");
    Duration atMost = leaseDuration.plus(retryPeriod.multipliedBy(2)).plusSeconds(60);
    await(atMost, "a replica other than " + old.identity() + " holds the Lease").until(() -> {
      String h = replicas.holder();
      holder.set(h);
      return !h.isEmpty() && !h.equals(old.identity());
    });
    double leaseSeconds = (System.nanoTime() - t0) / 1e9;
    Replica next = replicas.byIdentity(holder.get()).orElseThrow(
        () -> new IllegalStateException("the Lease names " + holder + ", not one of ours"));
    AtomicReference<Instant> acquired = new AtomicReference<>();
    await(Duration.ofSeconds(60), next.identity() + " logs 'successfully acquired lease'")
        .until(() -> {
          acquired.set(acquiredSince(next, at));
          return acquired.get() != null;
        });
    screen.clearStatus();
    double loggedSeconds = Duration.between(at, acquired.get()).toNanos() / 1e9;
    Handover h = new Handover(round, kind, old.identity(), next.identity(), leaseSeconds,
        loggedSeconds);
    handovers.add(h);
    return h;
  }

  /** When {@code r} logged {@code successfully acquired lease} at or after {@code since}. */
  private static Instant acquiredSince(Replica r, Instant since) {
    for (String line : r.texts()) {
      if (WorkLog.message(line).startsWith("successfully acquired lease")) {
        Instant ts = WorkLog.timestamp(line);
        // klog timestamps have microseconds; allow for the truncation
        if (ts != null && !ts.isBefore(since.minusMillis(1))) {
          return ts;
        }
      }
    }
    return null;
  }

  /**
   * Waits until exactly one running replica leads (the Lease names it, it says so and has done
   * some work) and every other running replica has seen it ('new leader is X').
   */
  private Replica awaitStableLeader() {
    screen.status("waiting for a leader, and for every follower to see it");
    AtomicReference<Replica> leader = new AtomicReference<>();
    await(leaseDuration.multipliedBy(2).plusSeconds(90), "one leader, seen by all followers")
        .until(() -> {
          String h = replicas.holder();
          Optional<Replica> r = h.isEmpty() ? Optional.empty() : replicas.byIdentity(h);
          if (r.isEmpty() || !r.get().isAlive() || !workedInCurrentTerm(r.get())) {
            return false;
          }
          for (Replica other : replicas.alive()) {
            if (other != r.get() && (!Screen.state(other).equals("follower")
                || !other.logged("new leader is " + h))) {
              return false;
            }
          }
          leader.set(r.get());
          return true;
        });
    screen.clearStatus();
    return leader.get();
  }

  private static boolean workedInCurrentTerm(Replica r) {
    List<WorkLog.Term> terms = WorkLog.terms(r);
    return r.believesLeading() && !terms.isEmpty() && terms.get(terms.size() - 1).units() > 0;
  }

  private void look(Duration lookTime, String what) throws InterruptedException {
    if (!lookTime.isZero()) {
      screen.status(what);
      Thread.sleep(lookTime.toMillis());
      screen.clearStatus();
    }
  }

  private static org.awaitility.core.ConditionFactory await(Duration atMost, String what) {
    return Awaitility.await(what).atMost(atMost).pollDelay(Duration.ZERO)
        .pollInterval(Duration.ofMillis(50)).ignoreExceptions();
  }

  // ---- the end ----

  private int summary() {
    screen.stop();
    List<Replica> all = replicas.replicas();
    List<String> overlaps = WorkLog.overlaps(all);
    int units = all.stream().mapToInt(r -> WorkLog.units(r).size()).sum();
    Screen.LeaseView lease = Screen.LeaseView.of(replicas.lease());
    int transitions = lease == null ? -1 : lease.transitions();

    screen.step("Summary");
    List<String> lines = new ArrayList<>(Handover.table(handovers));
    lines.add("");
    if (overlaps.isEmpty()) {
      lines.add(String.format(Locale.ROOT, "  one leader at a time: OK (no overlapping work"
          + " among %d replicas, %d units of 'doing stuff...' checked)", all.size(), units));
    } else {
      lines.add("  one leader at a time: VIOLATED (" + overlaps.size() + " overlaps)");
      overlaps.forEach(o -> lines.add("    " + o));
      problems.add("one leader at a time violated");
    }
    lines.add("  leaseTransitions: " + transitions + " (" + handovers.size()
        + " handovers; each new holder adds one)");
    long crashes = handovers.stream().filter(h -> h.kind() == Handover.Kind.CRASH).count();
    long graceful = handovers.size() - crashes;
    lines.add(String.format(Locale.ROOT, "  crash failover: %s; graceful handover: %s",
        average(Handover.Kind.CRASH), average(Handover.Kind.GRACEFUL)));
    screen.block(lines);
    screen.hint("the same check by hand: one holder, and the transitions",
        "kubectl get lease " + leaseName
            + " -o jsonpath='{.spec.holderIdentity} {.spec.leaseTransitions}{\"\\n\"}'");
    if (crashes != rounds || graceful != rounds) {
      problems.add("expected " + rounds + " crash(es) and " + rounds + " graceful handover(s)");
    }
    return problems.isEmpty() ? 0 : 1;
  }

  private String average(Handover.Kind kind) {
    double avg = handovers.stream().filter(h -> h.kind() == kind)
        .mapToDouble(Handover::leaseSeconds).average().orElse(Double.NaN);
    return String.format(Locale.ROOT, "%.2fs", avg);
  }

  private void dumpLogs() {
    if (replicas == null) {
      return;
    }
    List<String> lines = new ArrayList<>();
    lines.add("the replicas' last log lines:");
    for (Replica r : replicas.replicas()) {
      List<String> texts = r.texts();
      texts.subList(Math.max(0, texts.size() - 15), texts.size())
          .forEach(t -> lines.add("  [" + r.identity() + "] " + t));
    }
    screen.block(lines);
  }

  /** The demo's own JVM logs only errors; kube-api-test's process output not at all. */
  private static void quietLogging() {
    if (LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME) instanceof Logger root) {
      root.setLevel(Level.ERROR);
    }
    if (LoggerFactory.getLogger("io.fabric8.kubeapitest") instanceof Logger kat) {
      kat.setLevel(Level.OFF);
    }
  }

  /** Go-style durations, as the app's flags: 15s, 500ms, 1m. */
  static final class DurationOption implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
      try {
        return Durations.parse(value);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }
}
