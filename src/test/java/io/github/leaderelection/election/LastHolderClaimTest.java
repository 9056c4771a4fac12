package io.github.leaderelection.election;

import static io.github.leaderelection.election.ElectionRules.Action.CREATE;
import static io.github.leaderelection.election.ElectionRules.Action.TAKE_OVER;
import static io.github.leaderelection.election.ElectionRules.Action.WAIT;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.leaderelection.election.ElectionRules.Decision;
import java.time.Instant;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * S1 of the rules: a Lease deleted or cleared by hand does not end its last holder's claim. These
 * pin the claim's arithmetic where the cases of {@link ElectionRulesDecideTest} cannot tell it
 * apart: a last holder whose own lease duration outlasts a full duration counted from the clear.
 */
@DisplayName("The last holder's claim outlives a hand delete or clear")
class LastHolderClaimTest {

  private static final long S = 1_000_000_000L;
  private static final Instant T = Instant.parse("2026-11-24T00:00:00Z");
  private final ViewFeed feed = new ViewFeed(15 * S);
  private final LeaseView view = feed.view;

  private void see(LeaderElectionRecord record, long at) {
    feed.see(record, at);
  }

  private Decision decide(long now) {
    return ElectionRules.decide(view.snapshot(), now, "me", false);
  }

  private static LeaderElectionRecord held(String holder, int seconds) {
    return new LeaderElectionRecord(holder, seconds, T, T, 3);
  }

  private static LeaderElectionRecord cleared(int seconds) {
    return new LeaderElectionRecord("", seconds, T, T, 3);
  }

  @Nested
  @DisplayName("after a hand clear (holder emptied, not a release)")
  class HandClear {

    @Test
    @DisplayName("a follower waits until the last holder's claim ends, when it ends after a duration from the clear")
    void longerClaimWins() {
      see(held("other", 60), 10 * S); // claim until 70 s
      see(cleared(15), 12 * S); // a duration from the clear: until 27 s
      // Killed mutants: the claim's '+' turned into '-', 'claim > until' negated or removed.
      assertThat(decide(20 * S)).isEqualTo(new Decision(WAIT, 70 * S, "other"));
      assertThat(decide(69 * S)).isEqualTo(new Decision(WAIT, 70 * S, "other"));
      assertThat(decide(70 * S).action()).isEqualTo(TAKE_OVER);
    }

    @Test
    @DisplayName("a claim ending exactly when the clear's duration does is not named: the clear decides")
    void equalClaim() {
      see(held("other", 17), 10 * S); // claim until 27 s
      see(cleared(15), 12 * S); // until 27 s as well
      // Killed mutant: 'claim > until' turned into 'claim >= until' (would name "other").
      assertThat(decide(20 * S)).isEqualTo(new Decision(WAIT, 27 * S, ""));
    }

    @Test
    @DisplayName("our own last claim is not waited for: only a duration from the clear")
    void ownClaimNotWaitedFor() {
      see(held("me", 60), 10 * S);
      see(cleared(15), 12 * S);
      // Killed mutant: '!lastHolder().equals(me)' negated (would wait for our own claim, to 70 s).
      assertThat(decide(20 * S)).isEqualTo(new Decision(WAIT, 27 * S, ""));
      assertThat(decide(27 * S).action()).isEqualTo(TAKE_OVER);
    }

    @Test
    @DisplayName("a release ends the claim at once, however long it was")
    void releaseEndsIt() {
      see(held("other", 60), 10 * S);
      see(LeaderElectionRecord.released(T, 3), 12 * S);
      assertThat(decide(12 * S).action()).isEqualTo(TAKE_OVER);
    }
  }

  @Nested
  @DisplayName("after a hand delete")
  class HandDelete {

    @Test
    @DisplayName("a follower creates the Lease only once the last holder's claim has ended")
    void waitsForTheClaim() {
      see(held("other", 60), 10 * S);
      see(null, 12 * S);
      // Killed mutants: the claim's '+' turned into '-', 'now < until' negated or moved.
      assertThat(decide(12 * S)).isEqualTo(new Decision(WAIT, 70 * S, "other"));
      assertThat(decide(69 * S)).isEqualTo(new Decision(WAIT, 70 * S, "other"));
      assertThat(decide(70 * S).action()).isEqualTo(CREATE);
    }

    @Test
    @DisplayName("our own last claim is not waited for: the Lease is created at once")
    void ownClaim() {
      see(held("me", 60), 10 * S);
      see(null, 12 * S);
      assertThat(decide(12 * S).action()).isEqualTo(CREATE);
    }

    @Test
    @DisplayName("after the holder's own release and a delete, nobody's claim is left")
    void releasedThenDeleted() {
      see(held("other", 60), 10 * S);
      see(LeaderElectionRecord.released(T, 3), 11 * S);
      see(null, 12 * S);
      // Killed mutant: the release no longer clearing the last holder (LeaseView).
      assertThat(decide(12 * S).action()).isEqualTo(CREATE);
    }
  }
}
