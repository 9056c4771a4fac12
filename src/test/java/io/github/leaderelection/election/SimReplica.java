package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import java.util.ArrayDeque;
import java.util.Random;

/**
 * One replica process: the real {@link Campaign} on its own skewed clock, driven the way
 * {@link LeaderElector} drives it (an event, then {@code tick()}, then sleep until the time it
 * asks for), plus the leader's work loop and what the process can suffer: pauses, SIGTERM,
 * SIGKILL, partitions.
 *
 * <p>A paused process handles nothing, its clock runs on, and on resume it handles what queued up,
 * in order. A pause (the {@code PAUSE} fault) never starts inside the body of a unit of work: a
 * body frozen half-way finishes after any lease has lapsed, which no lease can fence, so such
 * pauses fall between units, right before the fence check they are meant to test.
 *
 * <h2>A unit of work</h2>
 * A unit is what {@link WorkRunner}'s periodic loop runs: the loop checks the term
 * ({@link Term#isValid()}); the unit's <em>body</em> runs (effects protected by the lease alone,
 * recorded in the ledger as the unit's interval); then the unit records itself in the work record
 * through a <em>fenced write</em>: a {@link UnitOfWork} ({@link #recordUnit}) that sees only the
 * public {@link Term}, checks {@link Term#isValid()} and writes under {@link Term#fencingToken()},
 * as {@link Term#fencedUpdate} does (its last check of the term is right before its request). With
 * some probability ({@link SimWorld#writePause()}) the process then pauses, as in a GC pause, after
 * that check and before the write goes out: its lease lapses, a newer leader may take over and
 * write the record, and the old write reaches the server late, where the fencing rule must refuse
 * it ({@link SimApiServer#fencedWrite}). The unit counts as running work
 * ({@link Term#enterWork()}) until the write's answer is back, as a work thread inside
 * {@code fencedUpdate} would.
 *
 * <p>The overlap check covers a unit from the loop's check to the end of its body, as before, and
 * not its fenced write. That write's safety does not rest on the lease: it may well land after the
 * term has ended (that is the case fencing exists for), and whether it was safe is decided by the
 * server's order of writes alone: it is, unless it lands after a write under a newer token, which
 * {@link SimApiServer} reports as a stale write accepted. Counting the pause or the write as lease-
 * protected work would report as overlaps exactly the writes the fencing makes harmless.
 */
final class SimReplica {

  private static final Runnable NOTHING = () -> { };
  private static final int MAX_TICKS_AT_ONE_INSTANT = 1_000;

  private final SimWorld world;
  private final String identity;
  private final String name;
  private final SimClock clock;
  private final LeaseView view;
  private final SimWatch watch;
  private final Campaign campaign;
  private final ArrayDeque<Runnable> held = new ArrayDeque<>();
  private boolean alive = true;
  private boolean paused;
  private long pendingPauseNanos;
  private boolean sigtermed;
  private boolean stopRequested;
  /**
   * The units running now, of any term: a term's unit may outlive its term by a little (its body)
   * or a lot (its fenced write, after a pause). Each is counted in its term
   * ({@link Term#enterWork()} / {@link Term#exitWork()}), so the Campaign itself decides when our
   * work has stopped (before a release or a finished deletion).
   */
  private final java.util.List<Unit> runningUnits = new java.util.ArrayList<>();
  /** A pause the next fenced write of this process waits out first (scripted tests), or 0. */
  private long nextWritePauseNanos;
  private Term term;
  private SimLedger.Interval termInterval;
  private long partitionedUntil = -1;
  private boolean partitionHangs;
  private long wakeToken;
  private long lastTickAt = -1;
  private int ticksAtThisInstant;

