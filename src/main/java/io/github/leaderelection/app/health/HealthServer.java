package io.github.leaderelection.app.health;

import io.github.leaderelection.app.DaemonExecutors;
import io.github.leaderelection.election.LeaderElection;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * {@code /healthz} (liveness), {@code /readyz} (readiness) and {@code /metrics} on one port, served
 * by the JDK's own HTTP server on a single thread: a probe every few seconds needs nothing more.
 */
public final class HealthServer implements AutoCloseable {

  private final HttpServer server;

  private HealthServer(HttpServer server) {
    this.server = server;
  }

  /**
   * Binds the port and serves nothing yet: a port that cannot be bound is found before anything
   * starts, and the endpoints are added by {@link #serve} once the election runs.
   *
   * @param port the port, 1-65535
   * @return the bound, not yet serving server
   * @throws UncheckedIOException if the port cannot be bound
   */
  public static HealthServer bind(int port) {
    try {
      return new HealthServer(HttpServer.create(new InetSocketAddress(port), 0));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Serves {@code /healthz}, {@code /readyz} and {@code /metrics} on the bound port.
   *
   * @return this server
   */
  public HealthServer serve(LeaderElection election, PrometheusMetrics metrics,
      Duration watchdogGrace) {
    Watchdog watchdog = new Watchdog(election, watchdogGrace);
    server.createContext("/healthz", exchange -> {
      String problem = watchdog.problem();
      reply(exchange, problem == null ? 200 : 500, problem == null ? "ok\n" : problem + "\n",
          "text/plain; charset=utf-8");
    });
    server.createContext("/readyz", exchange -> {
      boolean ready = election.knowsLeader();
      reply(exchange, ready ? 200 : 503,
          ready ? "ok\n" : "first election round not completed yet\n", "text/plain; charset=utf-8");
    });
    server.createContext("/metrics", exchange -> {
      ByteArrayOutputStream body = new ByteArrayOutputStream(16 * 1024);
      metrics.writeTo(body);
      reply(exchange, 200, body.toByteArray(), PrometheusMetrics.contentType());
    });
    server.setExecutor(DaemonExecutors.single("health-http"));
    server.start();
    return this;
  }

  /** The bound port (useful with port 0 in tests... and never 0 here, since 0 disables the server). */
  public int port() {
    return server.getAddress().getPort();
  }

  private static void reply(HttpExchange exchange, int status, String body, String type)
      throws IOException {
    reply(exchange, status, body.getBytes(StandardCharsets.UTF_8), type);
  }

  private static void reply(HttpExchange exchange, int status, byte[] body, String type)
      throws IOException {
    try (exchange) {
      exchange.getResponseHeaders().set("Content-Type", type);
      if ("HEAD".equals(exchange.getRequestMethod())) {
        exchange.sendResponseHeaders(status, -1);
        return;
      }
      exchange.sendResponseHeaders(status, body.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
