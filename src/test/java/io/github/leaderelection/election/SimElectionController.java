package io.github.leaderelection.election;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseSpec;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The API server's coordinated election controller, as kube-apiserver 1.31-1.36 runs it
 * ({@code pkg/controlplane/controller/leaderelection}), reduced to what decides who is named, and
 * when. The parts that matter for safety are kept as the server has them:
 * <ul>
 *   <li><b>Expiry on the server's clock</b>: a Lease needs an election when it is missing, has no
 *       holder, or {@code renewTime + leaseDurationSeconds} is past on the <em>server's</em> wall
 *       clock, while {@code renewTime} is the holder's wall clock;
 *   <li><b>the ping round</b>: before electing, every candidate not renewed in the last 5 s is
 *       pinged and given 5 s to answer; only candidates that answered are electable;
 *   <li><b>candidate ordering</b>: {@code OldestEmulationVersion} among equal versions, the oldest
 *       candidate first (by creation, then by name); a better candidate than the holder gets the
 *       holder an end of term ({@code preferredHolder}) rather than the Lease;
 *   <li><b>the naming itself</b>: a missing Lease is created naming the electee; an expired or
 *       unheld one is updated to name it, {@code renewTime} the server's now,
 *       {@code leaseDurationSeconds} 5, {@code acquireTime} and {@code preferredHolder} cleared,
 *       metadata (annotations, finalizers) as they were; the update is conditional on the version
 *       read;
 *   <li><b>the work queue</b>: a Lease is reconciled on every change of it or of a candidate (one
 *       pending reconcile at a time, as the work queue dedups its key), and again 5 s after each
 *       step.
 * </ul>
 * A candidate is a replica's LeaseCandidate, one per identity (twins share it): created when a
 * process of that identity starts, deleted when the last one stops gracefully (a replica withdraws
 * before it releases), left behind by SIGKILL (it then never answers a ping). A ping is answered
 * by any process of the identity that is running, reachable and not stopping, one round trip
 * later, or as soon as one is. The candidates' own timestamps are modelled on the server's clock: the replica stamps an
 * answer no earlier than the ping ({@link LeaseCandidatePublisher}).
 */
final class SimElectionController {

  static final long REQUEUE = 5 * SimWorld.SECOND;
  static final long ELECTION = 5 * SimWorld.SECOND;
  static final int LEASE_SECONDS = 5;
  private static final long NONE = Long.MIN_VALUE;

  private static final class Candidate {
    final String name;
    final long created;
    final long order;
    long renewedAt;
    long pingedAt = NONE;

    Candidate(String name, long created, long order) {
      this.name = name;
      this.created = created;
      this.order = order;
      this.renewedAt = created;
    }

    boolean pinged() {
      return pingedAt != NONE;
    }
  }

  private final SimWorld world;
  private final Map<String, Candidate> candidates = new LinkedHashMap<>();
  private long created;
  private long scheduledAt = Long.MAX_VALUE;
  private int namings;
  private int endsOfTerm;
  private int pings;

  SimElectionController(SimWorld world) {
    this.world = world;
    world.server().addWatcher(change -> enqueue(world.now() + world.watchLatency()));
  }

  /** Namings (creates and updates of the holder), ends of term, pings sent. */
  int[] counts() {
    return new int[] {namings, endsOfTerm, pings};
  }

  /** A process of {@code identity} started: it creates (or renews) its candidate. */
  void started(String identity) {
    long now = world.now();
    Candidate c = candidates.get(identity);
    if (c == null) {
      candidates.put(identity, new Candidate(identity, now, created++));
    } else {
      c.renewedAt = Math.max(c.renewedAt, now);
    }
    enqueue(now + world.latency());
  }

  /** A process of {@code identity} stops gracefully: the last one deletes the candidate. */
  void stopped(String identity) {
    boolean another = world.replicas().stream()
        .anyMatch(r -> r.identity().equals(identity) && r.answersPings());
    if (!another && candidates.remove(identity) != null) {
      enqueue(world.now() + world.latency());
    }
  }

  private void enqueue(long at) {
    if (at >= scheduledAt) {
      return;
    }
    scheduledAt = at;
    world.scheduler().at(at, () -> {
      if (world.now() == scheduledAt) {
        scheduledAt = Long.MAX_VALUE;
        long requeue = reconcile();
        if (requeue > 0) {
          enqueue(world.now() + requeue);
        }
      }
    });
  }

