package io.github.leaderelection.election;

import static io.github.leaderelection.election.LeaderElectionContractSupport.IDLE;
import static io.github.leaderelection.election.LeaderElectionContractSupport.NS;
import static io.github.leaderelection.election.LeaderElectionContractSupport.closeAll;
import static io.github.leaderelection.election.LeaderElectionContractSupport.eventually;
import static io.github.leaderelection.election.LeaderElectionContractSupport.isLeasePut;
import static io.github.leaderelection.election.LeaderElectionContractSupport.longLeaseElection;
import static io.github.leaderelection.election.LeaderElectionContractSupport.resourceVersion;
import static io.github.leaderelection.election.LeaderElectionContractSupport.takeOver;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.github.leaderelection.election.LeaderElectionContractSupport.LeaseHistory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The fencing token and the fenced write, through the public API ({@link Term#fencingToken()},
 * {@link Term#fencedUpdate}), against the mock API server, whose resourceVersions come from one
 * counter for all objects, as etcd's revision does.
 */
@DisplayName("LeaderElection contract: fencing")
class LeaderElectionContractFencingTest {

  private static final String TOKEN = "leaderelection.github.io/fencing-token";
  private static final String BY = "leaderelection.github.io/fenced-by";
  private static final String TARGET = "fenced-target";

  private static Resource<ConfigMap> target(MockApi api) {
    return api.client().configMaps().inNamespace(NS).withName(TARGET);
  }

  /** Creates the ConfigMap, or sets its {@code writer} entry: what a unit of work records. */
  private static UnaryOperator<ConfigMap> write(String writer, AtomicInteger calls) {
    return current -> {
      calls.incrementAndGet();
      ConfigMap next = current != null ? current : new ConfigMapBuilder()
          .withNewMetadata().withNamespace(NS).withName(TARGET).endMetadata().build();
      Map<String, String> data = next.getData() == null ? new java.util.HashMap<>()
          : new java.util.HashMap<>(next.getData());
      data.put("writer", writer);
      data.put("writes", Integer.toString(Integer.parseInt(data.getOrDefault("writes", "0")) + 1));
      next.setData(data);
      return next;
    };
  }

  /** The Term that {@code election} leads with once it leads with one not in {@code seen}. */
  private static Term nextTerm(LeaderElection election, List<Term> seen) {
    eventually().until(() -> election.isLeader()
        && election.currentTerm().filter(t -> !seen.contains(t)).isPresent());
    Term t = election.currentTerm().orElseThrow();
    seen.add(t);
    return t;
  }

  // ---------------------------------------------------------------------------------------------

  @Nested
  @DisplayName("fencing token")
  class Token {

    @Test
    @DisplayName("is the resourceVersion of the write that started the term, and strictly"
        + " increases with every new term across two elections on one Lease")
    void increasesAcrossTwoElections() throws Exception {
      try (MockApi api = new MockApi(); LeaseHistory history = new LeaseHistory(api)) {
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .build().start();
        LeaderElection b = null;
        try {
          List<Term> terms = new ArrayList<>();
          List<LeaderElection> holders = new ArrayList<>();
          nextTerm(a, terms);
          holders.add(a);
          b = longLeaseElection(api, "b").periodicWork(Duration.ofMillis(100), IDLE).build()
              .start();
          LeaderElection leader = a;
          LeaderElection other = b;
          for (int handover = 0; handover < 4; handover++) {
            leader.stepDown(Duration.ofSeconds(1));
            nextTerm(other, terms);
            holders.add(other);
            LeaderElection swap = leader;
            leader = other;
            other = swap;
          }
          List<Long> tokens = terms.stream().map(Term::fencingToken).toList();
          assertThat(tokens).as("tokens in the order the terms started").isSorted()
              .doesNotHaveDuplicates();
          eventually().untilAsserted(() -> {
            for (int i = 0; i < terms.size(); i++) {
              String holder = holders.get(i).identity();
              assertThat(history.acquisition(holder, terms.get(i).fencingToken()))
                  .as("the write that made %s holder, at resourceVersion %d", holder,
                      terms.get(i).fencingToken())
                  .isPresent();
            }
          });
        } finally {
          closeAll(b, a);
        }
      }
    }

    @Test
    @DisplayName("strictly increases across a restart with the same identity: after a release on"
        + " close, and after a close that left the Lease naming it (taken back as a new term)")
    void increasesAcrossRestarts() throws Exception {
      try (MockApi api = new MockApi(); LeaseHistory history = new LeaseHistory(api)) {
        List<Term> terms = new ArrayList<>();
        LeaderElection first = longLeaseElection(api, "a")
            .periodicWork(Duration.ofMillis(100), IDLE).build().start();
        long t1;
        try {
          t1 = nextTerm(first, terms).fencingToken();
        } finally {
          first.close();
        }
        assertThat(api.record().holderIdentity()).as("released").isEmpty();

        LeaderElection second = longLeaseElection(api, "a").releaseOnClose(false)
            .periodicWork(Duration.ofMillis(100), IDLE).build().start();
        long t2;
        try {
          t2 = nextTerm(second, terms).fencingToken();
        } finally {
          second.close();
        }
        assertThat(t2).isGreaterThan(t1);
        assertThat(api.record().holderIdentity()).as("not released").isEqualTo("a");
        eventually().until(() -> history.latest() >= resourceVersion(api.lease()));
        long storedBefore = history.latest();

        LeaderElection third = longLeaseElection(api, "a")
            .periodicWork(Duration.ofMillis(100), IDLE).build().start();
        try {
          long t3 = nextTerm(third, terms).fencingToken();
          assertThat(t3).as("newer than every version stored before the restart")
              .isGreaterThan(storedBefore);
          eventually().untilAsserted(() -> assertThat(history.version(t3))
              .hasValueSatisfying(v -> assertThat(v.holder()).isEqualTo("a")));
        } finally {
          third.close();
        }
        assertThat(history.acquisition("a", t1)).isPresent();
        assertThat(history.acquisition("a", t2)).isPresent();
      }
    }

    @Test
    @DisplayName("renewals keep the token: it stays the same for the whole term while the Lease's"
        + " resourceVersion moves on")
    void renewalsKeepTheToken() throws Exception {
      try (MockApi api = new MockApi()) {
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .build().start();
        try {
          Term term = nextTerm(a, new ArrayList<>());
          long token = term.fencingToken();
          long putsBefore = api.count(c -> isLeasePut(c));
          eventually().until(() -> api.count(c -> isLeasePut(c)) >= putsBefore + 3);
          assertThat(resourceVersion(api.lease())).isGreaterThan(token);
          assertThat(a.currentTerm()).containsSame(term);
          assertThat(term.fencingToken()).isEqualTo(token);
        } finally {
          a.close();
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------

  @Nested
  @DisplayName("fenced write (Term.fencedUpdate)")
  class FencedWrite {

    @Test
    @DisplayName("the first write creates the object with the token and the writer in its"
        + " annotations; the same term can write again and again")
    void createsThenUpdatesUnderTheSameToken() throws Exception {
      try (MockApi api = new MockApi()) {
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .build().start();
        try {
          Term term = nextTerm(a, new ArrayList<>());
          AtomicInteger edits = new AtomicInteger();
          assertThat(target(api).get()).isNull();
          ConfigMap created = term.fencedUpdate(target(api), write("a", edits));
          assertThat(created.getMetadata().getAnnotations())
              .containsEntry(TOKEN, Long.toString(term.fencingToken()))
              .containsEntry(BY, "a");
          for (int i = 0; i < 3; i++) {
            term.fencedUpdate(target(api), write("a", edits));
          }
          ConfigMap stored = target(api).get();
          assertThat(stored.getData()).containsEntry("writes", "4").containsEntry("writer", "a");
          assertThat(stored.getMetadata().getAnnotations())
              .containsEntry(TOKEN, Long.toString(term.fencingToken()))
              .containsEntry(BY, "a");
        } finally {
          a.close();
        }
      }
    }

    @Test
    @DisplayName("a stale term (still valid on its own clock, its renewals failing) is refused with"
        + " StaleTokenException once a newer term wrote; nothing is overwritten")
    void aStaleTermIsRefused() throws Exception {
      try (MockApi api = new MockApi()) {
        // A does not watch, and its renewals fail: it cannot learn that B took over, and its
        // term stays valid on its clock until its renew deadline (6 s), as a partitioned
        // leader's would.
        LeaderElection a = longLeaseElection(api, "a").watch(false)
            .periodicWork(Duration.ofMillis(100), IDLE).build().start();
        LeaderElection b = null;
        try {
          Term stale = nextTerm(a, new ArrayList<>());
          AtomicInteger edits = new AtomicInteger();
          stale.fencedUpdate(target(api), write("a", edits));

          api.fail(c -> isLeasePut(c) && c.body() != null
              && c.body().contains("\"holderIdentity\":\"a\""), 503, "ServiceUnavailable",
              "A is cut off (test)");
          // B's term is written as B's own (its incarnation); B takes it back as a new term at
          // start, as a renewal of its own stored late.
          takeOver(api, "b", 10, "b-1");
          b = longLeaseElection(api, "b").incarnation("b-1")
              .periodicWork(Duration.ofMillis(100), IDLE).build().start();
          Term newer = nextTerm(b, new ArrayList<>());
          assertThat(newer.fencingToken()).isGreaterThan(stale.fencingToken());
          newer.fencedUpdate(target(api), write("b", edits));
          ConfigMap afterB = target(api).get();

          assertThat(stale.isValid()).as("A's term is still valid on A's clock").isTrue();
          int editsBefore = edits.get();
          assertThatThrownBy(() -> stale.fencedUpdate(target(api), write("a", edits)))
              .isInstanceOfSatisfying(StaleTokenException.class, e -> {
                assertThat(e.token()).isEqualTo(stale.fencingToken());
                assertThat(e.storedToken()).isEqualTo(newer.fencingToken());
                assertThat(e.storedBy()).isEqualTo("b");
                assertThat(e.getMessage()).contains(TARGET)
                    .contains(Long.toString(newer.fencingToken()));
              });
          assertThat(edits.get()).as("the edit is not even called").isEqualTo(editsBefore);
          ConfigMap after = target(api).get();
          assertThat(after.getMetadata().getResourceVersion())
              .isEqualTo(afterB.getMetadata().getResourceVersion());
          assertThat(after.getData()).containsEntry("writer", "b");
          assertThat(after.getMetadata().getAnnotations())
              .containsEntry(TOKEN, Long.toString(newer.fencingToken()))
              .containsEntry(BY, "b");
        } finally {
          api.clearFaults();
          closeAll(b, a);
        }
      }
    }

    @Test
    @DisplayName("a write after the term ended throws LeadershipLostException and writes nothing")
    void aWriteAfterTheTermEndedWritesNothing() throws Exception {
      try (MockApi api = new MockApi()) {
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .build().start();
        try {
          Term term = nextTerm(a, new ArrayList<>());
          AtomicInteger edits = new AtomicInteger();
          term.fencedUpdate(target(api), write("a", edits));
          String version = target(api).get().getMetadata().getResourceVersion();

          takeOver(api, "other", 30);
          eventually().until(term::hasEnded);
          long ended = System.nanoTime();
          int editsBefore = edits.get();
          assertThatThrownBy(() -> term.fencedUpdate(target(api), write("a", edits)))
              .isInstanceOf(LeadershipLostException.class)
              .hasMessageContaining("TAKEN_OVER");
          assertThat(edits.get()).isEqualTo(editsBefore);
          assertThat(target(api).get().getMetadata().getResourceVersion()).isEqualTo(version);
          assertThat(api.calls().stream().filter(c -> c.tickerNanos() >= ended)
              .filter(c -> c.isWrite() && c.path().contains("/configmaps")))
              .as("writes of the ConfigMap after the term ended").isEmpty();
        } finally {
          a.close();
        }
      }
    }
  }
}
