package io.github.leaderelection.election;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;
import org.awaitility.core.ConditionFactory;

/**
 * What the contract tests of {@link LeaderElection} share: the builder with short real-time
 * timings, a listener that records every call, a recorder of the Lease's versions, and predicates
 * on the requests the mock API server saw. Everything the tests drive goes through the public API;
 * {@link MockApi} plays the API server and, behind the elections' backs, other replicas.
 */
final class LeaderElectionContractSupport {

  static final String NS = MockApi.NAMESPACE;
  static final String LEASE = MockApi.LEASE;

  /** Short timings: a term lapses 1 s after its last renewal was sent; renewals every 200 ms. */
  static final Duration LEASE_DURATION = Duration.ofSeconds(2);
  static final Duration RENEW_DEADLINE = Duration.ofSeconds(1);
  static final Duration RETRY_PERIOD = Duration.ofMillis(200);

  /**
   * Timings for the tests that are not about expiry: a term survives 6 s of a loaded machine, and
   * a follower that was not given the Lease waits 10 s for it, so a takeover within
   * {@link #QUICKLY} can only be a handover (a release), never an expiry.
   */
  static final Duration LONG_LEASE = Duration.ofSeconds(10);
  static final Duration LONG_RENEW = Duration.ofSeconds(6);
  static final Duration QUICKLY = Duration.ofSeconds(5);

  /** Generous: the machine is loaded, the tests assert what happens, not how fast. */
  static final Duration PATIENCE = Duration.ofSeconds(20);

  private LeaderElectionContractSupport() {
  }

  static ConditionFactory eventually() {
    return await().atMost(PATIENCE).pollInterval(Duration.ofMillis(20));
  }

  /** An election of the test Lease as {@code identity}, with the short timings. */
  static LeaderElection.Builder election(MockApi api, String identity) {
    return LeaderElection.builder(api.client())
        .lease(NS, LEASE)
        .identity(identity)
        .leaseDuration(LEASE_DURATION)
        .renewDeadline(RENEW_DEADLINE)
        .retryPeriod(RETRY_PERIOD);
  }

  /** As {@link #election}, with the long lease (a handover is then told from an expiry). */
  static LeaderElection.Builder longLeaseElection(MockApi api, String identity) {
    return election(api, identity).leaseDuration(LONG_LEASE).renewDeadline(LONG_RENEW);
  }

  /** Periodic work that does nothing: a term with a work thread, to lead with. */
  static final UnitOfWork IDLE = term -> { };

  /** Closes quietly (the elections of a test, in a finally). */
  static void closeAll(LeaderElection... elections) {
    for (LeaderElection e : elections) {
      if (e != null) {
        e.close();
      }
    }
  }

  /**
   * Another replica (not an election of this JVM) takes the Lease: writes itself as holder,
   * conditional on the version it read (again if a renewal got in between).
   */
  static Lease takeOver(MockApi api, String holder, int durationSeconds) {
    return takeOver(api, holder, durationSeconds, null);
  }

  /**
   * As {@link #takeOver(MockApi, String, int)}, written as the election instance of incarnation
   * {@code incarnation} would ({@link LeaderElection.Builder#incarnation}): that instance takes it
   * back at once as its own.
   */
  static Lease takeOver(MockApi api, String holder, int durationSeconds, String incarnation) {
    for (int attempt = 1; ; attempt++) {
      LeaderElectionRecord now = api.record();
      Instant wall = Instant.now();
      try {
        return api.writeRecord(new LeaderElectionRecord(holder, durationSeconds, wall, wall,
            now == null ? 1 : now.nextTransitions()), incarnation);
      } catch (KubernetesClientException e) {
        if (e.getCode() != 409 || attempt >= 20) {
          throw e;
        }
      }
    }
  }

  static long resourceVersion(Lease lease) {
    return Long.parseLong(lease.getMetadata().getResourceVersion());
  }

  // ---------------------------------------------------------------------------------------------
  // Requests the mock API server saw

  static boolean isLeasePut(MockApi.Call c) {
    return c.method().equals("PUT") && c.path().contains("/leases/" + LEASE);
  }

  /** A holder's release: {@code holderIdentity ""} and {@code leaseDurationSeconds 1}. */
  static boolean isRelease(MockApi.Call c) {
    return isLeasePut(c) && c.body() != null
        && c.body().contains("\"holderIdentity\":\"\"")
        && c.body().contains("\"leaseDurationSeconds\":1");
  }

