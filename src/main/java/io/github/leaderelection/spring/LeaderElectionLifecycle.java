package io.github.leaderelection.spring;

import io.github.leaderelection.election.LeaderElection;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;

/**
 * Starts the election with the context and ends it on close: no {@link LeaderOnly} call starts
 * any more, the running one may finish (up to {@code leaderelection.shutdown-grace}, not
 * interrupted), then {@link LeaderElection#close()} ends the term (interrupting a call still
 * running and waiting for it, up to 5 s) and releases the Lease, so another instance leads at once.
 * Its phase puts the stop before the web server's graceful shutdown, after the task scheduler's
 * stop (which stops triggering new runs).
 */
public class LeaderElectionLifecycle implements SmartLifecycle {

  /** The phase: stopped early (before the web server), started after it. */
  public static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 512;

  private static final Logger log = LoggerFactory.getLogger(LeaderElectionLifecycle.class);

  private final LeaderElection election;
  private final LeaderGate gate;
  private final Duration grace;
  private volatile boolean running;

  LeaderElectionLifecycle(LeaderElection election, LeaderGate gate, Duration grace) {
    this.election = election;
    this.gate = gate;
    this.grace = grace == null || grace.isNegative() ? Duration.ZERO : grace;
  }

  @Override
  public void start() {
    election.start();
    running = true;
    log.info("leader election started: lease {} as {} (lease duration {}s, renew deadline {}ms,"
        + " retry period {}ms)", election.leaseKey(), election.identity(),
        election.leaseDuration().toSeconds(), election.renewDeadline().toMillis(),
        election.retryPeriod().toMillis());
  }

  @Override
  public void stop() {
    long start = System.nanoTime();
    gate.shutDown();
    boolean wasLeader = election.isLeader();
    int running = gate.running();
    if (running > 0 && !gate.awaitIdle(grace)) {
      log.info("{} @LeaderOnly call(s) still running after the shutdown grace of {} ms: ending"
          + " the term interrupts them", gate.running(), grace.toMillis());
    }
    boolean closed = election.close(election.shutdownBound());
    this.running = false;
    log.info("leader election of lease {} closed in {} ms{}{}", election.leaseKey(),
        (System.nanoTime() - start) / 1_000_000,
        wasLeader ? (election.releasesOnClose() ? ", lease released" : ", lease left to expire")
            : "", closed ? "" : " (still stopping in the background)");
  }

  @Override
  public boolean isRunning() {
    return running;
  }

  @Override
  public int getPhase() {
    return PHASE;
  }
}
