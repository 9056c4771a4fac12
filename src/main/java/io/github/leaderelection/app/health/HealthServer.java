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
   * @throws UncheckedIOException if the port cannot be bound
   */
  public static HealthServer start(int port, LeaderElection election, PrometheusMetrics metrics,
      Duration watchdogGrace) {
    HttpServer server;
    try {
      server = HttpServer.create(new InetSocketAddress(port), 0);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
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
    return new HealthServer(server);
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
