package io.github.leaderelection.election;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Everything one simulated run shares: the scheduler, the one source of randomness, the API
 * server, the ledger, the replicas, the timings, and the knobs the schedule turns (fault rates,
 * the start of the quiet phase). Scripted tests drive it directly; {@link SimSchedule} drives it
 * from a seed.
 */
final class SimWorld {

  static final long MS = 1_000_000L;
  static final long SECOND = 1_000_000_000L;

  private final SimScheduler scheduler = new SimScheduler(20_000_000L);
  private final Random random;
  private final SimApiServer server = new SimApiServer(scheduler::now);
  private final SimLedger ledger = new SimLedger();
  private final List<SimReplica> replicas = new ArrayList<>();
  private final Duration leaseDuration;
  private final Duration renewDeadline;
  private final Duration retryPeriod;
  private final boolean watch;
  private final List<String> trace;
  private Consumer<SimReplica> onGone = r -> { };
  private int incarnations;
  private final int[] requestFaults = new int[SimPort.Fault.values().length];
  private long quietAt = Long.MAX_VALUE;
  private double requestFaultRate;
  private double watchGapRate;
  private boolean unfencedWork;
  private long unitMinNanos = 50 * MS;
  private long unitMaxNanos = 500 * MS;
  private long workIntervalNanos = SECOND;
  private double writePauseRate;
  private int writePauses;

  SimWorld(long seed, Duration leaseDuration, Duration renewDeadline, Duration retryPeriod,
      boolean watch, boolean trace) {
    this.random = new Random(seed);
    this.leaseDuration = leaseDuration;
    this.renewDeadline = renewDeadline;
    this.retryPeriod = retryPeriod;
    this.watch = watch;
    this.trace = trace ? new ArrayList<>() : null;
  }

  // ---------------------------------------------------------------------------------------------
  // Shared parts

  SimScheduler scheduler() {
    return scheduler;
  }

  long now() {
    return scheduler.now();
  }

  private boolean incarnationRule = true;

  /** Whether replicas tell processes of one identity apart (see {@link Incarnation}). */
  boolean incarnations() {
    return incarnationRule;
  }

  void incarnations(boolean on) {
    this.incarnationRule = on;
  }

  Random random() {
    return random;
  }

  SimApiServer server() {
    return server;
  }

  SimLedger ledger() {
    return ledger;
  }

  List<SimReplica> replicas() {
    return replicas;
  }

  ElectionConfig config(String identity) {
    return new ElectionConfig(SimApiServer.NAMESPACE, SimApiServer.NAME, identity, leaseDuration,
        renewDeadline, retryPeriod, true, watch, controller != null, java.util.Map.of());
  }

  private SimElectionController controller;
  private long wallBehindMax = 3600 * SECOND;
  private long wallAheadMax = 3600 * SECOND;

  /**
   * Coordinated election: the API server's election controller ({@link SimElectionController})
   * names the holder; the replicas' wall clocks are off the server's by up to {@code behindMax}
   * behind and {@code aheadMax} ahead (the controller compares them with its own). Before any
   * replica starts.
   */
  void coordinated(long behindMax, long aheadMax) {
    this.controller = new SimElectionController(this);
    this.wallBehindMax = behindMax;
    this.wallAheadMax = aheadMax;
  }

  /** The election controller of a coordinated run, or null. */
  SimElectionController controller() {
    return controller;
  }

  // ---------------------------------------------------------------------------------------------
  // Replicas

  /** Starts a replica process now, its clock at {@code rate}, offset and wall time arbitrary. */
  SimReplica start(String identity, double rate) {
    long offset = SECOND + (random.nextLong() >>> 12); // anything, far from 0 and from overflow
    Instant wall = controller == null
        ? SimApiServer.EPOCH.plusSeconds(random.nextInt(7200) - 3600)
            .plusNanos(random.nextInt(1_000_000_000))
        : SimApiServer.EPOCH.plusNanos(now()).plusNanos(uniform(-wallBehindMax, wallAheadMax));
    SimClock clock = new SimClock(scheduler, offset, rate, wall);
    SimReplica replica = new SimReplica(this, identity, ++incarnations, clock, random.nextLong());
    replicas.add(replica);
    trace(replica, "started, clock rate " + rate);
    replica.start();
    if (controller != null) {
      controller.started(identity);
    }
    return replica;
  }

