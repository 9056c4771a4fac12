package io.github.leaderelection.election;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.github.leaderelection.election.ElectionRules.Action;
import io.github.leaderelection.election.ElectionRules.Decision;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The rules around the decision ({@link ElectionRules}): when to read first, when a lost race is
 * settled, when to retake, how long to wait, when to release; and the decisions of a leader and of
 * coordinated mode that {@link ElectionRulesDecideTest} does not reach.
 */
@DisplayName("ElectionRules: when to act, and on what")
class ElectionRulesRoundTest {

  private static final long S = 1_000_000_000L;
  private static final Instant T = Instant.parse("2026-11-24T00:00:00Z");
  private final LeaseView view = new LeaseView(15 * S);
  private long rv = 1;

  private void see(LeaderElectionRecord record, long at, String... finalizers) {
    see(record, at, false, finalizers);
  }

  private void see(LeaderElectionRecord record, long at, boolean deleting, String... finalizers) {
    Lease lease = new LeaseBuilder().withNewMetadata().withName("l").withNamespace("n")
        .withResourceVersion(Long.toString(rv++)).endMetadata().withNewSpec().endSpec().build();
    record.applyTo(lease.getSpec());
    lease.getSpec().setPreferredHolder(record.preferredHolder().isEmpty() ? null
        : record.preferredHolder());
    if (deleting) {
      lease.getMetadata().setDeletionTimestamp("2026-11-24T00:00:01Z");
    }
    lease.getMetadata().setFinalizers(finalizers.length == 0 ? null : List.of(finalizers));
    view.observe(lease, at);
  }

  private static LeaderElectionRecord held(String holder) {
    return new LeaderElectionRecord(holder, 15, T, T, 3);
  }

  @Nested
  @DisplayName("mustRead: read before deciding")
  class MustRead {

    @ParameterizedTest(name = "known={0} fresh={1} conflicted={2} leading={3} watching={4} -> {5}")
    @CsvSource({
        "false, true,  false, true,  true,  true",   // nothing known: always
        "true,  true,  true,  false, false, false",  // read just now: trusted
        "true,  false, true,  true,  true,  true",   // a lost race: read
        "true,  false, false, true,  false, false",  // a leader trusts its own write
        "true,  false, false, false, true,  false",  // a watching follower trusts the watch
        "true,  false, false, false, false, true",   // a polling follower reads
    })
    void mustRead(boolean known, boolean fresh, boolean conflicted, boolean leading,
        boolean watching, boolean expected) {
      assertThat(ElectionRules.mustRead(known, fresh, conflicted, leading, watching))
          .isEqualTo(expected);
    }
  }

  @Nested
  @DisplayName("a lost race")
  class LostRace {

    @Test
    @DisplayName("is settled by the watch for a watching follower once the view moved on; never for a leader or a poller")
    void settledByWatch() {
      assertThat(ElectionRules.raceSettledByWatch(false, true, 5, 4)).isTrue();
      assertThat(ElectionRules.raceSettledByWatch(false, true, 4, 4)).isFalse();
      assertThat(ElectionRules.raceSettledByWatch(true, true, 5, 4)).isFalse();
      assertThat(ElectionRules.raceSettledByWatch(false, false, 5, 4)).isFalse();
    }

    @Test
    @DisplayName("makes a follower await the winner's write only while the view has not moved and was not read just now")
    void awaitWinnersWrite() {
      assertThat(ElectionRules.awaitWinnersWrite(true, false, 4, 4)).isTrue();
      assertThat(ElectionRules.awaitWinnersWrite(false, false, 4, 4)).isFalse();
      assertThat(ElectionRules.awaitWinnersWrite(true, true, 4, 4)).isFalse();
      assertThat(ElectionRules.awaitWinnersWrite(true, false, 5, 4)).isFalse();
    }
  }

  @Nested
  @DisplayName("the retake shortcut")
  class Retake {

    @Test
    @DisplayName("is taken for a Lease naming us, once per version seen")
    void oncePerVersion() {
      see(held("me"), S);
      long version = view.version();
      assertThat(ElectionRules.retakeNow(view.snapshot(), "me", -1)).isTrue();
      assertThat(ElectionRules.retakeNow(view.snapshot(), "me", version)).isFalse();
      assertThat(ElectionRules.retakeNow(view.snapshot(), "other", -1)).isFalse();
    }
  }

  @Nested
  @DisplayName("retryDelayNanos")
  class RetryDelay {

    private static final long RETRY = 2 * S;

    @Test
    @DisplayName("a leader retries every retry period, whatever the errors and the draw")
    void leader() {
      assertThat(ElectionRules.retryDelayNanos(RETRY, true, true, 3, 0.9)).isEqualTo(RETRY);
    }

    @Test
    @DisplayName("a follower spreads its polls over [retry, 2.2 x retry)")
    void jitter() {
      assertThat(ElectionRules.retryDelayNanos(RETRY, false, false, 0, 0)).isEqualTo(RETRY);
      assertThat(ElectionRules.retryDelayNanos(RETRY, false, false, 0, 0.5))
          .isEqualTo((long) (RETRY * 1.6));
    }

    @ParameterizedTest(name = "after {0} errors: x{1}")
    @CsvSource({"0,1", "1,1", "2,2", "3,4", "4,4", "30,4"})
    @DisplayName("after errors a follower backs off x1, x2, x4 the retry period, capped")
    void backoff(int errors, long factor) {
      assertThat(ElectionRules.retryDelayNanos(RETRY, false, true, errors, 0))
          .isEqualTo(RETRY * factor);
    }

    @Test
    @DisplayName("with up to 20 % jitter on the back-off")
    void backoffJitter() {
      assertThat(ElectionRules.retryDelayNanos(RETRY, false, true, 2, 0.5))
          .isEqualTo((long) (RETRY * 2 * 1.1));
    }
  }

