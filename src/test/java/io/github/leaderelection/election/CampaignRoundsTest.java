package io.github.leaderelection.election;

import static io.github.leaderelection.election.ScriptedCampaign.S;
import static io.github.leaderelection.election.ScriptedCampaign.held;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.github.leaderelection.election.Campaign.Purpose;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The campaign's rounds ({@link Acquisition}) and terms ({@link Terms}), step by step on the real
 * state machine ({@link ScriptedCampaign}): which request each round sends, with what, and when the
 * campaign wants the next round.
 */
@DisplayName("Campaign rounds: what each round sends, and when the next is due")
class CampaignRoundsTest {

  private final ScriptedCampaign s = ScriptedCampaign.polling();

  private Instant wall() {
    return s.ticker.now();
  }

  @Nested
  @DisplayName("acquiring a Lease nobody holds")
  class Acquire {

    @Test
    @DisplayName("reads first, then creates the Lease naming us, each request bounded by the request timeout")
    void readThenCreate() {
      assertThat(s.tick()).as("woken at the read's deadline").isEqualTo(s.now() + 5 * S);
      Campaign.Request read = s.inFlight();
      assertThat(read.purpose()).isEqualTo(Purpose.READ);
      assertThat(read.verb()).isEqualTo(ApiVerb.GET);
      assertThat(read.isWrite()).isFalse();
      assertThat(read.sentAt()).isEqualTo(s.now());
      assertThat(read.deadline()).isEqualTo(s.now() + 5 * S);
      assertThat(s.campaign.requestInFlight()).isTrue();
      assertThat(s.campaign.firstRoundDone()).isFalse();
      s.serve();
      assertThat(s.campaign.requestInFlight()).isFalse();
      assertThat(s.campaign.firstRoundDone()).isTrue();

      s.advance(Duration.ofMillis(10));
      s.tick();
      Campaign.Request create = s.inFlight();
      assertThat(create.purpose()).isEqualTo(Purpose.CREATE);
      assertThat(create.verb()).isEqualTo(ApiVerb.CREATE);
      assertThat(create.isWrite()).isTrue();
      assertThat(create.record()).isEqualTo(new LeaderElectionRecord("me", 15, wall(), wall(), 0));
      assertThat(create.toSend().getMetadata().getName()).isEqualTo("l");
      assertThat(create.toSend().getMetadata().getFinalizers())
          .containsExactly(LeaseWrites.FINALIZER);
      long sentAt = s.now();
      Lease stored = s.serve();

      Term term = s.campaign.term();
      assertThat(term).isNotNull();
      assertThat(term.number()).isEqualTo(1);
      assertThat(term.fencingToken())
          .isEqualTo(Long.parseLong(stored.getMetadata().getResourceVersion()));
      assertThat(term.identity()).isEqualTo("me");
      assertThat(term.leaseKey()).isEqualTo("n/l");
      assertThat(term.deadlineNanos()).as("the fence counts from when the write was sent")
          .isEqualTo(sentAt + 10 * S);
      assertThat(s.listener.started).hasValue(1);
      assertThat(s.listener.leaders).containsExactly("me");
      assertThat(s.campaign.lastWritten()).isEqualTo(stored);
      assertThat(s.campaign.lastWriteSentNanos()).isEqualTo(sentAt);
      assertThat(s.tick()).as("the next renewal is a retry period away")
          .isEqualTo(s.now() + 2 * S);
      assertThat(s.campaign.requestInFlight()).isFalse();
    }

    @Test
    @DisplayName("an acquisition answered after the renew deadline starts no term and is tried again at once")
    void lateAcquisition() {
      s.tick();
      s.serve();
      s.tick();
      Campaign.Request create = s.inFlight();
      s.advance(Duration.ofSeconds(4)); // within the request timeout
      s.serve();
      assertThat(s.campaign.term()).isNotNull();

      ScriptedCampaign late = ScriptedCampaign.polling();
      late.tick();
      late.serve();
      late.tick();
      Campaign.Request slow = late.inFlight();
      late.advance(Duration.ofSeconds(11)); // the request was abandoned, then its answer came
      late.tick();
      assertThat(late.abandoned).contains(slow);
      late.serve(slow); // completes late: what it wrote is real, no term from it
      assertThat(late.campaign.term()).isNull();
      assertThat(late.view.holder()).as("the late write is seen").isEqualTo("me");
      assertThat(late.campaign.lastWritten()).isNotNull();
      assertThat(create).isNotNull();
    }
  }

