package io.github.leaderelection.election;

import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Several listeners as one, called in order. A listener that throws is logged and skipped: a
 * failing Event or pod label must never stop the election or the other listeners.
 */
final class Listeners implements LeadershipListener {

  private static final Logger log = LoggerFactory.getLogger(Listeners.class);

  private final List<LeadershipListener> all;

  Listeners(List<LeadershipListener> all) {
    this.all = List.copyOf(all);
  }

  @Override
  public void startedLeading(Term term) {
    all.forEach(l -> contain(l, "startedLeading", () -> l.startedLeading(term)));
  }

  @Override
  public void stoppedLeading(Term term, TermEnd reason) {
    all.forEach(l -> contain(l, "stoppedLeading", () -> l.stoppedLeading(term, reason)));
  }

  @Override
  public void newLeader(String identity) {
    all.forEach(l -> contain(l, "newLeader", () -> l.newLeader(identity)));
  }

  private static void contain(LeadershipListener listener, String method, Runnable call) {
    try {
      call.run();
    } catch (RuntimeException e) {
      log.warn("listener {}.{} failed; the election goes on", listener.getClass().getName(),
          method, e);
    }
  }
}
