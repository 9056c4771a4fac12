package io.github.leaderelection.election;

import static io.github.leaderelection.election.ElectorHarness.RENEW;
import static io.github.leaderelection.election.ElectorHarness.ROUND;
import static io.github.leaderelection.election.ElectorHarness.TIMEOUT;
import static io.github.leaderelection.election.ManualTicker.START_NANOS;
import static io.github.leaderelection.election.ManualTicker.START_WALL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.github.leaderelection.election.MockApi.Call;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The election rules of client-go's tryAcquireOrRenew, against fabric8's mock API server (CRUD
 * mode) with a manual clock: every round is triggered explicitly by moving the clock.
 */
class LeaderElectorTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  private final ElectorHarness h = new ElectorHarness();

  @AfterEach
  void tearDown() throws InterruptedException {
    h.close();
  }

  private static Predicate<Call> writesBy(String holder) {
    return c -> c.isWrite() && c.body() != null
        && c.body().contains("\"holderIdentity\":\"" + holder + "\"");
  }

  private static long at(Duration sinceStart) {
    return START_NANOS + sinceStart.toNanos();
  }

  private static String resourceVersionIn(String body) throws Exception {
    JsonNode node = JSON.readTree(body);
    return node.path("metadata").path("resourceVersion").asText(null);
  }

  // -----------------------------------------------------------------------------------------------
  // Acquire and renew

  @Test
  void acquiresAnAbsentLeaseByCreatingIt() {
    h.start();
    assertThat(h.api.calls()).extracting(Call::method).containsExactly("GET", "POST");

    LeaderElectionRecord record = h.api.record();
    assertThat(record).isNotNull();
    assertThat(record.holderIdentity()).isEqualTo("me");
    assertThat(record.leaseDurationSeconds()).isEqualTo(15);
    assertThat(record.leaseTransitions()).isZero();
    assertThat(record.acquireTime()).isEqualTo(START_WALL);
    assertThat(record.renewTime()).isEqualTo(START_WALL);
    assertThat(h.elector.isLeader()).isTrue();
    assertThat(h.listener.started).hasValue(1);
    assertThat(h.listener.leaders).containsExactly("me");
    assertThat(h.elector.firstRoundDone()).isTrue();
  }

  @Test
  void leaderRenewsWithASinglePutCarryingItsLastResourceVersionAndNoGet() throws Exception {
    h.start();
    for (int i = 1; i <= 3; i++) {
      String rvBefore = h.api.lease().getMetadata().getResourceVersion();
      h.api.clearCalls();

      h.step(Duration.ofSeconds(2));

      List<Call> calls = h.api.calls();
      assertThat(calls).as("round %d: one request, a PUT of the lease", i).hasSize(1);
      assertThat(calls.get(0).method()).isEqualTo("PUT");
      assertThat(calls.get(0).path()).endsWith("/namespaces/test/leases/my-lease");
      assertThat(resourceVersionIn(calls.get(0).body())).isEqualTo(rvBefore);
      assertThat(h.elector.term().lastRenewSentNanos()).isEqualTo(h.ticker.nanoTime());
    }
    assertThat(h.elector.isLeader()).isTrue();
    assertThat(h.listener.started).hasValue(1);
  }

  @Test
  void renewKeepsAcquireTimeAndTransitions() {
    h.api.createLease("other", 15, START_WALL.minusSeconds(60), START_WALL.minusSeconds(60), 7);
    h.start();
    h.step(Duration.ofSeconds(16)); // takeover after expiry
    LeaderElectionRecord acquired = h.api.record();
    assertThat(acquired.holderIdentity()).isEqualTo("me");
    assertThat(acquired.leaseTransitions()).isEqualTo(8);

    h.step(Duration.ofSeconds(2));
    h.step(Duration.ofSeconds(2));

    LeaderElectionRecord renewed = h.api.record();
    assertThat(renewed.holderIdentity()).isEqualTo("me");
    assertThat(renewed.acquireTime()).isEqualTo(acquired.acquireTime());
    assertThat(renewed.leaseTransitions()).isEqualTo(8);
    assertThat(renewed.renewTime()).isEqualTo(START_WALL.plusSeconds(20));
    assertThat(h.listener.started).hasValue(1);
  }

  // -----------------------------------------------------------------------------------------------
  // Expiry by local observation

  /**
   * The record's timestamps mean nothing to a follower: a renewTime an hour in the past does not
   * make the lease expired, and one an hour in the future does not keep it alive. Only the lease
   * duration of local observation counts.
   */
  @ParameterizedTest(name = "renewTime {0}s from now")
  @ValueSource(longs = {-3600, 0, 3600})
  void takesOverOnlyAfterLeaseDurationOfLocalObservationWhateverTheRecordTimestampsSay(
      long skewSeconds) {
    Instant skewed = START_WALL.plusSeconds(skewSeconds);
    h.api.createLease("other", 15, skewed, skewed, 3);
    h.start(); // first GET observes the record at START
    assertThat(h.listener.leaders).containsExactly("other");

    h.step(Duration.ofSeconds(5));
    h.step(Duration.ofSeconds(5));
    h.step(Duration.ofMillis(4_500)); // 14.5s after the observation: one more round, still held
    assertThat(h.api.calls()).noneMatch(writesBy("me"));
    assertThat(h.api.calls()).filteredOn(Call::isLeaseGet).extracting(Call::tickerNanos)
        .contains(at(Duration.ofMillis(14_500)));
    assertThat(h.elector.isLeader()).isFalse();
    assertThat(h.api.record().holderIdentity()).isEqualTo("other");

    h.step(Duration.ofMillis(600)); // 15.1s: expired

    assertThat(h.elector.isLeader()).isTrue();
    assertThat(h.api.calls()).filteredOn(writesBy("me")).extracting(Call::tickerNanos)
        .allMatch(t -> t >= at(Duration.ofSeconds(15)));
    LeaderElectionRecord record = h.api.record();
    assertThat(record.holderIdentity()).isEqualTo("me");
    assertThat(record.leaseTransitions()).as("takeover bumps transitions").isEqualTo(4);
    assertThat(record.acquireTime()).isEqualTo(START_WALL.plusMillis(15_100));
    assertThat(record.renewTime()).isEqualTo(START_WALL.plusMillis(15_100));
    assertThat(record.leaseDurationSeconds()).isEqualTo(15);
    assertThat(h.listener.leaders).containsExactly("other", "me");
  }

  @Test
  void expiryUsesTheLeaseDurationWrittenInTheRecordNotItsOwn() {
    h.api.createLease("other", 30, START_WALL, START_WALL, 0);
    h.start();

    h.step(Duration.ofSeconds(10));
    h.step(Duration.ofSeconds(10)); // 20s: past our own 15s, not past the holder's 30s
    h.step(Duration.ofMillis(9_500));
    assertThat(h.api.calls()).noneMatch(writesBy("me"));

    h.step(Duration.ofMillis(600));
    assertThat(h.elector.isLeader()).isTrue();
  }

  @Test
  void aRenewalByTheHolderRestartsTheExpiryCountdown() {
    h.api.createLease("other", 15, START_WALL, START_WALL, 0);
    h.start();
    h.step(Duration.ofSeconds(5));
    // The holder renews; this follower sees the change at its next round, at 10s.
    h.api.writeRecord(new LeaderElectionRecord("other", 15, START_WALL, START_WALL.plusSeconds(6), 0));
    h.step(Duration.ofSeconds(5));

    h.step(Duration.ofSeconds(6)); // 16s after the first observation, 6s after the change
    h.step(Duration.ofMillis(8_500)); // 24.5s: 14.5s after the change
    assertThat(h.api.calls()).noneMatch(writesBy("me"));
    assertThat(h.elector.isLeader()).isFalse();

    h.step(Duration.ofMillis(600)); // 25.1s: 15.1s after the change
    assertThat(h.elector.isLeader()).isTrue();
  }

  @Test
  void aReleasedLeaseIsTakenAtOnce() {
    h.api.createLease("other", 15, START_WALL, START_WALL, 2);
    h.start();
    h.api.writeRecord(new LeaderElectionRecord("", 1, START_WALL, START_WALL, 2));

    h.step(ROUND); // next poll: free

    assertThat(h.elector.isLeader()).isTrue();
    assertThat(h.api.record().leaseTransitions()).isEqualTo(3);
  }

  // -----------------------------------------------------------------------------------------------
  // Conflicts

  @Test
  void aConflictOnTheTakeoverWriteLosesTheRoundWithoutLeadership() {
    h.api.createLease("other", 15, START_WALL, START_WALL, 1);
    AtomicBoolean once = new AtomicBoolean(true);
    h.api.addFault(c -> c.method().equals("PUT") && once.getAndSet(false)
        ? MockApi.status(409, "Conflict", "Operation cannot be fulfilled on leases.coordination.k8s.io"
            + " \"my-lease\": the object has been modified; please apply your changes to the latest"
            + " version and try again")
        : null);
    try (LogCapture logs = new LogCapture(LeaderElector.class)) {
      h.start();
      h.step(Duration.ofSeconds(16));

      assertThat(h.api.calls()).filteredOn(c -> c.method().equals("PUT")).hasSize(1);
      assertThat(h.elector.isLeader()).isFalse();
      assertThat(h.elector.term()).isNull();
      assertThat(h.listener.started).hasValue(0);
      assertThat(h.api.record().holderIdentity()).isEqualTo("other");
      assertThat(h.api.record().leaseTransitions()).isEqualTo(1);
      assertThat(logs.messages()).contains("lease test/my-lease was written by another replica first"
          + " (409 Conflict); not acquired this round");
      assertThat(h.metrics.errors).as("a lost race is not an API error").isEmpty();
    }

    h.step(ROUND); // next round: the write goes through
    assertThat(h.elector.isLeader()).isTrue();
    assertThat(h.api.record().leaseTransitions()).isEqualTo(2);
  }

  @Test
  void aConflictOnCreateLosesTheRound() {
    AtomicBoolean once = new AtomicBoolean(true);
    h.api.addFault(c -> c.method().equals("POST") && once.getAndSet(false)
        ? MockApi.status(409, "AlreadyExists", "leases.coordination.k8s.io \"my-lease\" already exists")
        : null);
    h.start();
    assertThat(h.elector.isLeader()).isFalse();
    assertThat(h.listener.started).hasValue(0);

    h.step(ROUND);
    assertThat(h.elector.isLeader()).isTrue();
  }

  /**
   * A real stale resourceVersion (no injected fault): somebody wrote the Lease after the leader's
   * last write. The leader's optimistic renew gets 409 from the store, it reads the Lease, sees the
   * new holder and steps down without overwriting it.
   */
  @Test
  void aRenewOnAStaleResourceVersionConflictsAndTheLeaderStepsDownWithoutOverwriting() {
    h.start();
    String leaderRv = h.api.lease().getMetadata().getResourceVersion();
    h.api.writeRecord(new LeaderElectionRecord("thief", 15, START_WALL, START_WALL, 1));
    h.api.clearCalls();

    h.advanceAndSettle(Duration.ofSeconds(2), x -> x.listener.stopped.get() == 1);

    List<Call> calls = h.api.calls();
    assertThat(calls).extracting(Call::method).startsWith("PUT", "GET");
    assertThat(calls.get(0).body()).contains("\"resourceVersion\":\"" + leaderRv + "\"");
    assertThat(h.api.record().holderIdentity()).isEqualTo("thief");
    assertThat(h.api.record().leaseTransitions()).isEqualTo(1);
    assertThat(h.elector.isLeader()).isFalse();
    assertThat(h.listener.term.hasEnded()).isTrue();
    assertThat(h.listener.revokedBeforeStopped).isTrue();
    assertThat(h.listener.leaders).containsExactly("me", "thief");
  }

  // -----------------------------------------------------------------------------------------------
  // Stepping down

  @Test
  void stepsDownWhenRenewsFailForTheRenewDeadline() {
    h.start();
    Term term = h.elector.term();
    h.api.fail(c -> c.method().equals("PUT"), 500, "InternalError", "etcdserver: request timed out");

    h.step(Duration.ofSeconds(3));
    h.step(Duration.ofSeconds(3));
    h.step(Duration.ofSeconds(3)); // 9s: three failed renews, 1s of validity left
    assertThat(h.metrics.renewFailed).hasValue(3);
    assertThat(term.isValid()).isTrue();
    assertThat(term.remaining().toNanos()).isEqualTo(Duration.ofSeconds(1).toNanos());
    assertThat(h.elector.isLeader()).isTrue();
    assertThat(h.listener.stopped).hasValue(0);

    try (LogCapture logs = new LogCapture(LeaderElector.class)) {
      h.advanceAndSettle(Duration.ofMillis(1_500), x -> x.listener.stopped.get() == 1);
      assertThat(logs.messages()).contains("failed to renew lease test/my-lease within 10s");
    }
    assertThat(term.isValid()).isFalse();
    assertThat(term.hasEnded()).isTrue();
    assertThat(h.listener.revokedBeforeStopped).isTrue();
    assertThat(h.elector.isLeader()).isFalse();
    assertThat(h.elector.term()).isNull();
    assertThat(h.thread().isAlive()).as("stays a candidate").isTrue();
  }

  @Test
  void aLeaderPausedPastItsRenewDeadlineStepsDownBeforeItRenews() {
    h.start();
    Term term = h.elector.term();
    h.api.clearCalls();

    // Frozen for 12s (GC, SIGSTOP): when it wakes, the first thing is to give up the old term.
    h.advanceAndSettle(Duration.ofSeconds(12), x -> x.listener.started.get() == 2);

    assertThat(h.listener.stopped).hasValue(1);
    assertThat(term.hasEnded()).isTrue();
    assertThat(h.listener.term.number()).isEqualTo(2);
    // As nobody took over, it re-acquires its own lease (reading it first, as a candidate).
    assertThat(h.api.calls()).extracting(Call::method).containsExactly("GET", "PUT");
    assertThat(h.api.record().leaseTransitions()).isZero();
  }

  // -----------------------------------------------------------------------------------------------
  // Release on shutdown

  @Test
  void releasesOnStopAfterTheWorkHasStopped() throws InterruptedException {
    AtomicInteger callsWhenStopped = new AtomicInteger(-1);
    AtomicReference<MockApi> api = new AtomicReference<>();
    ElectorHarness hh = new ElectorHarness(new RecordingListener() {
      @Override
      public void stoppedLeading(Term endedTerm, TermEnd endReason) {
        super.stoppedLeading(endedTerm, endReason);
        callsWhenStopped.set(api.get().calls().size());
      }
    });
    api.set(hh.api);
    try (hh) {
      hh.api.createLease("other", 15, START_WALL, START_WALL, 4);
      hh.start();
      hh.step(Duration.ofSeconds(16));
      hh.step(Duration.ofSeconds(2));
      assertThat(hh.elector.isLeader()).isTrue();
      assertThat(hh.api.record().leaseTransitions()).isEqualTo(5);

      hh.stop();

      assertThat(hh.thread().isAlive()).isFalse();
      assertThat(hh.listener.stopped).hasValue(1);
      Lease lease = hh.api.lease();
      assertThat(lease.getSpec().getHolderIdentity()).isNullOrEmpty();
      assertThat(lease.getSpec().getLeaseDurationSeconds()).isEqualTo(1);
      assertThat(lease.getSpec().getLeaseTransitions()).as("transitions kept").isEqualTo(5);
      List<Call> calls = hh.api.calls();
      Call release = calls.get(calls.size() - 1);
      assertThat(release.method()).isEqualTo("PUT");
      assertThat(calls.indexOf(release)).as("release only after the work stopped")
          .isGreaterThanOrEqualTo(callsWhenStopped.get()).isPositive();
    }
  }

  @Test
  void releaseNeverClobbersALeaseSomebodyElseWroteMeanwhile() throws InterruptedException {
    h.start();
    h.api.writeRecord(new LeaderElectionRecord("thief", 15, START_WALL, START_WALL, 1));

    h.stop();

    LeaderElectionRecord record = h.api.record();
    assertThat(record.holderIdentity()).isEqualTo("thief");
    assertThat(record.leaseDurationSeconds()).isEqualTo(15);
    assertThat(record.leaseTransitions()).isEqualTo(1);
  }

  @Test
  void withoutReleaseOnCancelTheLeaseIsLeftToExpire() throws InterruptedException {
    h.start(ElectorHarness.config("me", false, false), true);
    assertThat(h.elector.isLeader()).isTrue();

    h.stop();

    assertThat(h.api.record().holderIdentity()).isEqualTo("me");
    assertThat(h.listener.stopped).hasValue(1);
  }

  @Test
  void aFollowerStopsWithoutWritingTheLease() throws InterruptedException {
    h.api.createLease("other", 15, START_WALL, START_WALL, 0);
    h.start();
    h.api.clearCalls();

    h.stop();

    assertThat(h.api.calls()).noneMatch(Call::isWrite);
    assertThat(h.api.record().holderIdentity()).isEqualTo("other");
    assertThat(h.listener.stopped).hasValue(0);
  }

  // -----------------------------------------------------------------------------------------------
  // Watch mode

  @Test
  void aWatchingFollowerTakesAReleasedLeaseWithoutPollingOrWaiting() {
    h.api.createLease("other", 15, START_WALL, START_WALL, 2);
    h.start(ElectorHarness.config("me", true, true), false);
    await().atMost(TIMEOUT).until(() -> h.listener.leaders.contains("other"));
    h.awaitWatching();
    h.awaitIdle();
    long getsBefore = h.api.count(Call::isLeaseGet);

    h.api.writeRecord(new LeaderElectionRecord("", 1, START_WALL, START_WALL, 2));

    await().atMost(TIMEOUT).until(() -> h.elector.isLeader());
    assertThat(h.ticker.elapsed()).as("no clock movement was needed").isZero();
    assertThat(h.api.count(Call::isLeaseGet)).as("no GET: the watch delivered the change")
        .isEqualTo(getsBefore);
    assertThat(h.api.record().leaseTransitions()).isEqualTo(3);
  }
}