  @Nested
  @DisplayName("while leading")
  class Leading {

    @Test
    @DisplayName("renews every retry period, keeping the acquire time and the transitions, moving the fence")
    void renews() {
      s.stored = null;
      s.lead();
      Instant acquired = wall();
      s.advance(Duration.ofSeconds(2));
      s.tick();
      Campaign.Request renew = s.inFlight();
      assertThat(renew.purpose()).isEqualTo(Purpose.RENEW);
      assertThat(renew.verb()).isEqualTo(ApiVerb.UPDATE);
      assertThat(renew.record()).isEqualTo(new LeaderElectionRecord("me", 15, acquired, wall(), 0));
      assertThat(renew.base()).isEqualTo(s.view.snapshot().lease());
      long sentAt = s.now();
      s.advance(Duration.ofMillis(300));
      s.serve();
      assertThat(s.campaign.term().deadlineNanos()).isEqualTo(sentAt + 10 * S);
      assertThat(s.metrics.renewOk).hasValue(1);
      assertThat(s.tick()).isEqualTo(s.now() + 2 * S);
    }

    @Test
    @DisplayName("a failed renewal is counted and retried after a retry period; the term lapses at its deadline")
    void failedRenewals() {
      s.lead();
      long deadline = s.campaign.term().deadlineNanos();
      Term term = s.campaign.term();
      for (int i = 0; i < 4; i++) {
        s.advance(Duration.ofSeconds(2));
        s.tick();
        assertThat(s.inFlight().purpose()).isEqualTo(Purpose.RENEW);
        s.fail(500);
      }
      assertThat(s.metrics.renewFailed).hasValue(4);
      assertThat(s.metrics.errors).containsOnly("UPDATE/500");
      assertThat(s.tick()).as("the next retry, before the deadline").isEqualTo(s.now() + 2 * S);
      s.advance(Duration.ofSeconds(2)); // 10 s: the deadline
      assertThat(s.now()).isEqualTo(deadline);
      s.tick();
      assertThat(s.campaign.term()).isNull();
      assertThat(term.endReason()).contains(TermEnd.EXPIRED);
      assertThat(s.listener.stopped).hasValue(1);
    }

    @Test
    @DisplayName("a renewal answered after the request was abandoned still extends the term it was sent in")
    void lateRenewal() {
      s.lead();
      s.advance(Duration.ofSeconds(2));
      s.tick();
      Campaign.Request renew = s.inFlight();
      long sentAt = s.now();
      s.advance(Duration.ofSeconds(5)); // the request timeout
      s.tick();
      assertThat(s.abandoned).containsExactly(renew);
      assertThat(s.metrics.errors).containsExactly("UPDATE/0");
      s.serve(renew);
      assertThat(s.campaign.term().deadlineNanos()).isEqualTo(sentAt + 10 * S);
    }

    @Test
    @DisplayName("a Lease deleted under the leader is created again by its renewal, in the same term")
    void deletedUnderTheLeader() {
      Term term = s.lead();
      s.advance(Duration.ofSeconds(2));
      s.tick();
      s.stored = null;
      s.fail(404); // the update finds no Lease
      assertThat(s.view.snapshot().exists()).isFalse();
      s.tick();
      Campaign.Request again = s.inFlight();
      assertThat(again.purpose()).isEqualTo(Purpose.RENEW);
      assertThat(again.verb()).isEqualTo(ApiVerb.CREATE);
      s.serve();
      assertThat(s.campaign.term()).isSameAs(term);
      assertThat(term.isValid()).isTrue();
    }

    @Test
    @DisplayName("a lost race makes the leader read at once, then renew from what it read")
    void conflict() {
      s.lead();
      s.advance(Duration.ofSeconds(2));
      s.tick();
      s.fail(409);
      s.tick();
      assertThat(s.inFlight().purpose()).as("at once").isEqualTo(Purpose.READ);
      s.serve();
      s.tick();
      assertThat(s.inFlight().purpose()).isEqualTo(Purpose.RENEW);
    }

    @Test
    @DisplayName("a Lease taken over by another ends the term as TAKEN_OVER and campaigns again")
    void takenOver() {
      Term term = s.lead();
      s.view.observe(s.storeOther(held("thief")), s.now());
      s.tick();
      assertThat(s.campaign.term()).isNull();
      assertThat(term.endReason()).contains(TermEnd.TAKEN_OVER);
      assertThat(s.listener.leaders).containsExactly("me", "thief");
      assertThat(s.metrics.transitions()).isEqualTo(1);
    }

