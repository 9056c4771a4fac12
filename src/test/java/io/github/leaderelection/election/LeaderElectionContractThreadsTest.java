package io.github.leaderelection.election;

import static io.github.leaderelection.election.LeaderElectionContractSupport.IDLE;
import static io.github.leaderelection.election.LeaderElectionContractSupport.NS;
import static io.github.leaderelection.election.LeaderElectionContractSupport.closeAll;
import static io.github.leaderelection.election.LeaderElectionContractSupport.eventually;
import static io.github.leaderelection.election.LeaderElectionContractSupport.longLeaseElection;
import static io.github.leaderelection.election.LeaderElectionContractSupport.takeOver;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.leaderelection.election.LeaderElectionContractSupport.Event;
import io.github.leaderelection.election.LeaderElectionContractSupport.Recorder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * Which threads run what: the user's work thread factory and listener executor are used, and
 * several elections in one JVM share a bounded set of threads.
 */
@DisplayName("LeaderElection contract: threads")
class LeaderElectionContractThreadsTest {

  /** A thread factory that records every thread it made. */
  private static final class RecordingFactory implements ThreadFactory {

    final Set<Thread> made = ConcurrentHashMap.newKeySet();
    private final AtomicInteger n = new AtomicInteger();

    @Override
    public Thread newThread(Runnable r) {
      Thread t = new Thread(r, "my-work-" + n.incrementAndGet());
      t.setDaemon(true);
      made.add(t);
      return t;
    }
  }