  /** One reconcile step; returns when to requeue (0: only on events). */
  private long reconcile() {
    long now = world.now();
    if (now < world.server().frozenUntil()) {
      return world.server().frozenUntil() - now; // etcd stalls the controller too
    }
    if (candidates.isEmpty()) {
      return 0;
    }
    Lease lease = world.server().current();
    if (!electionNeeded(lease, now)) {
      return REQUEUE;
    }
    boolean canVote = true;
    for (Candidate c : candidates.values()) {
      if (c.pinged() && c.pingedAt + ELECTION > now && c.renewedAt < c.pingedAt) {
        canVote = false; // waiting for its answer
        continue;
      }
      if (c.renewedAt + ELECTION > now) {
        continue;
      }
      if (!c.pinged() || c.pingedAt + ELECTION < now && c.pingedAt < c.renewedAt) {
        ping(c, now);
        canVote = false;
      }
    }
    if (!canVote) {
      world.trace(null, "election controller: pinging/waiting " + describe(now));
      return REQUEUE;
    }
    for (Candidate c : candidates.values()) {
      if (c.pinged() && !(c.pingedAt < c.renewedAt) && c.pingedAt + ELECTION > now) {
        return 0;
      }
    }
    List<Candidate> acked = new ArrayList<>();
    for (Candidate c : candidates.values()) {
      if (c.renewedAt + ELECTION > now) {
        acked.add(c);
      }
    }
    if (acked.isEmpty()) {
      world.trace(null, "election controller: no candidate answered " + describe(now));
      return REQUEUE;
    }
    String electee = best(acked).name;
    if (lease == null) {
      if (world.server().controllerCreate(electee, LEASE_SECONDS)) {
        namings++;
        world.trace(null, "election controller created the Lease naming " + electee);
      }
      return REQUEUE;
    }
    LeaseSpec spec = SimApiServer.copy(lease).getSpec();
    String holder = spec.getHolderIdentity() == null ? "" : spec.getHolderIdentity();
    boolean changed = false;
    if (holder.isEmpty() || expired(lease) && !holder.equals(electee)) {
      spec.setPreferredHolder(null);
      spec.setHolderIdentity(electee);
      spec.setRenewTime(java.time.ZonedDateTime.ofInstant(world.server().wallNow(),
          java.time.ZoneOffset.UTC));
      spec.setLeaseDurationSeconds(LEASE_SECONDS);
      spec.setAcquireTime(null);
      changed = true;
      namings++;
      world.trace(null, "election controller names " + electee + " (was '" + holder + "')");
    } else if (!holder.equals(electee) && !Objects.equals(spec.getPreferredHolder(), electee)) {
      spec.setPreferredHolder(electee);
      changed = true;
      endsOfTerm++;
      world.trace(null, "election controller prefers " + electee + " to " + holder);
    }
    if (changed) {
      world.server().controllerUpdate(lease, spec);
    }
    return REQUEUE;
  }

  private String describe(long now) {
    StringBuilder b = new StringBuilder();
    for (Candidate c : candidates.values()) {
      b.append(c.name).append("(renewed ").append(SimWorld.seconds(c.renewedAt)).append(", pinged ")
          .append(c.pinged() ? SimWorld.seconds(c.pingedAt) : "never").append(") ");
    }
    return b.toString();
  }

  private boolean electionNeeded(Lease lease, long now) {
    if (lease == null || expired(lease)) {
      return true;
    }
    String holder = lease.getSpec().getHolderIdentity();
    if (holder == null || holder.isEmpty()) {
      return true;
    }
    return !best(candidates.values()).name.equals(holder);
  }

  /** {@code renewTime + leaseDurationSeconds} is past on the server's clock. */
  private boolean expired(Lease lease) {
    LeaseSpec spec = lease.getSpec();
    if (spec.getRenewTime() == null || spec.getLeaseDurationSeconds() == null) {
      return true;
    }
    Instant end = spec.getRenewTime().toInstant().plusSeconds(spec.getLeaseDurationSeconds());
    return end.isBefore(world.server().wallNow());
  }

  private static Candidate best(java.util.Collection<Candidate> among) {
    return among.stream().min(Comparator.comparingLong((Candidate c) -> c.created)
        .thenComparingLong(c -> c.order)).orElseThrow();
  }

  private void ping(Candidate c, long now) {
    c.pingedAt = now;
    pings++;
    answerLater(c, now + world.latency() + world.latency());
  }

  /**
   * A pending ping is answered as soon as a process of the candidate can: at once if one is
   * running and reachable, else once one is (its publisher sees the ping by its watch, or polls
   * for it while the watch is down).
   */
  private void answerLater(Candidate c, long at) {
    world.scheduler().at(at, () -> {
      if (candidates.get(c.name) != c || c.renewedAt > c.pingedAt) {
        return;
      }
      boolean answers = world.replicas().stream()
          .anyMatch(r -> r.identity().equals(c.name) && r.answersPings());
      if (answers) {
        c.renewedAt = Math.max(world.now(), c.pingedAt + 1);
        enqueue(world.now() + world.watchLatency());
      } else if (world.replicas().stream().anyMatch(
          r -> r.identity().equals(c.name) && r.alive())) {
        answerLater(c, world.now() + SimWorld.SECOND);
      }
    });
  }
}
