package io.github.leaderelection.election;

import static io.github.leaderelection.election.LeaderElectionContractSupport.IDLE;
import static io.github.leaderelection.election.LeaderElectionContractSupport.PATIENCE;
import static io.github.leaderelection.election.LeaderElectionContractSupport.QUICKLY;
import static io.github.leaderelection.election.LeaderElectionContractSupport.RENEW_DEADLINE;
import static io.github.leaderelection.election.LeaderElectionContractSupport.callsBetween;
import static io.github.leaderelection.election.LeaderElectionContractSupport.closeAll;
import static io.github.leaderelection.election.LeaderElectionContractSupport.election;
import static io.github.leaderelection.election.LeaderElectionContractSupport.eventually;
import static io.github.leaderelection.election.LeaderElectionContractSupport.isLeasePut;
import static io.github.leaderelection.election.LeaderElectionContractSupport.isRelease;
import static io.github.leaderelection.election.LeaderElectionContractSupport.longLeaseElection;
import static io.github.leaderelection.election.LeaderElectionContractSupport.takeOver;
import static io.github.leaderelection.election.LeaderElectionContractSupport.writeAs;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import io.github.leaderelection.election.LeaderElectionContractSupport.Event;
import io.github.leaderelection.election.LeaderElectionContractSupport.Kind;
import io.github.leaderelection.election.LeaderElectionContractSupport.Recorder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The contract of {@link LeaderElection} as a library user sees it, proven through the public API
 * only, in real time, against fabric8's mock API server in CRUD mode ({@link MockApi}, which also
 * plays the other replicas behind the elections' backs). The fencing token and fenced writes are
 * in {@link LeaderElectionContractFencingTest}, threads in {@link LeaderElectionContractThreadsTest},
 * the builder's errors and coordinated election in {@link LeaderElectionContractBuilderTest}.
 */
@DisplayName("LeaderElection contract")
class LeaderElectionContractTest {

  // ---------------------------------------------------------------------------------------------

  @Nested
  @DisplayName("re-election by default")
  class ReElection {

    @Test
    @DisplayName("after another holder took the Lease, the same instance campaigns again and leads"
        + " again, term after term (never one-shot)")
    void leadsAgainAfterATakeOver() throws Exception {
      try (MockApi api = new MockApi()) {
        Recorder rec = new Recorder();
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .listener(rec).build().start();
        try {
          List<Term> terms = new ArrayList<>();
          for (int round = 1; round <= 3; round++) {
            eventually().until(() -> a.currentTerm().filter(t -> !terms.contains(t)).isPresent()
                && a.isLeader());
            Term term = a.currentTerm().orElseThrow();
            terms.add(term);
            if (round == 3) {
              break;
            }
            takeOver(api, "intruder", 1);
            eventually().until(term::hasEnded);
            assertThat(term.endReason()).contains(TermEnd.TAKEN_OVER);
            assertThat(a.currentTerm().filter(t -> t == term)).isEmpty();
          }
          assertThat(terms).doesNotHaveDuplicates().hasSize(3);
          assertThat(api.lease().getSpec().getHolderIdentity()).isEqualTo("a");
          eventually().until(() -> rec.started().size() == 3 && rec.stopped().size() == 2);
          assertThat(rec.leaders()).as("the intruder was observed as leader between the terms")
              .containsSubsequence("a", "intruder", "a", "intruder", "a");
          assertThat(a.termination()).isNotDone();
        } finally {
          a.close();
        }
      }
    }

