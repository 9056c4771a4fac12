package io.github.leaderelection.app.cli;

import io.fabric8.kubernetes.client.Config;
import io.github.leaderelection.app.logging.LogSetup;
import io.github.leaderelection.election.LeaderElection;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Everything the command line decided, validated and with defaults resolved.
 *
 * @param election the election, validated, without its client (set when the client is built)
 * @param identity this replica's identity
 * @param namespace the Lease's namespace
 * @param leaseName the Lease's name
 * @param workInterval time between two units of leader work
 * @param workRecord the ConfigMap where each unit is recorded with a fenced write, or empty
 * @param kubeconfig explicit kubeconfig file, or null for the usual discovery
 * @param healthPort port of /healthz, /readyz and /metrics; 0 disables them
 * @param watchdogGrace how far past the lease duration the elector may go without making progress
 *     before /healthz reports it wedged
 * @param logFormat text (klog) or json
 * @param labelLeader keep a {@code leader=true|false} label on this replica's own pod
 * @param podName the pod to label (from POD_NAME), or null outside a pod
 * @param binaryVersion with coordinated election: this build's version in the LeaseCandidate,
 *     else null
 * @param emulationVersion with coordinated election: the version this replica emulates (the
 *     lowest one leads), else null
 * @param clientConfig the API client's configuration, checked, or null before it was loaded
 */
public record Settings(
    LeaderElection.Builder election,
    String identity,
    String namespace,
    String leaseName,
    Duration workInterval,
    String workRecord,
    Path kubeconfig,
    int healthPort,
    Duration watchdogGrace,
    LogSetup.Format logFormat,
    boolean labelLeader,
    String podName,
    String binaryVersion,
    String emulationVersion,
    Config clientConfig) {

  /** These settings with the API client's configuration. */
  public Settings withClientConfig(Config config) {
    return new Settings(election, identity, namespace, leaseName, workInterval, workRecord,
        kubeconfig, healthPort, watchdogGrace, logFormat, labelLeader, podName, binaryVersion,
        emulationVersion, config);
  }

  /** {@code namespace/name} of the Lease. */
  public String leaseKey() {
    return namespace + "/" + leaseName;
  }
}
