package io.github.leaderelection.election;

/**
 * A fenced write refused ({@link Term#fencedUpdate}): the object was last written under a newer
 * term's fencing token than the writer's, so the writer's term is over and a newer leader has
 * acted. Nothing was written. Not an error of the election but the fence doing its job: a writer
 * that paused between its validity check and its write (a GC pause, a slow request) while another
 * replica took over is stopped by the API server. The writer should stop acting as leader; its
 * election campaigns again by itself.
 */
public final class StaleTokenException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /** The token of the refused write. */
  private final long token;
  /** The newer token found in the object. */
  private final long storedToken;
  /** The identity that wrote under the newer token, or empty. */
  private final String storedBy;

  /**
   * A refusal of a write under {@code token} to {@code object}, which holds {@code storedToken}.
   * The message names the object, both tokens and the newer writer.
   *
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

  /**
   * The token of the refused write.
   *
   * @return the writer's fencing token
   */
  public long token() {
    return token;
  }

  /**
   * The newer token found in the object.
   *
   * @return the token stored in the object's annotation, greater than {@link #token()}
   *     ({@link Long#MAX_VALUE} if the annotation was edited into something that is not a
   *     number: then no writer can prove it is newer)
   */
  public long storedToken() {
    return storedToken;
  }

  /**
   * Who wrote under the newer token.
   *
   * @return the identity stored in the object's annotation, or empty if the object does not say
   */
  public String storedBy() {
    return storedBy;
  }
}