    @Test
    @DisplayName("a Lease released by someone else ends the term as RELEASED_BY_OTHER")
    void releasedByOther() {
      Term term = s.lead();
      s.view.observe(s.storeOther(LeaderElectionRecord.released(wall(), 0)), s.now());
      s.tick();
      assertThat(term.endReason()).contains(TermEnd.RELEASED_BY_OTHER);
    }
  }

  @Nested
  @DisplayName("a follower")
  class Follower {

    @Test
    @DisplayName("waits out the holder's lease from when it saw it, then takes over with one more transition")
    void takesOverAfterExpiry() {
      s.storeOther(held("other"));
      s.tick();
      s.serve();
      long seenAt = s.now();
      long next = s.tick();
      assertThat(s.campaign.requestInFlight()).isFalse();
      assertThat(next).as("a poll with jitter in [retry, 2.2 x retry)")
          .isBetween(s.now() + 2 * S, s.now() + 44 * S / 10);
      s.ticker.advance(Duration.ofNanos(seenAt + 15 * S - s.now()));
      s.tick();
      assertThat(s.inFlight().purpose()).as("a polling follower reads first").isEqualTo(Purpose.READ);
      s.serve();
      s.tick();
      Campaign.Request take = s.inFlight();
      assertThat(take.purpose()).isEqualTo(Purpose.TAKE_OVER);
      assertThat(take.record()).isEqualTo(new LeaderElectionRecord("me", 15, wall(), wall(), 4));
      s.serve();
      assertThat(s.campaign.term()).isNotNull();
    }

    @Test
    @DisplayName("takes back at once a Lease that names it while it does not lead, keeping the transitions")
    void retake() {
      s.storeOther(held("me"));
      s.tick();
      s.serve();
      s.tick();
      Campaign.Request retake = s.inFlight();
      assertThat(retake.purpose()).isEqualTo(Purpose.RETAKE);
      assertThat(retake.record()).isEqualTo(new LeaderElectionRecord("me", 15, wall(), wall(), 3));
      s.serve();
      assertThat(s.campaign.term()).isNotNull();
    }

    @Test
    @DisplayName("a lost race on the create is counted as no error, and the follower reads before trying again")
    void lostRace() {
      s.tick();
      s.serve();
      s.tick();
      s.storeOther(held("winner"));
      s.fail(409);
      assertThat(s.metrics.errors).isEmpty();
      long next = s.tick();
      assertThat(next).isGreaterThanOrEqualTo(s.now() + 2 * S);
      s.ticker.advance(Duration.ofNanos(next - s.now()));
      s.tick();
      assertThat(s.inFlight().purpose()).isEqualTo(Purpose.READ);
    }

    @Test
    @DisplayName("backs off x1, x2, x4 the retry period (plus jitter) after errors in a row, and resets after an answer")
    void backoff() {
      long[] lower = {2 * S, 4 * S, 8 * S, 8 * S};
      for (long min : lower) {
        long next = s.tick();
        if (s.campaign.requestInFlight()) {
          s.fail(500);
          next = s.tick();
        }
        assertThat(next - s.now()).isBetween(min, min * 12 / 10);
        s.ticker.advance(Duration.ofNanos(next - s.now()));
      }
      assertThat(s.metrics.errors).hasSize(4).containsOnly("GET/500");
      s.storeOther(held("other"));
      s.tick();
      s.serve(); // a read alone does not end the outage ...
      long next = s.tick(); // ... a decision from it does (WAIT)
      assertThat(s.campaign.requestInFlight()).isFalse();
      s.ticker.advance(Duration.ofNanos(next - s.now()));
      s.tick();
      s.fail(500);
      next = s.tick();
      assertThat(next - s.now()).as("counted from one again").isBetween(2 * S, 24 * S / 10);
    }

    @Test
    @DisplayName("a request that times out is abandoned and counted as an error of its verb")
    void timeout() {
      s.tick();
      Campaign.Request read = s.inFlight();
      s.advance(Duration.ofSeconds(5));
      long next = s.tick();
      assertThat(s.abandoned).containsExactly(read);
      assertThat(s.campaign.requestInFlight()).isFalse();
      assertThat(s.metrics.errors).containsExactly("GET/0");
      assertThat(next - s.now()).isBetween(2 * S, 24 * S / 10);
    }
  }
}
