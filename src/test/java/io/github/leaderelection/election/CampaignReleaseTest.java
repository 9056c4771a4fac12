package io.github.leaderelection.election;

import static io.github.leaderelection.election.ScriptedCampaign.S;
import static io.github.leaderelection.election.ScriptedCampaign.held;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.github.leaderelection.election.Campaign.Purpose;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * Giving the Lease up ({@link Release}) on the real state machine: on stop, after a step-down, and
 * finishing a hand deletion; each only once the work has stopped, or not at all once the wait for
 * it has timed out.
 */
@DisplayName("Campaign release: the Lease is given up only once the work has stopped")
class CampaignReleaseTest {

  private final ScriptedCampaign s = ScriptedCampaign.polling();

  private static LeaderElectionRecord recordOf(Lease lease) {
    return LeaderElectionRecord.fromSpec(lease.getSpec());
  }

  @Nested
  @DisplayName("on stop")
  class OnStop {

    @Test
    @DisplayName("the term ends as CLOSED, and the release clears the holder, conditional on our last write")
    void releases() {
      Term term = s.lead();
      Lease mine = s.campaign.lastWritten();
      s.advance(Duration.ofSeconds(1));
      s.stopRequested = true;
      long next = s.tick();
      assertThat(term.endReason()).contains(TermEnd.CLOSED);
      assertThat(s.campaign.term()).isNull();
      assertThat(s.listener.stopped).hasValue(1);
      Campaign.Request release = s.inFlight();
      assertThat(release.purpose()).isEqualTo(Purpose.RELEASE);
      assertThat(release.verb()).isEqualTo(ApiVerb.UPDATE);
      assertThat(release.base()).isEqualTo(mine);
      assertThat(release.record()).isEqualTo(LeaderElectionRecord.released(s.ticker.now(), 0));
      assertThat(release.deadline()).isEqualTo(s.now() + 5 * S);
      assertThat(next).isEqualTo(release.deadline());
      assertThat(s.campaign.phase()).isEqualTo(Campaign.Phase.RELEASING);
      assertThat(s.tick()).as("still waiting for the answer").isEqualTo(release.deadline());
      Lease released = s.serve();
      assertThat(recordOf(released).isRelease()).isTrue();
      assertThat(released.getMetadata().getFinalizers()).as("the finalizer goes with it").isNull();
      assertThat(s.campaign.done()).isTrue();
      assertThat(s.tick()).isEqualTo(Campaign.NEVER);
      assertThat(s.view.snapshot().lastHolderKnown()).as("our release is seen as such").isFalse();
    }

    @Test
    @DisplayName("without release on cancel, the campaign ends without a write")
    void noRelease() {
      ScriptedCampaign quiet = new ScriptedCampaign(ScriptedCampaign.config(false, false));
      quiet.lead();
      int sent = quiet.sent.size();
      quiet.stopRequested = true;
      assertThat(quiet.tick()).isEqualTo(Campaign.NEVER);
      assertThat(quiet.campaign.done()).isTrue();
      assertThat(quiet.sent).hasSize(sent);
    }

    @Test
    @DisplayName("a follower that never led ends at once, and a read on the wire is abandoned")
    void follower() {
      s.tick();
      Campaign.Request read = s.inFlight();
      s.campaign.stop();
      assertThat(s.abandoned).containsExactly(read);
      assertThat(s.tick()).isEqualTo(Campaign.NEVER);
      assertThat(s.campaign.done()).isTrue();
    }

    @Test
    @DisplayName("an acquisition on the wire is awaited, and what it won is released")
    void awaitsAnAcquisition() {
      s.tick();
      s.serve();
      s.tick();
      Campaign.Request create = s.inFlight();
      s.campaign.stop();
      assertThat(s.abandoned).isEmpty();
      assertThat(s.tick()).as("until the request's deadline").isEqualTo(create.deadline());
      s.advance(Duration.ofMillis(100));
      s.serve();
      assertThat(s.campaign.term()).as("no term starts while stopping").isNull();
      assertThat(s.listener.started).hasValue(0);
      s.tick();
      assertThat(s.inFlight().purpose()).isEqualTo(Purpose.RELEASE);
      s.serve();
      assertThat(s.campaign.done()).isTrue();
    }

    @Test
    @DisplayName("a hung acquisition is abandoned at the end of the wait, and nothing is released")
    void hungAcquisition() {
      s.tick();
      s.serve();
      s.tick();
      Campaign.Request create = s.inFlight();
      s.campaign.stop();
      s.advance(Duration.ofSeconds(5));
      assertThat(s.tick()).isEqualTo(Campaign.NEVER);
      assertThat(s.abandoned).containsExactly(create);
      assertThat(s.campaign.done()).isTrue();
    }

