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
 * @param coordinated coordinated leader election (KEP-4355): the API server picks the holder among
 *     the published LeaseCandidates; this replica never creates or takes over the Lease, renews it
 *     only while the server has named it holder, and gives it up when the server marks the end of
 *     its term ({@code preferredHolder}). Needs the CoordinatedLeaderElection feature gate.
 * @param leaseLabels labels this replica puts on the Lease with each of its writes (client-go's
 *     {@code NewWithLabels}), e.g. to select Leases by owner
 * @param requeueDelay how long a replica whose whole-term work returned stays out of the election
 *     before it campaigns again
 */
record ElectionConfig(
    String namespace,
    String leaseName,
    String identity,
    Duration leaseDuration,
    Duration renewDeadline,
    Duration retryPeriod,
    boolean releaseOnCancel,
    boolean watch,
    boolean coordinated,
    java.util.Map<String, String> leaseLabels,
    Duration requeueDelay,
    String incarnation) {

  /** client-go's factor: a renew loop must fit a few retries before its deadline. */
  public static final double JITTER_FACTOR = 1.2;

  public ElectionConfig {
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(leaseName, "leaseName");
    Objects.requireNonNull(identity, "identity");
    Objects.requireNonNull(leaseDuration, "leaseDuration");
    Objects.requireNonNull(renewDeadline, "renewDeadline");
    Objects.requireNonNull(retryPeriod, "retryPeriod");
    Objects.requireNonNull(requeueDelay, "requeueDelay");
    if (requeueDelay.isNegative()) {
      throw new IllegalArgumentException("requeueDelay must not be negative, got "
          + Durations.format(requeueDelay));
    }
    String tooLong = tooLong("requeueDelay", requeueDelay);
    if (tooLong != null) {
      throw new IllegalArgumentException(tooLong);
    }
    String problem = timingProblem(leaseDuration, renewDeadline, retryPeriod);
    if (problem != null) {
      throw new IllegalArgumentException(problem);
    }
    String badIdentity = identityProblem(identity);
    if (badIdentity != null) {
      throw new IllegalArgumentException(badIdentity);
    }
    leaseLabels = java.util.Map.copyOf(leaseLabels == null ? java.util.Map.of() : leaseLabels);
    incarnation = incarnation == null ? Incarnation.newId() : incarnation;
  }

  /** With a fresh incarnation (see {@link Incarnation}): one per election instance. */
  public ElectionConfig(String namespace, String leaseName, String identity,
      Duration leaseDuration, Duration renewDeadline, Duration retryPeriod,
      boolean releaseOnCancel, boolean watch, boolean coordinated,
      java.util.Map<String, String> leaseLabels, Duration requeueDelay) {
    this(namespace, leaseName, identity, leaseDuration, renewDeadline, retryPeriod,
        releaseOnCancel, watch, coordinated, leaseLabels, requeueDelay, null);
  }

  /** This configuration for another process of the same identity (the simulation's). */
  ElectionConfig withIncarnation(String other) {
    return new ElectionConfig(namespace, leaseName, identity, leaseDuration, renewDeadline,
        retryPeriod, releaseOnCancel, watch, coordinated, leaseLabels, requeueDelay, other);
  }

  /**
   * The incarnation this election writes and recognises as its own (see {@link Incarnation}), in
   * coordinated mode too: there the server names a holder by identity alone, and the incarnation
   * tells this process's own writes from the server's naming and from a twin's.
   */
  String ownIncarnation() {
    return incarnation;
  }

  /** The usual election: replicas compete for the Lease themselves; no labels. */
  public ElectionConfig(String namespace, String leaseName, String identity,
      Duration leaseDuration, Duration renewDeadline, Duration retryPeriod,
      boolean releaseOnCancel, boolean watch) {
    this(namespace, leaseName, identity, leaseDuration, renewDeadline, retryPeriod,
        releaseOnCancel, watch, false, java.util.Map.of());
  }

  /** Without a requeue delay of its own: one retry period. */
  public ElectionConfig(String namespace, String leaseName, String identity,
      Duration leaseDuration, Duration renewDeadline, Duration retryPeriod,
      boolean releaseOnCancel, boolean watch, boolean coordinated,
      java.util.Map<String, String> leaseLabels) {
    this(namespace, leaseName, identity, leaseDuration, renewDeadline, retryPeriod,
        releaseOnCancel, watch, coordinated, leaseLabels, retryPeriod);
  }

  /**
   * client-go's rules: leaseDuration &gt; renewDeadline &gt; 1.2 &times; retryPeriod &gt; 0, and
   * none longer than {@link Durations#MAX} (the Lease stores its duration as a 32-bit number of
   * seconds).
   *
   * @return a one-line explanation of the first rule broken, naming the fields, or null.
   */
  public static String timingProblem(Duration leaseDuration, Duration renewDeadline,
      Duration retryPeriod) {
    if (retryPeriod.isNegative() || retryPeriod.isZero()) {
      return "retryPeriod must be greater than 0 (got " + Durations.format(retryPeriod) + ")";
    }
    // The bounds first: every rule below may then count in nanoseconds.
    if (leaseDuration.compareTo(Durations.MAX) > 0) {
      return "leaseDuration must be at most " + Durations.MAX.getSeconds() + "s (about 68 years:"
          + " the Lease stores it in seconds as a 32-bit number), got "
          + Durations.format(leaseDuration);
    }
    String tooLong = tooLong("renewDeadline", renewDeadline);
    if (tooLong == null) {
      tooLong = tooLong("retryPeriod", retryPeriod);
    }
    if (tooLong != null) {
      return tooLong;
    }
    if (leaseDuration.compareTo(renewDeadline) <= 0) {
      return "leaseDuration (" + Durations.format(leaseDuration)
          + ") must be greater than renewDeadline (" + Durations.format(renewDeadline) + ")";
    }
    if (leaseDuration.toNanos() % 1_000_000_000L != 0) {
      // The Lease stores whole seconds: a truncated value would let followers take over before
      // the leader's fence ends (10.9s written as 10s), a rounded one would surprise the operator.
      return "leaseDuration must be whole seconds (the Lease stores seconds), got "
          + leaseDuration.toMillis() + "ms";
    }
    long minRenew = (long) (JITTER_FACTOR * retryPeriod.toNanos());
    if (renewDeadline.toNanos() <= minRenew) {
      return "renewDeadline (" + Durations.format(renewDeadline)
          + ") must be greater than 1.2 x retryPeriod ("
          + Durations.format(Duration.ofNanos(minRenew)) + ")";
    }
    return null;
  }

  /**
   * The bound every timing shares ({@link Durations#MAX}).
   *
   * @return the message naming {@code field}, or null when {@code value} is within it
   */
  static String tooLong(String field, Duration value) {
    return value.compareTo(Durations.MAX) > 0
        ? field + " must be at most " + Durations.MAX_IN_WORDS + ", got " + Durations.format(value)
        : null;
  }

  /**
   * What the library refuses in an identity. Kubernetes itself accepts any string as a Lease's
   * {@code holderIdentity}: its validation ({@code ValidateLeaseSpec} in kubernetes/kubernetes
   * {@code pkg/apis/coordination/validation}) never looks at the field. The identity is also
   * printed in every log line and Event of this replica, so a control character (a line break, a
   * tab, an escape sequence) or a Unicode line separator would split or garble them; and an
   * unpaired surrogate cannot be encoded as UTF-8, so the Lease would name a different holder than
   * this replica and it would never recognise its own Lease.
   *
   * @return the message naming the field and the rule, or null for a valid identity
   */
  static String identityProblem(String identity) {
    if (identity == null || identity.isBlank()) {
      return "identity must not be empty";
    }
    for (int i = 0; i < identity.length(); i++) {
      char ch = identity.charAt(i);
      if (Character.isHighSurrogate(ch) && i + 1 < identity.length()
          && Character.isLowSurrogate(identity.charAt(i + 1))) {
        i++;
        continue;
      }
      if (Character.isSurrogate(ch)) {
        return "identity '" + printable(identity) + "' is invalid: must be valid Unicode text,"
            + " found an unpaired surrogate " + escape(ch) + " at index " + i
            + " (it cannot be sent to the API server as UTF-8)";
      }
      if (Character.isISOControl(ch) || ch == '\u2028' || ch == '\u2029') {
        return "identity '" + printable(identity) + "' is invalid: must not contain control"
            + " characters or line breaks, found " + escape(ch) + " at index " + i
            + " (it would split or garble log lines)";
      }
    }
    return null;
  }

  /** {@code text} with every character {@link #identityProblem} refuses escaped, Java-style. */
  static String printable(String text) {
    StringBuilder out = new StringBuilder(text.length() + 8);
    for (int i = 0; i < text.length(); i++) {
      char ch = text.charAt(i);
      boolean pair = Character.isHighSurrogate(ch) && i + 1 < text.length()
          && Character.isLowSurrogate(text.charAt(i + 1));
      if (pair) {
        out.append(ch).append(text.charAt(++i));
      } else if (Character.isSurrogate(ch) || Character.isISOControl(ch) || ch == '\u2028'
          || ch == '\u2029') {
        out.append(escape(ch));
      } else {
        out.append(ch);
      }
    }
    return out.toString();
  }

  private static String escape(char ch) {
    return switch (ch) {
      case '\n' -> "\\n";
      case '\r' -> "\\r";
      case '\t' -> "\\t";
      default -> String.format("\\u%04x", (int) ch);
    };
  }

  /** How long one work unit may take to finish after its term ended before shutdown goes on without it. */
  public static final Duration WORK_STOP_WAIT = Duration.ofSeconds(5);
  /** The longest any single Lease request may take, whatever the timings. */
  private static final Duration MAX_REQUEST_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration MAX_RELEASE_TIMEOUT = Duration.ofSeconds(5);
  /** Log flushing and closing the client after the release. */
  private static final Duration EXIT_MARGIN = Duration.ofSeconds(1);

  /** The lease duration as the record stores it (whole seconds, checked by the constructor). */
  public int leaseDurationSeconds() {
    return (int) leaseDuration.toSeconds();
  }

  /**
   * The bound of one Lease request as a whole, headers and body: half the renew deadline (room for
   * a second try before the leader must step down), at most 10s. A request that has not completed
   * by then is abandoned and counts as failed.
   */
  public Duration requestTimeout() {
    return requestTimeout(renewDeadline);
  }

  /** {@link #requestTimeout()} for {@code renewDeadline}: the one rule, for the builder too. */
  static Duration requestTimeout(Duration renewDeadline) {
    Duration half = renewDeadline.dividedBy(2);
    return half.compareTo(MAX_REQUEST_TIMEOUT) > 0 ? MAX_REQUEST_TIMEOUT : half;
  }

  /** The bound of the release on shutdown: a release that cannot complete is left to expire. */
  public Duration releaseTimeout() {
    Duration t = requestTimeout();
    return t.compareTo(MAX_RELEASE_TIMEOUT) > 0 ? MAX_RELEASE_TIMEOUT : t;
  }

  /**
   * How long a stop may take from SIGTERM to exit: the running unit of work finishes (at most
   * {@link #WORK_STOP_WAIT}), the release is sent (at most {@link #releaseTimeout()}), the process
   * exits. The term's work is cancelled the moment the stop begins; nothing waits for a hung
   * renewal. At most 11s for every valid setting, so the pod's terminationGracePeriodSeconds
   * (25 in k8s/deploy.yaml) always covers it.
   */
  public Duration shutdownBound() {
    return WORK_STOP_WAIT.plus(releaseTimeout()).plus(EXIT_MARGIN);
  }

  /** {@code namespace/name}, as the article's log lines print it. */
  public String leaseKey() {
    return namespace + "/" + leaseName;
  }
}
