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

  public boolean isEnabled() {
    return enabled;
  }

  public void setEnabled(boolean enabled) {
    this.enabled = enabled;
  }

  public String getLeaseName() {
    return leaseName;
  }

  public void setLeaseName(String leaseName) {
    this.leaseName = leaseName;
  }

  public String getNamespace() {
    return namespace;
  }

  public void setNamespace(String namespace) {
    this.namespace = namespace;
  }

  public String getIdentity() {
    return identity;
  }

  public void setIdentity(String identity) {
    this.identity = identity;
  }

  public Duration getLeaseDuration() {
    return leaseDuration;
  }

  public void setLeaseDuration(Duration leaseDuration) {
    this.leaseDuration = leaseDuration;
  }

  public Duration getRenewDeadline() {
    return renewDeadline;
  }

  public void setRenewDeadline(Duration renewDeadline) {
    this.renewDeadline = renewDeadline;
  }

  public Duration getRetryPeriod() {
    return retryPeriod;
  }

  public void setRetryPeriod(Duration retryPeriod) {
    this.retryPeriod = retryPeriod;
  }

  public boolean isWatch() {
    return watch;
  }

  public void setWatch(boolean watch) {
    this.watch = watch;
  }

  public boolean isReleaseOnClose() {
    return releaseOnClose;
  }

  public void setReleaseOnClose(boolean releaseOnClose) {
    this.releaseOnClose = releaseOnClose;
  }

  public Map<String, String> getLabels() {
    return labels;
  }

  public void setLabels(Map<String, String> labels) {
    this.labels = labels;
  }

  public String getRole() {
    return role;
  }

  public void setRole(String role) {
    this.role = role;
  }

  public Duration getShutdownGrace() {
    return shutdownGrace;
  }

  public void setShutdownGrace(Duration shutdownGrace) {
    this.shutdownGrace = shutdownGrace;
  }
}
