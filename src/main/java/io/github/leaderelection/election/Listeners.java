package io.github.leaderelection.election;

import java.util.List;

/** Several listeners as one, called in order. */
public final class Listeners implements LeadershipListener {

  private final List<LeadershipListener> all;

  public Listeners(List<LeadershipListener> all) {
    this.all = List.copyOf(all);
  }

  @Override
  public void startedLeading(Leadership leadership) {
    all.forEach(l -> l.startedLeading(leadership));
  }

  @Override
  public void stoppedLeading() {
    all.forEach(LeadershipListener::stoppedLeading);
  }

  @Override
  public void newLeader(String identity) {
    all.forEach(l -> l.newLeader(identity));
  }
}
