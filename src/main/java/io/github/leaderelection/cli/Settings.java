package io.github.leaderelection.cli;

import io.github.leaderelection.election.ElectionConfig;
import io.github.leaderelection.logging.LogSetup;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Everything the command line decided, validated and with defaults resolved.
 *
 * @param election the election's configuration
 * @param workInterval time between two units of leader work
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
 */
public record Settings(
    ElectionConfig election,
    Duration workInterval,
    Path kubeconfig,
    int healthPort,
    Duration watchdogGrace,
    LogSetup.Format logFormat,
    boolean labelLeader,
    String podName,
    String binaryVersion,
    String emulationVersion) {
}
