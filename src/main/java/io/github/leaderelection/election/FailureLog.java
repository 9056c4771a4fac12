package io.github.leaderelection.election;

import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs API failures so that {@code kubectl logs} stays readable during an outage: a new kind of
 * failure is logged at once, the same failure again at most every {@link #REPEAT_SECONDS}, and the
 * recovery once. Used by the elector and by the LeaseCandidate publisher; not thread-safe (each
 * has its own, used by its owner thread).
 */
final class FailureLog {

  private static final Logger log = LoggerFactory.getLogger(FailureLog.class);
  static final long REPEAT_SECONDS = 30;

  private final Ticker ticker;
  private String lastKind;
  private long lastLoggedNanos;
  private int count;

  FailureLog(Ticker ticker) {
    this.ticker = ticker;
  }

  void failed(String kind, String message) {
    count++;
    long now = ticker.nanoTime();
    if (!kind.equals(lastKind) || now - lastLoggedNanos >= TimeUnit.SECONDS.toNanos(REPEAT_SECONDS)) {
      log.warn("{}{}", message, count > 1 ? " (" + count + " failures in a row)" : "");
      lastKind = kind;
      lastLoggedNanos = now;
    }
  }

  /**
   * The requests work again: logs it once, if any had failed.
   *
   * @param subject what the requests are about, e.g. {@code lease ns/name}
   */
  void recovered(String subject) {
    if (count > 0) {
      log.info("{} requests succeed again after {} failed attempts", subject, count);
    }
    count = 0;
    lastKind = null;
  }

  /** Failures in a row so far (0 after a recovery). */
  int count() {
    return count;
  }
}
