package io.github.leaderelection.work;

import io.github.leaderelection.election.LeadershipListener;
import io.github.leaderelection.election.Term;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The article's controller: while leading it logs {@code doing stuff...} every work interval, and it
 * tells the story of the election in the article's words. Unlike the article's program, its work
 * ends the moment leadership does, and losing leadership leaves it a candidate, not a crash loop.
 */
public final class ArticleController implements LeadershipListener {

  private static final Logger log = LoggerFactory.getLogger(ArticleController.class);
  /**
   * How long the step-down log line waits for a running unit, so that it comes after the term's
   * last 'doing stuff...', as in the article. The work was cancelled already; this is only order.
   */
  private static final Duration STOP_WAIT = Duration.ofSeconds(1);

  private final String identity;
  private final FencedLoop work;

  public ArticleController(String identity, Duration workInterval) {
    this.identity = identity;
    this.work = new FencedLoop(workInterval,
        () -> log.atInfo().addKeyValue("event", "work").log("doing stuff..."));
  }

  @Override
  public void startedLeading(Term term) {
    work.start(term);
  }

  @Override
  public void stoppedLeading() {
    try {
      if (!work.awaitStopped(STOP_WAIT)) {
        log.warn("leader work still running {} after losing leadership", STOP_WAIT);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    log.atInfo().addKeyValue("event", "stopped_leading")
        .log("no longer the leader, staying inactive.");
  }

  @Override
  public void newLeader(String holder) {
    if (holder.equals(identity)) {
      log.atInfo().addKeyValue("event", "new_leader").addKeyValue("leader", holder)
          .log("still the leader!");
    } else {
      log.atInfo().addKeyValue("event", "new_leader").addKeyValue("leader", holder)
          .log("new leader is {}", holder);
    }
  }
}
