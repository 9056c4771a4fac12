package io.github.leaderelection.election;

import static io.github.leaderelection.election.ElectorHarness.TIMEOUT;
import static io.github.leaderelection.election.ManualTicker.START_WALL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * Two of client-go's features: labels on the Lease ({@code NewWithLabels}) and the
 * {@code leader_election_slowpath_total} count of renewals that needed a GET first.
 */
class LeaseLabelsAndSlowpathTest {

  private static final Map<String, String> LABELS =
      Map.of("app.kubernetes.io/part-of", "demo", "team", "");

  /** Counts the slow-path renewals besides what RecordingMetrics records. */
  private static final class SlowpathMetrics extends RecordingMetrics {
    final AtomicInteger slowpath = new AtomicInteger();

    @Override
    public void slowpathExercised() {
      slowpath.incrementAndGet();
    }
  }

  @Test
  @DisplayName("LeaseWrites puts the labels on a created Lease")
  void labelsOnCreate() {
    try (MockApi api = new MockApi()) {
      api.lock().create(LeaseWrites.forCreate(MockApi.NAMESPACE, MockApi.LEASE,
          new LeaderElectionRecord("me", 15, START_WALL, START_WALL, 0), LABELS, true));
      assertThat(api.lease().getMetadata().getLabels()).containsAllEntriesOf(LABELS);
    }
  }

  @Test
  @DisplayName("LeaseWrites adds the labels on an update (a takeover of a Lease created without"
      + " them) and keeps everybody else's labels")
  void labelsOnUpdateKeepOthers() {
    try (MockApi api = new MockApi()) {
      api.createLease("other", 15, START_WALL, START_WALL, 0);
      Lease created = api.lease();
      Map<String, String> theirs = new HashMap<>();
      theirs.put("owner", "someone-else");
      theirs.put("team", "old");
      created.getMetadata().setLabels(theirs);
      Lease labelled = api.client().leases().inNamespace(MockApi.NAMESPACE).resource(created)
          .update();

      api.lock().update(LeaseWrites.forUpdate(labelled,
          new LeaderElectionRecord("me", 15, START_WALL, START_WALL, 1), LABELS, true));
      assertThat(api.lease().getMetadata().getLabels()).containsOnly(
          Map.entry("owner", "someone-else"), Map.entry("team", ""),
          Map.entry("app.kubernetes.io/part-of", "demo"));
      assertThat(api.record().holderIdentity()).isEqualTo("me");
    }
  }

  @Test
  @DisplayName("a write without labels writes none")
  void noLabelsByDefault() {
    try (MockApi api = new MockApi()) {
      api.lock().create(new LeaderElectionRecord("me", 15, START_WALL, START_WALL, 0));
      Map<String, String> labels = api.lease().getMetadata().getLabels();
      assertThat(labels == null ? Map.of() : labels).isEmpty();
    }
  }

  @Test
  @DisplayName("the elector's writes carry the configured labels")
  void electorWritesTheLabels() throws Exception {
    try (MockApi api = new MockApi()) {
      ElectionConfig config = new ElectionConfig(MockApi.NAMESPACE, MockApi.LEASE, "me",
          Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofMillis(200), true, false,
          false, LABELS);
      LeaderElector elector = new LeaderElector(config,
          api.lock(), // the labels come from the config, through the objects the elector sends
          new RecordingListener(), new RecordingMetrics(), Ticker.SYSTEM);
      Thread thread = new Thread(elector, "elector-labels");
      thread.start();
      try {
        await().atMost(TIMEOUT).until(elector::isLeader);
        assertThat(api.lease().getMetadata().getLabels()).containsAllEntriesOf(LABELS);
      } finally {
        elector.stop();
        elector.awaitTermination(config.shutdownBound());
      }
    }
  }

  @Test
  @DisplayName("a leader whose optimistic renewal conflicts reads the Lease first: counted once as"
      + " a slow path; plain renewals are not")
  void slowpathIsCountedWhenTheLeaderHasToRead() throws Exception {
    SlowpathMetrics metrics = new SlowpathMetrics();
    try (MockApi api = new MockApi()) {
      ElectionConfig config = new ElectionConfig(MockApi.NAMESPACE, MockApi.LEASE, "me",
          Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofMillis(200), true, false);
      LeaderElector elector = new LeaderElector(config, api.lock(), new RecordingListener(),
          metrics, Ticker.SYSTEM);
      Thread thread = new Thread(elector, "elector-slowpath");
      thread.start();
      try {
        await().atMost(TIMEOUT).until(elector::isLeader);
        await().atMost(TIMEOUT).until(() -> metrics.renewOk.get() >= 3);
        assertThat(metrics.slowpath).as("renewals from the leader's own last write").hasValue(0);

        // Someone writes the Lease (still naming us) behind the leader's back: its next PUT,
        // conditional on its own last write, gets 409 and it has to GET before renewing.
        api.writeRecord(new LeaderElectionRecord("me", 15, START_WALL,
            START_WALL.plusSeconds(1), 0));
        await().atMost(TIMEOUT).until(() -> metrics.slowpath.get() == 1);
        int renewed = metrics.renewOk.get();
        await().atMost(TIMEOUT).until(() -> metrics.renewOk.get() >= renewed + 3);
        assertThat(elector.isLeader()).isTrue();
        assertThat(metrics.slowpath).as("back on the fast path").hasValue(1);
      } finally {
        elector.stop();
        elector.awaitTermination(config.shutdownBound());
      }
    }
  }
}
