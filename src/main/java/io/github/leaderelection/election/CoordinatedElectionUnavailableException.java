package io.github.leaderelection.election;

/**
 * Coordinated election was asked for ({@link LeaderElection.Builder#coordinated}), but the API
 * server does not serve LeaseCandidates. The message says which kube-apiserver flags enable them.
 * There is no silent fallback to the usual election: a fleet must not elect two ways at once.
 */
public final class CoordinatedElectionUnavailableException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /**
   * An exception with {@code message}, without a stack trace (a configuration problem, not a bug
   * to locate).
   *
   * @param message one line: what is missing and how to enable it
   */
  public CoordinatedElectionUnavailableException(String message) {
    super(message, null, false, false);
  }
}
