package io.github.leaderelection.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.election.MockApi;
import io.github.leaderelection.election.Term;
import io.github.leaderelection.election.TermEnd;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.integration.leader.Candidate;
import org.springframework.integration.leader.event.AbstractLeaderEvent;
import org.springframework.integration.leader.event.OnGrantedEvent;
import org.springframework.integration.leader.event.OnRevokedEvent;
import org.springframework.scheduling.annotation.EnableScheduling;
import org.springframework.scheduling.annotation.Scheduled;

/**
 * The Spring Boot integration's contract with a real Spring context: the auto-configuration's
 * conditions and properties ({@link ApplicationContextRunner}), and its behaviour with Spring's
 * real task scheduler against fabric8's mock API server.
 */
@DisplayName("Spring Boot auto-configuration: conditions, properties, @LeaderOnly, events,"
    + " actuator, shutdown")
class LeaderElectionAutoConfigurationTest {

  private MockApi api;

  private ApplicationContextRunner runner() {
    return new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(LeaderElectionAutoConfiguration.class))
        .withBean("appClient", KubernetesClient.class, api::client, d -> d.setDestroyMethodName(""))
        .withPropertyValues("leaderelection.lease-name=" + MockApi.LEASE,
            "leaderelection.namespace=" + MockApi.NAMESPACE, "leaderelection.identity=me",
            "leaderelection.lease-duration=3s", "leaderelection.renew-deadline=2s",
            "leaderelection.retry-period=500ms");
  }

  @BeforeEach
  void mockApi() {
    api = new MockApi();
  }

  @AfterEach
  void close() {
    api.close();
  }

  private String holder() {
    var lease = api.lease();
    return lease == null || lease.getSpec().getHolderIdentity() == null ? ""
        : lease.getSpec().getHolderIdentity();
  }

  @Nested
  @DisplayName("Conditions")
  class Conditions {

    @Test
    @DisplayName("with fabric8 on the class path: an election on the application's own client,"
        + " started with the context; no client of its own")
    void usesTheApplicationsClient() {
      runner().run(context -> {
        assertThat(context).hasSingleBean(LeaderElection.class)
            .hasSingleBean(LeaderElectionLifecycle.class)
            .hasSingleBean(LeaderOnlyBeanPostProcessor.class)
            .hasSingleBean(KubernetesClient.class)
            .doesNotHaveBean("leaderElectionKubernetesClient");
        await().atMost(Duration.ofSeconds(10)).until(() -> holder().equals("me"));
        assertThat(context.getBean(LeaderElection.class).isLeader()).isTrue();
      });
      // The application's client is still usable after the context closed.
      assertThat(api.client().leases().inNamespace(MockApi.NAMESPACE).list().getItems())
          .hasSize(1);
    }

    @Test
    @DisplayName("without an application client: builds one (bean leaderElectionKubernetesClient)")
    void buildsAClientWhenThereIsNone() {
      new ApplicationContextRunner()
          .withConfiguration(AutoConfigurations.of(LeaderElectionAutoConfiguration.class))
          .withPropertyValues("leaderelection.lease-name=x", "leaderelection.identity=me")
          .run(context -> assertThat(context).hasBean("leaderElectionKubernetesClient")
              .hasSingleBean(LeaderElection.class));
    }

    @Test
    @DisplayName("leaderelection.enabled=false: no election, no @LeaderOnly proxies")
    void disabled() {
      runner().withPropertyValues("leaderelection.enabled=false").run(context ->
          assertThat(context).doesNotHaveBean(LeaderElection.class)
              .doesNotHaveBean(LeaderOnlyBeanPostProcessor.class));
    }

    @Test
    @DisplayName("without fabric8 on the class path: nothing")
    void withoutFabric8() {
      runner().withClassLoader(new FilteredClassLoader(KubernetesClient.class)).run(context ->
          assertThat(context).doesNotHaveBean(LeaderElection.class));
    }

    @Test
    @DisplayName("without Spring Integration: plain events only; with it, its leader events too")
    void integrationOnlyWhenPresent() {
      runner().withClassLoader(new FilteredClassLoader(Candidate.class)).run(context ->
          assertThat(context).doesNotHaveBean("leaderElectionIntegrationEvents")
              .hasBean("leaderElectionEvents"));
      runner().run(context -> assertThat(context).hasBean("leaderElectionIntegrationEvents"));
    }

    @Test
    @DisplayName("without Micrometer: no meters; without the actuator: no health or info"
        + " contributor")
    void actuatorPartsOnlyWhenPresent() {
      runner().withClassLoader(new FilteredClassLoader("io.micrometer",
              "org.springframework.boot.actuate", "org.springframework.boot.health"))
          .run(context -> assertThat(context).hasSingleBean(LeaderElection.class)
              .doesNotHaveBean(MicrometerElectionMetrics.class)
              .doesNotHaveBean(HealthIndicators.BEAN_NAME)
              .doesNotHaveBean("leaderElectionInfoContributor"));
    }
  }

  @Nested
  @DisplayName("Properties")
  class Properties {

    @Test
    @DisplayName("the timings, watch and labels reach the election")
    void valuesReachTheElection() {
      runner().withPropertyValues("leaderelection.watch=false",
              "leaderelection.labels[app.kubernetes.io/name]=demo")
          .run(context -> {
            LeaderElection e = context.getBean(LeaderElection.class);
            assertThat(e.leaseKey()).isEqualTo(MockApi.NAMESPACE + "/" + MockApi.LEASE);
            assertThat(e.identity()).isEqualTo("me");
            assertThat(e.leaseDuration()).isEqualTo(Duration.ofSeconds(3));
            assertThat(e.renewDeadline()).isEqualTo(Duration.ofSeconds(2));
            assertThat(e.retryPeriod()).isEqualTo(Duration.ofMillis(500));
            assertThat(e.isWatching()).isFalse();
            assertThat(e.leaseLabels()).containsEntry("app.kubernetes.io/name", "demo");
          });
    }

    @Test
    @DisplayName("defaults: lease name = spring.application.name, identity = POD_NAME, namespace ="
        + " the client's when not in a pod; timings 15s/10s/2s; a plain number is seconds")
    void defaults() {
      new ApplicationContextRunner()
          .withConfiguration(AutoConfigurations.of(LeaderElectionAutoConfiguration.class))
          .withBean("appClient", KubernetesClient.class, api::client,
              d -> d.setDestroyMethodName(""))
          .withPropertyValues("spring.application.name=billing", "POD_NAME=billing-7d9f-x2x",
              "leaderelection.retry-period=3")
          .run(context -> {
            LeaderElection e = context.getBean(LeaderElection.class);
            assertThat(e.leaseName()).isEqualTo("billing");
            assertThat(e.identity()).isEqualTo("billing-7d9f-x2x");
            assertThat(e.leaseNamespace()).isEqualTo(api.client().getNamespace());
            assertThat(e.leaseDuration()).isEqualTo(Duration.ofSeconds(15));
            assertThat(e.renewDeadline()).isEqualTo(Duration.ofSeconds(10));
            assertThat(e.retryPeriod()).isEqualTo(Duration.ofSeconds(3));
          });
    }

    @Test
    @DisplayName("in a pod the namespace is read from the service account's namespace file")
    void namespaceFile(@TempDir Path dir) throws Exception {
      Path file = Files.writeString(dir.resolve("namespace"), "payments\n");
      assertThat(ElectionSettings.readNamespace(file)).isEqualTo("payments");
      assertThat(ElectionSettings.readNamespace(dir.resolve("absent"))).isNull();
    }

    @Test
    @DisplayName("a lease duration not above the renew deadline fails the start, naming both"
        + " properties")
    void badTimings() {
      runner().withPropertyValues("leaderelection.lease-duration=10s",
          "leaderelection.renew-deadline=10s").run(context -> {
            assertThat(context).hasFailed();
            assertThat(rootCause(context.getStartupFailure()))
                .isInstanceOf(InvalidLeaderElectionPropertyException.class)
                .hasMessage("leaderelection.lease-duration (10s) must be greater than"
                    + " leaderelection.renew-deadline (10s)");
          });
    }

    @Test
    @DisplayName("a lease name taken from an invalid spring.application.name says where it came"
        + " from")
    void badDefaultLeaseName() {
      new ApplicationContextRunner()
          .withConfiguration(AutoConfigurations.of(LeaderElectionAutoConfiguration.class))
          .withBean("appClient", KubernetesClient.class, api::client,
              d -> d.setDestroyMethodName(""))
          .withPropertyValues("spring.application.name=My App", "leaderelection.identity=me")
          .run(context -> assertThat(rootCause(context.getStartupFailure()))
              .hasMessageStartingWith("leaderelection.lease-name 'My App' is invalid")
              .hasMessageEndingWith("(taken from spring.application.name: set"
                  + " leaderelection.lease-name)"));
    }

    @Test
    @DisplayName("no lease name and no spring.application.name fails the start, naming the"
        + " property")
    void noLeaseName() {
      new ApplicationContextRunner()
          .withConfiguration(AutoConfigurations.of(LeaderElectionAutoConfiguration.class))
          .withBean("appClient", KubernetesClient.class, api::client,
              d -> d.setDestroyMethodName(""))
          .run(context -> assertThat(rootCause(context.getStartupFailure()))
              .hasMessageStartingWith("leaderelection.lease-name must be set"));
    }

    @Test
    @DisplayName("a bad label and a retry period of zero name their properties")
    void badLabelAndRetry() {
      runner().withPropertyValues("leaderelection.labels[bad key]=x").run(context ->
          assertThat(rootCause(context.getStartupFailure()))
              .hasMessageStartingWith("leaderelection.labels 'bad key=x'"));
      runner().withPropertyValues("leaderelection.retry-period=0s").run(context ->
          assertThat(rootCause(context.getStartupFailure()))
              .hasMessageStartingWith("leaderelection.retry-period must be greater than 0"));
    }

    @Test
    @DisplayName("Boot's start-up failure report shows the message and what to do")
    void failureAnalysis() {
      FailureAnalysis analysis = new InvalidLeaderElectionPropertyFailureAnalyzer().analyze(
          new IllegalStateException(new InvalidLeaderElectionPropertyException(
              "leaderelection.retry-period must be greater than 0 (got 0s)", null)));
      assertThat(analysis.getDescription()).contains("leaderelection.retry-period");
      assertThat(analysis.getAction()).contains("leaderelection.enabled=false");
    }
  }

  /** A @Scheduled @LeaderOnly job that records its runs. */
  static class Job {
    final List<Long> tokens = new CopyOnWriteArrayList<>();
    final AtomicInteger entered = new AtomicInteger();
    final AtomicInteger interrupted = new AtomicInteger();
    volatile long runMillis = 0;
    volatile CountDownLatch inRun = new CountDownLatch(1);
    volatile Instant lastEnd = Instant.EPOCH;
    volatile long lastEndNanos;

    @Scheduled(fixedRate = 100)
    @LeaderOnly
    public void run() {
      entered.incrementAndGet();
      tokens.add(LeaderContext.requireTerm().fencingToken());
      inRun.countDown();
      try {
        Thread.sleep(runMillis);
      } catch (InterruptedException e) {
        interrupted.incrementAndGet();
      } finally {
        lastEnd = Instant.now();
        lastEndNanos = System.nanoTime();
      }
    }

    @LeaderOnly
    public int withTerm(Term term) {
      return term == null ? -1 : 1;
    }
  }

  @Configuration(proxyBeanMethods = false)
  @EnableScheduling
  static class JobConfig {
    @Bean
    Job job() {
      return new Job();
    }

    @Bean
    Events events() {
      return new Events();
    }
  }

  static class Events implements ApplicationListener<org.springframework.context.ApplicationEvent> {
    final List<Object> seen = new CopyOnWriteArrayList<>();

    @Override
    public void onApplicationEvent(org.springframework.context.ApplicationEvent event) {
      if (event instanceof LeadershipEvent || event instanceof AbstractLeaderEvent) {
        seen.add(event);
      }
    }
  }

  @Nested
  @DisplayName("@LeaderOnly on a @Scheduled method, with Spring's scheduler")
  class LeaderOnlyRuns {

    @Test
    @DisplayName("runs on the leader with the term's fencing token in LeaderContext; a Term"
        + " parameter passed as null gets the term")
    void runsOnTheLeader() {
      runner().withUserConfiguration(JobConfig.class).run(context -> {
        Job job = job(context);
        await().atMost(Duration.ofSeconds(10)).until(() -> job.tokens.size() >= 3);
        long token = context.getBean(LeaderElection.class).currentTerm().orElseThrow()
            .fencingToken();
        assertThat(job.tokens).containsOnly(token);
        assertThat(context.getBean(Job.class).withTerm(null)).isEqualTo(1);
        assertThat(LeaderContext.currentTerm()).isEmpty();
      });
    }

    @Test
    @DisplayName("is skipped on a follower: the method body never runs")
    void skippedOnAFollower() {
      Instant now = Instant.now();
      api.createLease("other", 3600, now, now, 0);
      runner().withUserConfiguration(JobConfig.class).run(context -> {
        Job job = job(context);
        LeaderElection e = context.getBean(LeaderElection.class);
        await().atMost(Duration.ofSeconds(10)).until(() -> e.currentLeader().isPresent());
        Thread.sleep(1000);
        assertThat(e.isLeader()).isFalse();
        assertThat(job.entered).hasValue(0);
        assertThat(context.getBean(Job.class).withTerm(null)).isZero();
      });
    }

    @Test
    @DisplayName("a run in flight when the term is lost is interrupted; Revoked follows Granted")
    void interruptedOnLoss() {
      runner().withUserConfiguration(JobConfig.class).run(context -> {
        Job job = job(context);
        job.runMillis = 60_000;
        LeaderElection e = context.getBean(LeaderElection.class);
        assertThat(job.inRun.await(10, TimeUnit.SECONDS)).isTrue();
        e.stepDown(Duration.ofSeconds(60)); // the term ends: lost to this instance
        await().atMost(Duration.ofSeconds(5)).until(() -> job.interrupted.get() == 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> holder().isEmpty());
        Events events = context.getBean(Events.class);
        await().atMost(Duration.ofSeconds(5)).until(() -> events.seen.stream()
            .anyMatch(LeadershipEvent.Revoked.class::isInstance));
        List<Class<?>> order = events.seen.stream().<Class<?>>map(Object::getClass)
            .filter(c -> c == LeadershipEvent.Granted.class || c == LeadershipEvent.Revoked.class
                || c == OnGrantedEvent.class || c == OnRevokedEvent.class).toList();
        assertThat(order).hasSize(4);
        assertThat(order.subList(0, 2)).as("granted first, both kinds")
            .containsExactlyInAnyOrder(LeadershipEvent.Granted.class, OnGrantedEvent.class);
        assertThat(order.subList(2, 4)).as("then revoked, both kinds")
            .containsExactlyInAnyOrder(LeadershipEvent.Revoked.class, OnRevokedEvent.class);
        LeadershipEvent.Revoked revoked = events.seen.stream()
            .filter(LeadershipEvent.Revoked.class::isInstance)
            .map(LeadershipEvent.Revoked.class::cast).findFirst().orElseThrow();
        assertThat(revoked.reason()).isEqualTo(TermEnd.STEPPED_DOWN);
        int before = job.entered.get();
        Thread.sleep(500);
        assertThat(job.entered).as("no run after the term ended").hasValue(before);
      });
    }

    @Test
    @DisplayName("on context close the run in flight ends (not interrupted) before the Lease is"
        + " released")
    void shutdownWaitsForTheRunThenReleases() throws Exception {
      Job[] job = new Job[1];
      Instant[] closed = new Instant[1];
      runner().withUserConfiguration(JobConfig.class).run(context -> {
        job[0] = job(context);
        job[0].runMillis = 800;
        await().atMost(Duration.ofSeconds(10)).until(() -> job[0].entered.get() >= 1);
        job[0].inRun = new CountDownLatch(1);
        assertThat(job[0].inRun.await(5, TimeUnit.SECONDS)).isTrue();
      });
      closed[0] = Instant.now();
      assertThat(job[0].interrupted).hasValue(0);
      assertThat(job[0].lastEnd).isBefore(closed[0]);
      assertThat(holder()).as("released").isEmpty();
      // The release (the last write of the Lease) was sent after the run had ended.
      var release = api.calls().stream().filter(MockApi.Call::isWrite)
          .reduce((a, b) -> b).orElseThrow();
      assertThat(release.tickerNanos()).isGreaterThan(job[0].lastEndNanos);
    }
  }

  @Nested
  @DisplayName("Actuator and Spring Integration")
  class Observability {

    @Test
    @DisplayName("health: UP, leader, holder, time since the last renewal; info: the lease;"
        + " Micrometer: leader.election.master.status 1 and the counters")
    void healthInfoMetrics() {
      runner().run(context -> {
        LeaderElection e = context.getBean(LeaderElection.class);
        await().atMost(Duration.ofSeconds(10)).until(e::isLeader);
        Object indicator = context.getBean(HealthIndicators.BEAN_NAME);
        assertThat(indicator.getClass().getInterfaces()).extracting(Class::getName)
            .containsAnyOf(HealthIndicators.BOOT_4 + ".HealthIndicator",
                HealthIndicators.BOOT_3 + ".HealthIndicator");
        assertThat(status(indicator)).isEqualTo("UP");
        assertThat(details(indicator)).containsEntry("role", "leader")
            .containsEntry("holder", "me").containsEntry("candidate", "running")
            .containsKey("sinceLastRenewal");

        var info = new org.springframework.boot.actuate.info.Info.Builder();
        context.getBean("leaderElectionInfoContributor",
            org.springframework.boot.actuate.info.InfoContributor.class).contribute(info);
        assertThat(info.build().getDetails()).containsKey("leaderElection");

        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        context.getBean(MicrometerElectionMetrics.class).bindTo(registry);
        assertThat(registry.get("leader.election.master.status").tag("name", MockApi.LEASE)
            .gauge().value()).isEqualTo(1.0);
        assertThat(registry.get("leader.election.transitions").counter()).isNotNull();
        await().atMost(Duration.ofSeconds(5)).until(() ->
            registry.get("leader.election.renew.duration").tag("result", "success").timer()
                .count() > 0);
      });
    }

    @Test
    @DisplayName("a follower's health says follower and names the holder; the gauge is 0")
    void followerHealth() {
      Instant now = Instant.now();
      api.createLease("other", 3600, now, now, 0);
      runner().run(context -> {
        LeaderElection e = context.getBean(LeaderElection.class);
        await().atMost(Duration.ofSeconds(10)).until(() -> e.currentLeader().isPresent());
        assertThat(details(context.getBean(HealthIndicators.BEAN_NAME)))
            .containsEntry("role", "follower")
            .containsEntry("holder", "other");
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        context.getBean(MicrometerElectionMetrics.class).bindTo(registry);
        assertThat(registry.get("leader.election.master.status").gauge().value()).isZero();
      });
    }

    @Test
    @DisplayName("Spring Integration: a Candidate bean of the role gets onGranted with a Context"
        + " whose isLeader() is the term's validity, and onRevoked")
    void candidate() {
      List<String> calls = new CopyOnWriteArrayList<>();
      Candidate candidate = new Candidate() {
        @Override
        public String getRole() {
          return "jobs";
        }

        @Override
        public String getId() {
          return "c";
        }

        @Override
        public void onGranted(org.springframework.integration.leader.Context ctx) {
          calls.add("granted " + ctx.getRole() + " " + ctx.isLeader());
        }

        @Override
        public void onRevoked(org.springframework.integration.leader.Context ctx) {
          calls.add("revoked " + ctx.isLeader());
        }
      };
      runner().withPropertyValues("leaderelection.role=jobs")
          .withBean(Candidate.class, () -> candidate)
          .run(context -> {
            await().atMost(Duration.ofSeconds(10)).until(() -> calls.size() == 1);
            context.getBean(LeaderElection.class).stepDown(Duration.ofSeconds(60));
            await().atMost(Duration.ofSeconds(5)).until(() -> calls.size() == 2);
          });
      assertThat(calls).containsExactly("granted jobs true", "revoked false");
    }
  }

  /** The job bean itself behind its @LeaderOnly proxy (the proxy's own fields are unset). */
  static Job job(org.springframework.context.ApplicationContext context) {
    Object bean = context.getBean(Job.class);
    assertThat(org.springframework.aop.support.AopUtils.isAopProxy(bean)).isTrue();
    return (Job) org.springframework.aop.framework.AopProxyUtils.getSingletonTarget(bean);
  }

  /** The status code of a Boot 4 or Boot 3 health indicator's health(). */
  static String status(Object indicator) throws Exception {
    Object health = indicator.getClass().getMethod("health").invoke(indicator);
    Object status = health.getClass().getMethod("getStatus").invoke(health);
    return (String) status.getClass().getMethod("getCode").invoke(status);
  }

  /** The details of a Boot 4 or Boot 3 health indicator's health(). */
  @SuppressWarnings("unchecked")
  static java.util.Map<String, Object> details(Object indicator) throws Exception {
    Object health = indicator.getClass().getMethod("health").invoke(indicator);
    return (java.util.Map<String, Object>) health.getClass().getMethod("getDetails")
        .invoke(health);
  }

  static Throwable rootCause(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && !(c instanceof InvalidLeaderElectionPropertyException)) {
      c = c.getCause();
    }
    return c;
  }
}
