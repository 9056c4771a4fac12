package io.github.leaderelection.harness;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP proxy on 127.0.0.1 that can play a network partition without network namespaces: it
 * forwards bytes between its clients and one target (the API server), until {@link #blackhole()}
 * makes every connection it has dead the way a dropped-packets partition does: the sockets stay
 * open, no FIN and no RST is sent, and whatever either side writes vanishes (it is read and
 * discarded, so a writer never blocks and nothing tells it the peer is gone). {@link #heal()}
 * forwards again, for new connections only: the old ones stay dead, as a TCP connection whose
 * segments were lost for longer than the peers' state lasted would be. Connections accepted during
 * the blackhole are dead too (a real partition would drop their SYN; here the connect succeeds and
 * then nothing comes back, which a client sees the same way: a handshake that times out).
 *
 * <p>Byte-level, so TLS (and ALPN, hence HTTP/2) is negotiated end to end between the client and
 * the API server. The API server's certificate names 127.0.0.1, which the proxy also listens on.
 */
public final class BlackholeProxy implements AutoCloseable {

  private final ServerSocket listener;
  private final InetSocketAddress target;
  private final List<Link> links = new CopyOnWriteArrayList<>();
  private final AtomicInteger accepted = new AtomicInteger();
  private volatile boolean blackholed;
  private volatile boolean closed;

  private BlackholeProxy(ServerSocket listener, InetSocketAddress target) {
    this.listener = listener;
    this.target = target;
    Thread acceptor = new Thread(this::acceptLoop, "blackhole-proxy-" + listener.getLocalPort());
    acceptor.setDaemon(true);
    acceptor.start();
  }

  /** Starts forwarding 127.0.0.1:(a free port) to {@code host:port}. */
  public static BlackholeProxy start(String host, int port) {
    try {
      ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      return new BlackholeProxy(listener, new InetSocketAddress(host, port));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Starts a proxy in front of {@code controlPlane}'s API server. */
  public static BlackholeProxy inFrontOf(ControlPlane controlPlane) {
    URI url = URI.create(controlPlane.url());
    return start(url.getHost(), url.getPort());
  }

  public int port() {
    return listener.getLocalPort();
  }

  /**
   * A copy of {@code controlPlane}'s admin kubeconfig whose server is this proxy, written to
   * {@code file}.
   */
  public Path writeKubeconfig(ControlPlane controlPlane, Path file) {
    URI url = URI.create(controlPlane.url());
    String server = url.getScheme() + "://" + url.getHost() + ":" + url.getPort();
    String yaml = controlPlane.kubeconfigYaml();
    if (!yaml.contains(server)) {
      throw new IllegalStateException("the kubeconfig does not name " + server);
    }
    try {
      Files.writeString(file, yaml.replace(server,
          url.getScheme() + "://" + url.getHost() + ":" + port()));
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The partition begins: every connection, open or accepted from now on, is dead. */
  public void blackhole() {
    blackholed = true;
    links.forEach(Link::kill);
  }

  /** The partition ends for new connections; the connections it killed stay dead. */
  public void heal() {
    blackholed = false;
  }

  /** Connections accepted so far. */
  public int accepted() {
    return accepted.get();
  }

  /** Connections accepted so far that still forward bytes. */
  public long forwarding() {
    return links.stream().filter(l -> !l.dead && !l.finished()).count();
  }

  @Override
  public void close() {
    closed = true;
    try {
      listener.close();
    } catch (IOException ignored) {
      // closing anyway
    }
    links.forEach(Link::close);
  }

  private void acceptLoop() {
    while (!closed) {
      Socket client;
      try {
        client = listener.accept();
      } catch (IOException e) {
        return; // closed
      }
      accepted.incrementAndGet();
      Link link = new Link(client);
      links.add(link);
      if (blackholed) {
        link.kill();
      }
      Thread opener = new Thread(link::open, "blackhole-proxy-link-" + accepted.get());
      opener.setDaemon(true);
      opener.start();
    }
  }

  /** One client connection and its connection to the target. */
  private final class Link {

    private final Socket client;
    private volatile Socket server;
    private volatile boolean dead;
    private final AtomicInteger pumpsDone = new AtomicInteger();

    Link(Socket client) {
      this.client = client;
    }

    void kill() {
      dead = true;
    }

    boolean finished() {
      return pumpsDone.get() == 2;
    }

    void open() {
      if (dead) {
        // Accepted during the partition: nothing reaches the target; what the client sends is
        // swallowed, and the socket stays open until the client gives up on it.
        pump(client, null);
        return;
      }
      try {
        Socket s = new Socket();
        s.connect(target, 5000);
        server = s;
      } catch (IOException e) {
        close();
        return;
      }
      Thread up = new Thread(() -> pump(client, server), "blackhole-proxy-up");
      Thread down = new Thread(() -> pump(server, client), "blackhole-proxy-down");
      up.setDaemon(true);
      down.setDaemon(true);
      up.start();
      down.start();
    }

    /** Copies {@code from} to {@code to} while alive; once dead, reads and discards. */
    private void pump(Socket from, Socket to) {
      byte[] buffer = new byte[16 * 1024];
      try {
        InputStream in = from.getInputStream();
        OutputStream out = to == null ? null : to.getOutputStream();
        int n;
        while ((n = in.read(buffer)) >= 0) {
          if (!dead && out != null) {
            out.write(buffer, 0, n);
            out.flush();
          }
        }
        // The peer closed its side. On a live link the close is passed on; on a dead one it is
        // lost like everything else.
        if (!dead && to != null) {
          to.shutdownOutput();
        }
      } catch (IOException e) {
        if (!dead) {
          close();
        }
      } finally {
        pumpsDone.incrementAndGet();
      }
    }

    void close() {
      try {
        client.close();
      } catch (IOException ignored) {
        // best effort
      }
      Socket s = server;
      if (s != null) {
        try {
          s.close();
        } catch (IOException ignored) {
          // best effort
        }
      }
    }
  }
}
