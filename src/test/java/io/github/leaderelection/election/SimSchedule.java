package io.github.leaderelection.election;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * One random schedule, all of it from one seed: the timings, 3 to 5 replicas with skewed clocks, a
 * fault phase of 60 to 120 simulated seconds with faults at random times, then a quiet phase in
 * which a leader must exist from {@link #livenessBound} on, and a proper release (SIGTERM of the
 * leader) must be taken over at once. The same seed replays the same run, event for event.
 */
final class SimSchedule {

  /**
   * The kinds of timed fault, with their weights. Request-level faults are in {@link SimPort}.
   * HAND_DELETE is {@code kubectl delete}: a held Lease carries the holder's finalizer, so it is
   * only marked for deletion. Removing that finalizer by hand is not among the faults: it is an
   * operator overriding the safety mechanism (see {@link SimApiServer#handDelete()}).
   * FOREIGN_FINALIZER is another controller adding its own finalizer to the Lease, or removing it
   * ({@link SimApiServer#foreignController()}): a hand delete then no longer completes when ours
   * is removed. When faults stop, that controller keeps its finalizer half of the time, unless the
   * Lease is being deleted and only its finalizer holds it: then nobody may hold the Lease, and a
   * leader exists only once that controller lets go (the documented behaviour), so it does.
   */
  enum Fault {
    PAUSE(3), PARTITION(2), SIGTERM(2), SIGKILL(1),
    /**
     * A second process of the target's identity starts while the target, cut off, still runs (a
     * StatefulSet pod force-deleted on an unreachable node, or a copied identity).
     */
    TWIN(1),
    HAND_DELETE(1), HAND_CLEAR_HOLDER(1),
    HAND_MAX_TRANSITIONS(0.5), WATCH_DOWN(1), SERVER_FREEZE(1), FOREIGN_FINALIZER(1);

    final double weight;

    Fault(double weight) {
      this.weight = weight;
    }
  }

  /** The clock rates of the random schedules: within 5% of real time (see {@link SimClock}). */
  static final double MAX_RATE_DEVIATION = 0.05;

  /**
   * @param violations "what" for each broken invariant, empty if none
   * @param overlaps overlapping term or work-unit pairs (the safety violations)
   * @param leaderAfterQuiet how long after faults stopped a leader existed for good
   * @param takeoverAfterRelease from the release being stored to the next term, -1 if not measured
   * @param watch whether the followers watched (else they polled)
   * @param faults how many faults of each {@link Fault} kind were injected
   * @param fenced the units' fenced writes: accepted, refused as stale, stale but accepted
   */
  record Outcome(long seed, List<String> violations, int overlaps, long leaderAfterQuiet,
      long livenessBound, long takeoverAfterRelease, boolean watch, long events, int[] faults,
      Fencing fenced) {
  }

  /**
   * The fenced writes of one run (see {@link SimApiServer#fencedWrite}).
   *
   * @param writePauses pauses injected between a unit's check and its write
   */
  record Fencing(long accepted, long refused, long staleAccepted, int writePauses) {

    static Fencing of(SimWorld world) {
      SimApiServer server = world.server();
      return new Fencing(server.fencedAccepted(), server.fencedRefused(),
          server.staleAccepted().size(), world.writePausesInjected());
    }
  }

  /**
   * The probability that a unit's process pauses between its check and its fenced write, in the
   * fault phase (with about one unit a second, one such pause a minute or so per leader).
   */
  static final double WRITE_PAUSE_RATE = 0.02;

  private final long seed;
  private final Random plan;
  private final SimWorld world;
  private final int[] injected = new int[Fault.values().length];
  private final List<String> violations = new ArrayList<>();
  private int nextIdentity;
  private boolean releaseChecked;