    @Test
    @DisplayName("after the API server failed past the renew deadline (term EXPIRED), the instance"
        + " keeps campaigning through the outage and leads again once the server is back")
    void leadsAgainAfterAnOutage() throws Exception {
      try (MockApi api = new MockApi()) {
        Recorder rec = new Recorder();
        LeaderElection a = election(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .listener(rec).build().start();
        try {
          eventually().until(a::isLeader);
          Term first = a.currentTerm().orElseThrow();
          api.fail(c -> c.path().contains("/leases"), 503, "ServiceUnavailable", "down (test)");
          long down = System.nanoTime();
          eventually().until(first::hasEnded);
          assertThat(first.endReason()).contains(TermEnd.EXPIRED);
          assertThat(a.isLeader()).isFalse();

          Thread.sleep(2_000); // the outage goes on: the election must keep trying
          long stillDown = System.nanoTime();
          long ended = rec.of(Kind.STOPPED).isEmpty() ? down : rec.of(Kind.STOPPED).get(0).nanos();
          assertThat(callsBetween(api, Math.max(down, ended), stillDown,
              c -> c.path().contains("/leases")))
              .as("requests for the Lease after the term ended, while the server fails")
              .isNotEmpty();
          assertThat(a.termination()).isNotDone();

          api.clearFaults();
          eventually().until(() -> a.isLeader()
              && a.currentTerm().filter(t -> t != first).isPresent());
          Term second = a.currentTerm().orElseThrow();
          assertThat(second.fencingToken()).isGreaterThan(first.fencingToken());
          assertThat(api.lease().getSpec().getHolderIdentity()).isEqualTo("a");
        } finally {
          a.close();
        }
      }
    }

    @Test
    @DisplayName("only close() ends it: until then it runs (following, leading, losing); after it"
        + " no request is sent any more")
    void onlyCloseEndsIt() throws Exception {
      try (MockApi api = new MockApi()) {
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .build().start();
        try {
          eventually().until(a::isLeader);
          Term term = a.currentTerm().orElseThrow();
          takeOver(api, "intruder", 2);
          eventually().until(term::hasEnded);
          assertThat(a.termination()).as("losing a term does not end the election").isNotDone();
          assertThat(a.failure()).isEmpty();
          eventually().until(a::isLeader);
        } finally {
          a.close();
        }
        assertThat(a.termination()).isCompleted();
        assertThat(a.failure()).isEmpty();
        assertThat(a.isLeader()).isFalse();
        Thread.sleep(500); // a watch being torn down may still say goodbye
        long after = System.nanoTime();
        Thread.sleep(1_500);
        assertThat(callsBetween(api, after, System.nanoTime(), c -> true))
            .as("requests after close").isEmpty();
      }
    }
  }

  // ---------------------------------------------------------------------------------------------

  @Nested
  @DisplayName("the work receives its term")
  class TheWorkReceivesItsTerm {

    @Test
    @DisplayName("the work gets the current term: valid, 0 < remaining() <= renewDeadline, this"
        + " identity and a fencing token")
    void theTermIsValidWithTimeLeftAndAToken() throws Exception {
      try (MockApi api = new MockApi()) {
        List<Duration> remaining = new CopyOnWriteArrayList<>();
        List<Boolean> valid = new CopyOnWriteArrayList<>();
        AtomicReference<Term> given = new AtomicReference<>();
        LeaderElection a = election(api, "a").periodicWork(Duration.ofMillis(50), term -> {
          given.compareAndSet(null, term);
          valid.add(term.isValid());
          remaining.add(term.remaining());
        }).build().start();
        try {
          eventually().until(() -> remaining.size() >= 10);
          Term term = given.get();
          assertThat(a.currentTerm()).containsSame(term);
          assertThat(valid).containsOnly(true);
          assertThat(remaining).allSatisfy(r -> assertThat(r)
              .isPositive().isLessThanOrEqualTo(RENEW_DEADLINE));
          assertThat(term.identity()).isEqualTo("a");
          assertThat(term.leaseKey()).isEqualTo(MockApi.NAMESPACE + "/" + MockApi.LEASE);
          assertThat(term.fencingToken()).isPositive();
          assertThat(term.endReason()).isEmpty();
        } finally {
          a.close();
        }
      }
    }

    @Test
    @DisplayName("a LeaderWork blocked in Thread.sleep is interrupted the moment another holder"
        + " takes the Lease; the term it holds has ended (TAKEN_OVER) by then")
    void theWorkIsInterruptedWhenTheLeaseIsTaken() throws Exception {
      try (MockApi api = new MockApi()) {
        AtomicLong interruptedAt = new AtomicLong();
        AtomicReference<TermEnd> reasonSeen = new AtomicReference<>();
        AtomicInteger leads = new AtomicInteger();
        LeaderElection a = longLeaseElection(api, "a").work(term -> {
          if (leads.incrementAndGet() > 1) {
            term.awaitEnd(Duration.ofMinutes(5)); // later terms: just hold it
            return;
          }
          try {
            Thread.sleep(60_000);
          } catch (InterruptedException e) {
            reasonSeen.set(term.endReason().orElse(null));
            interruptedAt.set(System.nanoTime());
          }
        }).build().start();
        try {
          eventually().until(a::isLeader);
          Thread.sleep(300); // the work is asleep
          long taken = System.nanoTime();
          takeOver(api, "other", 30);
          await().atMost(Duration.ofSeconds(10)).until(() -> interruptedAt.get() != 0);
          assertThat(reasonSeen.get()).isEqualTo(TermEnd.TAKEN_OVER);
          assertThat(Duration.ofNanos(interruptedAt.get() - taken))
              .as("from the take-over to the interruption").isLessThan(Duration.ofSeconds(5));
          assertThat(a.isLeader()).isFalse();
          assertThat(a.currentLeader()).contains("other");
        } finally {
          a.close();
        }
      }
    }

