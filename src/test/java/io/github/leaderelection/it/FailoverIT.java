package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.leaderelection.harness.Replica;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** Leader loss by shutdown and by crash, with real processes and a real API server. */
class FailoverIT extends ReplicaTestSupport {

  @Test
  void sigtermReleasesTheLeaseAndAFollowerTakesOverAtOnce(TestInfo info) throws Exception {
    replicas(info, List.of("--work-interval=500ms")).startAll("replica", 3);
    Replica leader = awaitSingleLeader(Duration.ofSeconds(30));
    await(Duration.ofSeconds(10)).until(() -> leader.logged("doing stuff..."));
    awaitFollowersSee(leader);

    long start = System.nanoTime();
    leader.terminate();
    // Scenario 2: a new leader within 5 s (release + watch: usually well under a second).
    awaitThat(Duration.ofSeconds(5), "new leader after SIGTERM", () -> {
          String holder = replicas.holder();
          return !holder.isEmpty() && !holder.equals(leader.identity());
        });
    long tookMillis = (System.nanoTime() - start) / 1_000_000;

    assertThat(leader.awaitExit(Duration.ofSeconds(30))).as(leader.log()).isZero();
    assertThat(leader.logged("released lease " + replicas.namespace() + "/my-lease"))
        .as(leader.log()).isTrue();
    Replica next = awaitSingleLeader(Duration.ofSeconds(10));
    await(Duration.ofSeconds(10)).until(() -> next.logged("doing stuff..."));
    assertThat(replicas.lease().getSpec().getLeaseTransitions()).isEqualTo(1);
    assertNoOverlappingWork();
    System.out.printf("graceful handover: new holder %d ms after SIGTERM%n", tookMillis);
  }

  @Test
  void sigkillIsSurvivedWithinTheLeaseDuration(TestInfo info) throws Exception {
    Duration lease = Duration.ofSeconds(6);
    Duration retry = Duration.ofSeconds(1);
    replicas(info, List.of("--lease-duration=6s", "--renew-deadline=4s", "--retry-period=1s",
        "--work-interval=500ms")).startAll("replica", 3);
    Replica leader = awaitSingleLeader(Duration.ofSeconds(30));
    awaitFollowersSee(leader);

    long start = System.nanoTime();
    leader.kill();
    // Scenario 3: leaseDuration + 1.2 x retryPeriod + 2 s.
    Duration bound = lease.plus(retry.multipliedBy(12).dividedBy(10)).plusSeconds(2);
    awaitThat(bound, "new leader after SIGKILL", () -> {
          String holder = replicas.holder();
          return !holder.isEmpty() && !holder.equals(leader.identity());
        });
    long tookMillis = (System.nanoTime() - start) / 1_000_000;
    Replica next = awaitSingleLeader(Duration.ofSeconds(10));
    await(Duration.ofSeconds(10)).until(() -> next.logged("doing stuff..."));
    assertThat(replicas.lease().getSpec().getLeaseTransitions()).isEqualTo(1);
    assertNoOverlappingWork();
    System.out.printf("crash failover: new holder %d ms after SIGKILL (bound %d ms)%n",
        tookMillis, bound.toMillis());
  }

  private void awaitFollowersSee(Replica leader) {
    for (Replica r : replicas.replicas()) {
      if (r != leader) {
        awaitThat(Duration.ofSeconds(15), r.identity() + " follows", () -> r.logged("new leader is " + leader.identity()));
      }
    }
  }
}