  SimReplica(SimWorld world, String identity, int incarnation, SimClock clock, long seed) {
    this.world = world;
    this.identity = identity;
    this.name = identity + "#" + incarnation;
    this.clock = clock;
    // Every process its own incarnation, as every LeaderElection instance: a twin of the same
    // identity is somebody else (unless the run turns the rule off, to show the checker bites).
    ElectionConfig config = world.config(identity).withIncarnation("sim-" + incarnation);
    this.view = world.incarnations()
        ? new LeaseView(config.leaseDuration().toNanos(), identity, config.ownIncarnation())
        : new LeaseView(config.leaseDuration().toNanos());
    this.watch = new SimWatch(world, this);
    this.campaign = new Campaign(config, view, clock, new SimPort(world, this), new Listener(),
        ElectionMetrics.NONE, watch::live, () -> stopRequested, new Random(seed), null);
  }

  String identity() {
    return identity;
  }

  String name() {
    return name;
  }

  SimClock clock() {
    return clock;
  }

  Campaign campaign() {
    return campaign;
  }

  boolean alive() {
    return alive;
  }

  /** Leading right now by its own fence (the term's deadline, checked without side effects). */
  boolean leading() {
    Term t = campaign.term();
    return alive && t != null && !t.hasEnded() && clock.nanoTime() < t.deadlineNanos();
  }

  /**
   * Whether this process answers a ping of the coordinated election controller: running,
   * reachable, and not on its way out (it withdraws its candidate before it releases).
   */
  boolean answersPings() {
    return alive && !paused && !partitioned() && !sigtermed;
  }

  boolean partitioned() {
    return world.now() < partitionedUntil;
  }

  boolean partitionHangs() {
    return partitionHangs;
  }

  void start() {
    if (world.config(identity).watch()) {
      watch.start();
    }
    deliver(NOTHING);
  }

  /** An event for the Campaign (an answer, a watch event, a wake): handle it, then tick. */
  void deliver(Runnable event) {
    run(() -> {
      event.run();
      afterEvent();
    });
  }

  /** What the watch path does: record what was seen, on this replica's clock. */
  void observe(Lease lease) {
    world.trace(this, "watch sees " + describe(lease));
    view.observe(lease, clock.nanoTime());
  }

  /** A DELETED event, as {@link LeaseWatch} hands it on: the final state, then "gone". */
  void observeDeleted(Lease finalState) {
    world.trace(this, "watch sees deleted, final " + describe(finalState));
    long now = clock.nanoTime();
    view.observe(finalState, now);
    view.observe(null, now);
  }

  static String describe(Lease lease) {
    return lease == null ? "no lease" : "rv=" + lease.getMetadata().getResourceVersion()
        + " holder=" + lease.getSpec().getHolderIdentity()
        + (LeaseWrites.isDeleting(lease) ? " deleting" : "");
  }

  /** {@link Campaign.Port#wake()}: a term's work stopped; the elector runs at once. */
  void wake() {
    world.scheduler().at(world.now(), () -> deliver(NOTHING));
  }

  private void run(Runnable step) {
    if (!alive) {
      return;
    }
    if (paused || !held.isEmpty()) {
      held.add(step);
      return;
    }
    step.run();
  }

  private void drain() {
    while (alive && !paused && !held.isEmpty()) {
      held.poll().run();
    }
  }

