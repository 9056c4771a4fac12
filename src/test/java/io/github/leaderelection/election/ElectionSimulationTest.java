package io.github.leaderelection.election;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The real elector ({@link Campaign}, {@link ElectionRules}, {@link LeaseView}, {@link Term}) in
 * several replicas against a simulated API server, on skewed clocks, through injected faults, all
 * from a seed. {@code -Dsim.schedules=N} runs more schedules, {@code -Dsim.seed=N} replays one (and
 * prints its trace with {@code -Dsim.trace=true}), {@code -Dsim.exclude=HAND_DELETE,...} leaves
 * fault kinds out to isolate a defect (the seeds then make other schedules).
 */
class ElectionSimulationTest {

  private static final List<Class<?>> QUIET = List.of(LeaderElector.class, FailureLog.class,
      Term.class, LeaseWatch.class);
  private static final List<Level> saved = new ArrayList<>();

  /** The elector logs every takeover and failure: thousands of schedules would flood the build. */
  @BeforeAll
  static void silenceElector() {
    for (Class<?> c : QUIET) {
      Logger logger = (Logger) LoggerFactory.getLogger(c);
      saved.add(logger.getLevel());
      logger.setLevel(Level.OFF);
    }
  }

  @AfterAll
  static void restoreLogging() {
    for (int i = 0; i < QUIET.size(); i++) {
      ((Logger) LoggerFactory.getLogger(QUIET.get(i))).setLevel(saved.get(i));
    }
  }

  @Test
  @DisplayName("Across random fault schedules no two replicas' terms or units of work overlap, a"
      + " leader exists within the liveness bound once faults stop, and a release is taken over"
      + " at once")
  void randomSchedules() {
    Long only = Long.getLong("sim.seed");
    int count = only != null ? 1 : Integer.getInteger("sim.schedules", 1000);
    long first = only != null ? only : Long.getLong("sim.firstSeed", 1L);
    long started = System.nanoTime();
    List<String> failures = new ArrayList<>();
    int overlaps = 0;
    long worstLeaderAfterQuiet = 0;
    long worstBoundShare = 0;
    long worstTakeoverWatching = 0;
    long worstTakeoverPolling = 0;
    long events = 0;
    int[] faults = new int[SimSchedule.Fault.values().length];
    int[] requestFaults = new int[SimPort.Fault.values().length];
    for (long seed = first; seed < first + count; seed++) {
      SimSchedule run = SimSchedule.run(seed, only != null && Boolean.getBoolean("sim.trace"));
      if (only != null) {
        run.world().trace().forEach(System.out::println);
      }
      SimSchedule.Outcome o = run.outcome();
      overlaps += o.overlaps();
      events += o.events();
      worstLeaderAfterQuiet = Math.max(worstLeaderAfterQuiet, o.leaderAfterQuiet());
      worstBoundShare = Math.max(worstBoundShare, o.livenessBound() <= 0 ? 0
          : 100 * o.leaderAfterQuiet() / o.livenessBound());
      if (o.watch()) {
        worstTakeoverWatching = Math.max(worstTakeoverWatching, o.takeoverAfterRelease());
      } else {
        worstTakeoverPolling = Math.max(worstTakeoverPolling, o.takeoverAfterRelease());
      }
      for (int i = 0; i < faults.length; i++) {
        faults[i] += o.faults()[i];
      }
      for (int i = 1; i < requestFaults.length; i++) {
        requestFaults[i] += run.world().requestFaults()[i];
      }
      for (String v : o.violations()) {
        failures.add("seed " + seed + ": " + v);
      }
    }
    System.out.println(count + " schedules, " + overlaps + " overlapping terms");
    StringBuilder kinds = new StringBuilder();
    for (SimSchedule.Fault f : SimSchedule.Fault.values()) {
      kinds.append(kinds.length() == 0 ? "" : ", ").append(f.name().toLowerCase(Locale.ROOT))
          .append(' ').append(faults[f.ordinal()]);
    }
    for (SimPort.Fault f : SimPort.Fault.values()) {
      if (f != SimPort.Fault.NONE) {
        kinds.append(", ").append(f.name().toLowerCase(Locale.ROOT)).append(' ')
            .append(requestFaults[f.ordinal()]);
      }
    }
    System.out.printf(Locale.ROOT, "leader after faults stopped: worst %.1fs (%d%% of the bound);"
        + " takeover after a release: worst %d ms watching, %d ms polling; %d events in %.1fs;"
        + " faults: %s%n", worstLeaderAfterQuiet / 1e9, worstBoundShare,
        worstTakeoverWatching / 1_000_000, worstTakeoverPolling / 1_000_000, events,
        (System.nanoTime() - started) / 1e9, kinds);
    failures.stream().limit(30).forEach(System.out::println);
    assertThat(failures).as("replay one with -Dsim.seed=N -Dsim.trace=true").isEmpty();
  }

