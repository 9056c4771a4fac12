package io.github.leaderelection.app.work;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.github.leaderelection.app.DaemonExecutors;
import io.github.leaderelection.election.Durations;
import io.github.leaderelection.election.LeadershipListener;
import io.github.leaderelection.election.LeadershipLostException;
import io.github.leaderelection.election.StaleTokenException;
import io.github.leaderelection.election.Term;
import io.github.leaderelection.election.TermEnd;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The article's controller: while leading it logs {@code doing stuff...} every work interval and
 * records each unit in a ConfigMap it owns through a fenced write (so {@code kubectl get cm
 * my-lease-work -o yaml} shows who did the last unit, when, under which fencing token, and a unit
 * of an older term that arrives late is refused); and it tells the story of the election in the
 * article's words. Unlike the article's program, its work ends the moment leadership does, and
 * losing leadership leaves it a candidate, not a crash loop.
 */
public final class ArticleController implements LeadershipListener {

  private static final Logger log = LoggerFactory.getLogger(ArticleController.class);
  /**
   * How long the step-down log line waits for a running unit, so that it comes after the term's
   * last 'doing stuff...', as in the article. The work was cancelled already; this is only order.
   */
  private static final Duration STOP_WAIT = Duration.ofSeconds(1);
  /** How often the same failure to record a unit is logged again. */
  private static final Duration LOG_EVERY = Duration.ofSeconds(30);

  private final String identity;
  private final KubernetesClient client;
  private final String namespace;
  private final String record;
  private final Duration recordBound;
  /** Runs the unit's write, so that the unit can bound it (see {@link #unit}). */
  private final ExecutorService recorder = DaemonExecutors.single("work-record");
  private Term unitsOf;
  private long unitsInTerm;
  private volatile long lastFailureLogNanos;
  private volatile boolean failing;

  /**
   * @param record the ConfigMap that records each unit, or empty for none
   * @param recordBound how long a unit waits for its record to be written before it gives up on
   *     it (the work interval: an unreachable API server must not slow the work down)
   */
  public ArticleController(String identity, KubernetesClient client, String namespace,
      String record, Duration recordBound) {
    this.identity = identity;
    this.client = client;
    this.namespace = namespace;
    this.record = record;
    this.recordBound = recordBound;
  }

  /**
   * One unit of the article's work (on the term's work thread, one at a time): the article's log
   * line, then the fenced write of the unit's record, bounded by the work interval. The write runs
   * on a thread of its own only so that the unit can stop waiting: a write it gives up on (or
   * whose unit is interrupted when the term ends) is cancelled; it may still reach the API server,
   * and the fence then decides.
   */
  public void unit(Term term) throws InterruptedException {
    log.atInfo().addKeyValue("event", "work").log("doing stuff...");
    if (record.isEmpty()) {
      return;
    }
    if (unitsOf != term) {
      unitsOf = term;
      unitsInTerm = 0;
    }
    long unit = ++unitsInTerm;
    Future<ConfigMap> write = recorder.submit(() -> term.fencedUpdate(client.configMaps().inNamespace(namespace)
          .withName(record), current -> {
            ConfigMap next = current != null ? current : new ConfigMapBuilder()
                .withNewMetadata().withNamespace(namespace).withName(record).endMetadata().build();
            Map<String, String> data = next.getData() == null ? new HashMap<>()
                : new HashMap<>(next.getData());
            data.put("leader", identity);
            data.put("fencingToken", Long.toString(term.fencingToken()));
            data.put("lastUnit", Instant.now().toString());
            data.put("unitsInTerm", Long.toString(unit));
            next.setData(data);
            return next;
          }));
    try {
      ConfigMap stored = write.get(recordBound.toNanos(), TimeUnit.NANOSECONDS);
      if (failing) {
        failing = false;
        log.info("recording units in configmap {}/{} works again", namespace,
            stored.getMetadata().getName());
      }
    } catch (InterruptedException e) {
      write.cancel(true); // the term ended
      throw e;
    } catch (TimeoutException e) {
      write.cancel(true);
      failed("not written within " + Durations.format(recordBound));
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof StaleTokenException stale) {
        log.info("{}; this term is over", stale.getMessage());
      } else if (cause instanceof LeadershipLostException) {
        log.debug("unit not recorded: {}", cause.getMessage());
      } else if (cause instanceof KubernetesClientException k) {
        failed("HTTP " + k.getCode() + (k.getCode() == 403
            ? ": grant get and update on it, see k8s/rbac.yaml" : ""));
      } else {
        failed(String.valueOf(cause));
      }
    }
  }

  /** A failure to record a unit: logged at once, then at most every 30 s while it lasts. */
  private void failed(String why) {
    long now = System.nanoTime();
    if (!failing || now - lastFailureLogNanos >= LOG_EVERY.toNanos()) {
      log.warn("could not record the unit in configmap {}/{} ({})", namespace, record, why);
      lastFailureLogNanos = now;
    }
    failing = true;
  }

  @Override
  public void stoppedLeading(Term term, TermEnd reason) {
    try {
      if (term != null && !term.awaitWorkStopped(STOP_WAIT)) {
        log.warn("leader work still running {} after losing leadership", STOP_WAIT);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    log.atInfo().addKeyValue("event", "stopped_leading")
        .log("no longer the leader, staying inactive.");
  }

  @Override
  public void newLeader(String holder) {
    if (holder.equals(identity)) {
      log.atInfo().addKeyValue("event", "new_leader").addKeyValue("leader", holder)
          .log("still the leader!");
    } else {
      log.atInfo().addKeyValue("event", "new_leader").addKeyValue("leader", holder)
          .log("new leader is {}", holder);
    }
  }
}
