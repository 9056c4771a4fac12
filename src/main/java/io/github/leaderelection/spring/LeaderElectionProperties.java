package io.github.leaderelection.spring;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.convert.DurationUnit;

/** Leader election through a Kubernetes Lease ({@code leaderelection.*}). */
@ConfigurationProperties(prefix = "leaderelection")
public class LeaderElectionProperties {

  /** Properties with their defaults. */
  public LeaderElectionProperties() {
  }

  /** Whether to run the leader election (off: no election; @LeaderOnly methods run unguarded). */
  private boolean enabled = true;

  /** Name of the Lease, the lock (default: spring.application.name). */
  private String leaseName;

  /**
   * Namespace of the Lease (default: the pod's own, from the service account's namespace file;
   * else the Kubernetes client's namespace; else "default").
   */
  private String namespace;

  /**
   * This instance's identity, written as the Lease's holder; unique per instance (default: the
   * POD_NAME environment variable, else the host name).
   */
  private String identity;

  /** How long followers wait after the Lease last changed before taking over (whole seconds). */
  @DurationUnit(ChronoUnit.SECONDS)
  private Duration leaseDuration = Duration.ofSeconds(15);

  /** How long the leader keeps trying to renew before its term ends (less than the lease duration). */
  @DurationUnit(ChronoUnit.SECONDS)
  private Duration renewDeadline = Duration.ofSeconds(10);

  /** How often the leader renews and a follower retries. */
  @DurationUnit(ChronoUnit.SECONDS)
  private Duration retryPeriod = Duration.ofSeconds(2);

  /** Whether followers watch the Lease (act on a release at once) instead of polling it. */
  private boolean watch = true;

  /** Whether a shutdown releases the Lease so that another instance takes over at once. */
  private boolean releaseOnClose = true;

  /** Labels put on the Lease, e.g. leaderelection.labels[app.kubernetes.io/name]=my-app. */
  private Map<String, String> labels = new LinkedHashMap<>();

  /** Spring Integration role of the leader events (default: the lease name). */
  private String role;

  /**
   * On shutdown, how long a running @LeaderOnly call may go on (not interrupted) before the
   * term is ended, which interrupts it; the release then waits for it up to 5 s more.
   */
  @DurationUnit(ChronoUnit.SECONDS)
  private Duration shutdownGrace = Duration.ofSeconds(5);

  /**
   * The value of {@code leaderelection.enabled}.
   *
   * @return the value
   */
  public boolean isEnabled() {
    return enabled;
  }

  /**
   * Sets {@code leaderelection.enabled}.
   *
   * @param enabled the value
   */
  public void setEnabled(boolean enabled) {
    this.enabled = enabled;
  }

  /**
   * The value of {@code leaderelection.lease-name}.
   *
   * @return the value
   */
  public String getLeaseName() {
    return leaseName;
  }

  /**
   * Sets {@code leaderelection.lease-name}.
   *
   * @param leaseName the value
   */
  public void setLeaseName(String leaseName) {
    this.leaseName = leaseName;
  }

  /**
   * The value of {@code leaderelection.namespace}.
   *
   * @return the value
   */
  public String getNamespace() {
    return namespace;
  }

  /**
   * Sets {@code leaderelection.namespace}.
   *
   * @param namespace the value
   */
  public void setNamespace(String namespace) {
    this.namespace = namespace;
  }

  /**
   * The value of {@code leaderelection.identity}.
   *
   * @return the value
   */
  public String getIdentity() {
    return identity;
  }

  /**
   * Sets {@code leaderelection.identity}.
   *
   * @param identity the value
   */
  public void setIdentity(String identity) {
    this.identity = identity;
  }

  /**
   * The value of {@code leaderelection.lease-duration}.
   *
   * @return the value
   */
  public Duration getLeaseDuration() {
    return leaseDuration;
  }

  /**
   * Sets {@code leaderelection.lease-duration}.
   *
   * @param leaseDuration the value
   */
  public void setLeaseDuration(Duration leaseDuration) {
    this.leaseDuration = leaseDuration;
  }

  /**
   * The value of {@code leaderelection.renew-deadline}.
   *
   * @return the value
   */
  public Duration getRenewDeadline() {
    return renewDeadline;
  }

  /**
   * Sets {@code leaderelection.renew-deadline}.
   *
   * @param renewDeadline the value
   */
  public void setRenewDeadline(Duration renewDeadline) {
    this.renewDeadline = renewDeadline;
  }

  /**
   * The value of {@code leaderelection.retry-period}.
   *
   * @return the value
   */
  public Duration getRetryPeriod() {
    return retryPeriod;
  }

  /**
   * Sets {@code leaderelection.retry-period}.
   *
   * @param retryPeriod the value
   */
  public void setRetryPeriod(Duration retryPeriod) {
    this.retryPeriod = retryPeriod;
  }

  /**
   * The value of {@code leaderelection.watch}.
   *
   * @return the value
   */
  public boolean isWatch() {
    return watch;
  }

  /**
   * Sets {@code leaderelection.watch}.
   *
   * @param watch the value
   */
  public void setWatch(boolean watch) {
    this.watch = watch;
  }

  /**
   * The value of {@code leaderelection.release-on-close}.
   *
   * @return the value
   */
  public boolean isReleaseOnClose() {
    return releaseOnClose;
  }

  /**
   * Sets {@code leaderelection.release-on-close}.
   *
   * @param releaseOnClose the value
   */
  public void setReleaseOnClose(boolean releaseOnClose) {
    this.releaseOnClose = releaseOnClose;
  }

  /**
   * The value of {@code leaderelection.labels}.
   *
   * @return the value
   */
  public Map<String, String> getLabels() {
    return labels;
  }

  /**
   * Sets {@code leaderelection.labels}.
   *
   * @param labels the value
   */
  public void setLabels(Map<String, String> labels) {
    this.labels = labels;
  }

  /**
   * The value of {@code leaderelection.role}.
   *
   * @return the value
   */
  public String getRole() {
    return role;
  }

  /**
   * Sets {@code leaderelection.role}.
   *
   * @param role the value
   */
  public void setRole(String role) {
    this.role = role;
  }

  /**
   * The value of {@code leaderelection.shutdown-grace}.
   *
   * @return the value
   */
  public Duration getShutdownGrace() {
    return shutdownGrace;
  }

  /**
   * Sets {@code leaderelection.shutdown-grace}.
   *
   * @param shutdownGrace the value
   */
  public void setShutdownGrace(Duration shutdownGrace) {
    this.shutdownGrace = shutdownGrace;
  }
}
