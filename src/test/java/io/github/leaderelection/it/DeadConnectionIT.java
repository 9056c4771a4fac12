package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.leaderelection.harness.BlackholeProxy;
import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.harness.WorkLog;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * A dead connection that looks alive: one replica reaches the real API server through a
 * {@link BlackholeProxy} (TLS end to end, so fabric8's JDK client could negotiate HTTP/2), the
 * proxy drops every byte of its connections without closing them (no FIN, no RST: a network
 * partition), then heals for new connections only. The replica must be a working member of the
 * election again within about 30 s of the heal, not after TCP gives up (about 15 minutes).
 *
 * <p>Default timings (15 s lease, 10 s renew deadline, 2 s retry, 5 s request timeout), as in
 * production. The bound after the heal is {@link #RECOVERY} ({@code -Ddeadconn.recovery=...s}
 * to measure how long a build without the fix stays stuck).
 */
class DeadConnectionIT extends ReplicaTestSupport {

  /** About 30 s, plus slack for a loaded machine (2 cores shared by several builds). */
  private static final Duration RECOVERY = Duration.parse("PT"
      + System.getProperty("deadconn.recovery", "40s").toUpperCase(java.util.Locale.ROOT));

  private BlackholeProxy proxy;
  private ReplicaSet partitioned;

  @AfterEach
  void stopProxy() {
    if (partitioned != null) {
      partitioned.close();
    }
    if (proxy != null) {
      proxy.close();
    }
  }

  /** {@code direct} replicas reach the API server directly; {@link #partitioned} through the proxy. */
  private ReplicaSet direct(TestInfo info) {
    ReplicaSet set = replicas(info, List.of("--work-interval=1s"));
    proxy = BlackholeProxy.inFrontOf(controlPlane);
    partitioned = ReplicaSet.of(controlPlane, set.namespace(), set.leaseName(),
        List.of("--work-interval=1s"), ReplicaSet.appLauncher(),
        proxy.writeKubeconfig(controlPlane, controlPlane.workDir()
            .resolve("proxied-" + set.namespace() + ".kubeconfig")));
    return set;
  }

  private String allLogs() {
    return replicas.logs() + (partitioned == null ? "" : partitioned.logs());
  }

  private void within(Duration atMost, String what, Callable<Boolean> condition) {
    try {
      await(atMost).until(condition);
    } catch (ConditionTimeoutException e) {
      throw new AssertionError("not within " + atMost + ": " + what + "\n" + allLogs(), e);
    }
  }

  /** The partitioned replica's story, for the build log (its units of work left out). */
  private static void printStory(Replica replica) {
    replica.lines().stream().filter(l -> !l.text().contains("doing stuff"))
        .forEach(l -> System.out.println("  [" + replica.identity() + "] " + l.text()));
  }

  /** When {@code replica} first logged {@code fragment} after {@code after}, or null. */
  private static Instant loggedAfter(Replica replica, String fragment, Instant after) {
    return replica.lines().stream().filter(l -> l.readAt().isAfter(after))
        .filter(l -> l.text().contains(fragment)).map(Replica.Line::readAt).findFirst()
        .orElse(null);
  }

  @Nested
  @DisplayName("a partitioned leader")
  class PartitionedLeader {

    @Test
    @DisplayName("steps down, and within about 30 s of the heal follows the new leader and can"
        + " lead again")
    void followsTheNewLeaderAfterTheHeal(TestInfo info) throws Exception {
      direct(info);
      Replica p = partitioned.start("partitioned");
      within(Duration.ofSeconds(30), "the proxied replica leads",
          () -> p.identity().equals(replicas.holder()) && p.logged("doing stuff..."));
      Replica d = replicas.start("direct");
      within(Duration.ofSeconds(30), "the direct replica follows",
          () -> d.logged("new leader is " + p.identity()));

      Thread.sleep(3_000); // its watch is up: the partition cuts a live-looking watch

      Instant cut = Instant.now();
      proxy.blackhole();
      within(Duration.ofSeconds(40), "the direct replica takes over during the partition",
          () -> d.identity().equals(replicas.holder()) && d.logged("doing stuff..."));
      within(Duration.ofSeconds(10), "the partitioned leader steps down",
          () -> loggedAfter(p, "no longer the leader", cut) != null);
      Instant healed = Instant.now();
      proxy.heal();
      System.out.println("partition at " + cut + ", healed at " + healed);

      String followsLine = "new leader is " + d.identity();
      within(RECOVERY, "the old leader follows the new leader after the heal",
          () -> loggedAfter(p, followsLine, cut) != null);
      Duration follows = Duration.between(healed, loggedAfter(p, followsLine, cut));

      // A working follower: it takes the Lease when the leader lets it go.
      Instant released = Instant.now();
      d.terminate();
      within(Duration.ofSeconds(20), "the old leader leads again after the release",
          () -> p.identity().equals(replicas.holder()) && loggedAfter(p, "doing stuff...",
              released) != null);
      Duration leadsAgain = Duration.between(released,
          loggedAfter(p, "successfully acquired lease", released));
      assertThat(WorkLog.overlaps(List.of(p, d))).as(allLogs()).isEmpty();
      printStory(p);
      System.out.printf("dead connection, leader: follows the new leader %d ms after the heal;"
          + " leads again %d ms after the release; proxy connections: %d%n", follows.toMillis(),
          leadsAgain.toMillis(), proxy.accepted());
    }
  }

  @Nested
  @DisplayName("a partitioned follower")
  class PartitionedFollower {

    @Test
    @DisplayName("takes the Lease released by the leader within about 30 s of the heal")
    void takesOverAfterTheHeal(TestInfo info) throws Exception {
      direct(info);
      Replica d = replicas.start("direct");
      within(Duration.ofSeconds(30), "the direct replica leads",
          () -> d.identity().equals(replicas.holder()) && d.logged("doing stuff..."));
      Replica p = partitioned.start("partitioned");
      within(Duration.ofSeconds(30), "the proxied replica follows",
          () -> p.logged("new leader is " + d.identity()));

      Thread.sleep(3_000); // its watch is up: the partition cuts a live-looking watch

      Instant cut = Instant.now();
      proxy.blackhole();
      // Longer than the lease duration: the follower's view of the Lease runs out meanwhile.
      Thread.sleep(20_000);
      Instant healed = Instant.now();
      proxy.heal();
      System.out.println("partition at " + cut + ", healed at " + healed);
      d.terminate(); // releases the Lease: the follower must see it and take it

      within(RECOVERY, "the partitioned follower leads after the heal",
          () -> p.identity().equals(replicas.holder())
              && loggedAfter(p, "doing stuff...", healed) != null);
      Duration took = Duration.between(healed,
          loggedAfter(p, "successfully acquired lease", healed));
      assertThat(WorkLog.overlaps(List.of(p, d))).as(allLogs()).isEmpty();
      printStory(p);
      System.out.printf("dead connection, follower: leads %d ms after the heal (and the"
          + " leader's release); proxy connections: %d%n", took.toMillis(), proxy.accepted());
    }
  }
}
