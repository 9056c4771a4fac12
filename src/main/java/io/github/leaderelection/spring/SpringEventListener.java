package io.github.leaderelection.spring;

import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.election.LeadershipListener;
import io.github.leaderelection.election.Term;
import io.github.leaderelection.election.TermEnd;
import java.util.function.Supplier;
import org.springframework.context.ApplicationEventPublisher;

/** Publishes the election's notifications as {@link LeadershipEvent}s. */
final class SpringEventListener implements LeadershipListener {

  private final ApplicationEventPublisher publisher;
  private final Supplier<LeaderElection> election;

  SpringEventListener(ApplicationEventPublisher publisher, Supplier<LeaderElection> election) {
    this.publisher = publisher;
    this.election = election;
  }

  @Override
  public void startedLeading(Term term) {
    publisher.publishEvent(new LeadershipEvent.Granted(election.get(), term));
  }

  @Override
  public void stoppedLeading(Term term, TermEnd reason) {
    publisher.publishEvent(new LeadershipEvent.Revoked(election.get(), term, reason));
  }

  @Override
  public void newLeader(String identity) {
    publisher.publishEvent(new LeadershipEvent.LeaderChanged(election.get(), identity));
  }
}
