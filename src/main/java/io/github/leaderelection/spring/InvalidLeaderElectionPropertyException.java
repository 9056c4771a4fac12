package io.github.leaderelection.spring;

/**
 * A {@code leaderelection.*} property has a value the election cannot run with; the message names
 * the property and the rule, e.g. {@code leaderelection.lease-duration (10s) must be greater than
 * leaderelection.renew-deadline (10s)}. Fails the start of the application context.
 */
public class InvalidLeaderElectionPropertyException extends IllegalArgumentException {

  private static final long serialVersionUID = 1L;

  /**
   * An exception with the given message.
   *
   * @param message names the property and the rule
   * @param cause the library's own complaint, or null
   */
  public InvalidLeaderElectionPropertyException(String message, Throwable cause) {
    super(message, cause);
  }
}
