package io.github.leaderelection.election;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the election cannot fix in a client it did not build: fabric8's JDK HTTP client speaks
 * HTTP/2 to an API server over TLS (ALPN) and multiplexes every request on one connection, and
 * the JDK sends no HTTP/2 pings. After a partition that drops packets, that connection is dead but
 * stays open: every request on it times out, and the JDK opens no other one until TCP gives up
 * (about 15 minutes). There is no API to evict it short of closing the user's client. Over
 * HTTP/1.1 ({@link Config#isHttp2Disable()}), a timed-out request closes its own connection and the
 * next request opens a fresh one, so the election reconnects one request timeout after the
 * network heals. The library says so once, the first time a Lease request times out on such a
 * client.
 */
final class DeadConnections {

  private static final Logger log = LoggerFactory.getLogger(DeadConnections.class);
  private static final AtomicBoolean advised = new AtomicBoolean();

  private DeadConnections() {
  }

  /**
   * True if {@code client} may keep a dead connection for minutes: fabric8's JDK HTTP client,
   * HTTP/2 not disabled, TLS (HTTP/2 is only negotiated over TLS).
   */
  static boolean mayKeepDeadConnections(KubernetesClient client) {
    try {
      Config config = client.getConfiguration();
      String url = config.getMasterUrl();
      return !config.isHttp2Disable() && url != null && url.startsWith("https:")
          && client.getHttpClient().getClass().getName()
              .startsWith("io.fabric8.kubernetes.client.jdkhttp.");
    } catch (RuntimeException e) {
      return false; // a client we cannot inspect (a test double): no advice
    }
  }

  /** Logs the advice once per JVM if {@code client} is such a client. */
  static void adviseOnce(KubernetesClient client) {
    if (mayKeepDeadConnections(client) && advised.compareAndSet(false, true)) {
      log.warn("a lease request timed out on a client that speaks HTTP/2 (fabric8's JDK HTTP"
          + " client over TLS, which sends no pings): if its connection is dead (a network"
          + " partition), every request on it times out until TCP gives up, about 15 minutes."
          + " Build the client with HTTP/2 disabled (new ConfigBuilder(config)"
          + ".withHttp2Disable(true)) so that a timed-out request reconnects");
    }
  }
}
