package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.APIResource;
import io.fabric8.kubernetes.api.model.APIResourceList;
import io.fabric8.kubernetes.api.model.MicroTime;
import io.fabric8.kubernetes.api.model.coordination.v1beta1.LeaseCandidate;
import io.fabric8.kubernetes.api.model.coordination.v1beta1.LeaseCandidateBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1beta1.LeaseCandidateList;
import io.fabric8.kubernetes.api.model.coordination.v1beta1.LeaseCandidateSpec;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.NonNamespaceOperation;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This replica's candidacy in a coordinated leader election (KEP-4355): a
 * {@code coordination.k8s.io/v1beta1} LeaseCandidate named after the replica's identity, in the
 * Lease's namespace, saying which Lease it can lead and with which versions. The API server's
 * election controller picks the holder among the candidates that answer its pings.
 *
 * <p>The server runs an election by setting {@code pingTime} on every candidate that has not
 * renewed in the last 5 s, waits 5 s, and elects among those whose {@code renewTime} is then newer
 * than their {@code pingTime}. So the candidate is watched, and every ping is answered at once by
 * writing {@code renewTime}. Besides, it is renewed every {@link #DEFAULT_RENEW_INTERVAL} (as
 * client-go does): the server forces an election when a candidate is 15 minutes old and deletes
 * candidates not renewed for 30. While the watch is down, the candidate is polled for pings.
 *
 * <p>On shutdown the candidate is deleted first ({@link #withdraw}), before the elector releases
 * the Lease: a replica on its way out must not answer a ping and be elected again.
 *
 * <p>One thread owns the publisher's state and makes all its API calls: the watch's events, the
 * start and the withdrawal are posted to it as tasks (the elector's own idiom), so nothing here
 * holds a lock and nothing here blocks the elector. Failures are logged as the elector logs its
 * own ({@link FailureLog}: a new kind at once, the same at most every 30 s, the recovery once),
 * and retried with the elector's back-off ({@link ElectionRules#retryDelayNanos}).
 */
final class LeaseCandidatePublisher implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(LeaseCandidatePublisher.class);

  public static final String GROUP_VERSION = "coordination.k8s.io/v1beta1";
  public static final String RESOURCE = "leasecandidates";
  /** The only strategy the API server's election controller implements. */
  public static final String STRATEGY = "OldestEmulationVersion";
  /** client-go's requeue interval: well inside the server's 15 min re-election and 30 min GC. */
  public static final Duration DEFAULT_RENEW_INTERVAL = Duration.ofMinutes(5);
  /** How often the candidate is read while the watch is down, so no ping goes unanswered. */
  static final Duration POLL_WHILE_UNWATCHED = Duration.ofSeconds(1);
  /** The back-off's unit after failed writes: 1, 2, 4 s (plus jitter), as the elector's. */
  private static final Duration RETRY = Duration.ofSeconds(1);
  /** What the API server needs for coordinated leader election, for the one-line error. */
  public static final String ENABLE_HINT = "start kube-apiserver with"
      + " --feature-gates=CoordinatedLeaderElection=true"
      + " --runtime-config=coordination.k8s.io/v1beta1=true";
  private static final DateTimeFormatter MICRO =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'").withZone(ZoneOffset.UTC);

  /**
   * What the candidate says.
   *
   * @param namespace the Lease's namespace (the candidate lives next to it)
   * @param name the replica's identity: the server writes it into the Lease as the holder
   * @param leaseName the Lease this replica can lead
   * @param binaryVersion the version of this build
   * @param emulationVersion the version whose behaviour this replica offers (at most the binary
   *     version); the lowest one leads, so mixed versions agree during a rolling upgrade
   */
  public record Candidacy(String namespace, String name, String leaseName, String binaryVersion,
      String emulationVersion) {

    public Candidacy {
      Objects.requireNonNull(namespace, "namespace");
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(leaseName, "leaseName");
      Objects.requireNonNull(binaryVersion, "binaryVersion");
      Objects.requireNonNull(emulationVersion, "emulationVersion");
    }

    public String key() {
      return namespace + "/" + name;
    }
  }

  /** The API server does not serve LeaseCandidates: coordinated election cannot work there. */
  public static final class NotServed extends Exception {

    private static final long serialVersionUID = 1L;

    NotServed(String message) {
      super(message, null, false, false);
    }
  }

  private final KubernetesClient client;
  private final Candidacy candidacy;
  private final Duration renewInterval;
  private final Consumer<NotServed> onNotServed;
  /** The owner of the state below: every change happens in a task on this thread. */
  private final ScheduledExecutorService thread;
  private final FailureLog failures = new FailureLog(Ticker.SYSTEM);
  private final java.util.Random random = new java.util.Random();
  private final CompletableFuture<Void> withdrawal = new CompletableFuture<>();
  private final java.util.concurrent.atomic.AtomicBoolean withdrawRequested =
      new java.util.concurrent.atomic.AtomicBoolean();
  private volatile long withdrawStartedNanos;
  private volatile SharedIndexInformer<LeaseCandidate> informer;
  private volatile boolean published;
  // Owned by the thread.
  private ScheduledFuture<?> nextEnsure;
  private ScheduledFuture<?> poller;
  private boolean started;

  /**
   * @param renewInterval how often the candidate is renewed without being asked
   * @param onNotServed called (on the publisher's thread) when a write shows that the API server
   *     does not serve LeaseCandidates, e.g. the API was turned off after start
   */
  public LeaseCandidatePublisher(KubernetesClient client, Candidacy candidacy,
      Duration renewInterval, Consumer<NotServed> onNotServed) {
    this.client = client;
    this.candidacy = candidacy;
    this.renewInterval = renewInterval;
    this.onNotServed = onNotServed;
    this.thread = Executors.newSingleThreadScheduledExecutor(
        SharedThreads.daemons("lease-candidate", false));
  }

  /**
   * Asks discovery whether {@code coordination.k8s.io/v1beta1} serves leasecandidates.
   *
   * @throws NotServed when it does not, with a one-line message saying what to enable
   * @throws KubernetesClientException when the API server could not be asked (unreachable, ...)
   */
  public static void checkServed(KubernetesClient client) throws NotServed {
    APIResourceList resources = client.getApiResources(GROUP_VERSION);
    boolean served = resources != null && resources.getResources() != null
        && resources.getResources().stream().map(APIResource::getName).anyMatch(RESOURCE::equals);
    if (!served) {
      throw new NotServed("coordinated election: the API server at " + client.getMasterUrl()
          + " does not serve " + RESOURCE + "." + GROUP_VERSION.replace("/", " ")
          + " (coordinated leader election is off); " + ENABLE_HINT);
    }
  }

  public Candidacy candidacy() {
    return candidacy;
  }

  /** Publishes the candidate and starts answering pings; returns at once. */
  public void start() {
    post(() -> {
      if (withdrawRequested.get() || started) {
        return;
      }
      started = true;
      SharedIndexInformer<LeaseCandidate> watch = resource().runnableInformer(0);
      watch.addEventHandler(new ResourceEventHandler<>() {
        @Override
        public void onAdd(LeaseCandidate candidate) {
          answerIfPinged(candidate);
        }

        @Override
        public void onUpdate(LeaseCandidate before, LeaseCandidate candidate) {
          answerIfPinged(candidate);
        }

        @Override
        public void onDelete(LeaseCandidate candidate, boolean finalStateUnknown) {
          // Deleted behind our back (by hand, or the server's garbage collection after a long
          // outage): publish it again, or this replica silently stops being a candidate.
          post(() -> scheduleEnsure(Duration.ZERO));
        }
      });
      // Keep retrying whatever happens (API server down, no list/watch permission): the poller
      // covers the gap, and the watch comes back by itself.
      watch.exceptionHandler((ignored, t) -> true);
      watch.start();
      informer = watch;
      poller = thread.scheduleWithFixedDelay(this::pollIfUnwatched,
          POLL_WHILE_UNWATCHED.toMillis(), POLL_WHILE_UNWATCHED.toMillis(), TimeUnit.MILLISECONDS);
      scheduleEnsure(Duration.ZERO);
    });
  }

  /** True while the watch on the candidate is up (pings arrive as events, not by polling). */
  boolean watching() {
    SharedIndexInformer<LeaseCandidate> watch = informer;
    return watch != null && watch.hasSynced() && watch.isWatching();
  }

  /** True once the candidate was written at least once. */
  public boolean published() {
    return published;
  }

  /**
   * Stops answering pings and deletes the candidate, in the background; idempotent. Called at the
   * start of shutdown, before the Lease is released.
   *
   * @return completes when the candidate is deleted (or could not be)
   */
  public CompletableFuture<Void> withdraw() {
    if (!withdrawRequested.compareAndSet(false, true)) {
      return withdrawal;
    }
    withdrawStartedNanos = System.nanoTime();
    // A renewal already queued on the thread sees the request and does nothing (see ensure).
    post(() -> {
      if (nextEnsure != null) {
        nextEnsure.cancel(false);
      }
      if (poller != null) {
        poller.cancel(false);
      }
      SharedIndexInformer<LeaseCandidate> watch = informer;
      if (watch != null) {
        watch.close();
      }
      try {
        delete();
      } finally {
        withdrawal.complete(null);
      }
    });
    return withdrawal;
  }

  /** True once {@link #withdraw} was called (the shutdown has begun). */
  public boolean withdrawing() {
    return withdrawRequested.get();
  }

  /**
   * Waits until the withdrawal that has begun is over (the candidate deleted, or the attempt
   * failed), at most {@code bound} from its start.
   *
   * @return true if it is over
   */
  public boolean awaitWithdrawn(Duration bound) throws InterruptedException {
    if (!withdrawRequested.get()) {
      return false;
    }
    try {
      withdrawal.get(Math.max(0, withdrawStartedNanos + bound.toNanos() - System.nanoTime()),
          TimeUnit.NANOSECONDS);
      return true;
    } catch (TimeoutException e) {
      return false;
    } catch (ExecutionException e) {
      return true;
    }
  }

  /**
   * Withdraws (if not yet) and waits for it at most {@code bound} from when the withdrawal began
   * (it began at the stop signal, alongside the elector's stop); then stops the thread.
   */
  public void close(Duration bound) {
    CompletableFuture<Void> done = withdraw();
    try {
      long left = Math.max(0, withdrawStartedNanos + bound.toNanos() - System.nanoTime());
      done.get(left, TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      log.warn("could not delete lease candidate {} within {} ms; the API server stops electing"
          + " it once it misses a ping", candidacy.key(), bound.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException e) {
      log.warn("could not delete lease candidate {}: {}", candidacy.key(), e.getCause().toString());
    }
    thread.shutdownNow();
  }

  @Override
  public void close() {
    close(Duration.ofSeconds(2));
  }

  // ---------------------------------------------------------------------------------------------

  private Resource<LeaseCandidate> resource() {
    return candidates().withName(candidacy.name());
  }

  private NonNamespaceOperation<LeaseCandidate, LeaseCandidateList, Resource<LeaseCandidate>>
      candidates() {
    return client.resources(LeaseCandidate.class, LeaseCandidateList.class)
        .inNamespace(candidacy.namespace());
  }

  private static boolean pinged(LeaseCandidate candidate) {
    LeaseCandidateSpec spec = candidate == null ? null : candidate.getSpec();
    if (spec == null || spec.getPingTime() == null) {
      return false;
    }
    Instant ping = parse(spec.getPingTime());
    Instant renew = spec.getRenewTime() == null ? null : parse(spec.getRenewTime());
    return ping != null && (renew == null || ping.isAfter(renew));
  }

  /** Runs {@code task} on the owner thread (nothing, once it has been closed). */
  private void post(Runnable task) {
    try {
      thread.execute(task);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      withdrawal.complete(null); // closed: nothing more will happen
    }
  }

  /** A watch event (on the informer's thread): a ping is answered on the owner thread. */
  private void answerIfPinged(LeaseCandidate candidate) {
    if (pinged(candidate)) {
      post(() -> scheduleEnsure(Duration.ZERO));
    }
  }

  private void pollIfUnwatched() {
    if (withdrawRequested.get() || watching()) {
      return;
    }
    try {
      LeaseCandidate current = resource().get();
      if (current == null || pinged(current)) {
        ensure();
      }
    } catch (KubernetesClientException e) {
      failed("read", e);
    }
  }

  /**
   * Runs {@link #ensure} on the owner thread after {@code delay}, replacing a later one. Called on
   * the owner thread only.
   */
  private void scheduleEnsure(Duration delay) {
    if (withdrawRequested.get()) {
      return;
    }
    if (nextEnsure != null && !nextEnsure.isDone()) {
      long due = nextEnsure.getDelay(TimeUnit.NANOSECONDS);
      if (due > 0 && due <= delay.toNanos()) {
        return; // one is due sooner anyway
      }
      if (due > 0) {
        nextEnsure.cancel(false);
      }
      // due <= 0: running now (this may be it, scheduling its successor) or about to: keep it
    }
    try {
      nextEnsure = thread.schedule(this::ensure, delay.toNanos(), TimeUnit.NANOSECONDS);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // closed meanwhile
    }
  }

  /**
   * Creates the candidate, or renews it (answering a pending ping), then schedules the next
   * renewal. Conditional on the resourceVersion read: a 409 means the server pinged in between,
   * so it is read and written again at once.
   */
  private void ensure() {
    if (withdrawRequested.get()) {
      return;
    }
    long started = System.nanoTime();
    try {
      LeaseCandidate current = resource().get();
      if (current != null && current.getSpec() != null
          && !candidacy.leaseName().equals(current.getSpec().getLeaseName())) {
        // leaseName is immutable: a candidate left over for another Lease is replaced.
        log.info("lease candidate {} names lease {}; replacing it", candidacy.key(),
            current.getSpec().getLeaseName());
        resource().withGracePeriod(0).delete();
        current = null;
      }
      if (current == null) {
        candidates().resource(newCandidate()).create();
        log.info("published lease candidate {} for lease {}/{} (binary version {}, emulation"
            + " version {}, strategy {})", candidacy.key(), candidacy.namespace(),
            candidacy.leaseName(), candidacy.binaryVersion(), candidacy.emulationVersion(),
            STRATEGY);
      } else {
        boolean ping = pinged(current);
        candidates().resource(renewed(current)).update();
        if (ping) {
          log.info("answered the API server's ping on lease candidate {} in {} ms",
              candidacy.key(), (System.nanoTime() - started) / 1_000_000);
        } else {
          log.debug("renewed lease candidate {}", candidacy.key());
        }
      }
      published = true;
      failures.recovered("lease candidate " + candidacy.key());
      scheduleEnsure(renewInterval);
    } catch (KubernetesClientException e) {
      if (e.getCode() == 409) {
        scheduleEnsure(Duration.ZERO); // pinged (or renewed by an old self) in between: again
        return;
      }
      if (e.getCode() == 404 && notServed()) {
        return;
      }
      failed("write", e);
      scheduleEnsure(Duration.ofNanos(ElectionRules.retryDelayNanos(RETRY.toNanos(), false, true,
          failures.count(), random.nextDouble())));
    }
  }

  /** A 404 on a write: the resource is not served (fatal), or the namespace is missing (retry). */
  private boolean notServed() {
    try {
      checkServed(client);
      return false;
    } catch (NotServed e) {
      onNotServed.accept(e);
      return true;
    } catch (KubernetesClientException e) {
      return false;
    }
  }

  private LeaseCandidate newCandidate() {
    return new LeaseCandidateBuilder()
        .withNewMetadata().withNamespace(candidacy.namespace()).withName(candidacy.name())
        .endMetadata()
        .withNewSpec()
        .withLeaseName(candidacy.leaseName())
        .withBinaryVersion(candidacy.binaryVersion())
        .withEmulationVersion(candidacy.emulationVersion())
        .withStrategy(STRATEGY)
        .withRenewTime(micro(Instant.now()))
        .endSpec()
        .build();
  }

  private LeaseCandidate renewed(LeaseCandidate current) {
    LeaseCandidate next = new LeaseCandidateBuilder(current).build();
    LeaseCandidateSpec spec = next.getSpec();
    spec.setBinaryVersion(candidacy.binaryVersion());
    spec.setEmulationVersion(candidacy.emulationVersion());
    spec.setStrategy(STRATEGY);
    Instant now = Instant.now();
    Instant ping = spec.getPingTime() == null ? null : parse(spec.getPingTime());
    // The server compares our renewTime with its own pingTime: with a clock behind the server's,
    // an answer stamped with our clock could look older than the ping and not count. An answer
    // is never stamped earlier than the ping it answers.
    if (ping != null && !now.isAfter(ping)) {
      now = ping.plus(1, ChronoUnit.MICROS);
    }
    spec.setRenewTime(micro(now));
    return next;
  }

  private void delete() {
    try {
      resource().withGracePeriod(0).delete();
      log.info("withdrew lease candidate {}", candidacy.key());
    } catch (KubernetesClientException e) {
      log.warn("could not delete lease candidate {}: {}", candidacy.key(), describe(e));
    }
  }

  private void failed(String what, KubernetesClientException e) {
    failures.failed(what + ": " + describe(e), "cannot " + what + " lease candidate "
        + candidacy.key() + ": " + describe(e) + "; retrying");
  }

  private static String describe(KubernetesClientException e) {
    if (e.getCode() == 403) {
      return "403 Forbidden: grant get, create, update, delete, list and watch on " + RESOURCE
          + " (k8s/coordinated/)";
    }
    if (e.getCode() > 0) {
      String message = e.getStatus() != null && e.getStatus().getMessage() != null
          ? e.getStatus().getMessage() : e.getMessage();
      return e.getCode() + " " + firstLine(message);
    }
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return "no answer from the API server (" + root.getClass().getSimpleName()
        + (root.getMessage() == null ? "" : ": " + firstLine(root.getMessage())) + ")";
  }

  private static String firstLine(String text) {
    return text == null ? "" : text.strip().lines().findFirst().orElse("");
  }

  static MicroTime micro(Instant t) {
    return new MicroTime(MICRO.format(t.truncatedTo(ChronoUnit.MICROS)));
  }

  static Instant parse(MicroTime t) {
    try {
      return t == null || t.getTime() == null ? null : Instant.parse(t.getTime());
    } catch (java.time.format.DateTimeParseException e) {
      return null;
    }
  }
}
