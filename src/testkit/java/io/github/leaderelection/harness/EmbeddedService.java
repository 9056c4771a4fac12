package io.github.leaderelection.harness;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.election.LeadershipListener;
import io.github.leaderelection.election.LeadershipLostException;
import io.github.leaderelection.election.StaleTokenException;
import io.github.leaderelection.election.Term;
import io.github.leaderelection.election.TermEnd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * A small service that embeds the library the way a user's service would, through the public API
 * of {@code io.github.leaderelection.election} only: one {@link LeaderElection} per Lease, all
 * sharing one {@link KubernetesClient}; while it leads a Lease, a unit of work every
 * {@link #UNIT_INTERVAL} records itself in the Lease's ConfigMap ({@code <lease>-work}) through a
 * fenced write, appending the term's token to the ConfigMap's {@value #HISTORY_KEY} list.
 *
 * <p>It reports one line per event, simple to parse ({@link Event#parse}):
 * <pre>
 * &lt;wall-time-iso&gt; &lt;identity&gt; &lt;lease&gt; started token=&lt;n&gt; term=&lt;k&gt;
 * &lt;wall-time-iso&gt; &lt;identity&gt; &lt;lease&gt; unit token=&lt;n&gt; began=&lt;iso&gt; write=ok|stale|lost|error
 * &lt;wall-time-iso&gt; &lt;identity&gt; &lt;lease&gt; stopped token=&lt;n&gt; reason=&lt;TermEnd&gt;
 * &lt;wall-time-iso&gt; &lt;identity&gt; &lt;lease&gt; leader holder=&lt;identity&gt;
 * &lt;wall-time-iso&gt; &lt;identity&gt; &lt;lease&gt; closed ms=&lt;n&gt; ended=true|false
 * &lt;wall-time-iso&gt; &lt;identity&gt; &lt;lease&gt; failed error=&lt;...&gt;
 * </pre>
 * A unit's line is written when it has ended (its time) and carries when it began, so the span
 * of every unit is known. Two services can run in one JVM ({@link #start}); {@link #main} runs one
 * as a process, which closes its elections on SIGTERM (shutdown hook) and so releases its Leases.
 */
public final class EmbeddedService implements AutoCloseable {

  /** Lease timings of every election of the service: short, for quick failovers. */
  public static final Duration LEASE_DURATION = Duration.ofSeconds(4);
  public static final Duration RENEW_DEADLINE = Duration.ofSeconds(3);
  public static final Duration RETRY_PERIOD = Duration.ofMillis(500);
  /** Interval between two units of work of a term. */
  public static final Duration UNIT_INTERVAL = Duration.ofMillis(250);
  /** The data key of the work ConfigMap that lists the token of every accepted unit, in order. */
  public static final String HISTORY_KEY = "tokens";
  /** The annotations {@link Term#fencedUpdate} stamps (documented contract of the library). */
  public static final String TOKEN_ANNOTATION = "leaderelection.github.io/fencing-token";
  public static final String HOLDER_ANNOTATION = "leaderelection.github.io/fenced-by";

  private final KubernetesClient client;
  private final String namespace;
  private final String identity;
  private final Consumer<String> out;
  private final ExecutorService listenerThread;
  private final Map<String, LeaderElection> elections =
      Collections.synchronizedMap(new LinkedHashMap<>());

  private EmbeddedService(KubernetesClient client, String namespace, String identity,
      Consumer<String> out) {
    this.client = client;
    this.namespace = namespace;
    this.identity = identity;
    this.out = out;
    this.listenerThread = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "listener-" + identity);
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Starts a service named {@code identity} with one election per Lease of {@code leases} in
   * {@code namespace}; every event line goes to {@code out} (called from several threads).
   */
  public static EmbeddedService start(KubernetesClient client, String namespace, String identity,
      List<String> leases, Consumer<String> out) {
    EmbeddedService service = new EmbeddedService(client, namespace, identity, out);
    leases.forEach(service::startElection);
    return service;
  }

  /** The name of the ConfigMap the leader of {@code lease} records its units in. */
  public static String workConfigMap(String lease) {
    return lease + "-work";
  }

  /** The client for a service: timeouts as the library asks, no hidden retries. */
  public static KubernetesClient client(String kubeconfigYaml) {
    Duration timeout = timings(LeaderElection.builder(null)).requestTimeout();
    int millis = (int) timeout.toMillis();
    Config config = new ConfigBuilder(Config.fromKubeconfig(kubeconfigYaml))
        .withConnectionTimeout(millis)
        .withRequestTimeout(millis)
        .withRequestRetryBackoffLimit(0)
        .build();
    return new KubernetesClientBuilder().withConfig(config).build();
  }

  public String identity() {
    return identity;
  }

  /** The current election on {@code lease}. */
  public LeaderElection election(String lease) {
    return Objects.requireNonNull(elections.get(lease), lease);
  }

  /**
   * Starts a new election on {@code lease} with the same identity, after the previous one on it
   * was {@linkplain #close(String) closed} (a service that restarts one of its elections).
   */
  public LeaderElection reopen(String lease) {
    if (!election(lease).termination().isDone()) {
      throw new IllegalStateException("the election on " + lease + " is still open");
    }
    return startElection(lease);
  }

  /** Closes the election on {@code lease}; returns how long the close took. */
  public Duration close(String lease) {
    LeaderElection election = election(lease);
    long start = System.nanoTime();
    boolean ended = election.close(election.shutdownBound());
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    emit(lease, "closed ms=" + took.toMillis() + " ended=" + ended);
    return took;
  }

  /**
   * Closes every election at once (in parallel, as a service does on SIGTERM), then lets the
   * listener calls still queued run, so that every stopped event is reported.
   */
  @Override
  public void close() {
    List<CompletableFuture<Void>> closing = new ArrayList<>();
    for (String lease : List.copyOf(elections.keySet())) {
      if (election(lease).termination().isDone()) {
        continue; // closed before
      }
      closing.add(CompletableFuture.runAsync(() -> close(lease), r -> {
        Thread t = new Thread(r, "close-" + identity + "-" + lease);
        t.start();
      }));
    }
    closing.forEach(CompletableFuture::join);
    listenerThread.shutdown();
    try {
      listenerThread.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private LeaderElection startElection(String lease) {
    LeaderElection election = timings(LeaderElection.builder(client))
        .lease(namespace, lease)
        .identity(identity)
        .periodicWork(UNIT_INTERVAL, term -> unit(lease, term))
        .listenerExecutor(listenerThread)
        .listener(new LeadershipListener() {
          @Override
          public void startedLeading(Term term) {
            emit(lease, "started token=" + term.fencingToken() + " term=" + term.number());
          }

          @Override
          public void stoppedLeading(Term term, TermEnd reason) {
            emit(lease, "stopped token=" + term.fencingToken() + " reason=" + reason);
          }

          @Override
          public void newLeader(String holder) {
            emit(lease, "leader holder=" + holder);
          }
        })
        .build();
    elections.put(lease, election);
    election.termination().whenComplete((ok, error) -> {
      if (error != null) {
        emit(lease, "failed error=" + error.toString().replace(' ', '_'));
      }
    });
    return election.start();
  }

  private static LeaderElection.Builder timings(LeaderElection.Builder builder) {
    return builder.leaseDuration(LEASE_DURATION).renewDeadline(RENEW_DEADLINE)
        .retryPeriod(RETRY_PERIOD);
  }

  /** One unit: a fenced write that appends this term's token to the ConfigMap's history. */
  private void unit(String lease, Term term) {
    Instant began = Instant.now();
    String name = workConfigMap(lease);
    String outcome;
    try {
      term.fencedUpdate(client.configMaps().inNamespace(namespace).withName(name), current -> {
        ConfigMap base = current != null ? current : new ConfigMapBuilder().withNewMetadata()
            .withNamespace(namespace).withName(name).endMetadata().build();
        String history = base.getData() == null ? null : base.getData().get(HISTORY_KEY);
        String token = Long.toString(term.fencingToken());
        return new ConfigMapBuilder(base)
            .addToData(HISTORY_KEY, history == null || history.isEmpty() ? token
                : history + "," + token)
            .addToData("lastUnit", began.toString())
            .addToData("lastIdentity", identity)
            .build();
      });
      outcome = "ok";
    } catch (StaleTokenException e) {
      outcome = "stale";
    } catch (LeadershipLostException e) {
      outcome = "lost";
    } catch (KubernetesClientException e) {
      outcome = "error:" + e.getCode();
    } catch (RuntimeException e) {
      outcome = "error:" + e.getClass().getSimpleName();
    }
    emit(lease, "unit token=" + term.fencingToken() + " began=" + began + " write=" + outcome);
  }

  private void emit(String lease, String event) {
    out.accept(Instant.now() + " " + identity + " " + lease + " " + event);
  }

  /** One event line, parsed. */
  public record Event(Instant at, String identity, String lease, String kind,
      Map<String, String> fields) {

    private static final Pattern START = Pattern.compile("\\d{4}-\\d{2}-\\d{2}T\\S+Z ");

    /** The event of {@code line}, or null if it is no event line (e.g. a library log line). */
    public static Event parse(String line) {
      if (!START.matcher(line).lookingAt()) {
        return null;
      }
      String[] parts = line.trim().split(" ");
      if (parts.length < 4) {
        return null;
      }
      Instant at;
      try {
        at = Instant.parse(parts[0]);
      } catch (RuntimeException e) {
        return null;
      }
      Map<String, String> fields = new LinkedHashMap<>();
      for (String kv : Arrays.asList(parts).subList(4, parts.length)) {
        int eq = kv.indexOf('=');
        if (eq > 0) {
          fields.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
      }
      return new Event(at, parts[1], parts[2], parts[3], fields);
    }

    /** The token field, or -1. */
    public long token() {
      String t = fields.get("token");
      return t == null ? -1 : Long.parseLong(t);
    }

    /** When a unit began (its line's time is when it ended); for other events, their time. */
    public Instant began() {
      String b = fields.get("began");
      return b == null ? at : Instant.parse(b);
    }
  }

  /**
   * Runs one service as a process: {@code --kubeconfig=<file> --lease-namespace=<ns>
   * --leases=<a,b,...>} (other {@code --name=value} arguments are ignored, so the harness's
   * {@link ReplicaSet} can start it); the identity is {@code $POD_NAME}. SIGTERM closes every
   * election (shutdown hook), which releases the Leases held.
   */
  public static void main(String[] args) throws IOException {
    Map<String, String> options = new LinkedHashMap<>();
    for (String arg : args) {
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 2) {
        options.put(arg.substring(2, eq), arg.substring(eq + 1));
      }
    }
    String identity = options.getOrDefault("identity", System.getenv("POD_NAME"));
    String namespace = Objects.requireNonNull(options.get("lease-namespace"), "--lease-namespace");
    List<String> leases = List.of(Objects.requireNonNull(options.get("leases"), "--leases")
        .split(","));
    KubernetesClient client = client(Files.readString(Path.of(
        Objects.requireNonNull(options.get("kubeconfig"), "--kubeconfig"))));
    EmbeddedService service = start(client, namespace, identity, leases, System.out::println);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      service.close();
      client.close();
      System.out.flush();
    }, "shutdown"));
    CompletableFuture.allOf(leases.stream().map(l -> service.election(l).termination()
        .exceptionally(e -> null)).toArray(CompletableFuture[]::new)).join();
  }
}
