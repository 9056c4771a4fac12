package io.github.leaderelection.election;

import static io.github.leaderelection.election.ElectionRules.Action.CREATE;
import static io.github.leaderelection.election.ElectionRules.Action.READ;
import static io.github.leaderelection.election.ElectionRules.Action.RENEW;
import static io.github.leaderelection.election.ElectionRules.Action.RETAKE;
import static io.github.leaderelection.election.ElectionRules.Action.STEP_DOWN;
import static io.github.leaderelection.election.ElectionRules.Action.TAKE_OVER;
import static io.github.leaderelection.election.ElectionRules.Action.WAIT;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.leaderelection.election.ElectionRules.Decision;
import java.time.Instant;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** {@link ElectionRules#decide}, the election's rules as a pure function, case by case. */
class ElectionRulesDecideTest {

  private static final long S = 1_000_000_000L;
  private static final Instant T = Instant.parse("2026-11-24T00:00:00Z");
  private final ViewFeed feed = new ViewFeed(15 * S);
  private final LeaseView view = feed.view;

  private void see(LeaderElectionRecord record, long at) {
    feed.see(record, at);
  }

  private Decision decide(long now, boolean leading) {
    return ElectionRules.decide(view.snapshot(), now, "me", leading);
  }

  private static LeaderElectionRecord held(String holder) {
    return new LeaderElectionRecord(holder, 15, T, T, 3);
  }

  @Test
  @DisplayName("nothing seen yet: read first")
  void readsFirst() {
    assertThat(decide(0, false).action()).isEqualTo(READ);
  }

  @Test
  @DisplayName("a Lease that never existed is created; one held by another waits out its duration from when it was seen")
  void createAndExpiry() {
    see(null, 0);
    assertThat(decide(0, false).action()).isEqualTo(CREATE);
    see(held("other"), 10 * S);
    assertThat(decide(24 * S, false)).isEqualTo(new Decision(WAIT, 25 * S, "other"));
    assertThat(decide(25 * S, false).action()).isEqualTo(TAKE_OVER);
  }

  @Test
  @DisplayName("S1: after a delete or a hand clear, the last holder's claim runs on; after its own release, not")
  void deletesAndClears() {
    see(held("other"), 10 * S);
    see(null, 12 * S);
    assertThat(decide(20 * S, false)).isEqualTo(new Decision(WAIT, 25 * S, "other"));
    assertThat(decide(25 * S, false).action()).isEqualTo(CREATE);

    see(held("other"), 30 * S);
    see(new LeaderElectionRecord("", 15, T, T, 3), 31 * S);
    assertThat(decide(31 * S, false)).as("B: a full duration from the clear, past the last claim")
        .isEqualTo(new Decision(WAIT, 46 * S, ""));

    see(held("other"), 50 * S);
    see(LeaderElectionRecord.released(T, 3), 51 * S);
    assertThat(decide(51 * S, false).action()).isEqualTo(TAKE_OVER);
  }

  @Test
  @DisplayName("S1: a holder cleared before any holder was seen is claimed for the record's duration")
  void aClearedLeaseNeverSeenHeld() {
    see(new LeaderElectionRecord("", 15, T, T, 0), 5 * S);
    assertThat(decide(6 * S, false)).isEqualTo(new Decision(WAIT, 20 * S, ""));
    assertThat(decide(20 * S, false).action()).isEqualTo(TAKE_OVER);
  }

  @Test
  @DisplayName("L5: a Lease naming us while we do not lead is taken back at once")
  void retake() {
    see(held("me"), 0);
    assertThat(decide(S, false).action()).isEqualTo(RETAKE);
  }

  @Test
  @DisplayName("a leader renews its own, a deleted or hand-cleared Lease; steps down for another holder or a release it did not write")
  void leader() {
    see(held("me"), 0);
    assertThat(decide(S, true).action()).isEqualTo(RENEW);
    see(null, 2 * S);
    assertThat(decide(2 * S, true).action()).isEqualTo(RENEW);
    see(new LeaderElectionRecord("", 15, T, T, 3), 3 * S);
    assertThat(decide(3 * S, true).action()).isEqualTo(RENEW);
    see(held("thief"), 4 * S);
    assertThat(decide(4 * S, true)).isEqualTo(new Decision(STEP_DOWN, 0, "thief"));
    see(LeaderElectionRecord.released(T, 3), 5 * S);
    assertThat(decide(5 * S, true).action()).isEqualTo(STEP_DOWN);
  }

  @Test
  @DisplayName("coordinated: never create or take over; lead only while named; stop at the end of term")
  void coordinated() {
    see(null, 0);
    assertThat(ElectionRules.decide(view.snapshot(), 100 * S, "me", false, true).action())
        .isEqualTo(WAIT);
    see(held("other"), S);
    assertThat(ElectionRules.decide(view.snapshot(), 100 * S, "me", false, true).action())
        .as("expired, but the server picks the holder").isEqualTo(WAIT);
    see(LeaderElectionRecord.released(T, 3), 2 * S);
    assertThat(ElectionRules.decide(view.snapshot(), 3 * S, "me", false, true).action())
        .isEqualTo(WAIT);
    see(held("me"), 4 * S);
    assertThat(ElectionRules.decide(view.snapshot(), 4 * S, "me", false, true).action())
        .as("the server named us").isEqualTo(RETAKE);
    assertThat(ElectionRules.decide(view.snapshot(), 4 * S, "me", true, true).action())
        .isEqualTo(RENEW);
    see(new LeaderElectionRecord("me", 15, T, T, 3, "newer"), 5 * S);
    assertThat(ElectionRules.decide(view.snapshot(), 5 * S, "me", true, true))
        .as("end of term").isEqualTo(new Decision(STEP_DOWN, 0, "newer"));
    assertThat(ElectionRules.decide(view.snapshot(), 5 * S, "me", false, true).action())
        .as("and not taken back").isEqualTo(WAIT);
  }

  @Test
  @DisplayName("L8: transitions wrap at the int32 maximum")
  void transitionsWrap() {
    assertThat(new LeaderElectionRecord("a", 15, T, T, Integer.MAX_VALUE).nextTransitions()).isZero();
    assertThat(new LeaderElectionRecord("a", 15, T, T, 7).nextTransitions()).isEqualTo(8);
  }
}