  /** The live replica leading by its fence now, or null. */
  SimReplica leader() {
    for (SimReplica r : replicas) {
      if (r.leading()) {
        return r;
      }
    }
    return null;
  }

  List<SimReplica> alive() {
    return replicas.stream().filter(SimReplica::alive).toList();
  }

  void onGone(Consumer<SimReplica> onGone) {
    this.onGone = onGone;
  }

  void replicaGone(SimReplica replica) {
    onGone.accept(replica);
  }

  /** Ends the run: open terms are closed at their fence or now. */
  void finish() {
    for (SimReplica r : replicas) {
      r.closeTerm(now());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Knobs

  void quietFrom(long at) {
    this.quietAt = at;
  }

  long quietAt() {
    return quietAt;
  }

  boolean faultPhase() {
    return now() < quietAt;
  }

  /** Fault effects end when the quiet phase begins. */
  long clipToQuiet(long t) {
    return now() < quietAt ? Math.min(t, quietAt) : t;
  }

  void faultRates(double requestFaults, double watchGaps) {
    this.requestFaultRate = requestFaults;
    this.watchGapRate = watchGaps;
  }

  void unfencedWork(boolean unfenced) {
    this.unfencedWork = unfenced;
  }

  boolean unfencedWork() {
    return unfencedWork;
  }

  void work(long intervalNanos, long unitMinNanos, long unitMaxNanos) {
    this.workIntervalNanos = intervalNanos;
    this.unitMinNanos = unitMinNanos;
    this.unitMaxNanos = unitMaxNanos;
  }

  long workIntervalNanos() {
    return workIntervalNanos;
  }

  long unitNanos() {
    return uniform(unitMinNanos, unitMaxNanos);
  }

  /**
   * In the fault phase, each unit's process pauses with probability {@code rate} between the
   * unit's last check of its term and its fenced write (see {@link SimReplica}).
   */
  void writePauses(double rate) {
    this.writePauseRate = rate;
  }

  /**
   * How long the process of a unit about to send its fenced write pauses first (as in a GC pause):
   * 0 mostly; in the fault phase, sometimes up to twice the lease duration, so that a newer leader
   * may have taken over and written meanwhile.
   */
  long writePause() {
    if (!faultPhase() || writePauseRate <= 0 || random.nextDouble() >= writePauseRate) {
      return 0;
    }
    writePauses++;
    return uniform(100 * MS, 2 * leaseDuration.toNanos());
  }

  /** How many pauses before a fenced write {@link #writePause()} injected. */
  int writePausesInjected() {
    return writePauses;
  }

  // ---------------------------------------------------------------------------------------------
  // Randomness

  long uniform(long min, long max) {
    return max <= min ? min : min + (long) (random.nextDouble() * (max - min));
  }

  /** One way of a request: mostly a few ms, sometimes a slow one; only fast once faults stop. */
  long latency() {
    if (faultPhase() && random.nextDouble() < 0.05) {
      return uniform(100 * MS, 800 * MS);
    }
    return uniform(MS, 30 * MS);
  }

  long watchLatency() {
    if (faultPhase() && random.nextDouble() < 0.05) {
      return uniform(200 * MS, 2 * SECOND);
    }
    return uniform(MS, 50 * MS);
  }

  SimPort.Fault requestFault() {
    if (!faultPhase() || random.nextDouble() >= requestFaultRate) {
      return SimPort.Fault.NONE;
    }
    SimPort.Fault[] faults = SimPort.Fault.values();
    SimPort.Fault fault = faults[1 + random.nextInt(faults.length - 1)];
    requestFaults[fault.ordinal()]++;
    return fault;
  }

  /** How many requests met each {@link SimPort.Fault}. */
  int[] requestFaults() {
    return requestFaults;
  }

  boolean watchGap() {
    return faultPhase() && random.nextDouble() < watchGapRate;
  }

  // ---------------------------------------------------------------------------------------------
  // Trace, for replaying one seed

  void trace(SimReplica replica, String what) {
    if (trace != null) {
      trace.add(seconds(now()) + " " + (replica == null ? "world" : replica.name()) + " " + what);
    }
  }

  List<String> trace() {
    return trace == null ? List.of() : trace;
  }

  static String seconds(long nanos) {
    return String.format(Locale.ROOT, "%.3fs", nanos / 1e9);
  }
}