  @Test
  @DisplayName("A seed replays the very same run, event for event")
  void seedReplays() {
    List<String> first = SimSchedule.run(42, true).world().trace();
    List<String> second = SimSchedule.run(42, true).world().trace();
    assertThat(first).hasSizeGreaterThan(100).isEqualTo(second);
  }

  @Test
  @DisplayName("The checker is not vacuous: a follower clock twice as fast as real time (beyond"
      + " the 5% bound) takes over while the partitioned leader still works, and is reported")
  void fastClockOverlapIsCaught() {
    assertThat(partitionedLeader(2.0).overlaps()).isNotEmpty()
        .anySatisfy(o -> assertThat(o).contains("overlapping terms").contains("r0#").contains("r1#"));
    assertThat(partitionedLeader(1 + SimSchedule.MAX_RATE_DEVIATION).overlaps()).isEmpty();
  }

  @Test
  @DisplayName("The checker is not vacuous: work that ignores the term's deadline runs after a long"
      + " pause, while the new leader works, and is reported")
  void unfencedWorkAfterPauseIsCaught() {
    assertThat(pausedLeader(true).overlaps()).anySatisfy(o ->
        assertThat(o).contains("overlapping work units"));
    assertThat(pausedLeader(false).overlaps()).isEmpty();
  }

  /** r0 leads on a true clock; r1 watches on a clock at {@code followerRate}; r0 is cut off. */
  private static SimLedger partitionedLeader(double followerRate) {
    SimWorld world = scripted();
    SimReplica leader = world.start("r0", 1.0);
    world.scheduler().runUntil(SimWorld.SECOND);
    world.start("r1", followerRate);
    world.scheduler().runUntil(20 * SimWorld.SECOND);
    assertThat(leader.leading()).isTrue();
    leader.partition(40 * SimWorld.SECOND, false);
    world.scheduler().runUntil(60 * SimWorld.SECOND);
    world.finish();
    return world.ledger();
  }

  /** r0 leads, then its process freezes for 30 s; r1 takes over meanwhile. */
  private static SimLedger pausedLeader(boolean unfencedWork) {
    SimWorld world = scripted();
    world.unfencedWork(unfencedWork);
    // Long units with short breaks: the new leader is almost always working, so a unit of the old
    // one's cannot slip between two of its units.
    world.work(100 * SimWorld.MS, 2 * SimWorld.SECOND, 2 * SimWorld.SECOND);
    SimReplica leader = world.start("r0", 1.0);
    world.scheduler().runUntil(SimWorld.SECOND);
    world.start("r1", 1.0);
    world.scheduler().runUntil(20 * SimWorld.SECOND);
    assertThat(leader.leading()).isTrue();
    world.scheduler().at(20 * SimWorld.SECOND + 1, () -> leader.pause(30 * SimWorld.SECOND));
    world.scheduler().runUntil(60 * SimWorld.SECOND);
    world.finish();
    return world.ledger();
  }

  /** No random faults: what happens is what the test scripts. */
  private static SimWorld scripted() {
    SimWorld world = new SimWorld(1, Duration.ofSeconds(15), Duration.ofSeconds(10),
        Duration.ofSeconds(2), true, false);
    world.work(SimWorld.SECOND, 200 * SimWorld.MS, 200 * SimWorld.MS);
    return world;
  }

  /**
   * The schedules the random runs found, cut down to their essence. Each asserts the contract and
   * fails on the elector as committed; they are disabled until the lead fixes the rule at fault.
   */
  @Nested
  @Disabled("defects reported by the simulation; enable with the fix")
  class ReportedDefects {

    @Test
    @DisplayName("A replica that starts while the Lease is deleted does not take over from the"
        + " holder, cut off but still within its fence")
    void freshReplicaAfterDelete() {
      SimWorld world = scripted();
      SimReplica r0 = world.start("r0", 1.0);
      world.scheduler().runUntil(20 * SimWorld.SECOND);
      assertThat(r0.leading()).isTrue();
      r0.partition(30 * SimWorld.SECOND, true); // works on until its fence, ~10 s after its renewal
      world.scheduler().runUntil(20_500 * SimWorld.MS);
      world.server().handDelete();
      world.scheduler().runUntil(21 * SimWorld.SECOND);
      world.start("r1", 1.0); // never saw the Lease: creates it at once
      world.scheduler().runUntil(45 * SimWorld.SECOND);
      world.finish();
      assertThat(world.ledger().overlaps()).isEmpty();
    }