    @Test
    @DisplayName("a periodic unit blocked in Thread.sleep is interrupted when the election closes;"
        + " close does not wait out the sleep")
    void aUnitIsInterruptedOnClose() throws Exception {
      try (MockApi api = new MockApi()) {
        AtomicReference<TermEnd> reasonSeen = new AtomicReference<>();
        CountDownLatch asleep = new CountDownLatch(1);
        CountDownLatch interrupted = new CountDownLatch(1);
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofSeconds(1), term -> {
          asleep.countDown();
          try {
            Thread.sleep(60_000);
          } catch (InterruptedException e) {
            reasonSeen.set(term.endReason().orElse(null));
            interrupted.countDown();
            throw e;
          }
        }).build().start();
        assertThat(asleep.await(PATIENCE.toSeconds(), TimeUnit.SECONDS)).isTrue();
        long closing = System.nanoTime();
        a.close();
        long closed = System.nanoTime();
        assertThat(interrupted.await(1, TimeUnit.SECONDS)).isTrue();
        assertThat(reasonSeen.get()).isEqualTo(TermEnd.CLOSED);
        assertThat(Duration.ofNanos(closed - closing)).isLessThan(LeaderElection.WORK_STOP_WAIT);
        assertThat(api.record().holderIdentity()).as("released on close").isEmpty();
      }
    }
  }

  // ---------------------------------------------------------------------------------------------

  @Nested
  @DisplayName("whole-term LeaderWork")
  class WholeTermWork {

    private static final Duration REQUEUE = Duration.ofSeconds(4);