  private SimSchedule(long seed, boolean trace, boolean fencing, boolean coordinated) {
    this.seed = seed;
    this.plan = new Random(seed);
    boolean shortTimings = plan.nextDouble() < 0.3;
    Duration lease = Duration.ofSeconds(shortTimings ? 6 : 15);
    Duration retry = Duration.ofSeconds(shortTimings ? 1 : 2);
    this.world = new SimWorld(plan.nextLong(), lease, Duration.ofSeconds(shortTimings ? 4 : 10),
        retry, plan.nextDouble() < 0.8, trace);
    world.writePauses(WRITE_PAUSE_RATE);
    world.server().fencing(fencing);
    if (coordinated) {
      world.coordinated(maxWallBehind(lease, retry), maxWallAhead(lease));
    }
  }

  /**
   * Coordinated runs: how far a replica's wall clock may be behind the server's. Beyond
   * {@code leaseDuration - renewDeadline} the server names a new holder while a cut-off holder's
   * fence still runs (the danger the named replica's own wait answers); up to
   * {@code leaseDuration - 2 x retryPeriod}, a holder that renews on time never looks expired to
   * the server, so the election still settles once faults stop (beyond, the server would replace
   * even a renewing holder over and over, a liveness failure of the server's rule, not ours).
   */
  static long maxWallBehind(Duration lease, Duration retry) {
    return lease.toNanos() - 2 * retry.toNanos();
  }

  /** Coordinated runs: a clock ahead only delays the server's expiry, by as much as it is ahead. */
  static long maxWallAhead(Duration lease) {
    return lease.toNanos() / 4;
  }

  static Outcome run(long seed) {
    return run(seed, false).outcome;
  }

  /** Runs the schedule of {@code seed}; with {@code trace}, the world keeps its event trace. */
  static SimSchedule run(long seed, boolean trace) {
    return run(seed, trace, true);
  }

  /** With {@code fencing} false the server accepts every fenced write (the checker's own test). */
  static SimSchedule run(long seed, boolean trace, boolean fencing) {
    return run(seed, trace, fencing, true);
  }

  /** With {@code incarnations} false a twin of one identity counts as the same holder. */
  static SimSchedule run(long seed, boolean trace, boolean fencing, boolean incarnations) {
    return run(seed, trace, fencing, incarnations, false);
  }

  /** A coordinated run: the API server's election controller names the holder. */
  static SimSchedule runCoordinated(long seed, boolean trace) {
    return run(seed, trace, true, true, true);
  }

  private static SimSchedule run(long seed, boolean trace, boolean fencing, boolean incarnations,
      boolean coordinated) {
    SimSchedule s = new SimSchedule(seed, trace, fencing, coordinated);
    s.world.incarnations(incarnations);
    try {
      s.execute();
    } catch (RuntimeException e) {
      s.violations.add("at " + SimWorld.seconds(s.world.now()) + ": " + e);
      s.outcome = new Outcome(seed, s.violations, 0, -1, -1, -1, false,
          s.world.scheduler().executed(), s.injected, Fencing.of(s.world));
    }
    return s;
  }

  private Outcome outcome;

  SimWorld world() {
    return world;
  }

  Outcome outcome() {
    return outcome;
  }

  /**
   * From the moment faults stop, a leader exists within this bound. The worst chain: a request
   * sent just before faults stopped hangs until its deadline ({@link ElectionConfig#requestTimeout()}),
   * the failure backs off for at most 4 x 1.2 x retry, the replica then first reads the last
   * holder's write and waits its lease duration on a clock up to 5% slow, and polls again within
   * 2.2 x retry (client-go's jitter); 1 s covers request and watch latency and the takeover write.
   * The same allowance covers a write that reaches the server late, up to requestTimeout + 2 s.
   */
  static long livenessBound(ElectionConfig config) {
    long retry = config.retryPeriod().toNanos();
    long bound = (long) (config.leaseDuration().toNanos() / (1 - MAX_RATE_DEVIATION))
        + config.requestTimeout().toNanos() + (long) (4 * 1.2 * retry) + (long) (2.2 * retry)
        + SimWorld.SECOND;
    if (config.coordinated()) {
      // The server sees the last holder expire up to maxWallAhead late, notices within a requeue,
      // pings and waits out a candidate that does not answer, names, and requeues once more if
      // its naming raced with a write.
      bound += maxWallAhead(config.leaseDuration()) + 2 * SimElectionController.REQUEUE
          + SimElectionController.ELECTION;
    }
    return bound;
  }

