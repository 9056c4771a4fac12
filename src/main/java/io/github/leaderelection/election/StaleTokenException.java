package io.github.leaderelection.election;

/**
 * A fenced write refused ({@link Term#fencedUpdate}): the object was last written under a newer
 * term's fencing token than the writer's, so the writer's term is over and a newer leader has
 * acted. Nothing was written. Not an error of the election: a term that lasted past its leader's
 * knowledge (a long pause between the validity check and the write) is exactly what the fence is
 * for.
 */
public final class StaleTokenException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final long token;
  private final long storedToken;
  private final String storedBy;

  /**
   * @param object {@code namespace/name} of the object that refused the write
   * @param token the writer's token
   * @param storedToken the newer token stored in the object
   * @param storedBy the identity that wrote under the newer token (may be empty)
   */
  public StaleTokenException(String object, long token, long storedToken, String storedBy) {
    super("refused a write to " + object + " under fencing token " + token + ": it was written"
        + " under the newer token " + storedToken + (storedBy.isEmpty() ? "" : " by " + storedBy),
        null, false, false);
    this.token = token;
    this.storedToken = storedToken;
    this.storedBy = storedBy;
  }

  /** The token of the refused write. */
  public long token() {
    return token;
  }

  /** The newer token found in the object. */
  public long storedToken() {
    return storedToken;
  }

  /** Who wrote under the newer token, or empty if the object does not say. */
  public String storedBy() {
    return storedBy;
  }
}
