package io.github.leaderelection.spring;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.github.leaderelection.election.ApiVerb;
import io.github.leaderelection.election.ElectionMetrics;
import io.github.leaderelection.election.LeaderElection;
import io.github.leaderelection.election.LeadershipListener;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.beans.factory.config.BeanDefinition;
import org.springframework.boot.actuate.info.InfoContributor;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Role;
import org.springframework.core.env.Environment;
import org.springframework.integration.leader.Candidate;
import org.springframework.integration.leader.event.DefaultLeaderEventPublisher;

/**
 * Leader election for a Spring Boot application: one election on one Lease, started with the
 * context and released on its close; {@link LeaderOnly} methods run only while it leads; events,
 * health, info and metrics. Off with {@code leaderelection.enabled=false}.
 */
@AutoConfiguration
@ConditionalOnClass({KubernetesClient.class, LeaderElection.class})
@ConditionalOnProperty(prefix = "leaderelection", name = "enabled", havingValue = "true",
    matchIfMissing = true)
@EnableConfigurationProperties(LeaderElectionProperties.class)
public class LeaderElectionAutoConfiguration {

  /** The auto-configuration (instantiated by Spring). */
  public LeaderElectionAutoConfiguration() {
  }

  private static final Logger log = LoggerFactory.getLogger(LeaderElectionAutoConfiguration.class);

  /**
   * A client from the environment (in-cluster, or ~/.kube/config), unless the application has
   * one; closed with the context (an application's own client is never closed here). It speaks
   * HTTP/1.1: the JDK client sends no HTTP/2 pings, so a connection blackholed by a partition
   * would carry every request into a timeout for as long as TCP keeps it (see the README's
   * "dead connections"); over HTTP/1.1 a timed-out request closes its connection.
   *
   * @return the client
   */
  @Bean(destroyMethod = "close")
  @ConditionalOnMissingBean
  public KubernetesClient leaderElectionKubernetesClient() {
    return new KubernetesClientBuilder().withConfig(new io.fabric8.kubernetes.client.ConfigBuilder(
        io.fabric8.kubernetes.client.Config.autoConfigure(null)).withHttp2Disable(true).build())
        .build();
  }

  /**
   * Proxies the beans with {@link LeaderOnly} methods.
   *
   * @return the post-processor
   */
  @Bean
  @Role(BeanDefinition.ROLE_INFRASTRUCTURE)
  public static LeaderOnlyBeanPostProcessor leaderOnlyBeanPostProcessor() {
    return new LeaderOnlyBeanPostProcessor();
  }

  @Bean
  LeaderGate leaderElectionGate() {
    return new LeaderGate();
  }

  @Bean
  ElectionSettings leaderElectionSettings(LeaderElectionProperties properties,
      Environment environment, KubernetesClient client) {
    return new ElectionSettings(properties, environment, client,
        ElectionSettings.SERVICE_ACCOUNT_NAMESPACE);
  }

  /**
   * The election (not started: the context's lifecycle starts it). Its work is the gate of the
   * {@link LeaderOnly} calls; every {@link LeadershipListener} and {@link ElectionMetrics} bean
   * is added.
   *
   * @return the election
   */
  @Bean
  LeaderElection leaderElection(KubernetesClient client,
      LeaderElectionProperties properties, ElectionSettings settings, LeaderGate gate,
      ObjectProvider<LeadershipListener> listeners, ObjectProvider<ElectionMetrics> metrics) {
    LeaderElection.Builder builder = settings.builder(client, properties).work(gate);
    listeners.orderedStream().forEach(builder::listener);
    List<ElectionMetrics> all = metrics.orderedStream().toList();
    if (!all.isEmpty()) {
      builder.metrics(all.size() == 1 ? all.get(0) : new AllMetrics(all));
    }
    return builder.build();
  }

  /**
   * Starts and stops the election with the context.
   *
   * @return the lifecycle
   */
  @Bean
  LeaderElectionLifecycle leaderElectionLifecycle(LeaderElection election,
      LeaderGate gate, LeaderElectionProperties properties) {
    return new LeaderElectionLifecycle(election, gate, properties.getShutdownGrace());
  }

  @Bean
  LeadershipListener leaderElectionEvents(ApplicationEventPublisher publisher,
      ObjectProvider<LeaderElection> election) {
    return new SpringEventListener(publisher, election::getObject);
  }

  @Bean
  SmartInitializingSingleton leaderElectionSettingsLog(ElectionSettings s) {
    return () -> log.debug("leader election settings: lease {}/{}{}, identity {}{}",
        s.namespace, s.leaseName, s.namespaceSource == null ? "" : " (namespace from "
            + s.namespaceSource + ")", s.identity,
        s.identitySource == null ? "" : " (from " + s.identitySource + ")");
  }

  /** Spring Integration's leader events and candidates, when it is on the class path. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(Candidate.class)
  static class IntegrationConfiguration {

    @Bean
    LeadershipListener leaderElectionIntegrationEvents(ApplicationEventPublisher publisher,
        ElectionSettings settings, ObjectProvider<LeaderElection> election,
        ObjectProvider<Candidate> candidates) {
      return new IntegrationLeadership(settings.role, new DefaultLeaderEventPublisher(publisher),
          election::getObject, () -> candidates.orderedStream().toList());
    }
  }

  /** Micrometer meters named as the controller's Prometheus series. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(MeterRegistry.class)
  static class MetricsConfiguration {

    @Bean
    MicrometerElectionMetrics leaderElectionMeters(ElectionSettings settings,
        ObjectProvider<LeaderElection> election) {
      return new MicrometerElectionMetrics(settings.leaseName, election::getIfAvailable);
    }
  }

  /** The health indicator (Boot 4 or Boot 3 actuator). */
  @Configuration(proxyBeanMethods = false)
  @Import(HealthIndicators.class) // registers nothing without either HealthIndicator class
  static class HealthConfiguration {
  }

  /** The info contributor ({@code leaderElection} in /actuator/info). */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(InfoContributor.class)
  static class InfoConfiguration {

    @Bean
    InfoContributor leaderElectionInfoContributor(LeaderElection election) {
      return builder -> builder.withDetail("leaderElection", ElectionStatus.info(election));
    }
  }

  /** Several {@link ElectionMetrics} beans as one. */
  private record AllMetrics(List<ElectionMetrics> all) implements ElectionMetrics {

    @Override
    public void renewAttempt(Duration latency, boolean success) {
      all.forEach(m -> m.renewAttempt(latency, success));
    }

    @Override
    public void apiError(ApiVerb verb, int code) {
      all.forEach(m -> m.apiError(verb, code));
    }

    @Override
    public void slowpathExercised() {
      all.forEach(ElectionMetrics::slowpathExercised);
    }

    @Override
    public void transitionObserved() {
      all.forEach(ElectionMetrics::transitionObserved);
    }
  }
}