  private void afterEvent() {
    if (!alive) {
      return;
    }
    long now = world.now();
    ticksAtThisInstant = now == lastTickAt ? ticksAtThisInstant + 1 : 0;
    lastTickAt = now;
    if (ticksAtThisInstant > MAX_TICKS_AT_ONE_INSTANT) {
      throw new IllegalStateException(name + " ticked " + MAX_TICKS_AT_ONE_INSTANT
          + " times without time passing: a livelock");
    }
    long next = campaign.tick();
    if (campaign.done()) {
      leave();
      return;
    }
    if (next == Campaign.NEVER) {
      return;
    }
    long token = ++wakeToken;
    world.scheduler().at(Math.max(clock.realAt(next), now), () -> {
      if (token == wakeToken) {
        deliver(NOTHING);
      }
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Leadership and work

  private final class Listener implements LeadershipListener {

    @Override
    public void startedLeading(Term t) {
      term = t;
      termInterval = world.ledger().term(name, identity, world.now(), t.fencingToken());
      termInterval.fence = () -> clock.realAt(t.deadlineNanos());
      world.trace(SimReplica.this, "started leading, term " + t.number() + ", token "
          + t.fencingToken());
      long now = world.now();
      world.scheduler().at(now, () -> run(() -> unitOfWork(t)));
    }

    @Override
    public void stoppedLeading(Term endedTerm, TermEnd endReason) {
      world.trace(SimReplica.this, "stopped leading");
      closeTerm(world.now());
    }
  }

  /** The term's validity ends when it was ended or noticed over, or at its fence, if earlier. */
  void closeTerm(long noticedAt) {
    if (termInterval != null) {
      termInterval.end = Math.max(termInterval.start,
          Math.min(noticedAt, clock.realAt(term.deadlineNanos())));
      termInterval = null;
      term = null;
    }
  }

  /** One unit: the term it runs in, its body's interval, and the token of its fenced write. */
  private static final class Unit {
    final Term term;
    final SimLedger.Interval body;
    boolean bodyDone;
    long token = -1;
    boolean writes;

    Unit(Term term, SimLedger.Interval body) {
      this.term = term;
      this.body = body;
    }
  }

  /**
   * The unit's record, as a user writes it against the public API: check the term, then write
   * under its token. {@code target} stands for the object {@link Term#fencedUpdate} would write;
   * it only takes the token, and the simulation carries the write to the server.
   */
  static UnitOfWork recordUnit(java.util.function.LongConsumer target) {
    return term -> {
      if (term.isValid()) {
        target.accept(term.fencingToken());
      }
    };
  }

  /** The same record by work that ignores its term ({@link SimWorld#unfencedWork()}). */
  static UnitOfWork unfencedRecordUnit(java.util.function.LongConsumer target) {
    return term -> target.accept(term.fencingToken());
  }

  /** One round of the leader's work loop: a unit only while the term is valid, then the next. */
  private void unitOfWork(Term t) {
    boolean mayWork = world.unfencedWork() ? !t.hasEnded() : t.isValid();
    if (!mayWork) {
      return; // the loop ends with its term
    }
    long now = world.now();
    long end = now + world.unitNanos();
    Unit unit = new Unit(t, world.ledger().unit(name, identity, now, end));
    world.trace(this, "unit of term " + t.number() + " until " + SimWorld.seconds(end));
    runningUnits.add(unit);
    t.enterWork();
    world.scheduler().at(end, () -> bodyDone(unit));
  }

  /** The body is over: the unit records itself through a fenced write, perhaps after a pause. */
  private void bodyDone(Unit unit) {
    if (!alive) {
      return;
    }
    unit.bodyDone = true;
    java.util.function.LongConsumer target = token -> {
      unit.token = token;
      unit.writes = true;
    };
    try {
      (world.unfencedWork() ? unfencedRecordUnit(target) : recordUnit(target)).run(unit.term);
    } catch (Exception e) {
      throw new IllegalStateException("the simulated unit cannot fail", e);
    }
    if (!unit.writes) {
      world.trace(this, "unit of term " + unit.term.number() + " found its term over: no write");
      unitDone(unit);
      return;
    }
    long pause = nextWritePauseNanos > 0 ? nextWritePauseNanos : world.writePause();
    nextWritePauseNanos = 0;
    // Not on top of another pause, nor while another unit's body runs (none does, as the Campaign
    // starts no term before the last one's work has stopped; the guard keeps bodies unfrozen).
    if (pause > 0 && !paused && runningUnits.stream().allMatch(u -> u.bodyDone)) {
      world.trace(this, "pauses between its check and its fenced write");
      pauseProcess(pause);
    }
    run(() -> sendWrite(unit)); // held while paused: it goes out the moment the process resumes
  }

  /** The fenced write on the wire: it reaches the server after the network's delay. */
  private void sendWrite(Unit unit) {
    world.trace(this, "send fenced write under token " + unit.token);
    if (partitioned()) {
      // Refused or timed out: never reaches the server (a bounded wait, as a client's timeout).
      world.scheduler().after(world.uniform(SimWorld.MS, 2 * SimWorld.SECOND),
          () -> run(() -> unitDone(unit)));
      return;
    }
    world.scheduler().after(world.latency(), () -> arriveWrite(unit));
  }

  /** Decided at the server, even if the sender has died since: it was sent. */
  private void arriveWrite(Unit unit) {
    SimApiServer server = world.server();
    if (server.frozenUntil() > world.now()) {
      world.scheduler().at(server.frozenUntil(), () -> arriveWrite(unit));
      return;
    }
    long stored = server.recordToken();
    SimApiServer.Fenced outcome = server.fencedWrite(name, unit.token, world.now());
    world.trace(this, "server fenced write under token " + unit.token + " -> " + outcome
        + " (stored " + stored + ")");
    world.scheduler().after(world.latency(), () -> run(() -> unitDone(unit)));
  }

  /** Scripted tests: the next unit that gets to its fenced write pauses {@code nanos} first. */
  void pauseBeforeNextWrite(long nanos) {
    nextWritePauseNanos = nanos;
  }

  private boolean unitRunning() {
    return !runningUnits.isEmpty();
  }

  private void unitDone(Unit unit) {
    if (!alive) {
      return;
    }
    runningUnits.remove(unit);
    Term t = unit.term;
    t.exitWork(); // the work-stopped hook: Port.wake(), a tick right after
    long next = clock.realAt(clock.nanoTime() + world.workIntervalNanos());
    world.scheduler().at(next, () -> run(() -> unitOfWork(t)));
    if (pendingPauseNanos > 0) {
      // After the tick that wake-up asked for: the elector thread runs the moment the unit ends,
      // and the pause falls between units, right before the work loop's next fence check.
      long pause = pendingPauseNanos;
      pendingPauseNanos = 0;
      world.scheduler().at(world.now(), () -> pause(pause));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // What the process suffers

  void pause(long nanos) {
    if (!alive || paused) {
      return;
    }
    if (unitRunning()) {
      pendingPauseNanos = nanos;
      return;
    }
    pauseProcess(nanos);
  }

  /** The whole process stops (elector and work alike) for {@code nanos}, up to the quiet phase. */
  private void pauseProcess(long nanos) {
    paused = true;
    long until = world.clipToQuiet(world.now() + nanos);
    world.trace(this, "paused until " + until);
    world.scheduler().at(until, () -> {
      paused = false;
      world.trace(this, "resumed");
      drain();
      deliver(NOTHING);
    });
  }

  void partition(long nanos, boolean hangs) {
    partitionedUntil = world.clipToQuiet(world.now() + nanos);
    partitionHangs = hangs;
    watch.breakFor(partitionedUntil - world.now());
  }

  void watchDown(long nanos) {
    watch.breakFor(nanos);
  }

  /** Handled once the process runs: a paused process sees the signal when it resumes. */
  void sigterm() {
    run(() -> {
      if (sigtermed) {
        return;
      }
      sigtermed = true;
      world.trace(this, "SIGTERM");
      if (world.controller() != null) {
        world.controller().stopped(identity);
      }
      // LeaderElector.stop(): the term ends at once, so no new unit of work starts; the Campaign
      // releases once the work of all its terms has stopped (it is woken as each unit ends).
      Term t = campaign.term();
      if (t != null) {
        t.end(TermEnd.CLOSED);
        closeTerm(world.now());
      }
      requestStop();
    });
  }

  private void requestStop() {
    stopRequested = true;
    deliver(NOTHING);
  }

  void sigkill() {
    if (!alive) {
      return;
    }
    world.trace(this, "SIGKILL");
    closeTerm(world.now());
    for (Unit unit : runningUnits) {
      if (!unit.bodyDone) {
        unit.body.end = world.now(); // a write already sent still reaches the server
      }
    }
    gone();
  }

  private void leave() {
    world.trace(this, "left");
    closeTerm(world.now());
    gone();
  }

  private void gone() {
    alive = false;
    held.clear();
    watch.close();
    world.replicaGone(this);
  }
}
