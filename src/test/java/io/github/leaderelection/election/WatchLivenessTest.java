package io.github.leaderelection.election;

import static io.github.leaderelection.election.ElectorHarness.RETRY;
import static io.github.leaderelection.election.ElectorHarness.TIMEOUT;
import static io.github.leaderelection.election.ManualTicker.START_WALL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.leaderelection.election.MockApi.Call;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The Lease watch is trusted only while it shows signs of life and while the requests next to it
 * are answered: a watch on a dead connection (a partition that drops packets) keeps reporting
 * itself live for as long as TCP keeps the connection, and a watching follower does not poll.
 * Against the mock API server, on the manual clock.
 */
class WatchLivenessTest {

  private final ElectorHarness h = new ElectorHarness();

  @AfterEach
  void tearDown() {
    h.close();
  }

  private long watches() {
    return h.api.count(c -> c.method().equals("GET") && c.path().contains("watch=true"));
  }

  @Nested
  @DisplayName("the rules")
  class Rules {

    @Test
    @DisplayName("a timed-out request condemns a listed watch it was sent after, nothing else")
    void timeout() {
      assertThat(ElectionRules.distrustWatchAfterTimeout(true, 100, 100)).isTrue();
      assertThat(ElectionRules.distrustWatchAfterTimeout(true, 100, 250)).isTrue();
      assertThat(ElectionRules.distrustWatchAfterTimeout(true, 100, 99))
          .as("a request older than the watch says nothing about its connection").isFalse();
      assertThat(ElectionRules.distrustWatchAfterTimeout(false, 100, 250))
          .as("a watch that never listed is not trusted anyway").isFalse();
    }

    @Test
    @DisplayName("a watch silent for the bound is condemned, one that spoke within it is not")
    void silence() {
      assertThat(ElectionRules.distrustSilentWatch(0, 15, 15)).isTrue();
      assertThat(ElectionRules.distrustSilentWatch(1, 15, 15)).isFalse();
    }

    @Test
    @DisplayName("an unlisted watch is replaced on an answer only after its grace")
    void unlisted() {
      assertThat(ElectionRules.replaceUnlistedWatch(false, 0, 5, 5)).isTrue();
      assertThat(ElectionRules.replaceUnlistedWatch(false, 0, 4, 5)).isFalse();
      assertThat(ElectionRules.replaceUnlistedWatch(true, 0, 50, 5)).isFalse();
    }
  }

  @Nested
  @DisplayName("a silent watch")
  class Silent {

    @Test
    @DisplayName("is replaced after a lease duration without an event, and the new one delivers"
        + " the release at once")
    void isReplacedAfterALeaseDuration() {
      // The holder's record says 60 s: nothing is due for this follower before then, so only the
      // watch's silence can make it act.
      h.api.createLease("other", 60, START_WALL, START_WALL, 0);
      h.start(ElectorHarness.config("me", true, true), false);
      await().atMost(TIMEOUT).until(() -> h.listener.leaders.contains("other"));
      h.awaitWatching();
      h.awaitIdle();
      long before = watches();

      h.ticker.advance(ElectorHarness.LEASE.minusSeconds(1));
      // Turns go on every retry period in real time: give them a few to (wrongly) act.
      await().pollDelay(Duration.ofMillis(500)).atMost(TIMEOUT).until(() -> true);
      assertThat(watches()).as("not replaced before a lease duration of silence")
          .isEqualTo(before);

      h.ticker.advance(Duration.ofSeconds(2));
      await("a new watch after a lease duration of silence").atMost(Duration.ofSeconds(10))
          .until(() -> watches() > before);

      h.awaitIdle();
      long gets = h.api.count(Call::isLeaseGet);
      h.api.writeRecord(new LeaderElectionRecord("", 1, START_WALL, START_WALL, 0));
      await().atMost(TIMEOUT).until(() -> h.elector.isLeader());
      assertThat(h.api.count(Call::isLeaseGet)).as("the new watch delivered the release")
          .isEqualTo(gets);
    }
  }

  @Nested
  @DisplayName("a watch the server refuses (no list permission)")
  class Refused {

    @Test
    @DisplayName("is left to retry by itself: not replaced however long it stays unlisted, and"
        + " warned about once")
    void isLeftToRetry() {
      h.api.fail(c -> c.method().equals("GET") && c.path().contains("/leases?"), 403, "Forbidden",
          "leases.coordination.k8s.io is forbidden: cannot list resource \"leases\"");
      h.api.createLease("other", 60, START_WALL, START_WALL, 0);
      ch.qos.logback.classic.Logger elector = (ch.qos.logback.classic.Logger)
          org.slf4j.LoggerFactory.getLogger(LeaderElector.class);
      ch.qos.logback.classic.Level level = elector.getLevel();
      elector.setLevel(ch.qos.logback.classic.Level.DEBUG); // "replacing the watch" is DEBUG
      try (LogCapture logs = new LogCapture(LeaseWatch.class, LeaderElector.class)) {
        h.start(ElectorHarness.config("me", true, true), true);
        await().atMost(TIMEOUT).until(() -> logs.messages().stream()
            .anyMatch(m -> m.startsWith("cannot watch lease")));

        // Past the silence bound and the unlisted grace, with polls answered meanwhile: a
        // replacement would list again and warn again.
        for (int i = 0; i < 3; i++) {
          h.step(ElectorHarness.LEASE.plusSeconds(1));
        }
        await().pollDelay(Duration.ofMillis(500)).atMost(TIMEOUT).until(() -> true);

        assertThat(logs.messages()).filteredOn(m -> m.startsWith("cannot watch lease"))
            .hasSize(1);
        assertThat(logs.messages()).noneMatch(m -> m.contains("replacing the watch"));
        assertThat(h.api.count(Call::isLeaseGet)).as("the follower polls meanwhile")
            .isGreaterThanOrEqualTo(3);
      } finally {
        elector.setLevel(level);
      }
    }
  }

  @Nested
  @DisplayName("a request that times out")
  class TimedOutRequest {

    @Test
    @DisplayName("makes the elector replace its watch, which may share the dead connection")
    void condemnsTheWatch() {
      h.start(ElectorHarness.config("me", true, true), true);
      await().atMost(TIMEOUT).until(() -> h.elector.isLeader());
      h.awaitWatching();
      h.awaitIdle();
      long before = watches();
      long puts = h.api.count(c -> c.method().equals("PUT"));
      // The renewal is never answered in time: the connection "died".
      h.api.addFault(c -> c.method().equals("PUT")
          ? MockApi.status(200, "", "").setBodyDelay(10, TimeUnit.SECONDS) : null);

      h.ticker.advance(RETRY);
      await().atMost(TIMEOUT).until(() -> h.api.count(c -> c.method().equals("PUT")) > puts);
      assertThat(watches()).isEqualTo(before);

      h.ticker.advance(ElectionConfig.requestTimeout(ElectorHarness.RENEW).plusMillis(1));
      await("a new watch after the renewal timed out").atMost(Duration.ofSeconds(10))
          .until(() -> watches() > before);
      assertThat(h.metrics.errors).contains("UPDATE/0");
    }
  }
}
