package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Leader election through a {@code coordination.k8s.io/v1} Lease: among the processes that run an
 * election on the same Lease, at most one leads at any time, and a follower takes over when the
 * leader stops renewing (crash, partition) or gives the Lease up (close, step-down).
 *
 * <pre>{@code
 * try (LeaderElection election = LeaderElection.builder(client)
 *     .lease("my-namespace", "my-lease")
 *     .identity(System.getenv("POD_NAME"))
 *     .periodicWork(Duration.ofSeconds(5), term -> log.info("doing stuff..."))
 *     .build()
 *     .start()) {
 *   ... // the service runs; the election runs in the background
 * }
 * }</pre>
 *
 * <h2>The contract</h2>
 * <ul>
 *   <li><b>Re-election for its whole life.</b> After a lost term (expired, taken over, deleted
 *       Lease) the election campaigns again by itself, for as long as it is open. Only
 *       {@link #close()} ends it (or work that fails with an {@link Error}, which closes it).</li>
 *   <li><b>The work receives its term</b> ({@link Term}): validity judged on this process's
 *       monotonic clock and never another node's, time left, a fencing token, and cancellation:
 *       the work's thread is interrupted the moment leadership may be lost.</li>
 *   <li><b>Never two leaders at once</b>, given unique identities: a term ends
 *       {@code renewDeadline} after its last renewal was <em>sent</em>, while followers wait
 *       {@code leaseDuration} after they last <em>saw</em> it change; every write is conditional
 *       on the Lease's resourceVersion; a Lease deleted or cleared by hand is waited out. A held
 *       Lease carries the finalizer {@code leaderelection.github.io/holder}, so a hand delete
 *       cannot make it vanish under its holder; while another controller's finalizer also holds a
 *       Lease being deleted, the election goes on on it with the usual bounds, and a Lease being
 *       deleted that only another controller's finalizer holds is held by nobody until it is
 *       gone.</li>
 *   <li><b>Listeners never stall renewals</b>: they run on their own executor, one call at a
 *       time per election and in order; {@code startedLeading} and {@code stoppedLeading} exactly
 *       once each per term (see {@link LeadershipListener}).</li>
 *   <li><b>Closing is bounded</b>: {@link #close()} ends the term, waits for the work, releases
 *       the Lease and returns within {@link #shutdownBound()}, at most 11 s.</li>
 *   <li><b>Nothing here exits the JVM</b> or logs above WARN for an expected condition (a lost
 *       race, an unreachable API server, a missing permission: one line at most every 30 s).</li>
 * </ul>
 *
 * <h2>Threads</h2>
 * All elections in a process share a bounded set of daemon threads: one runs every election's
 * state machine (it never blocks), up to {@value SharedThreads#MAX_API_THREADS} run Lease
 * requests, up to {@value SharedThreads#MAX_LISTENER_THREADS} run listener calls (or the
 * {@linkplain Builder#listenerExecutor executor you give}); a pool starts a thread only when none
 * of its threads is idle, and idle ones end after a minute. Periodic units run on shared work
 * threads that exist only while a unit runs (so 100 elections with short units need a few, not
 * 100); a whole-term {@link LeaderWork} holds a thread for its term, a daemon thread of its own.
 * With a {@linkplain Builder#workThreadFactory work thread factory} every term's work runs on a
 * thread of it instead (a virtual-thread factory works: nothing on the renewal path holds a
 * monitor). Each election also watches its Lease through the client's informer machinery, whose
 * HTTP responses run on the client's executor (fabric8's JDK HTTP client: an unbounded cached
 * pool; see the README's "Threads" to bound it). A coordinated election adds a thread of its own
 * that keeps its LeaseCandidate.
 *
 * <p>Thread-safe: every method may be called from any thread.
 */
public final class LeaderElection implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(LeaderElection.class);

  /**
   * How long the release of the Lease waits for the term's work to stop after its thread was
   * interrupted. Work still running then keeps the Lease unreleased (followers take over when it
   * expires): a follower never starts while this replica's work may still run.
   */
  public static final Duration WORK_STOP_WAIT = ElectionConfig.WORK_STOP_WAIT;
  /** Bound of the LeaseCandidate's deletion on close (coordinated election). */
  private static final Duration WITHDRAW_BOUND = Duration.ofSeconds(2);

  private enum State { NEW, RUNNING, CLOSED }

  private final ElectionConfig config;
  private final LeaderElector elector;
  private final LeaseCandidatePublisher candidate;
  private final KubernetesClient client;
  private final AtomicReference<State> state = new AtomicReference<>(State.NEW);
  private final CompletableFuture<Void> termination = new CompletableFuture<>();
  private volatile Throwable failure;

  private LeaderElection(Builder b) {
    this.client = b.client;
    this.config = b.config();
    LeaseCandidatePublisher publisher = null;
    if (config.coordinated()) {
      publisher = new LeaseCandidatePublisher(client, new LeaseCandidatePublisher.Candidacy(
          config.namespace(), config.identity(), config.leaseName(), b.binaryVersion,
          b.emulationVersion), LeaseCandidatePublisher.DEFAULT_RENEW_INTERVAL,
          notServed -> failed(new CoordinatedElectionUnavailableException(notServed.getMessage())));
    }
    this.candidate = publisher;
    WorkRunner work = new WorkRunner(config, b.work, b.periodicInterval, b.periodicUnit,
        b.workThreadFactory, candidate, WITHDRAW_BOUND);
    Executor listenerThreads = b.listenerExecutor != null ? b.listenerExecutor
        : SharedThreads.listeners();
    LeadershipListener users = new OrderedListeners(new Listeners(b.listeners),
        new SerialExecutor(listenerThreads));
    this.elector = new LeaderElector(config, new LeaseLock(client, config.namespace(),
        config.leaseName()), new Listeners(List.of(work, users)), b.metrics, Ticker.SYSTEM);
    elector.termination().whenComplete((ok, error) -> ended());
  }

  /**
   * A builder for an election on {@code client}'s cluster. The client is shared, never closed by
   * the election; its request timeout should be at least {@link Builder#requestTimeout()}.
   * Several elections (one per shard or job) may share one client.
   *
   * <p>Dead connections: the election reconnects only through the client. Over HTTP/1.1 a Lease
   * request that times out closes its connection, and the next request (one retry period later)
   * opens a fresh one. fabric8's JDK HTTP client speaks HTTP/2 over TLS unless told otherwise, and
   * sends no HTTP/2 pings: after a partition that drops packets, every request on its one
   * connection times out until TCP gives up (about 15 minutes), and the election, which cannot
   * evict that connection from a client it did not build, cannot act meanwhile (it says so once,
   * at WARN). Build the client with {@code new ConfigBuilder(config).withHttp2Disable(true)} for
   * the election to be back one request after the network heals. Whatever the client, the Lease
   * watch is never trusted on a dead connection: it is replaced when a Lease request sent after
   * it started times out, or when it has shown no list, event or bookmark for a lease duration,
   * and the replacement counts only once it has listed again (until then followers poll; one
   * that has not listed within a request timeout is replaced again once a request is answered).
   *
   * @param client the API client, e.g. {@code new KubernetesClientBuilder().withConfig(new
   *     ConfigBuilder(Config.autoConfigure(null)).withHttp2Disable(true).build()).build()}
   * @return a new builder with the defaults: lease duration 15 s, renew deadline 10 s, retry
   *     period 2 s, watching, releasing on close
   */
  public static Builder builder(KubernetesClient client) {
    return new Builder(client);
  }

  /**
   * Starts campaigning in the background and returns at once. With coordinated election, first
   * checks that the API server serves LeaseCandidates.
   *
   * @return this election
   * @throws IllegalStateException if it was started or closed before
   * @throws CoordinatedElectionUnavailableException with coordinated election on an API server
   *     that does not serve LeaseCandidates (nothing was started)
   */
  public LeaderElection start() {
    if (state.get() != State.NEW) {
      throw alreadyStarted();
    }
    if (candidate != null) {
      try {
        LeaseCandidatePublisher.checkServed(client);
      } catch (LeaseCandidatePublisher.NotServed e) {
        CoordinatedElectionUnavailableException unavailable =
            new CoordinatedElectionUnavailableException(e.getMessage());
        if (state.compareAndSet(State.NEW, State.CLOSED)) {
          failure = unavailable;
          ended();
        }
        throw unavailable;
      } catch (KubernetesClientException e) {
        // Unreachable right now: the publisher retries, and checks again on a 404.
        log.debug("cannot check for lease candidates yet: {}", e.toString());
      }
    }
    if (!state.compareAndSet(State.NEW, State.RUNNING)) {
      throw alreadyStarted();
    }
    elector.start();
    if (candidate != null) {
      candidate.start();
    }
    return this;
  }

  private IllegalStateException alreadyStarted() {
    return new IllegalStateException("election of lease " + config.leaseKey()
        + (state.get() == State.CLOSED ? " was closed" : " was already started")
        + ": build a new one");
  }

  /**
   * Whether this replica leads now. The answer may be stale the moment it returns: the work checks
   * its {@link Term} instead.
   *
   * @return true while this replica holds a valid term of the Lease
   */
  public boolean isLeader() {
    return elector.isLeader();
  }

  /**
   * The holder of the Lease as this replica last observed it (this replica's own identity while
   * it leads).
   *
   * @return the holder's identity, or empty when nobody holds it or nothing is known yet
   */
  public Optional<String> currentLeader() {
    String holder = elector.observedHolder();
    return holder.isEmpty() ? Optional.empty() : Optional.of(holder);
  }

  /**
   * The current term, e.g. for a fenced write outside the leader's work.
   *
   * @return the term while leading (it may end at any moment: check it), else empty
   */
  public Optional<Term> currentTerm() {
    return Optional.ofNullable(elector.term());
  }

  /**
   * Gives leadership up now and stays out of the election for {@code stayOut}: the term ends (its
   * work is interrupted), the Lease is released once the work has stopped (so a follower takes
   * over at once; unless {@link Builder#releaseOnClose} is off), and this replica does not
   * campaign again before {@code stayOut} has passed; then it campaigns as before. Does nothing
   * but stay out when not leading, and nothing at all once closed. Returns at once: the step-down
   * happens on the election's thread.
   *
   * @param stayOut how long to stay out, zero or more
   * @throws IllegalArgumentException if {@code stayOut} is negative
   */
  public void stepDown(Duration stayOut) {
    Objects.requireNonNull(stayOut, "stayOut");
    if (stayOut.isNegative()) {
      throw new IllegalArgumentException("stayOut must not be negative, got " + stayOut);
    }
    elector.stepDown(TermEnd.STEPPED_DOWN, stayOut);
  }

  /**
   * Ends the election: the term ends at once (its work is interrupted), the work may finish (up to
   * {@link #WORK_STOP_WAIT}), the Lease is released (if {@link Builder#releaseOnClose}) so a
   * follower takes over at once, and this returns; all within {@link #shutdownBound()}. Work
   * still running after {@link #WORK_STOP_WAIT} keeps the Lease unreleased (followers wait for it
   * to expire): a follower never starts while this replica's work may still run. Listener calls
   * are not waited for. Idempotent, and callable from any thread (e.g. a shutdown hook); a close
   * of an election never started does nothing more. An election cannot be started again.
   */
  @Override
  public void close() {
    close(shutdownBound());
  }

  /**
   * {@link #close()} waiting at most {@code timeout}: the term ends and its work is interrupted at
   * once either way; on a timeout the election goes on stopping in the background.
   *
   * @param timeout the longest to wait for the election to end
   * @return true if the election has ended within the timeout
   */
  public boolean close(Duration timeout) {
    State before = state.getAndSet(State.CLOSED);
    if (before == State.NEW) {
      ended();
      return true;
    }
    if (candidate != null) {
      // First: no ping is answered any more, and the release waits for the deletion, so a
      // replica on its way out cannot be elected again.
      candidate.withdraw();
    }
    elector.stop();
    boolean done;
    try {
      done = elector.awaitTermination(timeout);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      done = false;
    }
    if (candidate != null) {
      candidate.close(WITHDRAW_BOUND);
    }
    return done;
  }

  /**
   * Completes when the election has ended: normally after {@link #close()}, exceptionally when it
   * ended on its own ({@link #failure()}).
   *
   * @return a new future for the end of the election (completing it does not affect the election)
   */
  public CompletableFuture<Void> termination() {
    return termination.copy();
  }

  /**
   * Why the election ended on its own, if it did: leader work that failed with an {@link Error},
   * coordinated election not served, or an unexpected failure of the election itself (for
   * example an {@link ElectionMetrics} hook that threw).
   *
   * @return the failure, or empty while the election runs or after a normal close
   */
  public Optional<Throwable> failure() {
    Throwable f = failure;
    return Optional.ofNullable(f != null ? f : elector.failure());
  }

  /**
   * True once this replica knows who leads: an answer from the API server, to a request of its
   * own or through the watch (a readiness signal).
   *
   * @return true once the first answer about the Lease has arrived
   */
  public boolean knowsLeader() {
    return elector.firstRoundDone();
  }

  /**
   * Time since this replica's last successful write of the Lease (acquire or renewal), on the
   * local monotonic clock.
   *
   * @return the time since, or empty if this replica has not written the Lease yet
   */
  public Optional<Duration> sinceLastWrite() {
    long nanos = elector.nanosSinceLastRenew();
    return nanos < 0 ? Optional.empty() : Optional.of(Duration.ofNanos(nanos));
  }

  /**
   * Time since the election last made progress: it does at least every retry period whatever the
   * API server does, so a value well above the retry period means it is wedged (a liveness
   * signal).
   *
   * @return the time since its last turn; zero once it has ended normally, and
   *     {@code Long.MAX_VALUE} nanoseconds once it has failed
   */
  public Duration sinceProgress() {
    return Duration.ofNanos(elector.nanosSinceHeartbeat());
  }

  /**
   * The uid of the Lease as this replica last wrote it, to point Events at it.
   *
   * @return the uid, or empty if this replica has not written the Lease yet
   */
  public Optional<String> leaseUid() {
    Lease lease = elector.lastWrittenLease();
    return lease == null || lease.getMetadata() == null ? Optional.empty()
        : Optional.ofNullable(lease.getMetadata().getUid());
  }

  /**
   * This replica's identity.
   *
   * @return the identity, the Lease's {@code holderIdentity} while it leads
   */
  public String identity() {
    return config.identity();
  }

  /**
   * The Lease's namespace.
   *
   * @return the namespace given to {@link Builder#lease}
   */
  public String leaseNamespace() {
    return config.namespace();
  }

  /**
   * The Lease's name.
   *
   * @return the name given to {@link Builder#lease}
   */
  public String leaseName() {
    return config.leaseName();
  }

  /**
   * The Lease, as the log lines print it.
   *
   * @return {@code namespace/name} of the Lease
   */
  public String leaseKey() {
    return config.leaseKey();
  }

  /**
   * The lease duration (see {@link Builder#leaseDuration}).
   *
   * @return the lease duration this replica writes into the Lease
   */
  public Duration leaseDuration() {
    return config.leaseDuration();
  }

  /**
   * The renew deadline (see {@link Builder#renewDeadline}).
   *
   * @return how long a term stays valid after its last successful renewal was sent
   */
  public Duration renewDeadline() {
    return config.renewDeadline();
  }

  /**
   * The retry period (see {@link Builder#retryPeriod}).
   *
   * @return how often the leader renews and a polling follower retries
   */
  public Duration retryPeriod() {
    return config.retryPeriod();
  }

  /**
   * Whether followers watch the Lease (see {@link Builder#watch}).
   *
   * @return true if the election watches the Lease, false if it polls
   */
  public boolean isWatching() {
    return config.watch();
  }

  /**
   * Whether this is a coordinated election (see {@link Builder#coordinated}).
   *
   * @return true if the API server picks the holder among LeaseCandidates
   */
  public boolean isCoordinated() {
    return config.coordinated();
  }

  /**
   * Whether a chosen end releases the Lease (see {@link Builder#releaseOnClose}).
   *
   * @return true if close, step-down and returned work release the Lease
   */
  public boolean releasesOnClose() {
    return config.releaseOnCancel();
  }

  /**
   * The labels this replica puts on the Lease (see {@link Builder#leaseLabel}).
   *
   * @return the labels, unmodifiable; empty if none
   */
  public Map<String, String> leaseLabels() {
    return config.leaseLabels();
  }

  /**
   * The longest {@link #close()} takes: the running work finishes (at most
   * {@link #WORK_STOP_WAIT}), the release is sent (at most half the renew deadline, and 5 s), plus
   * a margin.
   *
   * @return the bound; at most 11 s for every valid setting
   */
  public Duration shutdownBound() {
    return config.shutdownBound();
  }

  @Override
  public String toString() {
    return "LeaderElection{" + config.leaseKey() + " as " + config.identity() + ", "
        + (isLeader() ? "leading" : "following") + "}";
  }

  private void failed(Throwable cause) {
    failure = cause;
    log.warn("{}", cause.getMessage());
    elector.stop();
  }

  private void ended() {
    state.set(State.CLOSED);
    Throwable f = failure().orElse(null);
    if (f != null) {
      termination.completeExceptionally(f);
    } else {
      termination.complete(null);
    }
  }

  /** Hands user listeners to their executor, one call at a time, in order. */
  private static final class OrderedListeners implements LeadershipListener {

    private final LeadershipListener listeners;
    private final Executor serial;

    OrderedListeners(LeadershipListener listeners, Executor serial) {
      this.listeners = listeners;
      this.serial = serial;
    }

    @Override
    public void startedLeading(Term term) {
      serial.execute(() -> listeners.startedLeading(term));
    }

    @Override
    public void stoppedLeading(Term term, TermEnd reason) {
      serial.execute(() -> listeners.stoppedLeading(term, reason));
    }

    @Override
    public void newLeader(String identity) {
      serial.execute(() -> listeners.newLeader(identity));
    }
  }

  /**
   * Builds a {@link LeaderElection}. {@link #build()} (or {@link #validate()}) checks every field
   * and the rules between them; a violation is an {@link IllegalArgumentException} whose message
   * names the field and the rule, e.g. {@code leaseDuration (10s) must be greater than
   * renewDeadline (10s)}. The setters of the work, listeners, metrics and threads reject null at
   * once ({@link NullPointerException} naming the argument). Not thread-safe: configure it on one
   * thread. Each {@link #build()} makes a new, independent election.
   */
  public static final class Builder {

    private static final Pattern SUBDOMAIN =
        Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
    private static final Pattern LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
    private static final Pattern LABEL_NAME =
        Pattern.compile("[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?");
    private static final Pattern CANDIDATE_NAME = Pattern.compile("[A-Za-z0-9._-]+");

    private KubernetesClient client;
    private String namespace;
    private String name;
    private String identity;
    private Duration leaseDuration = Duration.ofSeconds(15);
    private Duration renewDeadline = Duration.ofSeconds(10);
    private Duration retryPeriod = Duration.ofSeconds(2);
    private Duration requeueDelay;
    private boolean releaseOnClose = true;
    private boolean watch = true;
    private boolean coordinated;
    private String binaryVersion;
    private String emulationVersion;
    private final Map<String, String> labels = new LinkedHashMap<>();
    private LeaderWork work;
    private Duration periodicInterval;
    private UnitOfWork periodicUnit;
    private final List<LeadershipListener> listeners = new ArrayList<>();
    private ElectionMetrics metrics = ElectionMetrics.NONE;
    private Executor listenerExecutor;
    private ThreadFactory workThreadFactory;
    private String incarnation;

    private Builder(KubernetesClient client) {
      this.client = client;
    }

    /**
     * The API client (required by {@link #build()}; {@link LeaderElection#builder} sets it). It is
     * shared, never closed by the election.
     *
     * @param client the API client
     * @return this builder
     */
    public Builder client(KubernetesClient client) {
      this.client = client;
      return this;
    }

    /**
     * The Lease that is the lock (required). It is created when missing; every candidate of one
     * election names the same Lease.
     *
     * @param namespace a DNS-1123 label, e.g. the pod's own namespace
     * @param name a DNS-1123 subdomain
     * @return this builder
     */
    public Builder lease(String namespace, String name) {
      this.namespace = namespace;
      this.name = name;
      return this;
    }

    /**
     * This replica's identity (required), written as the Lease's {@code holderIdentity}: it must
     * be unique among the candidates (the pod name is), or two replicas would both believe they
     * hold the Lease. Kubernetes accepts any string there; {@link #build()} refuses what would
     * split or garble this replica's log lines (control characters such as a line break or a tab,
     * Unicode line separators) and what cannot be sent as UTF-8 (an unpaired surrogate).
     *
     * @param identity not empty, printable text, e.g. the pod's name from the downward API
     * @return this builder
     */
    public Builder identity(String identity) {
      this.identity = identity;
      return this;
    }

    /**
     * How long followers wait, after they last saw the Lease change, before they may take over
     * (default 15 s, whole seconds: the Lease stores seconds). Longer tolerates longer leader
     * stalls and API hiccups without a needless failover; shorter replaces a crashed leader
     * sooner. Written into the Lease, so every follower uses the leader's value.
     *
     * @param leaseDuration whole seconds, greater than the renew deadline, at most
     *     {@link Durations#MAX} (the Lease stores it as a 32-bit number of seconds)
     * @return this builder
     */
    public Builder leaseDuration(Duration leaseDuration) {
      this.leaseDuration = leaseDuration;
      return this;
    }

    /**
     * How long the leader keeps trying to renew before its term ends (default 10 s). Must be
     * shorter than the lease duration: the gap is the safety margin in which an old leader has
     * stopped while nobody may yet take over (it absorbs clock-rate drift and pauses). It also
     * bounds each Lease request (see {@link #requestTimeout()}).
     *
     * @param renewDeadline less than the lease duration, more than 1.2 times the retry period
     * @return this builder
     */
    public Builder renewDeadline(Duration renewDeadline) {
      this.renewDeadline = renewDeadline;
      return this;
    }

    /**
     * How often the leader renews and a polling follower retries (default 2 s). Shorter detects
     * a free Lease sooner at the cost of more requests; the renew deadline must exceed 1.2 times
     * it (client-go's jitter factor).
     *
     * @param retryPeriod greater than zero, at most {@link Durations#MAX}
     * @return this builder
     */
    public Builder retryPeriod(Duration retryPeriod) {
      this.retryPeriod = retryPeriod;
      return this;
    }

    /**
     * Followers watch the Lease (default) instead of polling it: a release or expiry is acted on
     * the moment it happens and the API server sees no follower reads. Needs {@code list} and
     * {@code watch} on leases; without them the election polls, as client-go does.
     *
     * @param watch false to poll the Lease instead
     * @return this builder
     */
    public Builder watch(boolean watch) {
      this.watch = watch;
      return this;
    }

    /**
     * On {@link LeaderElection#close()} and on a step-down, release the Lease (default) so a
     * follower takes over at once instead of waiting out the lease duration. Safe because the
     * release waits for the work to stop. Also applies when the {@linkplain #work whole-term
     * work} returns.
     *
     * @param release false to leave the Lease to expire instead
     * @return this builder
     */
    public Builder releaseOnClose(boolean release) {
      this.releaseOnClose = release;
      return this;
    }

    /**
     * How long a replica whose {@linkplain #work whole-term work} returned stays out of the
     * election before campaigning again (default: the retry period), so that a follower gets the
     * released Lease.
     *
     * @param delay how long to stay out, at most {@link Durations#MAX} (null: the retry period)
     * @return this builder
     */
    public Builder requeueDelay(Duration delay) {
      this.requeueDelay = delay;
      return this;
    }

    /**
     * Coordinated leader election (Kubernetes' KEP-4355, feature gate
     * {@code CoordinatedLeaderElection}): this replica publishes a LeaseCandidate and the API
     * server picks the holder (the lowest emulation version, then binary version, leads). The
     * replica never creates or takes over the Lease, leads only while the server names it, and
     * steps down at the end of its term, handing the Lease back at once. The identity must be a
     * valid LeaseCandidate name.
     *
     * <p>The server judges a holder expired by the holder's wall clock against its own; this
     * replica trusts only its own clock. Named, it starts its term only once the previous
     * holder's claim has ended as this replica observed it: at once after that holder's release,
     * else a lease duration after it last saw that holder renew, and a lease duration after the
     * naming when it cannot tell who wrote the Lease last before it (its first answer, a twin, a
     * Lease re-created by hand). So a fresh fleet's first leader starts a lease duration after
     * it began observing, and a crashed leader is replaced by the server's next round plus
     * whatever remains of that wait.
     *
     * @param binaryVersion this build's version, {@code MAJOR.MINOR.PATCH}
     * @param emulationVersion the version whose behaviour it offers, at most {@code binaryVersion}
     *     (null: the binary version)
     * @return this builder
     */
    public Builder coordinated(String binaryVersion, String emulationVersion) {
      this.coordinated = true;
      this.binaryVersion = binaryVersion;
      this.emulationVersion = emulationVersion != null ? emulationVersion : binaryVersion;
      return this;
    }

    /**
     * A label this replica puts on the Lease with each of its writes (client-go's
     * {@code NewWithLabels}), e.g. to select Leases by owner. Kubernetes' label rules apply
     * (checked by {@link #build()}); labels of others on the Lease are kept.
     *
     * @param key {@code [prefix/]name}, the prefix a DNS subdomain, the name 1-63 characters
     * @param value empty or 1-63 characters
     * @return this builder
     */
    public Builder leaseLabel(String key, String value) {
      labels.put(key, value);
      return this;
    }

    /**
     * All of {@code labels}, as {@link #leaseLabel}.
     *
     * @param labels the labels to add
     * @return this builder
     */
    public Builder leaseLabels(Map<String, String> labels) {
      labels.forEach(this::leaseLabel);
      return this;
    }

    /**
     * The leader's work as one method that runs for the whole term (see {@link LeaderWork}):
     * returning gives leadership up. Exclusive with {@link #periodicWork}. Without either, the
     * election only elects (listeners and {@link LeaderElection#isLeader()} tell the result).
     *
     * @param work called once per term on a work thread of its own
     * @return this builder
     */
    public Builder work(LeaderWork work) {
      this.work = Objects.requireNonNull(work, "work");
      return this;
    }

    /**
     * The leader's work as units run every {@code interval} while the term is valid (see
     * {@link UnitOfWork}): the first right after the term starts, each next one {@code interval}
     * after the previous one returned. Exclusive with {@link #work}.
     *
     * @param interval the pause between units, greater than zero, at most {@link Durations#MAX}
     * @param unit called on the term's work thread, one unit at a time
     * @return this builder
     */
    public Builder periodicWork(Duration interval, UnitOfWork unit) {
      this.periodicInterval = interval;
      this.periodicUnit = Objects.requireNonNull(unit, "unit");
      return this;
    }

    /**
     * Adds a listener (see {@link LeadershipListener} for threads and order). Listeners are called
     * in the order they were added.
     *
     * @param listener notified of each term's start and end and of each new leader
     * @return this builder
     */
    public Builder listener(LeadershipListener listener) {
      listeners.add(Objects.requireNonNull(listener, "listener"));
      return this;
    }

    /**
     * Where the election reports for monitoring. Called on the election's own thread: each call
     * must return at once (increment a counter, no I/O) and must not throw (see
     * {@link ElectionMetrics}).
     *
     * @param metrics the hooks (default {@link ElectionMetrics#NONE})
     * @return this builder
     */
    public Builder metrics(ElectionMetrics metrics) {
      this.metrics = Objects.requireNonNull(metrics, "metrics");
      return this;
    }

    /**
     * The executor for listener calls (default: the process's shared listener threads). Calls of
     * one election are handed to it one at a time, in order, so a single-threaded or a
     * virtual-thread-per-task executor both keep the order. The election never shuts it down.
     *
     * @param executor runs the listener calls
     * @return this builder
     */
    public Builder listenerExecutor(Executor executor) {
      this.listenerExecutor = Objects.requireNonNull(executor, "listenerExecutor");
      return this;
    }

    /** Tests only (package-private): a Lease written by hand as this very instance's. */
    Builder incarnation(String id) {
      this.incarnation = id;
      return this;
    }

    /**
     * Where the threads of each term's work come from; e.g. {@code Thread.ofVirtual().factory()}
     * on Java 21+. With a factory, every term's work (whole-term or periodic) runs on one thread
     * of it, interrupted when the term ends. Without one (the default), periodic units run on
     * the shared work threads, a thread only while a unit runs, and a whole-term work on a daemon
     * thread of its own; either way named {@code leader-work-<lease>-<term>} while they work.
     * Nothing on the renewal path holds a monitor, so virtual threads are never pinned by the
     * election.
     *
     * @param factory makes the work threads; it must not return null
     * @return this builder
     */
    public Builder workThreadFactory(ThreadFactory factory) {
      this.workThreadFactory = Objects.requireNonNull(factory, "workThreadFactory");
      return this;
    }

    /**
     * The bound of one Lease request as a whole with the timings set so far: half the renew
     * deadline, at most 10 s. A request not completed by then is abandoned.
     *
     * @return the bound of one Lease request
     */
    public Duration requestTimeout() {
      return ElectionConfig.requestTimeout(renewDeadline != null ? renewDeadline
          : Duration.ofSeconds(10));
    }

    /**
     * Checks every field and the rules between them, without building.
     *
     * @return this builder
     * @throws IllegalArgumentException naming the first field that breaks a rule, and the rule
     */
    public Builder validate() {
      config();
      return this;
    }

    /**
     * Builds the election, not started: it sends no request and runs nothing before
     * {@link LeaderElection#start()}.
     *
     * @return a new election
     * @throws IllegalArgumentException naming the first field that breaks a rule, and the rule
     * @throws NullPointerException if a timing was set to null
     */
    public LeaderElection build() {
      if (client == null) {
        throw new IllegalArgumentException("client must be set");
      }
      return new LeaderElection(this);
    }

    ElectionConfig config() {
      if (namespace == null || name == null) {
        throw new IllegalArgumentException("lease must be set: lease(namespace, name)");
      }
      check("namespace", namespace, LABEL, 63, "a DNS-1123 label: lowercase letters, digits and"
          + " '-', starting and ending with a letter or digit");
      check("leaseName", name, SUBDOMAIN, 253, "a DNS-1123 subdomain: lowercase letters, digits,"
          + " '-' and '.', starting and ending with a letter or digit");
      String badIdentity = ElectionConfig.identityProblem(identity);
      if (badIdentity != null) {
        throw new IllegalArgumentException(badIdentity);
      }
      requireSet("leaseDuration", leaseDuration);
      requireSet("renewDeadline", renewDeadline);
      requireSet("retryPeriod", retryPeriod);
      String timing = ElectionConfig.timingProblem(leaseDuration, renewDeadline, retryPeriod);
      if (timing != null) {
        throw new IllegalArgumentException(timing);
      }
      if (work != null && periodicUnit != null) {
        throw new IllegalArgumentException("work and periodicWork are exclusive: set one");
      }
      if (periodicUnit != null && (periodicInterval == null || periodicInterval.isZero()
          || periodicInterval.isNegative())) {
        throw new IllegalArgumentException("periodicWork's interval must be greater than 0");
      }
      if (periodicUnit != null) {
        String tooLong = ElectionConfig.tooLong("periodicWork's interval", periodicInterval);
        if (tooLong != null) {
          throw new IllegalArgumentException(tooLong);
        }
      }
      labels.forEach(Builder::checkLabel);
      if (coordinated) {
        // Kubernetes' rule for LeaseCandidate names (IsConfigMapKey): no '.', '..' or '..' prefix.
        if (!CANDIDATE_NAME.matcher(identity).matches() || identity.length() > 253
            || identity.startsWith("..") || identity.equals(".")) {
          throw new IllegalArgumentException("identity '" + identity + "' cannot name a"
              + " LeaseCandidate (coordinated): use letters, digits, '-', '_' and '.' only, at"
              + " most 253 characters, not '.' and not starting with '..'");
        }
        SemVer binary = version("binaryVersion", binaryVersion);
        SemVer emulation = version("emulationVersion", emulationVersion);
        if (emulation.compareTo(binary) > 0) {
          throw new IllegalArgumentException("emulationVersion (" + emulationVersion
              + ") must not be greater than binaryVersion (" + binaryVersion + ")");
        }
      }
      Duration requeue = requeueDelay != null ? requeueDelay : retryPeriod;
      return new ElectionConfig(namespace, name, identity, leaseDuration, renewDeadline,
          retryPeriod, releaseOnClose, watch, coordinated, labels, requeue, incarnation);
    }

    private static void requireSet(String field, Duration value) {
      if (value == null) {
        throw new IllegalArgumentException(field + " must be set");
      }
    }

    private static SemVer version(String field, String value) {
      SemVer version = value == null ? null : SemVer.parseOrNull(value);
      if (version == null) {
        throw new IllegalArgumentException(field + " '" + value + "' is invalid: must be a"
            + " semantic version MAJOR.MINOR.PATCH without a leading 'v', e.g. 1.36.0");
      }
      if (version.isZero()) {
        throw new IllegalArgumentException(field + " must not be 0.0.0: the API server reads"
            + " it as no version");
      }
      return version;
    }

    private static void check(String field, String value, Pattern pattern, int maxLength,
        String rule) {
      if (value.isEmpty()) {
        throw new IllegalArgumentException(field + " must not be empty");
      }
      if (value.length() > maxLength || !pattern.matcher(value).matches()) {
        throw new IllegalArgumentException(field + " '" + value + "' is invalid: must be " + rule
            + ", at most " + maxLength + " characters");
      }
    }

    /** Kubernetes' label rules: [prefix/]name, prefix a DNS subdomain, name and value 63 chars. */
    private static void checkLabel(String key, String value) {
      String what = "leaseLabels '" + key + "=" + value + "': ";
      int slash = key.indexOf('/');
      String prefix = slash >= 0 ? key.substring(0, slash) : null;
      String label = slash >= 0 ? key.substring(slash + 1) : key;
      if (prefix != null && (prefix.isEmpty() || prefix.length() > 253
          || !SUBDOMAIN.matcher(prefix).matches())) {
        throw new IllegalArgumentException(what + "the key's prefix must be a DNS-1123 subdomain"
            + " (e.g. example.com), at most 253 characters");
      }
      if (label.isEmpty() || label.length() > 63 || !LABEL_NAME.matcher(label).matches()) {
        throw new IllegalArgumentException(what + "the key's name must be 1-63 characters:"
            + " letters, digits, '-', '_' and '.', starting and ending with a letter or digit");
      }
      if (value == null || value.length() > 63
          || (!value.isEmpty() && !LABEL_NAME.matcher(value).matches())) {
        throw new IllegalArgumentException(what + "the value must be empty or at most 63"
            + " characters: letters, digits, '-', '_' and '.', starting and ending with a letter"
            + " or digit");
      }
    }
  }
}
