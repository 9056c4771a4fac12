package io.github.leaderelection.spring;

import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.election.Term;
import io.github.leaderelection.election.TermEnd;
import java.util.Optional;
import org.springframework.context.ApplicationEvent;

/**
 * Application events of the election, published on the election's listener thread in the order
 * they happened: {@link Granted} when this instance starts leading, {@link Revoked} when that term
 * ends, {@link LeaderChanged} when the holder of the Lease changes. (With Spring Integration on
 * the class path, its {@code OnGrantedEvent} / {@code OnRevokedEvent} are published too.)
 */
public abstract class LeadershipEvent extends ApplicationEvent {

  private static final long serialVersionUID = 1L;

  private LeadershipEvent(LeaderElection source) {
    super(source);
  }

  /**
   * The election.
   *
   * @return the election that published the event
   */
  public LeaderElection election() {
    return (LeaderElection) getSource();
  }

  /** This instance leads: a new term started (it may have ended already; check it). */
  public static final class Granted extends LeadershipEvent {

    private static final long serialVersionUID = 1L;
    /** The term. */
    private final transient Term term;

    Granted(LeaderElection source, Term term) {
      super(source);
      this.term = term;
    }

    /**
     * The new term.
     *
     * @return the term, with its fencing token
     */
    public Term term() {
      return term;
    }
  }

  /** The term announced by {@link Granted} has ended; its @LeaderOnly calls were interrupted. */
  public static final class Revoked extends LeadershipEvent {

    private static final long serialVersionUID = 1L;
    /** The term. */
    private final transient Term term;
    /** Why the term ended. */
    private final TermEnd reason;

    Revoked(LeaderElection source, Term term, TermEnd reason) {
      super(source);
      this.term = term;
      this.reason = reason;
    }

    /**
     * The term that ended.
     *
     * @return the term
     */
    public Term term() {
      return term;
    }

    /**
     * Why it ended.
     *
     * @return the reason
     */
    public TermEnd reason() {
      return reason;
    }
  }

  /** The holder of the Lease changed (also to this instance). */
  public static final class LeaderChanged extends LeadershipEvent {

    private static final long serialVersionUID = 1L;
    /** The new holder. */
    private final String leader;

    LeaderChanged(LeaderElection source, String leader) {
      super(source);
      this.leader = leader;
    }

    /**
     * The new holder.
     *
     * @return its identity
     */
    public String leader() {
      return leader;
    }

    /**
     * Whether this instance is the new holder.
     *
     * @return true if the new holder is this instance
     */
    public boolean isThisInstance() {
      return Optional.ofNullable(leader).filter(election().identity()::equals).isPresent();
    }
  }
}
