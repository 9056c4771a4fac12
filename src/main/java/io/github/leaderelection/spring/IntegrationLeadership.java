package io.github.leaderelection.spring;

import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.election.LeadershipListener;
import io.github.leaderelection.election.Term;
import io.github.leaderelection.election.TermEnd;
import java.util.List;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.integration.leader.Candidate;
import org.springframework.integration.leader.Context;
import org.springframework.integration.leader.event.LeaderEventPublisher;

/**
 * Spring Integration's leader contract on the Kubernetes Lease: each term is a {@link Context}
 * ({@code isLeader()}: the term is valid; {@code yield()}: step down for a retry period), announced
 * by {@code OnGrantedEvent} and {@code OnRevokedEvent} for the role (so that a
 * {@code SmartLifecycleRoleController} starts and stops the role's endpoints with leadership), and
 * handed to the {@link Candidate} beans of that role.
 */
final class IntegrationLeadership implements LeadershipListener {

  private static final Logger log = LoggerFactory.getLogger(IntegrationLeadership.class);

  private final String role;
  private final LeaderEventPublisher publisher;
  private final Supplier<LeaderElection> election;
  private final Supplier<List<Candidate>> candidates;
  private volatile LeaseContext current;

  IntegrationLeadership(String role, LeaderEventPublisher publisher,
      Supplier<LeaderElection> election, Supplier<List<Candidate>> candidates) {
    this.role = role;
    this.publisher = publisher;
    this.election = election;
    this.candidates = candidates;
  }

  /** One term as Spring Integration's leadership context. */
  final class LeaseContext implements Context {

    private final Term term;

    LeaseContext(Term term) {
      this.term = term;
    }

    @Override
    public boolean isLeader() {
      return term.isValid();
    }

    @Override
    public void yield() {
      LeaderElection e = election.get();
      e.stepDown(e.retryPeriod());
    }

    @Override
    public String getRole() {
      return role;
    }

    /**
     * The term this context stands for.
     *
     * @return the term, with its fencing token
     */
    public Term term() {
      return term;
    }

    @Override
    public String toString() {
      return "LeaseContext{role=" + role + ", " + term + "}";
    }
  }

  @Override
  public void startedLeading(Term term) {
    LeaseContext context = new LeaseContext(term);
    current = context;
    publisher.publishOnGranted(election.get(), context, role);
    for (Candidate c : candidates.get()) {
      if (role.equals(c.getRole())) {
        try {
          c.onGranted(context);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        } catch (RuntimeException e) {
          log.warn("candidate {} failed on granted: {}", c.getId(), e.toString());
        }
      }
    }
  }

  @Override
  public void stoppedLeading(Term term, TermEnd reason) {
    LeaseContext context = current != null && current.term() == term ? current
        : new LeaseContext(term);
    current = null;
    for (Candidate c : candidates.get()) {
      if (role.equals(c.getRole())) {
        try {
          c.onRevoked(context);
        } catch (RuntimeException e) {
          log.warn("candidate {} failed on revoked: {}", c.getId(), e.toString());
        }
      }
    }
    publisher.publishOnRevoked(election.get(), context, role);
  }
}
