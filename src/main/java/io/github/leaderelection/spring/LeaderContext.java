package io.github.leaderelection.spring;

import io.github.leaderelection.election.Term;
import java.util.Optional;

/**
 * The term a {@link LeaderOnly} call runs in, for the thread that runs it: its fencing token for
 * fenced writes ({@link Term#fencedUpdate}), its validity and the time left.
 */
public final class LeaderContext {

  private static final ThreadLocal<Term> CURRENT = new ThreadLocal<>();

  private LeaderContext() {
  }

  /**
   * The term of the {@link LeaderOnly} call running on this thread.
   *
   * @return the term, or empty outside a {@link LeaderOnly} call
   */
  public static Optional<Term> currentTerm() {
    return Optional.ofNullable(CURRENT.get());
  }

  /**
   * The term of the {@link LeaderOnly} call running on this thread.
   *
   * @return the term
   * @throws IllegalStateException outside a {@link LeaderOnly} call
   */
  public static Term requireTerm() {
    Term term = CURRENT.get();
    if (term == null) {
      throw new IllegalStateException("not inside a @LeaderOnly call");
    }
    return term;
  }

  static Term enter(Term term) {
    Term before = CURRENT.get();
    CURRENT.set(term);
    return before;
  }

  static void restore(Term before) {
    if (before == null) {
      CURRENT.remove();
    } else {
      CURRENT.set(before);
    }
  }
}
