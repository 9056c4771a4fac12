package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.leaderelection.harness.Replica;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * Five replicas racing for an absent Lease at the same instant. To make "the same instant" real
 * rather than a matter of JVM start-up jitter, they start while the API server is frozen: their
 * first requests all hang, and all proceed together when it is thawed.
 */
class ConflictStormIT extends ReplicaTestSupport {

  @Test
  void exactlyOneOfFiveWinsAndTheRestFollow(TestInfo info) throws Exception {
    replicas(info, List.of("--work-interval=500ms"));
    controlPlane.stopApiServer();
    List<Replica> five;
    try {
      five = replicas.startAll("racer", 5);
      awaitThat(Duration.ofSeconds(60), "all five started", () -> five.stream().allMatch(r -> r.logged("attempting to acquire leader lease")));
      await(Duration.ofSeconds(2)).pollDelay(Duration.ofMillis(500)).until(() -> true);
    } finally {
      controlPlane.startApiServer();
    }

    Replica leader = awaitSingleLeader(Duration.ofSeconds(30));
    for (Replica r : five) {
      if (r != leader) {
        awaitThat(Duration.ofSeconds(20), r.identity() + " follows", () -> r.logged("new leader is " + leader.identity()));
        assertThat(r.logged("successfully acquired lease")).as(r.log()).isFalse();
      }
    }
    long conflicts = five.stream().filter(r -> r.logged("(409 Conflict)")).count();
    assertThat(conflicts).as("replicas that lost the race with a 409\n" + replicas.logs())
        .isGreaterThanOrEqualTo(1);
    assertThat(replicas.lease().getSpec().getLeaseTransitions()).isZero();
    assertNoOverlappingWork();
    System.out.printf("conflict storm: %d of 4 losers saw 409 Conflict%n", conflicts);
  }
}
