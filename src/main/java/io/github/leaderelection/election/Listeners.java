package io.github.leaderelection.election;

import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Several listeners as one, called in order. A listener that throws is logged and skipped: a
 * failing Event or pod label must never stop the election or the other listeners.
 */
public final class Listeners implements LeadershipListener {

  private static final Logger log = LoggerFactory.getLogger(Listeners.class);

  private final List<LeadershipListener> all;

  public Listeners(List<LeadershipListener> all) {
    this.all = List.copyOf(all);
  }

  @Override
  public void startedLeading(Term term) {
    all.forEach(l -> contain(l, "startedLeading", () -> l.startedLeading(term)));
  }

  @Override
  public void stoppedLeading() {
    all.forEach(l -> contain(l, "stoppedLeading", l::stoppedLeading));
  }

  @Override
  public void newLeader(String identity) {
    all.forEach(l -> contain(l, "newLeader", () -> l.newLeader(identity)));
  }

  private static void contain(LeadershipListener listener, String method, Runnable call) {
    try {
      call.run();
    } catch (RuntimeException e) {
      log.error("listener {}.{} failed; the election goes on", listener.getClass().getName(),
          method, e);
    }
  }
}
