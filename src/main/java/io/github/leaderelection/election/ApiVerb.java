package io.github.leaderelection.election;

/**
 * The Kubernetes API verbs the election uses on its Lease, as an RBAC Role must grant them: all
 * five with the watch ({@link LeaderElection.Builder#watch}, the default), {@code GET},
 * {@code CREATE} and {@code UPDATE} without it. {@link ElectionMetrics#apiError} names the verb of
 * a failed {@code GET}, {@code CREATE} or {@code UPDATE}.
 */
public enum ApiVerb {
  /** Read the Lease. */
  GET,
  /** Create the Lease (the first candidate, or after a deletion). */
  CREATE,
  /** Write the Lease (acquire, renew, release), always conditional on its resourceVersion. */
  UPDATE,
  /** Watch the Lease (followers learn of a release at once). */
  WATCH,
  /** List the Lease (the watch's initial list). */
  LIST
}