    @ParameterizedTest(name = "the work {0}")
    @ValueSource(strings = {"returns", "throws"})
    @DisplayName("returning (or throwing) gives leadership up at once: the Lease is released, the"
        + " other election takes over without waiting for expiry, and the instance stays out for"
        + " requeueDelay, then leads again once the other closes")
    void returningGivesLeadershipUp(String how) throws Exception {
      try (MockApi api = new MockApi()) {
        CountDownLatch giveUp = new CountDownLatch(1);
        AtomicInteger leads = new AtomicInteger();
        Recorder recA = new Recorder();
        LeaderElection a = longLeaseElection(api, "a").requeueDelay(REQUEUE).listener(recA)
            .work(term -> {
              if (leads.incrementAndGet() == 1) {
                giveUp.await();
                if (how.equals("throws")) {
                  throw new IllegalStateException("the work failed (test)");
                }
                return;
              }
              term.awaitEnd(Duration.ofMinutes(5));
            }).build().start();
        LeaderElection b = null;
        try {
          eventually().until(a::isLeader);
          Term first = a.currentTerm().orElseThrow();
          b = longLeaseElection(api, "b").periodicWork(Duration.ofMillis(100), IDLE).build()
              .start();
          LeaderElection follower = b;
          eventually().until(() -> follower.knowsLeader()
              && follower.currentLeader().equals(java.util.Optional.of("a")));

          long returned = System.nanoTime();
          giveUp.countDown();
          await().atMost(QUICKLY).until(follower::isLeader);
          long bLeads = System.nanoTime();
          assertThat(first.endReason()).contains(TermEnd.WORK_RETURNED);
          assertThat(a.isLeader()).isFalse();
          assertThat(a.termination()).isNotDone();
          assertThat(a.failure()).isEmpty();
          List<MockApi.Call> releases = callsBetween(api, returned, bLeads, c -> isRelease(c));
          assertThat(releases).as("A's release (holderIdentity \"\", leaseDurationSeconds 1)")
              .hasSize(1);
          assertThat(callsBetween(api, returned, bLeads, writeAs("b")))
              .as("B's takeover came after the release")
              .allSatisfy(c -> assertThat(c.tickerNanos())
                  .isGreaterThan(releases.get(0).tickerNanos()));

          // B gives the Lease back at once: A must stay out until requeueDelay has passed.
          b.close();
          long bClosed = System.nanoTime();
          eventually().until(() -> a.isLeader() && recA.started().size() == 2);
          long aLeadsAgain = recA.of(Kind.STARTED).get(1).nanos();
          assertThat(Duration.ofNanos(aLeadsAgain - returned)).as("A out of the election for")
              .isGreaterThanOrEqualTo(REQUEUE);
          if (bClosed < returned + REQUEUE.toNanos() - Duration.ofMillis(500).toNanos()) {
            assertThat(callsBetween(api, bClosed, returned + REQUEUE.toNanos()
                - Duration.ofMillis(100).toNanos(), writeAs("a")))
                .as("no acquisition attempt by A within requeueDelay, though the Lease was free")
                .isEmpty();
          }
          assertThat(a.currentTerm().orElseThrow().fencingToken())
              .isGreaterThan(first.fencingToken());
        } finally {
          closeAll(b, a);
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------

  @Nested
  @DisplayName("periodic UnitOfWork")
  class PeriodicUnits {

    @Test
    @DisplayName("a unit that throws is logged (WARN) and the term goes on: later units run in the"
        + " same term, under the same token")
    void aThrowingUnitIsLoggedAndTheTermGoesOn() throws Exception {
      try (MockApi api = new MockApi(); LogCapture logs = new LogCapture(WorkRunner.class)) {
        AtomicInteger units = new AtomicInteger();
        List<Term> termsSeen = new CopyOnWriteArrayList<>();
        List<Long> tokens = new CopyOnWriteArrayList<>();
        Recorder rec = new Recorder();
        LeaderElection a = longLeaseElection(api, "a").listener(rec)
            .periodicWork(Duration.ofMillis(100), term -> {
              int n = units.incrementAndGet();
              termsSeen.add(term);
              tokens.add(term.fencingToken());
              if (n == 2) {
                throw new IllegalStateException("unit 2 failed (test)");
              }
            }).build().start();
        try {
          eventually().until(() -> units.get() >= 6);
          Term term = a.currentTerm().orElseThrow();
          assertThat(termsSeen).as("the term of every unit").containsOnly(term);
          assertThat(tokens).containsOnly(term.fencingToken());
          assertThat(term.isValid()).isTrue();
          assertThat(rec.of(Kind.STOPPED)).isEmpty();
          assertThat(logs.events()).anySatisfy(e -> {
            assertThat(e.getLevel()).isEqualTo(Level.WARN);
            assertThat(e.getFormattedMessage()).contains("leader work failed");
            assertThat(e.getThrowableProxy().getMessage()).isEqualTo("unit 2 failed (test)");
          });
          assertThat(logs.events()).extracting(ILoggingEvent::getLevel)
              .doesNotContain(Level.ERROR);
        } finally {
          a.close();
        }
      }
    }

    @Test
    @DisplayName("a unit that throws every time does not end the term: the leader keeps leading"
        + " and keeps running units")
    void aUnitThatAlwaysThrowsDoesNotEndTheTerm() throws Exception {
      try (MockApi api = new MockApi()) {
        AtomicInteger units = new AtomicInteger();
        LeaderElection a = election(api, "a").periodicWork(Duration.ofMillis(100), term -> {
          units.incrementAndGet();
          throw new java.io.IOException("always failing (test)");
        }).build().start();
        try {
          eventually().until(a::isLeader);
          Term term = a.currentTerm().orElseThrow();
          int before = units.get();
          Thread.sleep(2 * RENEW_DEADLINE.toMillis() + 500);
          assertThat(units.get()).isGreaterThan(before + 3);
          assertThat(term.endReason()).as("the term did not end").isEmpty();
          assertThat(a.currentTerm()).containsSame(term);
        } finally {
          a.close();
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------

  @Nested
  @DisplayName("listeners")
  class ListenerContract {

    @Test
    @DisplayName("startedLeading and stoppedLeading: exactly once each per term, stopped after"
        + " started, in order, across several terms, one call at a time; newLeader observed")
    void onceEachPerTermInOrder() throws Exception {
      try (MockApi api = new MockApi()) {
        AtomicInteger inCall = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        Recorder rec = new Recorder() {
          private void enter() {
            if (inCall.incrementAndGet() > 1) {
              overlaps.incrementAndGet();
            }
            try {
              Thread.sleep(5); // widen any overlap
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            inCall.decrementAndGet();
          }

          @Override
          public void startedLeading(Term term) {
            enter();
            super.startedLeading(term);
          }

          @Override
          public void stoppedLeading(Term term, TermEnd reason) {
            enter();
            super.stoppedLeading(term, reason);
          }

          @Override
          public void newLeader(String identity) {
            enter();
            super.newLeader(identity);
          }
        };
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .listener(rec).build().start();
        try {
          for (int lost = 0; lost < 2; lost++) {
            int seen = lost;
            eventually().until(() -> a.isLeader()
                && a.currentTerm().filter(t -> !rec.stopped().contains(t)).isPresent()
                && rec.started().size() == seen + 1);
            Term term = a.currentTerm().orElseThrow();
            takeOver(api, "intruder-" + lost, 1);
            eventually().until(term::hasEnded);
          }
          eventually().until(() -> a.isLeader() && rec.started().size() == 3);
        } finally {
          a.close();
        }
        eventually().until(() -> rec.stopped().size() == 3);
        Thread.sleep(300); // nothing more may come

        List<Event> termEvents = rec.events.stream().filter(e -> e.kind() != Kind.NEW_LEADER)
            .toList();
        assertThat(termEvents).extracting(Event::kind).containsExactly(Kind.STARTED,
            Kind.STOPPED, Kind.STARTED, Kind.STOPPED, Kind.STARTED, Kind.STOPPED);
        for (int i = 0; i < 6; i += 2) {
          assertThat(termEvents.get(i + 1).term()).as("stopped names the term started")
              .isSameAs(termEvents.get(i).term());
        }
        assertThat(rec.started()).doesNotHaveDuplicates();
        assertThat(termEvents).extracting(Event::reason).containsExactly(null,
            TermEnd.TAKEN_OVER, null, TermEnd.TAKEN_OVER, null, TermEnd.CLOSED);
        assertThat(rec.stopped()).allSatisfy(t -> assertThat(t.hasEnded()).isTrue());
        assertThat(rec.leaders()).containsSubsequence("a", "intruder-0", "a", "intruder-1", "a")
            .doesNotContain("");
        assertThat(overlaps.get()).as("listener calls that overlapped").isZero();
      }
    }

    @Test
    @DisplayName("a listener that blocks in startedLeading (5 s on a latch) delays no renewal:"
        + " Lease PUTs keep coming every retry period, the term stays valid, the work runs")
    void aBlockingListenerDoesNotDelayRenewals() throws Exception {
      Duration renewDeadline = Duration.ofSeconds(2);
      try (MockApi api = new MockApi()) {
        CountDownLatch unblock = new CountDownLatch(1);
        AtomicLong blockedSince = new AtomicLong();
        AtomicInteger units = new AtomicInteger();
        LeaderElection a = election(api, "a").leaseDuration(Duration.ofSeconds(3))
            .renewDeadline(renewDeadline)
            .periodicWork(Duration.ofMillis(100), term -> units.incrementAndGet())
            .listener(new LeadershipListener() {
              @Override
              public void startedLeading(Term term) {
                blockedSince.set(System.nanoTime());
                try {
                  unblock.await(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                }
              }
            }).build().start();
        try {
          eventually().until(() -> blockedSince.get() != 0);
          Term term = a.currentTerm().orElseThrow();
          int unitsBefore = units.get();
          Thread.sleep(3_000); // > renewDeadline: a renewal waiting for the listener would lapse
          long now = System.nanoTime();
          assertThat(unblock.getCount()).as("the listener still blocks").isEqualTo(1);
          assertThat(term.isValid()).isTrue();
          assertThat(a.currentTerm()).containsSame(term);
          List<Long> puts = callsBetween(api, blockedSince.get(), now, c -> isLeasePut(c))
              .stream().map(MockApi.Call::tickerNanos).toList();
          assertThat(puts).as("renewals while the listener blocked 3 s (every 200 ms)")
              .hasSizeGreaterThanOrEqualTo(5);
          List<Long> points = new ArrayList<>();
          points.add(blockedSince.get());
          points.addAll(puts);
          points.add(now);
          for (int i = 1; i < points.size(); i++) {
            assertThat(Duration.ofNanos(points.get(i) - points.get(i - 1)))
                .as("gap between renewals").isLessThan(renewDeadline);
          }
          assertThat(units.get() - unitsBefore).as("units run meanwhile").isGreaterThan(5);
        } finally {
          unblock.countDown();
          a.close();
        }
      }
    }

    @Test
    @DisplayName("a listener that throws (in every call) does not stop the election: the other"
        + " listeners are called, it is logged, the election loses and leads again")
    void aThrowingListenerDoesNotStopTheElection() throws Exception {
      try (MockApi api = new MockApi(); LogCapture logs = new LogCapture(Listeners.class)) {
        AtomicInteger thrown = new AtomicInteger();
        Recorder rec = new Recorder();
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .listener(new LeadershipListener() {
              @Override
              public void startedLeading(Term term) {
                thrown.incrementAndGet();
                throw new IllegalStateException("listener failed (test)");
              }

              @Override
              public void stoppedLeading(Term term, TermEnd reason) {
                thrown.incrementAndGet();
                throw new IllegalStateException("listener failed (test)");
              }

              @Override
              public void newLeader(String identity) {
                thrown.incrementAndGet();
                throw new IllegalStateException("listener failed (test)");
              }
            })
            .listener(rec).build().start();
        try {
          eventually().until(a::isLeader);
          Term first = a.currentTerm().orElseThrow();
          takeOver(api, "intruder", 1);
          eventually().until(first::hasEnded);
          eventually().until(() -> a.isLeader() && rec.started().size() == 2);
          eventually().until(() -> rec.stopped().size() == 1);
          assertThat(thrown.get()).as("calls of the throwing listener").isGreaterThanOrEqualTo(5);
          assertThat(logs.messages()).anySatisfy(m -> assertThat(m).contains("failed"));
          assertThat(a.failure()).isEmpty();
          assertThat(a.termination()).isNotDone();
        } finally {
          a.close();
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------

  @Nested
  @DisplayName("queries and actions")
  class QueriesAndActions {

    @Test
    @DisplayName("isLeader, currentLeader, currentTerm: nothing before start; while leading its"
        + " own identity and term; while following the leader's identity and no term")
    void queries() throws Exception {
      try (MockApi api = new MockApi()) {
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .build();
        LeaderElection b = longLeaseElection(api, "b").periodicWork(Duration.ofMillis(100), IDLE)
            .build();
        try {
          assertThat(a.isLeader()).isFalse();
          assertThat(a.currentLeader()).isEmpty();
          assertThat(a.currentTerm()).isEmpty();
          assertThat(a.identity()).isEqualTo("a");

          a.start();
          eventually().until(a::isLeader);
          b.start();
          eventually().until(() -> b.currentLeader().isPresent());
          assertThat(a.currentLeader()).contains("a");
          assertThat(a.currentTerm()).hasValueSatisfying(t -> {
            assertThat(t.isValid()).isTrue();
            assertThat(t.identity()).isEqualTo("a");
          });
          assertThat(b.isLeader()).isFalse();
          assertThat(b.currentLeader()).contains("a");
          assertThat(b.currentTerm()).isEmpty();
          assertThat(b.knowsLeader()).isTrue();

          a.close();
          await().atMost(QUICKLY).until(b::isLeader);
          assertThat(b.currentLeader()).contains("b");
          assertThat(b.currentTerm()).hasValueSatisfying(t -> assertThat(t.identity())
              .isEqualTo("b"));
          assertThat(a.isLeader()).isFalse();
          assertThat(a.currentTerm()).isEmpty();
        } finally {
          closeAll(b, a);
        }
      }
    }

    @Test
    @DisplayName("stepDown(stayOut) when alone: releases the Lease now, stays out for stayOut"
        + " (no write naming itself, though the Lease is free), then leads again")
    void stepDownReleasesAndStaysOut() throws Exception {
      Duration stayOut = Duration.ofSeconds(3);
      try (MockApi api = new MockApi()) {
        Recorder rec = new Recorder();
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .listener(rec).build().start();
        try {
          eventually().until(a::isLeader);
          Term first = a.currentTerm().orElseThrow();
          long steppedDown = System.nanoTime();
          a.stepDown(stayOut);
          eventually().until(first::hasEnded);
          assertThat(first.endReason()).contains(TermEnd.STEPPED_DOWN);
          await().atMost(QUICKLY).until(() -> api.record().holderIdentity().isEmpty());
          assertThat(api.record().leaseDurationSeconds()).as("a release").isEqualTo(1);
          assertThat(a.isLeader()).isFalse();

          eventually().until(() -> a.isLeader() && rec.started().size() == 2);
          long again = rec.of(Kind.STARTED).get(1).nanos();
          assertThat(Duration.ofNanos(again - steppedDown)).as("out of the election for")
              .isGreaterThanOrEqualTo(stayOut);
          assertThat(callsBetween(api, steppedDown + Duration.ofMillis(500).toNanos(),
              steppedDown + stayOut.minusMillis(100).toNanos(), writeAs("a")))
              .as("writes naming A while it stays out").isEmpty();
          assertThat(a.currentTerm().orElseThrow().fencingToken())
              .isGreaterThan(first.fencingToken());
        } finally {
          a.close();
        }
      }
    }

    @Test
    @DisplayName("stepDown with a follower: the follower takes over at once (no expiry) and the"
        + " one that stepped down follows it")
    void stepDownHandsOver() throws Exception {
      try (MockApi api = new MockApi()) {
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .build().start();
        LeaderElection b = null;
        try {
          eventually().until(a::isLeader);
          b = longLeaseElection(api, "b").periodicWork(Duration.ofMillis(100), IDLE).build()
              .start();
          LeaderElection follower = b;
          eventually().until(() -> follower.currentLeader().equals(java.util.Optional.of("a")));
          long steppedDown = System.nanoTime();
          a.stepDown(Duration.ofSeconds(30));
          await().atMost(QUICKLY).until(follower::isLeader);
          assertThat(callsBetween(api, steppedDown, System.nanoTime(), c -> isRelease(c)))
              .hasSize(1);
          eventually().until(() -> a.currentLeader().equals(java.util.Optional.of("b")));
          assertThat(a.isLeader()).isFalse();
        } finally {
          closeAll(b, a);
        }
      }
    }

    @Test
    @DisplayName("stepDown while following: it stays out, so it does not take a Lease released"
        + " meanwhile before stayOut has passed")
    void stepDownWhileFollowing() throws Exception {
      Duration stayOut = Duration.ofSeconds(3);
      try (MockApi api = new MockApi()) {
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .build().start();
        Recorder recB = new Recorder();
        LeaderElection b = null;
        try {
          eventually().until(a::isLeader);
          b = longLeaseElection(api, "b").periodicWork(Duration.ofMillis(100), IDLE)
              .listener(recB).build().start();
          LeaderElection follower = b;
          eventually().until(() -> follower.currentLeader().equals(java.util.Optional.of("a")));
          long steppedDown = System.nanoTime();
          b.stepDown(stayOut);
          a.close(); // released: B would take it at once if it did not stay out
          eventually().until(() -> recB.started().size() == 1);
          assertThat(Duration.ofNanos(recB.of(Kind.STARTED).get(0).nanos() - steppedDown))
              .isGreaterThanOrEqualTo(stayOut);
        } finally {
          closeAll(b, a);
        }
      }
    }

    @Test
    @DisplayName("stepDown rejects a negative stayOut, naming it")
    void stepDownRejectsANegativeStayOut() {
      try (MockApi api = new MockApi()) {
        LeaderElection a = election(api, "a").build();
        assertThatThrownBy(() -> a.stepDown(Duration.ofSeconds(-1)))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("stayOut");
      }
    }

    @Test
    @DisplayName("close(): ends the term, waits for a work that ignores interruption for 1 s,"
        + " then releases the Lease, then returns; a second close returns at once")
    void closeWaitsForTheWorkThenReleases() throws Exception {
      try (MockApi api = new MockApi()) {
        AtomicLong interruptedAt = new AtomicLong();
        AtomicLong workStopped = new AtomicLong();
        LeaderElection a = longLeaseElection(api, "a").work(term -> {
          try {
            Thread.sleep(60_000);
          } catch (InterruptedException e) {
            interruptedAt.set(System.nanoTime());
            long until = System.nanoTime() + Duration.ofSeconds(1).toNanos();
            while (System.nanoTime() < until) {
              try {
                Thread.sleep(10);
              } catch (InterruptedException again) {
                // ignores it: finishes what it does first
              }
            }
          }
          workStopped.set(System.nanoTime());
        }).build().start();
        eventually().until(a::isLeader);
        Term term = a.currentTerm().orElseThrow();
        Thread.sleep(200);

        long closing = System.nanoTime();
        a.close();
        long closed = System.nanoTime();

        assertThat(term.endReason()).contains(TermEnd.CLOSED);
        assertThat(interruptedAt.get()).as("the work was interrupted").isPositive();
        assertThat(Duration.ofNanos(interruptedAt.get() - closing))
            .as("from close to the interruption").isLessThan(Duration.ofMillis(900));
        assertThat(workStopped.get()).as("the work had stopped when close returned").isPositive()
            .isLessThanOrEqualTo(closed);
        assertThat(Duration.ofNanos(closed - closing)).as("close took")
            .isGreaterThanOrEqualTo(Duration.ofMillis(990))
            .isLessThanOrEqualTo(a.shutdownBound().plusSeconds(1));
        // (Two when a renewal was on the wire at close: the first release then conflicts, the
        // election reads the Lease and releases again.)
        List<MockApi.Call> releases = callsBetween(api, closing, closed, c -> isRelease(c));
        assertThat(releases).hasSizeBetween(1, 2);
        assertThat(releases).as("released only after the work stopped").allSatisfy(c ->
            assertThat(c.tickerNanos()).isGreaterThanOrEqualTo(workStopped.get()));
        assertThat(api.record().holderIdentity()).isEmpty();
        assertThat(a.isLeader()).isFalse();
        assertThat(a.termination()).isCompleted();

        long again = System.nanoTime();
        a.close();
        assertThat(a.close(Duration.ofSeconds(1))).isTrue();
        assertThat(Duration.ofNanos(System.nanoTime() - again)).as("second and third close")
            .isLessThan(Duration.ofMillis(500));
        assertThat(callsBetween(api, closed, System.nanoTime(), c -> isRelease(c))).isEmpty();
      }
    }

    @Test
    @DisplayName("AutoCloseable: try-with-resources closes it, releasing the Lease")
    void autoCloseable() throws Exception {
      try (MockApi api = new MockApi()) {
        LeaderElection kept;
        try (LeaderElection a = election(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .build().start()) {
          kept = a;
          eventually().until(a::isLeader);
        }
        assertThat(kept.termination()).isCompleted();
        assertThat(kept.isLeader()).isFalse();
        assertThat(api.record().holderIdentity()).isEmpty();
        assertThat(api.record().leaseDurationSeconds()).isEqualTo(1);
      }
    }

    @Test
    @DisplayName("close of a never-started election does nothing (no request) and a start after"
        + " it throws IllegalStateException")
    void closeNeverStarted() throws Exception {
      try (MockApi api = new MockApi()) {
        LeaderElection a = election(api, "a").periodicWork(Duration.ofMillis(100), IDLE).build();
        long closing = System.nanoTime();
        a.close();
        assertThat(Duration.ofNanos(System.nanoTime() - closing)).isLessThan(Duration.ofSeconds(1));
        assertThat(a.termination()).isCompleted();
        assertThatThrownBy(a::start).isInstanceOf(IllegalStateException.class)
            .hasMessageContaining(MockApi.LEASE);
        Thread.sleep(300);
        assertThat(api.calls()).isEmpty();
        assertThat(api.lease()).isNull();
      }
    }

    @Test
    @DisplayName("start twice throws IllegalStateException; the election started first runs on")
    void startTwice() throws Exception {
      try (MockApi api = new MockApi()) {
        LeaderElection a = election(api, "a").periodicWork(Duration.ofMillis(100), IDLE).build();
        try {
          assertThat(a.start()).isSameAs(a);
          assertThatThrownBy(a::start).isInstanceOf(IllegalStateException.class)
              .hasMessageContaining("already started");
          eventually().until(a::isLeader);
        } finally {
          a.close();
        }
        assertThatThrownBy(a::start).isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("closed");
      }
    }
  }
}