  /**
   * A release is taken over at once by a watching follower; a polling one needs its poll too. In
   * coordinated mode the server first runs its ping round: up to a requeue and the time a
   * candidate that does not answer is waited for. There the server names the next holder over the
   * release at once, so a polling replica sees the release only if its poll happens to fall in
   * between; if not, it waits out the old holder's lease duration (it cannot tell a release it
   * missed from a holder cut off with a clock behind the server's).
   */
  static long releaseAllowance(ElectionConfig config) {
    long allowance = SimWorld.SECOND
        + (config.watch() ? 0 : (long) (2.2 * config.retryPeriod().toNanos()));
    if (config.coordinated()) {
      allowance += SimElectionController.REQUEUE + SimElectionController.ELECTION;
      if (!config.watch()) {
        allowance += (long) (config.leaseDuration().toNanos() / (1 - MAX_RATE_DEVIATION));
      }
    }
    return allowance;
  }

  private void execute() {
    ElectionConfig config = world.config("-");
    long quietAt = (60 + plan.nextInt(61)) * SimWorld.SECOND;
    world.quietFrom(quietAt);
    double[] requestRates = {0, 0.02, 0.05, 0.15};
    double[] gapRates = {0, 0.05, 0.2};
    world.faultRates(requestRates[plan.nextInt(requestRates.length)],
        gapRates[plan.nextInt(gapRates.length)]);
    int replicas = 3 + plan.nextInt(3);
    boolean together = plan.nextBoolean();
    for (int i = 0; i < replicas; i++) {
      String identity = "r" + nextIdentity++;
      long at = together ? 0 : world.uniform(0, 3 * SimWorld.SECOND);
      double rate = rate();
      world.scheduler().at(at, () -> world.start(identity, rate));
    }
    world.onGone(this::replace);
    double meanGap = world.uniform(2, 12) * (double) SimWorld.SECOND;
    for (long t = 0; ; ) {
      t += (long) (-Math.log(1 - plan.nextDouble()) * meanGap);
      if (t >= quietAt) {
        break;
      }
      world.scheduler().at(t, this::inject);
    }

    boolean foreignKeeps = plan.nextBoolean();
    world.scheduler().at(quietAt, () -> {
      if (!foreignKeeps || world.server().blockedByForeignFinalizer()) {
        world.server().foreignLetsGo();
      }
    });

    long bound = livenessBound(config);
    long checkFrom = quietAt + bound;
    long releaseAt = checkFrom + 5 * SimWorld.SECOND;
    world.scheduler().runUntil(releaseAt);
    long lastLeaderless = world.ledger().lastLeaderless(quietAt, releaseAt);
    long leaderAfterQuiet = lastLeaderless < 0 ? 0 : lastLeaderless + 1 - quietAt;
    if (lastLeaderless >= checkFrom) {
      violations.add("no leader at " + SimWorld.seconds(lastLeaderless) + ", though faults stopped"
          + " at " + SimWorld.seconds(quietAt) + " (bound " + SimWorld.seconds(bound) + ")");
    }

    long takeover = -1;
    SimReplica leader = world.leader();
    if (leader != null) {
      releaseChecked = true;
      leader.sigterm();
      long allowance = releaseAllowance(config);
      world.scheduler().runUntil(releaseAt + allowance + 3 * SimWorld.SECOND);
      long stored = world.server().lastReleaseStoredAt();
      SimLedger.Interval next = stored < releaseAt ? null : world.ledger().firstTermFrom(stored);
      if (stored < releaseAt) {
        violations.add("SIGTERM of leader " + leader.name() + " at " + SimWorld.seconds(releaseAt)
            + " stored no release");
      } else if (next == null || next.start - stored > allowance) {
        violations.add("release by " + leader.name() + " stored at " + SimWorld.seconds(stored)
            + " not taken over within " + SimWorld.seconds(allowance) + " (next term: " + next + ")");
      } else {
        takeover = next.start - stored;
      }
    }
    world.finish();
    for (String rejected : world.server().invalid()) {
      violations.add("a write the API server rejects (422): " + rejected);
    }
    List<String> overlaps = world.ledger().overlaps();
    violations.addAll(overlaps);
    violations.addAll(world.ledger().tokenViolations());
    violations.addAll(world.server().staleAccepted());
    outcome = new Outcome(seed, violations, overlaps.size(), leaderAfterQuiet, bound, takeover,
        config.watch(), world.scheduler().executed(), injected, Fencing.of(world));
  }

