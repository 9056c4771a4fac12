package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.WorkLog;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** A frozen leader and a frozen API server: the cases where a naive leader keeps working. */
class PauseAndOutageIT extends ReplicaTestSupport {

  private static final List<String> FAST = List.of("--lease-duration=4s", "--renew-deadline=3s",
      "--retry-period=500ms", "--work-interval=200ms");

  @Test
  void frozenLeaderDoesNoWorkAfterWakingUpAndRejoinsAsFollower(TestInfo info) throws Exception {
    replicas(info, FAST).startAll("replica", 3);
    Replica old = awaitSingleLeader(Duration.ofSeconds(30));
    await(Duration.ofSeconds(10)).until(() -> WorkLog.units(old).size() >= 3);

    old.freeze(); // SIGSTOP: like a long GC pause or a node that stopped scheduling the process
    awaitThat(Duration.ofSeconds(20), "takeover while the leader is frozen", () -> {
          String holder = replicas.holder();
          return !holder.isEmpty() && !holder.equals(old.identity());
        });
    Replica next = replicas.leader().orElseThrow();
    await(Duration.ofSeconds(10)).until(() -> WorkLog.units(next).size() >= 3);
    int unitsBeforeThaw = WorkLog.units(old).size();

    old.thaw(); // SIGCONT: it wakes up believing, for an instant, that it still leads
    awaitThat(Duration.ofSeconds(15), "old leader steps down and follows", () -> old.logged("no longer the leader, staying inactive.")
            && old.logged("new leader is " + next.identity()));
    // Give it every chance to misbehave before judging.
    await(Duration.ofSeconds(5)).pollDelay(Duration.ofSeconds(2)).until(() -> true);

    assertThat(WorkLog.units(old)).as("work units of the thawed leader\n" + old.log())
        .hasSize(unitsBeforeThaw);
    assertThat(old.isAlive()).isTrue();
    assertThat(replicas.holder()).isEqualTo(next.identity());
    assertNoOverlappingWork();
  }

  @Test
  void apiServerOutageStopsTheWorkAndTheElectionRecoversAfterwards(TestInfo info)
      throws Exception {
    replicas(info, FAST).startAll("replica", 3);
    Replica leader = awaitSingleLeader(Duration.ofSeconds(30));
    await(Duration.ofSeconds(10)).until(() -> WorkLog.units(leader).size() >= 3);

    Instant stoppedAt = Instant.now();
    controlPlane.stopApiServer();
    try {
      // Longer than the renew deadline (3 s), and than the lease duration (4 s).
      awaitThat(Duration.ofSeconds(20), "leader steps down during the outage", () -> leader.logged("no longer the leader, staying inactive."));
      await(Duration.ofSeconds(10)).pollDelay(Duration.ofSeconds(6)).until(() -> true);
    } finally {
      controlPlane.startApiServer();
    }
    List<WorkLog.Unit> units = WorkLog.units(leader);
    Instant lastUnitDuringOutage = units.stream().map(WorkLog.Unit::at)
        .filter(t -> t.isAfter(stoppedAt)).reduce((a, b) -> b).orElse(stoppedAt);
    // The last successful renew was before the outage began: work must end within renewDeadline
    // of it (+ slack for log timestamps and a loaded machine).
    assertThat(Duration.between(stoppedAt, lastUnitDuringOutage))
        .as("work continued too long into the outage\n" + leader.log())
        .isLessThanOrEqualTo(Duration.ofSeconds(3).plusMillis(500));

    Replica after = awaitSingleLeader(Duration.ofSeconds(40));
    await(Duration.ofSeconds(10)).until(() -> after.logged("doing stuff..."));
    assertThat(replicas.replicas()).allMatch(Replica::isAlive);
    assertNoOverlappingWork();
  }
}
