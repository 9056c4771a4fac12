package io.github.leaderelection.election;

import java.time.Duration;
import java.util.Objects;

/**
 * What one replica needs to take part in an election. The rules between the three timings are
 * checked here, once, for every caller (the CLI turns a violation into a usage error).
 *
 * @param namespace namespace of the Lease.
 * @param leaseName name of the Lease that is the lock.
 * @param identity this replica's identity, written as {@code holderIdentity}; must be unique among
 *     the candidates (the pod name), or two replicas would both believe they hold the lease.
 * @param leaseDuration how long followers wait, after they last saw the record change, before they
 *     may take over. Longer tolerates longer leader stalls and API hiccups without a needless
 *     failover; shorter means a crashed leader is replaced sooner. Written into the record so that
 *     every follower uses the leader's value, not its own.
 * @param renewDeadline how long the leader keeps trying to renew before it gives up leading. It
 *     must be shorter than the lease duration: the gap is the safety margin in which an old leader
 *     has already stopped working while nobody else may yet take over.
 * @param retryPeriod how often the leader renews and a polling follower retries. Shorter detects a
 *     free lease sooner at the cost of more API requests.
 * @param releaseOnCancel on shutdown, clear the holder so a follower can take over at once instead
 *     of waiting out the lease duration. Only safe because the work is stopped before the release.
 * @param watch followers watch the Lease instead of polling it: a release or expiry is acted on the
 *     moment it happens and the API server sees no follower GETs. Off = client-go's polling.
 */
public record ElectionConfig(
    String namespace,
    String leaseName,
    String identity,
    Duration leaseDuration,
    Duration renewDeadline,
    Duration retryPeriod,
    boolean releaseOnCancel,
    boolean watch) {

  /** client-go's factor: a renew loop must fit a few retries before its deadline. */
  public static final double JITTER_FACTOR = 1.2;

  public ElectionConfig {
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(leaseName, "leaseName");
    Objects.requireNonNull(identity, "identity");
    Objects.requireNonNull(leaseDuration, "leaseDuration");
    Objects.requireNonNull(renewDeadline, "renewDeadline");
    Objects.requireNonNull(retryPeriod, "retryPeriod");
    String problem = timingProblem(leaseDuration, renewDeadline, retryPeriod);
    if (problem != null) {
      throw new IllegalArgumentException(problem);
    }
    if (identity.isBlank()) {
      throw new IllegalArgumentException("identity must not be empty");
    }
  }

  /**
   * client-go's rules: leaseDuration &gt; renewDeadline &gt; 1.2 &times; retryPeriod &gt; 0.
   *
   * @return a one-line explanation of the first rule broken, naming the flags, or null.
   */
  public static String timingProblem(Duration leaseDuration, Duration renewDeadline,
      Duration retryPeriod) {
    if (retryPeriod.isNegative() || retryPeriod.isZero()) {
      return "--retry-period must be greater than 0 (got " + Durations.format(retryPeriod) + ")";
    }
    if (leaseDuration.compareTo(renewDeadline) <= 0) {
      return "--lease-duration (" + Durations.format(leaseDuration)
          + ") must be greater than --renew-deadline (" + Durations.format(renewDeadline) + ")";
    }
    long minRenew = (long) (JITTER_FACTOR * retryPeriod.toNanos());
    if (renewDeadline.toNanos() <= minRenew) {
      return "--renew-deadline (" + Durations.format(renewDeadline)
          + ") must be greater than 1.2 x --retry-period ("
          + Durations.format(Duration.ofNanos(minRenew)) + ")";
    }
    return null;
  }

  /** {@code namespace/name}, as the article's log lines print it. */
  public String leaseKey() {
    return namespace + "/" + leaseName;
  }
}
