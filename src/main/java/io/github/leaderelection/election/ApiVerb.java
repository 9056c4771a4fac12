package io.github.leaderelection.election;

/**
 * The Kubernetes API verbs the election uses on its Lease, as {@link ElectionMetrics#apiError}
 * reports them and as an RBAC Role must grant them.
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