    @Test
    @DisplayName("waits for the running unit, then releases as soon as it has stopped")
    void waitsForTheWork() {
      Term term = s.lead();
      term.enterWork();
      s.campaign.stop();
      long stopAt = s.now();
      assertThat(s.tick()).as("the work-stop wait").isEqualTo(stopAt + 5 * S);
      assertThat(s.campaign.requestInFlight()).isFalse();
      s.advance(Duration.ofSeconds(2));
      assertThat(s.tick()).isEqualTo(stopAt + 5 * S);
      term.exitWork();
      assertThat(s.wakes).as("the work's end wakes the campaign").isEqualTo(1);
      s.tick();
      assertThat(s.inFlight().purpose()).isEqualTo(Purpose.RELEASE);
      assertThat(s.inFlight().deadline()).isEqualTo(s.now() + 5 * S);
    }

    @Test
    @DisplayName("the work-stop wait times out: work still running keeps the Lease unreleased")
    void workStopWaitTimesOut() {
      Term term = s.lead();
      term.enterWork();
      s.campaign.stop();
      s.advance(ElectionConfig.WORK_STOP_WAIT.minusNanos(1));
      s.tick();
      assertThat(s.campaign.done()).isFalse();
      s.advance(Duration.ofNanos(1));
      // Killed mutants: the wait's bound moved ('<' into '<='), the 'working' check negated.
      assertThat(s.tick()).isEqualTo(Campaign.NEVER);
      assertThat(s.campaign.done()).isTrue();
      assertThat(s.sent).as("no release").extracting(Campaign.Request::purpose)
          .doesNotContain(Purpose.RELEASE);
    }

    @Test
    @DisplayName("a release that conflicts reads the Lease and releases again while it still names us")
    void conflictThenAgain() {
      s.lead();
      s.stopRequested = true;
      s.tick();
      // A renewal of this very process stored late (its incarnation): still ours to release.
      Lease renewedLate = s.storeOther(held("me"), s.config.ownIncarnation());
      s.fail(409);
      Campaign.Request read = s.inFlight();
      assertThat(read.purpose()).isEqualTo(Purpose.RELEASE_READ);
      assertThat(read.verb()).isEqualTo(ApiVerb.GET);
      s.serve();
      Campaign.Request again = s.inFlight();
      assertThat(again.purpose()).isEqualTo(Purpose.RELEASE);
      assertThat(again.base()).isEqualTo(renewedLate);
      assertThat(again.record().leaseTransitions()).isEqualTo(3);
      s.serve();
      assertThat(s.campaign.done()).isTrue();
      assertThat(recordOf(s.stored).isRelease()).isTrue();
    }

    @Test
    @DisplayName("a release that conflicts with another holder's write leaves that Lease alone")
    void conflictWithAnotherHolder() {
      s.lead();
      s.stopRequested = true;
      s.tick();
      s.storeOther(held("other"));
      s.fail(409);
      s.serve(); // the read
      assertThat(s.campaign.done()).isTrue();
      assertThat(recordOf(s.stored).holderIdentity()).isEqualTo("other");
    }

    @Test
    @DisplayName("a conflict is read and tried again up to three times (the coordinated server"
        + " may write an end of term in between); the fourth ends the release")
    void conflictRepeatedly() {
      s.lead();
      s.stopRequested = true;
      s.tick();
      for (int i = 0; i < 3; i++) {
        s.fail(409);
        s.serve(); // the read: still ours
        assertThat(s.inFlight().purpose()).isEqualTo(Purpose.RELEASE);
        assertThat(s.campaign.done()).isFalse();
      }
      s.fail(409);
      assertThat(s.campaign.done()).isTrue();
      assertThat(s.sent.stream().filter(r -> r.purpose() == Purpose.RELEASE_READ)).hasSize(3);
    }

    @Test
    @DisplayName("a release that fails otherwise (gone, an error) ends the campaign")
    void failures() {
      for (int code : List.of(404, 500)) {
        ScriptedCampaign c = ScriptedCampaign.polling();
        c.lead();
        c.stopRequested = true;
        c.tick();
        c.fail(code);
        assertThat(c.campaign.done()).as("code %d", code).isTrue();
      }
    }
  }

  @Nested
  @DisplayName("after a step-down")
  class StepDown {

