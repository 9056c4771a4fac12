package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.leaderelection.harness.ControlPlane;
import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.harness.WorkLog;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.TestInfo;

/** Shared set-up of the integration tests: one control plane, a fresh namespace per test. */
abstract class ReplicaTestSupport {

  private static final AtomicInteger COUNTER = new AtomicInteger();

  protected final ControlPlane controlPlane = controlPlane();
  protected ReplicaSet replicas;

  /** The control plane the tests of this class run on; the shared default one unless overridden. */
  protected ControlPlane controlPlane() {
    return ControlPlane.shared();
  }

  /** A namespace for this test, unique within the run. */
  protected static String namespaceFor(TestInfo info) {
    String base = info.getTestMethod().map(m -> m.getName()).orElse("test")
        .replaceAll("([a-z])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT)
        .replaceAll("[^a-z0-9-]", "-");
    if (base.length() > 40) {
      base = base.substring(0, 40);
    }
    return base.replaceAll("-+$", "") + "-" + COUNTER.incrementAndGet();
  }

  protected ReplicaSet replicas(TestInfo info, List<String> args) {
    replicas = ReplicaSet.of(controlPlane, namespaceFor(info), "my-lease", args);
    return replicas;
  }

  protected static ConditionFactory await(Duration atMost) {
    // A replica's endpoints come up shortly after its election starts: until then a probe of
    // them is refused, which is "not yet", not a failure.
    return Awaitility.await().atMost(atMost).pollInterval(Duration.ofMillis(50))
        .pollDelay(Duration.ZERO).ignoreExceptionsInstanceOf(java.net.ConnectException.class);
  }

  /**
   * Waits for {@code condition}; on timeout fails with {@code what} and every replica's log as it
   * is at that moment.
   */
  protected void awaitThat(Duration atMost, String what, Callable<Boolean> condition) {
    try {
      await(atMost).until(condition);
    } catch (ConditionTimeoutException e) {
      throw new AssertionError("not within " + atMost + ": " + what + "\n"
          + (replicas == null ? "" : replicas.logs()), e);
    }
  }

  /** Waits until exactly one live replica holds the Lease and says so; returns it. */
  protected Replica awaitSingleLeader(Duration atMost) {
    awaitThat(atMost, "exactly one leader",
        () -> replicas.leader().filter(Replica::isAlive).isPresent()
            && replicas.selfDeclaredLeaders().size() == 1
            && replicas.selfDeclaredLeaders().get(0).identity().equals(replicas.holder()));
    return replicas.leader().orElseThrow();
  }

  protected void assertNoOverlappingWork() {
    assertThat(WorkLog.overlaps(replicas.replicas()))
        .as("overlapping work between identities; logs:\n%s", replicas.logs())
        .isEmpty();
  }

  @AfterEach
  void stopReplicas() {
    if (replicas != null) {
      replicas.close();
    }
  }
}
