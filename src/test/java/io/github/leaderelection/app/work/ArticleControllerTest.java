package io.github.leaderelection.app.work;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.leaderelection.election.ElectorHarness;
import io.github.leaderelection.election.LeaderElectionRecord;
import io.github.leaderelection.election.Term;
import io.github.leaderelection.election.LogCapture;
import io.github.leaderelection.election.ManualTicker;
import io.github.leaderelection.election.RecordingListener;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The article's controller: its messages, and its work bound to the elector's leadership. */
class ArticleControllerTest {

  private static final String STOPPED = "no longer the leader, staying inactive.";
  private static final String WORK = "doing stuff...";

  @Test
  void tellsWhoLeadsInTheArticlesWords() {
    ArticleController controller = new ArticleController("pod-a", Duration.ofSeconds(5));
    try (LogCapture logs = new LogCapture(ArticleController.class)) {
      controller.newLeader("pod-a");
      controller.newLeader("pod-b");
      controller.stoppedLeading(); // never led: nothing to wait for
      assertThat(logs.messages()).containsExactly("still the leader!", "new leader is pod-b", STOPPED);
    }
  }

  /**
   * Through a real elector: the work runs while leading; when another replica takes the lease the
   * work ends within 100 ms of the revocation, before the step-down is reported, and no unit runs
   * after it.
   */
  @Test
  void workRunsWhileLeadingAndStopsWithin100msOfLosingTheLease() throws Exception {
    ArticleController controller = new ArticleController("me", Duration.ofMillis(20));
    AtomicLong stopTookNanos = new AtomicLong(-1);
    RecordingListener listener = new RecordingListener() {
      @Override
      public void startedLeading(Term l) {
        super.startedLeading(l);
        controller.startedLeading(l);
      }

      @Override
      public void stoppedLeading() {
        long revoked = System.nanoTime(); // the elector revokes right before calling this
        controller.stoppedLeading(); // returns once the work has stopped
        stopTookNanos.set(System.nanoTime() - revoked);
        super.stoppedLeading();
      }

      @Override
      public void newLeader(String identity) {
        super.newLeader(identity);
        controller.newLeader(identity);
      }
    };
    try (LogCapture logs = new LogCapture(ArticleController.class);
        ElectorHarness h = new ElectorHarness(listener)) {
      h.start();
      await().atMost(ElectorHarness.TIMEOUT).until(
          () -> logs.messages().stream().filter(WORK::equals).count() >= 3);
      assertThat(logs.messages()).contains("still the leader!", WORK);

      h.api.writeRecord(new LeaderElectionRecord("pod-b", 15, ManualTicker.START_WALL,
          ManualTicker.START_WALL, 1));
      h.advanceAndSettle(Duration.ofSeconds(2), x -> x.listener.stopped.get() == 1);

      assertThat(Duration.ofNanos(stopTookNanos.get())).isLessThan(Duration.ofMillis(100));
      List<String> messages = logs.messages();
      int stopped = messages.indexOf(STOPPED);
      assertThat(stopped).isPositive();
      assertThat(messages.subList(stopped, messages.size())).doesNotContain(WORK);
      assertThat(messages).contains("new leader is pod-b");
      assertThat(Thread.getAllStackTraces().keySet())
          .noneMatch(t -> t.getName().startsWith("leader-work-") && t.isAlive());
    }
  }
}