  /** A write of the test Lease naming {@code identity} as holder (an acquisition or renewal). */
  static Predicate<MockApi.Call> writeAs(String identity) {
    return c -> c.isWrite() && c.path().contains("/leases") && c.body() != null
        && c.body().contains("\"holderIdentity\":\"" + identity + "\"");
  }

  static List<MockApi.Call> callsBetween(MockApi api, long fromNanos, long toNanos,
      Predicate<MockApi.Call> filter) {
    return api.calls().stream()
        .filter(c -> c.tickerNanos() >= fromNanos && c.tickerNanos() <= toNanos)
        .filter(filter)
        .toList();
  }

  // ---------------------------------------------------------------------------------------------
  // A listener that records every call

  enum Kind { STARTED, STOPPED, NEW_LEADER }

  /** One listener call: what, for which term, why, on which thread, when (monotonic). */
  record Event(Kind kind, Term term, TermEnd reason, String leader, String thread, long nanos) {
  }

  static class Recorder implements LeadershipListener {

    final List<Event> events = new CopyOnWriteArrayList<>();

    @Override
    public void startedLeading(Term term) {
      events.add(new Event(Kind.STARTED, term, null, null, Thread.currentThread().getName(),
          System.nanoTime()));
    }

    @Override
    public void stoppedLeading(Term term, TermEnd reason) {
      events.add(new Event(Kind.STOPPED, term, reason, null, Thread.currentThread().getName(),
          System.nanoTime()));
    }

    @Override
    public void newLeader(String identity) {
      events.add(new Event(Kind.NEW_LEADER, null, null, identity,
          Thread.currentThread().getName(), System.nanoTime()));
    }

    List<Event> of(Kind kind) {
      return events.stream().filter(e -> e.kind() == kind).toList();
    }

    List<Term> started() {
      return of(Kind.STARTED).stream().map(Event::term).toList();
    }

    List<Term> stopped() {
      return of(Kind.STOPPED).stream().map(Event::term).toList();
    }

    List<String> leaders() {
      return of(Kind.NEW_LEADER).stream().map(Event::leader).toList();
    }

    Optional<TermEnd> stopReason(Term term) {
      return of(Kind.STOPPED).stream().filter(e -> e.term() == term).map(Event::reason)
          .findFirst();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Every version of the test Lease, as a watch delivers them

  /** One stored version of the Lease. */
  record Version(long resourceVersion, String holder) {
  }

  /** Watches the test Lease (through the elections' client) and keeps every version seen. */
  static final class LeaseHistory implements Watcher<Lease>, AutoCloseable {

    private final List<Version> versions = new CopyOnWriteArrayList<>();
    private final Watch watch;

    LeaseHistory(MockApi api) {
      watch = api.client().leases().inNamespace(NS).withName(LEASE).watch(this);
    }

    @Override
    public void eventReceived(Action action, Lease lease) {
      if (action == Action.ADDED || action == Action.MODIFIED) {
        String holder = lease.getSpec() == null ? "" : Objects.requireNonNullElse(
            lease.getSpec().getHolderIdentity(), "");
        versions.add(new Version(resourceVersion(lease), holder));
      }
    }

    @Override
    public void onClose(WatcherException cause) {
    }

    List<Version> versions() {
      return new ArrayList<>(versions);
    }

    /**
     * The version whose write started a term of {@code holder} under {@code token}: it names the
     * holder, its resourceVersion is the token, and the version before it named somebody else (or
     * nobody, or there was none).
     */
    Optional<Version> acquisition(String holder, long token) {
      List<Version> all = versions();
      for (int i = 0; i < all.size(); i++) {
        Version v = all.get(i);
        if (v.resourceVersion() == token && v.holder().equals(holder)
            && (i == 0 || !all.get(i - 1).holder().equals(holder))) {
          return Optional.of(v);
        }
      }
      return Optional.empty();
    }

    /** The stored version {@code resourceVersion}, if the watch delivered it. */
    Optional<Version> version(long resourceVersion) {
      return versions.stream().filter(v -> v.resourceVersion() == resourceVersion).findFirst();
    }

    /** The greatest resourceVersion seen so far, or -1. */
    long latest() {
      return versions.stream().mapToLong(Version::resourceVersion).max().orElse(-1);
    }

    @Override
    public void close() {
      watch.close();
    }
  }
}