  private static List<Thread> liveThreads(String prefix) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(Thread::isAlive)
        .filter(t -> t.getName().startsWith(prefix))
        .toList();
  }

  private static List<Thread> named(List<Thread> threads, String prefix) {
    return threads.stream().filter(t -> t.getName().startsWith(prefix)).toList();
  }

  @Nested
  @DisplayName("the user's threads")
  class UsersThreads {

    @Test
    @DisplayName("periodic units run on threads of the given workThreadFactory, one thread per"
        + " term")
    void periodicWorkRunsOnTheFactorysThreads() throws Exception {
      try (MockApi api = new MockApi()) {
        RecordingFactory factory = new RecordingFactory();
        Set<Thread> ranOn = ConcurrentHashMap.newKeySet();
        LeaderElection a = longLeaseElection(api, "a").workThreadFactory(factory)
            .periodicWork(Duration.ofMillis(50), term -> ranOn.add(Thread.currentThread()))
            .build().start();
        try {
          eventually().until(() -> ranOn.size() == 1);
          Term first = a.currentTerm().orElseThrow();
          takeOver(api, "intruder", 1);
          eventually().until(first::hasEnded);
          eventually().until(() -> ranOn.size() == 2);
          assertThat(factory.made).containsAll(ranOn);
          assertThat(factory.made).hasSize(2);
        } finally {
          a.close();
        }
      }
    }

    @Test
    @DisplayName("a whole-term LeaderWork runs on a thread of the given workThreadFactory")
    void leaderWorkRunsOnTheFactorysThread() throws Exception {
      try (MockApi api = new MockApi()) {
        RecordingFactory factory = new RecordingFactory();
        Set<Thread> ranOn = ConcurrentHashMap.newKeySet();
        LeaderElection a = longLeaseElection(api, "a").workThreadFactory(factory)
            .work(term -> {
              ranOn.add(Thread.currentThread());
              term.awaitEnd(Duration.ofMinutes(5));
            }).build().start();
        try {
          eventually().until(() -> ranOn.size() == 1);
          assertThat(factory.made).containsExactlyElementsOf(ranOn);
        } finally {
          a.close();
        }
      }
    }

    @Test
    @DisplayName("listener calls run on the given listenerExecutor")
    void listenersRunOnTheGivenExecutor() throws Exception {
      ExecutorService mine = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "my-listeners");
        t.setDaemon(true);
        return t;
      });
      AtomicInteger handed = new AtomicInteger();
      try (MockApi api = new MockApi()) {
        Recorder rec = new Recorder();
        LeaderElection a = longLeaseElection(api, "a").periodicWork(Duration.ofMillis(100), IDLE)
            .listener(rec)
            .listenerExecutor(task -> {
              handed.incrementAndGet();
              mine.execute(task);
            }).build().start();
        try {
          eventually().until(() -> rec.started().size() == 1 && !rec.leaders().isEmpty());
        } finally {
          a.close();
        }
        eventually().until(() -> rec.stopped().size() == 1);
        assertThat(rec.events).extracting(Event::thread).containsOnly("my-listeners");
        assertThat(handed.get()).isPositive();
      } finally {
        mine.shutdownNow();
      }
    }

    @Test
    @DisplayName("by default, listener calls run on the shared leaderelection-listener- threads and"
        + " the work on a leader-work-<lease>- thread")
    void defaultThreads() throws Exception {
      try (MockApi api = new MockApi()) {
        Recorder rec = new Recorder();
        Set<String> workThreads = ConcurrentHashMap.newKeySet();
        LeaderElection a = longLeaseElection(api, "a").listener(rec)
            .periodicWork(Duration.ofMillis(100),
                term -> workThreads.add(Thread.currentThread().getName()))
            .build().start();
        try {
          eventually().until(() -> rec.started().size() == 1 && !workThreads.isEmpty());
        } finally {
          a.close();
        }
        assertThat(rec.events).extracting(Event::thread)
            .allSatisfy(name -> assertThat(name).startsWith("leaderelection-listener-"));
        assertThat(workThreads)
            .allSatisfy(name -> assertThat(name).startsWith("leader-work-" + MockApi.LEASE + "-"));
      }
    }
  }

  @Nested
  @DisplayName("several elections in one JVM")
  class SeveralElections {

    @Test
    @DisplayName("10 elections on 10 Leases, all leading with periodic units, share a bounded set"
        + " of threads: one elector, at most 16 API and 4 listener threads, and work threads only"
        + " while units run (not one per term)")
    void tenElectionsShareBoundedThreads() throws Exception {
      int n = 10;
      try (MockApi api = new MockApi()) {
        List<LeaderElection> elections = new ArrayList<>();
        Set<String> unitThreads = ConcurrentHashMap.newKeySet();
        try {
          for (int i = 0; i < n; i++) {
            elections.add(longLeaseElection(api, "replica").lease(NS, "shard-" + i)
                .periodicWork(Duration.ofMillis(100),
                    term -> unitThreads.add(Thread.currentThread().getName()))
                .build().start());
          }
          eventually().until(() -> elections.stream().allMatch(LeaderElection::isLeader));
          Thread.sleep(1_000); // a few renewals and units of each: the pools have grown as they will

          List<Thread> snapshot = liveThreads(""); // one snapshot: threads come and go
          List<Thread> elector = named(snapshot, "leaderelection-elector");
          List<Thread> apiThreads = named(snapshot, "leaderelection-api-");
          List<Thread> listeners = named(snapshot, "leaderelection-listener-");
          List<Thread> pooledWork = named(snapshot, "leaderelection-work-");
          List<Thread> library = named(snapshot, "leaderelection-");
          List<Thread> working = named(snapshot, "leader-work-");
          String all = library.stream().map(Thread::getName).sorted()
              .collect(Collectors.joining(", "));
          assertThat(elector).as(all).hasSize(1);
          assertThat(apiThreads).as(all).isNotEmpty().hasSizeLessThanOrEqualTo(16);
          assertThat(listeners).as(all).hasSizeLessThanOrEqualTo(4);
          assertThat(library).as(all).hasSize(elector.size() + apiThreads.size()
              + listeners.size() + pooledWork.size());
          assertThat(unitThreads).as("units ran on threads named for their lease and term")
              .hasSizeGreaterThanOrEqualTo(n)
              .allSatisfy(name -> assertThat(name).matches("leader-work-shard-\\d+-1"));
          // Units of 10 elections every 100 ms that return at once: a thread or two is busy at
          // a time (one per term would be 10, parked between units).
          assertThat(pooledWork.size() + working.size())
              .as("work threads, idle or working: fewer than one per election")
              .isLessThan(n);
        } finally {
          closeAll(elections.toArray(new LeaderElection[0]));
        }
        eventually().until(() -> liveThreads("leader-work-shard-").isEmpty());
      }
    }

    @Test
    @DisplayName("on a client whose HTTP executor is bounded as the README shows (4 threads), 10"
        + " leading and 10 watching elections run, and the watchers take over every Lease when"
        + " the leaders close: nothing waits on a thread the bounded executor lacks")
    void electionsRunOnABoundedHttpClient() throws Exception {
      // Verified on fabric8 7.x only: on 8.0 the same 4-thread executor stalled these elections
      // (2026-12-05, cause not found yet); the README says not to use the recipe there. Reported
      // as skipped, with this reason, in the fabric8 8.0 run of make test.
      org.junit.jupiter.api.Assumptions.assumeTrue(
          io.fabric8.kubernetes.client.Version.clientVersion().startsWith("7."),
          "the bounded HTTP executor recipe is for fabric8 7.x: it stalled on "
              + io.fabric8.kubernetes.client.Version.clientVersion());
      int n = 10;
      try (MockApi api = new MockApi();
          io.fabric8.kubernetes.client.KubernetesClient client =
              new io.fabric8.kubernetes.client.KubernetesClientBuilder()
                  .withConfig(api.client().getConfiguration())
                  .withHttpClientFactory(io.github.leaderelection.bench.ManyMain.boundedHttp(4))
                  .build()) {
        List<LeaderElection> leaders = new ArrayList<>();
        List<LeaderElection> watchers = new ArrayList<>();
        try {
          for (int i = 0; i < n; i++) {
            leaders.add(bounded(client, "a", i).build().start());
          }
          eventually().until(() -> leaders.stream().allMatch(LeaderElection::isLeader));
          for (int i = 0; i < n; i++) {
            watchers.add(bounded(client, "b", i).build().start());
          }
          eventually().until(() -> watchers.stream()
              .allMatch(e -> "a".equals(e.currentLeader().orElse(null))));
          closeAll(leaders.toArray(new LeaderElection[0]));
          eventually().until(() -> watchers.stream().allMatch(LeaderElection::isLeader));
          assertThat(liveThreads("kube-http")).hasSizeLessThanOrEqualTo(4);
        } finally {
          closeAll(leaders.toArray(new LeaderElection[0]));
          closeAll(watchers.toArray(new LeaderElection[0]));
        }
      }
    }

    private LeaderElection.Builder bounded(io.fabric8.kubernetes.client.KubernetesClient client,
        String identity, int shard) {
      return LeaderElection.builder(client).lease(NS, "bounded-" + shard).identity(identity)
          .leaseDuration(Duration.ofSeconds(10)).renewDeadline(Duration.ofSeconds(6))
          .retryPeriod(Duration.ofMillis(500)).periodicWork(Duration.ofMillis(200), IDLE);
    }

    @Test
    @DisplayName("one election uses one or two API threads, not the pool's maximum: a pool starts"
        + " a thread only when none of its threads is idle")
    void poolsGrowOnlyWhenBusy() throws Exception {
      SharedThreads.OnDemandPool pool = new SharedThreads.OnDemandPool(16,
          SharedThreads.daemons("on-demand-test-", true));
      try {
        for (int i = 0; i < 50; i++) { // one request at a time, as one election sends them
          pool.submit(() -> { }).get();
          Thread.sleep(2); // the thread is back waiting for work (a fixed pool would still grow)
        }
        assertThat(pool.getLargestPoolSize()).as("sequential tasks reuse the idle thread")
            .isLessThanOrEqualTo(2);

        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        AtomicInteger ran = new AtomicInteger();
        List<java.util.concurrent.Future<?>> blocked = new ArrayList<>();
        for (int i = 0; i < 40; i++) { // more blocked tasks than the maximum
          blocked.add(pool.submit(() -> {
            release.await();
            ran.incrementAndGet();
            return null;
          }));
        }
        eventually().until(() -> pool.getPoolSize() == 16);
        assertThat(pool.getQueue()).as("the rest wait in the queue").hasSize(40 - 16);
        release.countDown();
        for (java.util.concurrent.Future<?> f : blocked) {
          f.get();
        }
        assertThat(ran).as("every queued task ran").hasValue(40);
        assertThat(pool.getLargestPoolSize()).isEqualTo(16);
      } finally {
        pool.shutdownNow();
      }
    }
  }
}
