package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.github.leaderelection.harness.Replica;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** The article's walkthrough against a real kube-apiserver + etcd, with three real processes. */
class ElectionIT extends ReplicaTestSupport {

  @Test
  void threeReplicasElectExactlyOneLeader(TestInfo info) {
    replicas(info, List.of("--work-interval=1s")).startAll("replica", 3);

    Replica leader = awaitSingleLeader(Duration.ofSeconds(30));
    await(Duration.ofSeconds(10)).until(() -> leader.logged("doing stuff..."));

    Lease lease = replicas.lease();
    assertThat(lease.getSpec().getHolderIdentity()).isEqualTo(leader.identity());
    assertThat(lease.getSpec().getLeaseDurationSeconds()).isEqualTo(15);
    assertThat(lease.getSpec().getLeaseTransitions()).isZero();
    assertThat(lease.getSpec().getAcquireTime()).isNotNull();
    assertThat(lease.getSpec().getRenewTime()).isNotNull();

    assertThat(leader.logged("attempting to acquire leader lease " + replicas.namespace()
        + "/my-lease...")).isTrue();
    assertThat(leader.logged("successfully acquired lease " + replicas.namespace() + "/my-lease"))
        .isTrue();
    for (Replica follower : replicas.replicas()) {
      if (follower != leader) {
        awaitThat(Duration.ofSeconds(10), follower.identity() + " follows", () -> follower.logged("new leader is " + leader.identity()));
        assertThat(follower.logged("doing stuff...")).isFalse();
      }
    }
    await(Duration.ofSeconds(10)).until(() -> leader.logged("still the leader!"));
    assertNoOverlappingWork();
  }
}