  @Nested
  @DisplayName("mayRelease")
  class MayRelease {

    @Test
    @DisplayName("only when configured, our last write names us, and no work runs")
    void conditions() {
      LeaderElectionRecord mine = held("me");
      assertThat(ElectionRules.mayRelease(true, mine, "me", false)).isTrue();
      assertThat(ElectionRules.mayRelease(false, mine, "me", false)).isFalse();
      assertThat(ElectionRules.mayRelease(true, null, "me", false)).isFalse();
      assertThat(ElectionRules.mayRelease(true, held("other"), "me", false)).isFalse();
      assertThat(ElectionRules.mayRelease(true, mine, "me", true)).isFalse();
    }
  }

  @Nested
  @DisplayName("a leader")
  class Leader {

    @Test
    @DisplayName("steps down from a Lease being deleted (ours alone holds it), naming itself")
    void deleting() {
      see(held("me"), S, true, LeaseWrites.FINALIZER);
      assertThat(ElectionRules.decide(view.snapshot(), S, "me", true))
          .isEqualTo(new Decision(Action.STEP_DOWN, 0, "me"));
    }

    @Test
    @DisplayName("leads on through a deletion another controller's finalizer holds, while ours is on it")
    void deletingHeldByOthersAndUs() {
      see(held("me"), S, true, LeaseWrites.FINALIZER, "x/other");
      assertThat(ElectionRules.decide(view.snapshot(), S, "me", true).action())
          .isEqualTo(Action.RENEW);
    }

    @Test
    @DisplayName("steps down from a Lease being deleted that only another controller's finalizer holds")
    void blocked() {
      see(held("me"), S, true, "x/other");
      assertThat(ElectionRules.decide(view.snapshot(), S, "me", true))
          .isEqualTo(new Decision(Action.STEP_DOWN, 0, "me"));
    }

    @Test
    @DisplayName("steps down, naming nobody, from a release it did not write")
    void releasedByOther() {
      see(LeaderElectionRecord.released(T, 3), S);
      assertThat(ElectionRules.decide(view.snapshot(), S, "me", true))
          .isEqualTo(new Decision(Action.STEP_DOWN, 0, ""));
    }
  }

  @Nested
  @DisplayName("a follower")
  class Follower {

    @Test
    @DisplayName("finishes off a deleted Lease naming itself, and one whose holder's claim has ended")
    void finishDelete() {
      see(held("me"), S, true, LeaseWrites.FINALIZER);
      assertThat(ElectionRules.decide(view.snapshot(), S, "me", false).action())
          .isEqualTo(Action.FINISH_DELETE);
      see(held("other"), 2 * S, true, LeaseWrites.FINALIZER);
      assertThat(ElectionRules.decide(view.snapshot(), 16 * S, "me", false))
          .isEqualTo(new Decision(Action.WAIT, 17 * S, "other"));
      assertThat(ElectionRules.decide(view.snapshot(), 17 * S, "me", false).action())
          .isEqualTo(Action.FINISH_DELETE);
    }

    @Test
    @DisplayName("takes over a Lease released by its holder at once")
    void released() {
      see(LeaderElectionRecord.released(T, 3), S);
      assertThat(ElectionRules.decide(view.snapshot(), S, "me", false).action())
          .isEqualTo(Action.TAKE_OVER);
    }

    @Test
    @DisplayName("is blocked, naming the holder, on a deletion only another controller's finalizer holds")
    void blocked() {
      see(held("other"), S, true, "x/other");
      assertThat(ElectionRules.decide(view.snapshot(), 100 * S, "me", false))
          .isEqualTo(new Decision(Action.BLOCKED, Long.MAX_VALUE, "other"));
    }

    @Test
    @DisplayName("does not take over a Lease being deleted that ours and another's finalizer hold: it is as good as any")
    void heldByBoth() {
      see(held("other"), S, true, LeaseWrites.FINALIZER, "x/other");
      assertThat(ElectionRules.decide(view.snapshot(), 16 * S, "me", false).action())
          .isEqualTo(Action.TAKE_OVER);
    }
  }

  @Nested
  @DisplayName("coordinated mode")
  class Coordinated {

    private Decision decide(boolean leading) {
      return ElectionRules.decide(view.snapshot(), S, "me", leading, true);
    }

    @Test
    @DisplayName("a leader whose Lease names someone else steps down, naming it")
    void leaderNamedOther() {
      see(held("me"), S);
      see(held("other"), 2 * S);
      // Killed mutant: the 'held by someone else' check negated (would renew).
      assertThat(decide(true)).isEqualTo(new Decision(Action.STEP_DOWN, 0, "other"));
    }

    @Test
    @DisplayName("a leader whose Lease was released steps down, naming nobody (it is not ours to recreate)")
    void leaderReleased() {
      see(LeaderElectionRecord.released(T, 3), 2 * S);
      assertThat(decide(true)).isEqualTo(new Decision(Action.STEP_DOWN, 0, ""));
    }

    @Test
    @DisplayName("a follower waits for ever, naming the holder, until the server names it")
    void followerWaits() {
      see(held("other"), 2 * S);
      assertThat(decide(false)).isEqualTo(new Decision(Action.WAIT, Long.MAX_VALUE, "other"));
    }

    @Test
    @DisplayName("a preferred holder that is us is no end of term")
    void preferredIsUs() {
      see(new LeaderElectionRecord("me", 15, T, T, 3, "me"), 2 * S);
      assertThat(decide(true).action()).isEqualTo(Action.RENEW);
      assertThat(decide(false).action()).isEqualTo(Action.RETAKE);
    }
  }
}