    @Test
    @DisplayName("A holder cleared by hand keeps its claim even for a replica that missed its"
        + " takeover and remembers an older holder")
    void clearedHolderNeverSeen() {
      SimWorld world = scripted();
      SimReplica r0 = world.start("r0", 1.0);
      world.scheduler().runUntil(SimWorld.SECOND);
      SimReplica r1 = world.start("r1", 1.0);
      SimReplica r2 = world.start("r2", 1.0);
      world.scheduler().runUntil(10 * SimWorld.SECOND);
      assertThat(r0.leading()).isTrue();
      r1.partition(12 * SimWorld.SECOND, true); // misses what follows until 22 s
      world.scheduler().runUntil(12 * SimWorld.SECOND);
      r0.sigterm(); // released; r2 takes over
      world.scheduler().runUntil(20 * SimWorld.SECOND);
      assertThat(r2.leading()).isTrue();
      r2.partition(30 * SimWorld.SECOND, true); // works on until its fence, ~30 s
      world.scheduler().runUntil(21 * SimWorld.SECOND);
      world.server().handClearHolder();
      // r1 reconnects at 22 s, sees an empty holder, attributes it to r0 (seen before 10 s) and
      // takes over at ~25 s.
      world.scheduler().runUntil(45 * SimWorld.SECOND);
      world.finish();
      assertThat(world.ledger().overlaps()).isEmpty();
    }

    @Test
    @DisplayName("A replica cut off while the Lease was re-created and deleted again does not"
        + " create it while the holder's fence runs")
    void missedCreateAndDelete() {
      SimWorld world = scripted();
      SimReplica r0 = world.start("r0", 1.0);
      world.scheduler().runUntil(SimWorld.SECOND);
      SimReplica r1 = world.start("r1", 1.0);
      world.scheduler().runUntil(20 * SimWorld.SECOND);
      assertThat(r0.leading()).isTrue();
      world.server().handDelete(); // r1 sees it deleted; r0 re-creates it at its next renewal
      world.scheduler().runUntil(20_200 * SimWorld.MS);
      r1.partition(20_400 * SimWorld.MS, true); // misses the re-creation and the next delete
      world.scheduler().runUntil(40 * SimWorld.SECOND);
      assertThat(r0.leading()).isTrue();
      r0.partition(30 * SimWorld.SECOND, true); // works on until its fence, ~47.5 s
      world.scheduler().runUntil(40_300 * SimWorld.MS);
      world.server().handDelete();
      // r1 reconnects at 40.6 s and reads: absent, as when it last looked (the informer has no
      // event for it either); r0's claim, seen at 20 s, is over: it creates the Lease at ~41 s.
      world.scheduler().runUntil(70 * SimWorld.SECOND);
      world.finish();
      assertThat(world.ledger().overlaps()).isEmpty();
    }

    @Test
    @DisplayName("The release on SIGTERM waits for the work of every term, not only the last: a"
        + " unit started just before a fence outlives a term taken back at once")
    void releaseWaitsForEarlierTermsWork() {
      SimWorld world = scripted();
      world.work(100 * SimWorld.MS, 4_500 * SimWorld.MS, 4_500 * SimWorld.MS); // long units
      SimReplica r0 = world.start("r0", 1.0);
      world.scheduler().runUntil(SimWorld.SECOND);
      world.start("r1", 1.0);
      world.scheduler().runUntil(20 * SimWorld.SECOND);
      assertThat(r0.leading()).isTrue();
      long fence = r0.clock().realAt(r0.campaign().term().deadlineNanos());
      // Cut off until just before the fence: term 1 lapses while one of its units runs, then the
      // Lease (still naming r0) is taken back at once as term 2, whose units are short.
      r0.partition(fence - 300 * SimWorld.MS - world.now(), false);
      world.scheduler().runUntil(fence - 500 * SimWorld.MS);
      world.work(100 * SimWorld.MS, 50 * SimWorld.MS, 50 * SimWorld.MS);
      world.scheduler().runUntil(fence + 200 * SimWorld.MS);
      r0.sigterm(); // term 2's unit is done: released at once, term 1's unit still runs
      world.scheduler().runUntil(fence + 20 * SimWorld.SECOND);
      world.finish();
      assertThat(world.ledger().overlaps()).isEmpty();
    }
  }
}
