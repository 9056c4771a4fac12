package io.github.leaderelection.app.access;

import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.github.leaderelection.election.LeaderElection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Asks the API server, at start, whether this replica may make every request it is going to make
 * (one SelfSubjectAccessReview per verb and resource), and says in one line exactly what is
 * missing and which manifest grants it. Missing permissions are not fatal: the election retries on
 * its own, so the replica keeps running and the check is repeated until everything is granted
 * (a Role applied after the pods started is picked up without a restart).
 */
public final class PermissionCheck {

  private static final Logger log = LoggerFactory.getLogger(PermissionCheck.class);

  /** How often the check is repeated while something is missing. */
  public static final Duration RECHECK_EVERY = Duration.ofSeconds(30);

  /**
   * One permission this replica needs.
   *
   * @param group API group ("" for the core group)
   * @param resource the resource, plural
   * @param name the object's name, or "" for requests not about one object (create)
   * @param verb the API verb
   * @param manifest where the project grants it
   */
  public record Need(String group, String resource, String name, String verb, String manifest) {

    /** {@code leases.coordination.k8s.io/my-lease}, as kubectl writes resources. */
    public String target() {
      return resource + (group.isEmpty() ? "" : "." + group) + (name.isEmpty() ? "" : "/" + name);
    }
  }

  /** Decides whether the current user may do {@code need} in {@code namespace}. */
  @FunctionalInterface
  public interface Authorizer {
    boolean allowed(String namespace, Need need);
  }

  private final String namespace;
  private final List<Need> needs;
  private final Authorizer authorizer;
  private final CountDownLatch stopped = new CountDownLatch(1);
  private volatile List<Need> lastMissing;

  public PermissionCheck(String namespace, List<Need> needs, Authorizer authorizer) {
    this.namespace = namespace;
    this.needs = List.copyOf(needs);
    this.authorizer = authorizer;
  }

  /**
   * Every request the replica makes with these settings.
   *
   * @param workRecord the ConfigMap the leader records its units in, or empty
   * @param podName the pod whose {@code leader} label is kept, or null when that is off
   */
  public static List<Need> needs(LeaderElection config, String workRecord, String podName) {
    String coordination = "coordination.k8s.io";
    String rbac = "k8s/rbac.yaml";
    List<Need> needs = new ArrayList<>();
    for (String verb : config.isWatching() ? List.of("get", "update", "list", "watch")
        : List.of("get", "update")) {
      needs.add(new Need(coordination, "leases", config.leaseName(), verb, rbac));
    }
    if (!config.isCoordinated()) {
      needs.add(new Need(coordination, "leases", "", "create", rbac)); // coordinated: server creates
    }
    needs.add(new Need("", "events", "", "create", rbac));
    if (!workRecord.isEmpty()) {
      // The ConfigMap comes with the manifests; create is tried only when it is missing.
      for (String verb : List.of("get", "update")) {
        needs.add(new Need("", "configmaps", workRecord, verb, rbac));
      }
    }
    if (config.isCoordinated()) {
      String overlay = "k8s/coordinated/";
      needs.add(new Need(coordination, "leasecandidates", "", "create", overlay));
      for (String verb : List.of("get", "update", "delete", "list", "watch")) {
        needs.add(new Need(coordination, "leasecandidates", config.identity(), verb, overlay));
      }
    }
    if (podName != null) {
      for (String verb : List.of("get", "patch")) {
        needs.add(new Need("", "pods", podName, verb, "k8s/optional/label-leader-rbac.yaml"));
      }
    }
    return needs;
  }

  /** SelfSubjectAccessReviews through {@code client}: exactly the API server's own answer. */
  public static Authorizer selfSubjectAccessReview(KubernetesClient client) {
    return (namespace, need) -> {
      SelfSubjectAccessReview review = new SelfSubjectAccessReviewBuilder()
          .withNewSpec().withNewResourceAttributes()
          .withNamespace(namespace)
          .withGroup(need.group())
          .withResource(need.resource())
          .withName(need.name().isEmpty() ? null : need.name())
          .withVerb(need.verb())
          .endResourceAttributes().endSpec()
          .build();
      SelfSubjectAccessReview answer =
          client.authorization().v1().selfSubjectAccessReview().create(review);
      return answer.getStatus() != null && Boolean.TRUE.equals(answer.getStatus().getAllowed());
    };
  }

  /**
   * Checks every need once.
   *
   * @return the needs that are not granted, in order
   * @throws KubernetesClientException when the API server could not answer
   */
  public List<Need> missing() {
    List<Need> missing = new ArrayList<>();
    for (Need need : needs) {
      if (!authorizer.allowed(namespace, need)) {
        missing.add(need);
      }
    }
    return missing;
  }

  /**
   * The one line for the log: each resource with its missing verbs, then the manifests granting
   * them.
   */
  public static String describe(String namespace, List<Need> missing) {
    Map<String, Set<String>> verbs = new LinkedHashMap<>();
    Set<String> manifests = new LinkedHashSet<>();
    for (Need need : missing) {
      verbs.computeIfAbsent(need.target(), k -> new LinkedHashSet<>()).add(need.verb());
      manifests.add(need.manifest());
    }
    String what = verbs.entrySet().stream()
        .map(e -> String.join(",", e.getValue()) + " on " + e.getKey())
        .collect(Collectors.joining("; "));
    return "missing permissions in namespace " + namespace + ": " + what + " (granted by "
        + String.join(" and ", manifests) + "); the election keeps retrying";
  }

  /**
   * Checks now and then every {@link #RECHECK_EVERY} until everything is granted or
   * {@link #stop()}; logs the missing permissions whenever they change, and once when all are
   * granted after something was missing. Never throws.
   */
  public void run() {
    run(RECHECK_EVERY);
  }

  void run(Duration recheckEvery) {
    boolean reportedOutage = false;
    while (stopped.getCount() > 0) {
      try {
        List<Need> missing = missing();
        if (missing.isEmpty()) {
          if (lastMissing != null && !lastMissing.isEmpty()) {
            log.info("permission check: all permissions in namespace {} are granted now",
                namespace);
          } else {
            log.debug("permission check: all {} permissions granted", needs.size());
          }
          lastMissing = missing;
          return;
        }
        if (!missing.equals(lastMissing)) {
          log.error("{}", describe(namespace, missing));
        }
        lastMissing = missing;
      } catch (KubernetesClientException e) {
        // The election reports an unreachable API server itself; one line here is enough.
        if (!reportedOutage) {
          log.warn("permission check: cannot ask the API server ({}); trying again in {}s",
              e.getCode() > 0 ? String.valueOf(e.getCode()) : "no answer",
              recheckEvery.toSeconds());
          reportedOutage = true;
        }
      }
      try {
        if (stopped.await(recheckEvery.toMillis(), TimeUnit.MILLISECONDS)) {
          return;
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** The outcome of the last check: null before the first answer, empty when all is granted. */
  public List<Need> lastMissing() {
    return lastMissing;
  }

  /** Runs {@link #run()} on a daemon thread of its own. */
  public Thread startInBackground() {
    Thread t = new Thread(this::run, "permission-check");
    t.setDaemon(true);
    t.start();
    return t;
  }

  public void stop() {
    stopped.countDown();
  }
}
