package io.github.leaderelection.election;

/**
 * Thrown by {@link Term#checkValid()} and {@link Term#fencedUpdate} once the term has ended or
 * lapsed: the caller is no longer the leader and must not act as one. Not an error of the
 * election: leadership may be lost at any time, and the election campaigns again by itself.
 */
public final class LeadershipLostException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /**
   * An exception with {@code message}, without a stack trace (it is an expected outcome, not a
   * bug to locate).
   *
   * @param message which term of which Lease ended, and why
   */
  public LeadershipLostException(String message) {
    super(message, null, false, false);
  }
}
