package io.github.leaderelection.election;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/** Counts what the elector reports: one apiError per failed request, one renewAttempt per leader round. */
public class RecordingMetrics implements ElectionMetrics {

  public final List<String> errors = new CopyOnWriteArrayList<>();
  public final AtomicInteger renewOk = new AtomicInteger();
  public final AtomicInteger renewFailed = new AtomicInteger();
  /** Every hook throws after counting (a broken metrics backend). */
  public volatile boolean broken;

  @Override
  public void renewAttempt(Duration latency, boolean success) {
    (success ? renewOk : renewFailed).incrementAndGet();
    if (broken) {
      throw new IllegalStateException("metrics backend down");
    }
  }

  @Override
  public void apiError(ApiVerb verb, int code) {
    errors.add(verb + "/" + code);
  }
}
