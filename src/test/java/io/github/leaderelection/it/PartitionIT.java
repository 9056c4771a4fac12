package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.github.leaderelection.harness.NetworkNamespace;
import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.harness.WorkLog;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * A real network partition: one replica (the packaged app's JVM) runs in a network namespace of
 * its own and reaches the real kube-apiserver through a forwarder inside that namespace; iptables
 * rules in that namespace only drop its packets (a blackhole: no reset, the connection looks open)
 * and are then removed. The other replicas run in the harness's namespace and never lose the API
 * server.
 *
 * <p>Two heals. When the path simply comes back, the stalled connection resumes with TCP's next
 * retransmission (exponential backoff: the longer the partition, the later). When the path comes
 * back but the connections open across the partition stay dead (a stateful firewall, NAT or load
 * balancer lost their state and drops their packets silently), only a client that detects the
 * dead connection and opens a new one recovers; one that trusts it waits for TCP to give up
 * (about 15 minutes). The test keeps watching past the 30 s bound to say how long it took.
 *
 * <p>Needs root, {@code ip}, {@code iptables} and {@code target/nsforward} (scripts/test.sh
 * provides the last two); without one of them it fails with one line saying which (never skips).
 */
@DisplayName("A real partition (iptables in the leader's own network namespace)")
class PartitionIT extends ReplicaTestSupport {

  private static final Path ROOT = Path.of(System.getProperty("project.root", "."));
  private static final Path NSFORWARD = ROOT.resolve("target/nsforward").toAbsolutePath();
  private static final Duration LEASE = Duration.ofSeconds(4);
  private static final Duration RENEW_DEADLINE = Duration.ofSeconds(3);
  private static final Duration RETRY = Duration.ofMillis(500);
  private static final List<String> TIMINGS = List.of("--lease-duration=4s",
      "--renew-deadline=3s", "--retry-period=500ms", "--work-interval=200ms");
  /** Log timestamps are taken just after the check they follow; a loaded machine delays them. */
  private static final Duration LOG_SLACK = Duration.ofMillis(500);
  /**
   * How long the blackhole lasts: well past the takeover, so the partitioned replica's requests
   * (and its watch) time out on the connection the way they do in a real partition.
   */
  private static final Duration PARTITION = Duration.ofSeconds(20);
  /** The bound: after the heal, the old leader follows the new one within 30 s. */
  private static final Duration HEAL_BOUND = Duration.ofSeconds(30);
  /** Past the bound, how long the test keeps watching to say when (if ever) it recovered. */
  private static final Duration HEAL_WATCH = Duration.ofSeconds(120);
  private static final String ISOLATED = "partitioned";

  private NetworkNamespace netns;

  @BeforeAll
  static void prerequisites() {
    NetworkNamespace.missingPrerequisite(NSFORWARD)
        .ifPresent(missing -> fail("PartitionIT cannot run here: " + missing));
  }

  @AfterEach
  void deleteNamespace() {
    // Before the superclass's clean-up: this kills the replica inside and deletes the namespace.
    if (netns != null) {
      netns.close();
    }
  }

  /** How the network comes back. */
  enum Heal {
    /** The DROP rules go: the stalled connections resume with TCP's next retransmission. */
    PATH_RESTORED,
    /**
     * The path comes back for new connections, but the ones open across the partition stay
     * blackholed (a stateful firewall, NAT or load balancer on the way lost their state): only a
     * client that gives up on a dead connection gets through.
     */
    OLD_CONNECTIONS_LOST
  }

  @Test
  @DisplayName("a healed blackhole: the partitioned leader stops working within the renew"
      + " deadline, a follower leads a lease duration after the last renewal, and once healed the"
      + " old leader follows within 30 s and can lead again; never two leaders working")
  void blackholeThatHeals(TestInfo info) throws Exception {
    partitionAndHeal(info, Heal.PATH_RESTORED);
  }

  @Test
  @DisplayName("a heal that loses the old connections (firewall or NAT state gone): the same, so"
      + " the old leader must give up its dead connection and follow on a new one within 30 s")
  void healThatLosesTheOldConnections(TestInfo info) throws Exception {
    partitionAndHeal(info, Heal.OLD_CONNECTIONS_LOST);
  }

  private void partitionAndHeal(TestInfo info, Heal heal) throws Exception {
    netns = NetworkNamespace.create();
    int port = URI.create(controlPlane.url()).getPort();
    netns.forward(NSFORWARD, port);
    ReplicaSet.Launcher app = ReplicaSet.appLauncher();
    replicas = ReplicaSet.of(controlPlane, namespaceFor(info), "my-lease", TIMINGS,
        (identity, args) -> identity.equals(ISOLATED)
            ? netns.wrap(app.command(identity, args)) : app.command(identity, args),
        controlPlane.kubeconfig());

    // The replica in the namespace leads first (it is alone), through the forwarder.
    Replica isolated = replicas.start(ISOLATED);
    awaitThat(Duration.ofSeconds(30), ISOLATED + " leads through the forwarder",
        () -> isolated.believesLeading() && replicas.holder().equals(ISOLATED)
            && WorkLog.units(isolated).size() >= 3);
    List<Replica> followers = List.of(replicas.start("host-0"), replicas.start("host-1"));
    awaitThat(Duration.ofSeconds(30), "the followers see " + ISOLATED,
        () -> followers.stream().allMatch(f -> f.logged("new leader is " + ISOLATED)));

    // ---- partition ----
    Instant partitionedAt = Instant.now();
    netns.partition(port);
    AtomicReference<Instant> lastRenewal = new AtomicReference<>();
    awaitThat(LEASE.multipliedBy(3), "a follower takes the Lease", () -> {
      Lease lease = replicas.lease();
      String holder = lease == null ? "" : lease.getSpec().getHolderIdentity();
      if (ISOLATED.equals(holder) && lease.getSpec().getRenewTime() != null) {
        // Frozen during the partition: the last renewal the API server stored.
        lastRenewal.set(lease.getSpec().getRenewTime().toInstant());
      }
      return holder != null && !holder.isEmpty() && !holder.equals(ISOLATED);
    });
    Replica next = replicas.leader().orElseThrow();
    awaitThat(RENEW_DEADLINE.plusSeconds(5), ISOLATED + " steps down while cut off",
        () -> loggedAfter(isolated, partitionedAt, m -> m.startsWith("no longer the leader"))
            .isPresent());
    awaitThat(Duration.ofSeconds(10), next.identity() + " works",
        () -> WorkLog.units(next).size() >= 3);
    sleepUntil(partitionedAt.plus(PARTITION));
    String rules = netns.rules();

    // ---- heal ----
    Instant healedAt = Instant.now();
    List<Integer> dead = List.of();
    if (heal == Heal.PATH_RESTORED) {
      netns.heal();
    } else {
      dead = netns.healForNewConnectionsOnly(port);
    }
    Predicate<String> seesNext = m -> m.equals("new leader is " + next.identity());
    Instant healDeadline = healedAt.plus(HEAL_WATCH);
    while (loggedAfter(isolated, healedAt, seesNext).isEmpty()
        && Instant.now().isBefore(healDeadline)) {
      Thread.sleep(50);
    }
    Optional<Instant> follows = loggedAfter(isolated, healedAt, seesNext);

    // ---- it can lead again: the others stop (SIGTERM releases the Lease) ----
    Optional<Instant> leadsAgain = Optional.empty();
    if (follows.isPresent()) {
      Instant since = Instant.now();
      // The follower first, then the leader: its release goes to the only replica left.
      Replica follower = followers.stream().filter(f -> f != next).findFirst().orElseThrow();
      for (Replica other : List.of(follower, next)) {
        other.terminate();
        other.awaitExit(Duration.ofSeconds(30));
      }
      try {
        awaitThat(HEAL_BOUND, ISOLATED + " leads again and works", () -> replicas.holder()
            .equals(ISOLATED) && loggedAfter(isolated, since, "doing stuff..."::equals).isPresent());
      } catch (AssertionError e) {
        // reported below with the rest
      }
      leadsAgain = loggedAfter(isolated, since, m -> m.startsWith("successfully acquired lease"));
    }

    // ---- timings ----
    Instant renewed = lastRenewal.get();
    Instant lastUnit = WorkLog.units(isolated).stream().map(WorkLog.Unit::at)
        .filter(t -> t.isBefore(healedAt)).reduce((a, b) -> b).orElse(null);
    Instant steppedDown = loggedAfter(isolated, partitionedAt,
        m -> m.startsWith("no longer the leader")).orElse(null);
    Instant takenOver = loggedAfter(next, partitionedAt,
        m -> m.startsWith("successfully acquired lease")).orElse(null);
    System.out.printf("partition, heal %s%s (lease %s, renew deadline %s, retry %s): last"
            + " renewal %s before"
            + " the DROP rules; %s's last unit %s after its last renewal (bound %s), stepped down"
            + " %s after it; %s took over %s after it (lease %s); partition %s; after the heal %s"
            + " followed %s in %s (bound %s); with the others stopped it led again in %s%n",
        heal, dead.isEmpty() ? "" : " (connections left dead: ports " + dead + ")",
        seconds(LEASE), seconds(RENEW_DEADLINE), seconds(RETRY),
        between(renewed, partitionedAt), ISOLATED, between(renewed, lastUnit),
        seconds(RENEW_DEADLINE), between(renewed, steppedDown), next.identity(),
        between(renewed, takenOver), seconds(LEASE), between(partitionedAt, healedAt),
        ISOLATED, next.identity(),
        follows.map(t -> seconds(Duration.between(healedAt, t)))
            .orElse("not within " + seconds(HEAL_WATCH)),
        seconds(HEAL_BOUND),
        leadsAgain.map(t -> seconds(Duration.between(healedAt, t)) + " after the heal")
            .orElse("- (did not)"));

    SoftAssertions soft = new SoftAssertions();
    soft.assertThat(renewed).as("the partitioned leader's last renewal, seen in the Lease")
        .isNotNull();
    if (renewed != null) {
      soft.assertThat(Duration.between(renewed, lastUnit))
          .as("work of the partitioned leader after its last renewal (renew deadline %s)\n%s",
              RENEW_DEADLINE, isolated.log())
          .isLessThanOrEqualTo(RENEW_DEADLINE.plus(LOG_SLACK));
      soft.assertThat(steppedDown).as("%s logs that it stepped down", ISOLATED).isNotNull();
      soft.assertThat(takenOver).as("%s logs its acquisition", next.identity()).isNotNull();
      if (takenOver != null) {
        // Never before the old claim ran out; at most a retry period (and a loaded machine) late.
        soft.assertThat(Duration.between(renewed, takenOver))
            .as("takeover after the partitioned leader's last renewal (lease %s)", LEASE)
            .isBetween(LEASE.minusMillis(100), LEASE.plus(RETRY).plusSeconds(2));
      }
    }
    if (heal == Heal.OLD_CONNECTIONS_LOST) {
      soft.assertThat(dead).as("connections of %s open across the partition", ISOLATED)
          .isNotEmpty();
    }
    soft.assertThat(follows)
        .as("after the heal (%s), %s follows %s (logs 'new leader is %s') within %s; it did"
                + " %s. Rules during the partition:\n%s\n%s",
            heal, ISOLATED, next.identity(), next.identity(), HEAL_BOUND,
            follows.map(t -> "after " + seconds(Duration.between(healedAt, t)))
                .orElse("not within " + seconds(HEAL_WATCH)), rules, isolated.log())
        .hasValueSatisfying(t -> assertThat(Duration.between(healedAt, t))
            .isLessThanOrEqualTo(HEAL_BOUND));
    if (follows.isPresent()) {
      soft.assertThat(leadsAgain)
          .as("%s takes the Lease back within %s once the others stop\n%s", ISOLATED,
              HEAL_BOUND, replicas.logs())
          .isPresent();
    }
    soft.assertThat(WorkLog.overlaps(replicas.replicas()))
        .as("overlapping work between identities; logs:\n%s", replicas.logs())
        .isEmpty();
    soft.assertAll();
  }

  /** The klog time of {@code replica}'s first line after {@code since} whose message matches. */
  private static Optional<Instant> loggedAfter(Replica replica, Instant since,
      Predicate<String> message) {
    return replica.lines().stream().filter(l -> l.readAt().isAfter(since))
        .filter(l -> message.test(WorkLog.message(l.text())))
        .map(l -> Optional.ofNullable(WorkLog.timestamp(l.text())).orElse(l.readAt()))
        .findFirst();
  }

  private static void sleepUntil(Instant at) throws InterruptedException {
    Duration left = Duration.between(Instant.now(), at);
    if (!left.isNegative()) {
      Thread.sleep(left.toMillis());
    }
  }

  private static String between(Instant from, Instant to) {
    return from == null || to == null ? "?" : seconds(Duration.between(from, to));
  }

  private static String seconds(Duration d) {
    return String.format("%.2f s", d.toMillis() / 1000.0);
  }
}
