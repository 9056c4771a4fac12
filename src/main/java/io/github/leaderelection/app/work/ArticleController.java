package io.github.leaderelection.app.work;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.github.leaderelection.app.DaemonExecutors;
import io.github.leaderelection.election.LeadershipListener;
import io.github.leaderelection.election.LeadershipLostException;
import io.github.leaderelection.election.StaleTokenException;
import io.github.leaderelection.election.Term;
import io.github.leaderelection.election.TermEnd;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
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
  /** Runs the unit's write, so that the unit can bound it (see {@link #unit}). */
  private final ExecutorService recorder = DaemonExecutors.single("work-record");
  private volatile Future<?> pending;
  private Term unitsOf;
  private long unitsInTerm;
  private volatile long lastFailureLogNanos;
  private volatile boolean failing;

  /**
   * @param record the ConfigMap that records each unit, or empty for none
   */
  public ArticleController(String identity, KubernetesClient client, String namespace,
      String record) {
    this.identity = identity;
    this.client = client;
    this.namespace = namespace;
    this.record = record;
  }

  /**
   * One unit of the article's work (on the term's work thread, one at a time): the article's log
   * line, then the fenced write of the unit's record. The write runs beside the work, on a thread
   * of its own, so that an API server that does not answer never slows the work down; while one
   * is pending the next unit is not recorded, and the term's end cancels it. A write that was on
   * the wire may still reach the API server after the term ended: the fence then decides (a newer
   * leader's record is never overwritten).
   */
  public void unit(Term term) {
    log.atInfo().addKeyValue("event", "work").log("doing stuff...");
    if (record.isEmpty()) {
      return;
    }
    if (unitsOf != term) {
      unitsOf = term;
      unitsInTerm = 0;
    }
    long unit = ++unitsInTerm;
    Future<?> previous = pending;
    if (previous != null && !previous.isDone()) {
      return; // still writing the record of an earlier unit
    }
    pending = recorder.submit(() -> write(term, unit));
  }

  private void write(Term term, long unit) {
    try {
      term.fencedUpdate(client.configMaps().inNamespace(namespace).withName(record), current -> {
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
      });
      if (failing) {
        failing = false;
        log.info("recording units in configmap {}/{} works again", namespace, record);
      }
    } catch (StaleTokenException e) {
      log.info("{}; this term is over", e.getMessage());
    } catch (LeadershipLostException e) {
      log.debug("unit not recorded: {}", e.getMessage());
    } catch (KubernetesClientException e) {
      if (Thread.currentThread().isInterrupted() || !term.isValid()) {
        return; // cancelled by the end of the term
      }
      failed("HTTP " + e.getCode() + (e.getCode() == 403
          ? ": grant get and update on it, see k8s/rbac.yaml" : ""));
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
    Future<?> write = pending;
    if (write != null) {
      write.cancel(true);
    }
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
