package io.github.leaderelection.bench;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.github.leaderelection.app.logging.LogSetup;
import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.election.LeadershipListener;
import io.github.leaderelection.election.Term;
import io.github.leaderelection.election.TermEnd;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The "many elections in one JVM" scenario on this library's public API: one process, one
 * {@link KubernetesClient}, N elections on N Leases ({@code <lease-name>-0 .. -(N-1)}), each with
 * periodic work (a counter, every work interval) built the way the README shows. With
 * {@code --virtual-work} the work threads are virtual threads (Java 21+).
 *
 * <p>Logs {@code progress: leading L, following F, of N elections} whenever the counts change
 * ({@link Progress}); the benchmark reads it. Not a test; started as a process by
 * {@link ManyElections}. With {@code --http-threads=N} the client's JDK HTTP client runs on at
 * most N threads, built as the README's "Threads" shows ({@link #boundedHttp}); with
 * {@code --virtual-work} every term's work runs on a virtual thread of its own (Java 21+).
 */
public final class ManyMain {

  /** The HTTP threads of the {@code this_bounded_http} arm. */
  static final int HTTP_THREADS = 4;

  private ManyMain() {
  }

  public static void main(String[] argv) throws Exception {
    Settings s = Settings.parse(argv);
    LogSetup.configure(LogSetup.Format.text, s.identity(), s.namespace() + "/" + s.prefix()
        + "-*");
    Logger log = LoggerFactory.getLogger(ManyMain.class);
    KubernetesClient client = s.client();
    Progress progress = new Progress(s.elections(), s.identity(), log);
    LongAdder units = new LongAdder();
    boolean virtual = Boolean.parseBoolean(s.flags().getOrDefault("virtual-work", "false"));
    ThreadFactory workThreads = virtual ? virtualThreadFactory() : null;
    log.info("attempting to acquire leader lease {}/{}-* ({} elections{})...", s.namespace(),
        s.prefix(), s.elections(), virtual ? ", virtual work threads" : "");
    List<LeaderElection> elections = new ArrayList<>();
    for (int i = 0; i < s.elections(); i++) {
      LeaderElection.Builder b = LeaderElection.builder(client)
          .lease(s.namespace(), s.prefix() + "-" + i)
          .identity(s.identity())
          .leaseDuration(s.leaseDuration())
          .renewDeadline(s.renewDeadline())
          .retryPeriod(s.retryPeriod())
          .periodicWork(s.workInterval(), term -> units.increment())
          .listener(progress.listener(i));
      if (workThreads != null) {
        b.workThreadFactory(workThreads);
      }
      elections.add(b.build().start());
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      log.info("received SIGTERM, shutting down");
      // Each close waits for its work and releases its Lease: close them side by side.
      ExecutorService closers = Executors.newFixedThreadPool(16);
      CompletableFuture.allOf(elections.stream()
          .map(e -> CompletableFuture.runAsync(e::close, closers))
          .toArray(CompletableFuture[]::new)).join();
      closers.shutdown();
      client.close();
      log.info("stopped ({} units of work done)", units.sum());
      stopped.countDown();
    }, "shutdown"));
    stopped.await();
  }

  /**
   * fabric8's JDK HTTP client factory with a bounded executor (fabric8's own default is an
   * unbounded cached pool, which grows with the responses and watch events that arrive at the
   * same moment): the README's "Threads" recipe, word for word.
   */
  public static io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory boundedHttp(int threads) {
    java.util.concurrent.ThreadPoolExecutor httpThreads = new java.util.concurrent.ThreadPoolExecutor(
        threads, threads, 60, java.util.concurrent.TimeUnit.SECONDS,
        new java.util.concurrent.LinkedBlockingQueue<>(), r -> {
          Thread t = new Thread(r, "kube-http");
          t.setDaemon(true);
          return t;
        });
    httpThreads.allowCoreThreadTimeOut(true);
    return new io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory() {
      @Override
      protected void additionalConfig(java.net.http.HttpClient.Builder builder) {
        builder.executor(httpThreads);
      }
    };
  }

  /** {@code Thread.ofVirtual().factory()}, by reflection: this source compiles for Java 17. */
  static ThreadFactory virtualThreadFactory() throws ReflectiveOperationException {
    Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
    Object named = Class.forName("java.lang.Thread$Builder").getMethod("name", String.class,
        long.class).invoke(builder, "leader-work-", 0L);
    return (ThreadFactory) Class.forName("java.lang.Thread$Builder").getMethod("factory")
        .invoke(named);
  }

  /** The flags every many-elections program takes (unknown flags are ignored). */
  record Settings(Map<String, String> flags, String prefix, String namespace, String identity,
      int elections, Duration leaseDuration, Duration renewDeadline, Duration retryPeriod,
      Duration workInterval) {

    static Settings parse(String[] argv) {
      Map<String, String> flags = BaselineMain.parse(argv);
      String prefix = flags.get("lease-name");
      if (prefix == null) {
        System.err.println("--lease-name is required");
        System.exit(2);
      }
      String namespace = flags.getOrDefault("lease-namespace", env("POD_NAMESPACE", "default"));
      String identity = flags.getOrDefault("identity", env("POD_NAME", "many"));
      return new Settings(flags, prefix, namespace, identity,
          Integer.parseInt(flags.getOrDefault("elections", "1")),
          BaselineMain.duration(flags.getOrDefault("lease-duration", "15s")),
          BaselineMain.duration(flags.getOrDefault("renew-deadline", "10s")),
          BaselineMain.duration(flags.getOrDefault("retry-period", "2s")),
          BaselineMain.duration(flags.getOrDefault("work-interval", "5s")));
    }

    KubernetesClient client() throws java.io.IOException {
      Config config = flags.containsKey("kubeconfig")
          ? Config.fromKubeconfig(null, Files.readString(Path.of(flags.get("kubeconfig"))),
              flags.get("kubeconfig"))
          : Config.autoConfigure(null);
      // Tells this process's requests apart in the API server's audit log (see AuditLog).
      config.setUserAgent(AuditLog.AGENT_PREFIX + identity);
      KubernetesClientBuilder builder = new KubernetesClientBuilder().withConfig(config);
      if (flags.containsKey("http-threads")) {
        builder.withHttpClientFactory(boundedHttp(Integer.parseInt(flags.get("http-threads"))));
      }
      return builder.build();
    }

    private static String env(String name, String fallback) {
      String value = System.getenv(name);
      return value == null || value.isBlank() ? fallback : value;
    }
  }

  /**
   * How many of the process's elections lead, and how many follow a known leader; logged on every
   * change as {@code progress: leading L, following F, of N elections}.
   */
  static final class Progress {

    private final int total;
    private final String identity;
    private final Logger log;
    private final boolean[] leading;
    private final String[] leader;
    private int lastLeading = -1;
    private int lastFollowing = -1;

    Progress(int total, String identity, Logger log) {
      this.total = total;
      this.identity = identity;
      this.log = log;
      this.leading = new boolean[total];
      this.leader = new String[total];
    }

    LeadershipListener listener(int i) {
      return new LeadershipListener() {
        @Override
        public void startedLeading(Term term) {
          leading(i, true);
        }

        @Override
        public void stoppedLeading(Term term, TermEnd reason) {
          leading(i, false);
        }

        @Override
        public void newLeader(String identity) {
          leader(i, identity);
        }
      };
    }

    /** Not on any renewal path: listener threads (ours) or fabric8's callbacks. */
    synchronized void leading(int i, boolean now) {
      leading[i] = now;
      report();
    }

    synchronized void leader(int i, String holder) {
      leader[i] = holder;
      report();
    }

    private void report() {
      int lead = 0;
      int follow = 0;
      for (int i = 0; i < total; i++) {
        if (leading[i]) {
          lead++;
        } else if (leader[i] != null && !leader[i].isEmpty() && !leader[i].equals(identity)) {
          follow++;
        }
      }
      if (lead != lastLeading || follow != lastFollowing) {
        lastLeading = lead;
        lastFollowing = follow;
        log.info("progress: leading {}, following {}, of {} elections", lead, follow, total);
      }
    }
  }
}