    @Test
    @DisplayName("the term ends, the Lease is yielded once the work has stopped, and the campaign stays out")
    void yieldsAndStaysOut() {
      Term term = s.lead();
      term.enterWork();
      s.campaign.stepDown(TermEnd.STEPPED_DOWN, Duration.ofSeconds(30));
      long at = s.now();
      assertThat(term.endReason()).contains(TermEnd.STEPPED_DOWN);
      assertThat(s.campaign.term()).isNull();
      assertThat(s.tick()).as("woken when the work stops, at the latest after the wait")
          .isEqualTo(at + 5 * S);
      assertThat(s.campaign.requestInFlight()).isFalse();
      term.exitWork();
      s.advance(Duration.ofSeconds(1));
      long next = s.tick();
      Campaign.Request yield = s.inFlight();
      assertThat(yield.purpose()).isEqualTo(Purpose.YIELD);
      assertThat(yield.record().isRelease()).isTrue();
      assertThat(next).isEqualTo(yield.deadline());
      assertThat(yield.deadline()).isEqualTo(s.now() + 5 * S);
      s.serve();
      assertThat(s.tick()).as("stays out for 30 s").isEqualTo(at + 30 * S);
      s.ticker.advance(Duration.ofNanos(at + 30 * S - s.now()));
      s.tick();
      assertThat(s.inFlight().purpose()).isEqualTo(Purpose.READ);
      s.serve();
      s.tick();
      assertThat(s.inFlight().purpose()).as("its own release: taken over at once")
          .isEqualTo(Purpose.TAKE_OVER);
      assertThat(s.campaign.phase()).isEqualTo(Campaign.Phase.RUNNING);
    }

    @Test
    @DisplayName("work still running past the wait keeps the Lease unyielded: it expires by itself")
    void workStillRunning() {
      Term term = s.lead();
      term.enterWork();
      s.campaign.stepDown(TermEnd.STEPPED_DOWN, Duration.ofSeconds(1));
      s.advance(Duration.ofSeconds(5));
      s.tick();
      assertThat(s.sent).extracting(Campaign.Request::purpose).doesNotContain(Purpose.YIELD);
    }

    @Test
    @DisplayName("a yield that fails is left to expire; the campaign goes on after the stay-out")
    void yieldFails() {
      s.lead();
      long at = s.now();
      s.campaign.stepDown(TermEnd.STEPPED_DOWN, Duration.ofSeconds(30));
      s.tick();
      s.fail(500);
      assertThat(s.tick()).isEqualTo(at + 30 * S);
      assertThat(s.campaign.phase()).isEqualTo(Campaign.Phase.RUNNING);
    }

    @Test
    @DisplayName("a step-down while not leading only stays out")
    void notLeading() {
      s.storeOther(held("other"));
      s.tick();
      s.serve();
      s.campaign.stepDown(TermEnd.STEPPED_DOWN, Duration.ofSeconds(30));
      assertThat(s.tick()).isEqualTo(s.now() + 30 * S);
      assertThat(s.campaign.requestInFlight()).isFalse();
    }
  }

  @Nested
  @DisplayName("finishing a hand deletion")
  class FinishDelete {

    @Test
    @DisplayName("releases the Lease being deleted once nobody's claim runs, then creates it anew")
    void finishesThenCreates() {
      Lease held = s.storeOther(held("other"));
      held.getMetadata().setFinalizers(List.of(LeaseWrites.FINALIZER));
      held.getMetadata().setDeletionTimestamp("2026-11-24T00:00:01Z");
      s.stored = held;
      s.tick();
      s.serve();
      s.tick(); // WAIT
      s.advance(Duration.ofSeconds(15));
      s.tick();
      s.serve(); // read again
      s.tick();
      Campaign.Request finish = s.inFlight();
      assertThat(finish.purpose()).isEqualTo(Purpose.FINISH_DELETE);
      assertThat(finish.record()).isEqualTo(LeaderElectionRecord.released(s.ticker.now(), 3));
      assertThat(finish.toSend().getMetadata().getFinalizers()).isNull();
      s.serve();
      s.stored = null; // the deletion completes
      // Killed mutants: either observe of the answer removed (the view would still hold the
      // Lease, or the last holder's claim).
      assertThat(s.view.snapshot().exists()).isFalse();
      assertThat(s.view.snapshot().lastHolderKnown()).isFalse();
      s.tick();
      assertThat(s.inFlight().purpose()).as("at once: a poller reads").isEqualTo(Purpose.READ);
      s.serve();
      s.tick();
      assertThat(s.inFlight().purpose()).isEqualTo(Purpose.CREATE);
    }
  }
}
