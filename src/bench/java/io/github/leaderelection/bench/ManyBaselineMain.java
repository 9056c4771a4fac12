package io.github.leaderelection.bench;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElectionConfigBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaseLock;
import io.github.leaderelection.app.logging.LogSetup;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The "many elections in one JVM" scenario on fabric8's own {@code LeaderElector}, as
 * {@link BaselineMain} uses it: one process, one {@link KubernetesClient}, N electors on N Leases
 * ({@code <lease-name>-0 .. -(N-1)}), ReleaseOnCancel; while one leads, a unit of work (a
 * counter) every work interval on one shared scheduler thread. Logs the same progress lines as
 * {@link ManyMain}. Not a test; started as a process by {@link ManyElections}.
 */
public final class ManyBaselineMain {

  private ManyBaselineMain() {
  }

  public static void main(String[] argv) throws Exception {
    ManyMain.Settings s = ManyMain.Settings.parse(argv);
    LogSetup.configure(LogSetup.Format.text, s.identity(), s.namespace() + "/" + s.prefix()
        + "-*");
    Logger log = LoggerFactory.getLogger(ManyBaselineMain.class);
    KubernetesClient client = s.client();
    ManyMain.Progress progress = new ManyMain.Progress(s.elections(), s.identity(), log);
    LongAdder units = new LongAdder();
    ScheduledExecutorService work = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "work");
      t.setDaemon(true);
      return t;
    });
    log.info("attempting to acquire leader lease {}/{}-* ({} fabric8 LeaderElectors)...",
        s.namespace(), s.prefix(), s.elections());
    List<CompletableFuture<?>> running = new ArrayList<>();
    for (int i = 0; i < s.elections(); i++) {
      int n = i;
      String name = s.prefix() + "-" + i;
      AtomicReference<ScheduledFuture<?>> loop = new AtomicReference<>();
      // fabric8 calls these from inside its tryAcquireOrRenew: they must not block.
      LeaderCallbacks callbacks = new LeaderCallbacks(
          () -> {
            progress.leading(n, true);
            loop.set(work.scheduleAtFixedRate(units::increment, 0, s.workInterval().toMillis(),
                TimeUnit.MILLISECONDS));
          },
          () -> {
            ScheduledFuture<?> f = loop.getAndSet(null);
            if (f != null) {
              f.cancel(false);
            }
            progress.leading(n, false);
          },
          leader -> progress.leader(n, leader));
      running.add(client.leaderElector().withConfig(new LeaderElectionConfigBuilder()
          .withName(name)
          .withLock(new LeaseLock(s.namespace(), name, s.identity()))
          .withLeaseDuration(s.leaseDuration())
          .withRenewDeadline(s.renewDeadline())
          .withRetryPeriod(s.retryPeriod())
          .withReleaseOnCancel(true)
          .withLeaderCallbacks(callbacks)
          .build()).build().start());
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      log.info("received SIGTERM, shutting down");
      // Cancelling runs fabric8's stopLeading(): with ReleaseOnCancel it clears the holder.
      running.forEach(f -> f.cancel(true));
      work.shutdownNow();
      client.close();
      log.info("stopped ({} units of work done)", units.sum());
      stopped.countDown();
    }, "shutdown"));
    stopped.await();
  }
}