  private double rate() {
    return 1 + (plan.nextDouble() * 2 - 1) * MAX_RATE_DEVIATION;
  }

  /** A replica that exited or was killed in the fault phase comes back, as a kubelet restarts it. */
  private void replace(SimReplica gone) {
    if (releaseChecked) {
      return; // the release check's SIGTERM: the others take over, nobody comes back
    }
    // Sometimes the same pod name (a container restart), sometimes a new pod.
    String identity = world.random().nextBoolean() ? gone.identity() : "r" + nextIdentity++;
    double rate = rate();
    // A replica signalled in the fault phase may leave after it: it still comes back.
    long at = world.faultPhase()
        ? world.clipToQuiet(world.now() + world.uniform(SimWorld.SECOND / 2, 20 * SimWorld.SECOND))
        : world.now() + world.uniform(SimWorld.SECOND / 2, 2 * SimWorld.SECOND);
    world.scheduler().at(at, () -> world.start(identity, rate));
  }

  private void inject() {
    List<SimReplica> alive = world.alive();
    Random random = world.random();
    SimReplica leader = world.leader();
    SimReplica target = leader != null && random.nextBoolean() ? leader
        : alive.isEmpty() ? null : alive.get(random.nextInt(alive.size()));
    Fault fault = pick(random);
    long leaseNanos = world.config("-").leaseDuration().toNanos();
    if (target == null && fault.ordinal() < Fault.HAND_DELETE.ordinal()) {
      return;
    }
    injected[fault.ordinal()]++;
    world.trace(target, "fault " + fault);
    switch (fault) {
      case PAUSE -> target.pause(world.uniform(100 * SimWorld.MS, 3 * leaseNanos));
      case PARTITION -> target.partition(world.uniform(SimWorld.SECOND, 2 * leaseNanos),
          random.nextBoolean());
      case SIGTERM -> target.sigterm();
      case SIGKILL -> target.sigkill();
      case TWIN -> {
        target.partition(world.uniform(leaseNanos, 3 * leaseNanos), random.nextBoolean());
        world.start(target.identity(), rate());
      }
      case HAND_DELETE -> world.server().handDelete();
      case HAND_CLEAR_HOLDER -> world.server().handClearHolder();
      case HAND_MAX_TRANSITIONS -> world.server().handMaxTransitions();
      case WATCH_DOWN -> {
        if (target != null) {
          target.watchDown(world.uniform(SimWorld.SECOND / 2, 20 * SimWorld.SECOND));
        }
      }
      case FOREIGN_FINALIZER -> world.server().foreignController();
      case SERVER_FREEZE -> world.server().freezeUntil(
          world.clipToQuiet(world.now() + world.uniform(SimWorld.SECOND, 12 * SimWorld.SECOND)));
      default -> throw new IllegalStateException(fault.name());
    }
  }

  /** {@code -Dsim.exclude=HAND_DELETE,HAND_CLEAR_HOLDER} leaves kinds out, to isolate a defect. */
  private static final List<Fault> KINDS = java.util.Arrays.stream(Fault.values())
      .filter(f -> !java.util.Arrays.asList(System.getProperty("sim.exclude", "").split(","))
          .contains(f.name()))
      .toList();

  private static Fault pick(Random random) {
    double total = 0;
    for (Fault f : KINDS) {
      total += f.weight;
    }
    double x = random.nextDouble() * total;
    for (Fault f : KINDS) {
      x -= f.weight;
      if (x < 0) {
        return f;
      }
    }
    return KINDS.get(KINDS.size() - 1);
  }
}
