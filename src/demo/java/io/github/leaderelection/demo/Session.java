package io.github.leaderelection.demo;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import io.github.leaderelection.harness.ControlPlane;
import io.github.leaderelection.harness.TempDirs;
import io.github.leaderelection.harness.ReplicaSet;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.LoggerFactory;

/**
 * Everything the demo starts, and the one place that stops it: on the normal way out and from a
 * shutdown hook on Ctrl-C (SIGINT) or SIGTERM.
 *
 * <p>All temporary files of this JVM (the control plane's scratch directory, etcd's data and WAL
 * directories, the replicas' logs and kubeconfig) go below one private directory (see
 * {@link #open}), which is deleted at the end; every child process (replicas, kube-apiserver, etcd) is found as a
 * descendant of this JVM and killed, even one started by a step the interrupt cut short.
 */
final class Session implements AutoCloseable {

  private final Path tmp;
  private final PrintStream out;
  private final AtomicBoolean closed = new AtomicBoolean();
  private volatile boolean interrupted;
  private volatile ControlPlane controlPlane;
  private volatile ReplicaSet replicas;
  private volatile Screen screen;

  private Session(Path tmp, PrintStream out) {
    this.tmp = tmp;
    this.out = out;
  }

  /**
   * The private temporary directory and the shutdown hook. The directory must be this JVM's
   * {@code java.io.tmpdir} from the start (the JDK reads that property once, at start-up), so
   * that kube-api-test's etcd directories land in it too: scripts/demo.sh creates it and passes
   * it as both {@code -Djava.io.tmpdir} and {@code -Ddemo.tmpdir}, which hands it over to the
   * demo to delete. Without {@code demo.tmpdir}, the demo makes its own directory inside
   * {@code java.io.tmpdir} for what it creates itself.
   */
  static Session open(PrintStream out) {
    Path base = Path.of(System.getProperty("java.io.tmpdir")).toAbsolutePath();
    String given = System.getProperty("demo.tmpdir");
    Path dir;
    if (given != null && Path.of(given).toAbsolutePath().equals(base)
        && Files.isDirectory(base)) {
      dir = base;
    } else {
      byte[] random = new byte[4];
      new SecureRandom().nextBytes(random);
      dir = base.resolve("leaderelection-demo-" + ProcessHandle.current().pid() + "-"
          + HexFormat.of().formatHex(random));
      try {
        Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(
            PosixFilePermissions.fromString("rwx------")));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    Session session = new Session(dir, out);
    Runtime.getRuntime().addShutdownHook(new Thread(session::onShutdown, "demo-cleanup"));
    return session;
  }

  /** Where the control plane's scratch directory and the replicas' logs go. */
  Path tmp() {
    return tmp;
  }

  boolean interrupted() {
    return interrupted;
  }

  void screen(Screen s) {
    this.screen = s;
  }

  void controlPlane(ControlPlane cp) {
    this.controlPlane = cp;
    if (closed.get()) {
      cp.close(); // the interrupt came while it was starting
    }
  }

  void replicas(ReplicaSet set) {
    this.replicas = set;
  }

  /** Shutdown hook: runs on Ctrl-C / SIGTERM, and (doing nothing) after a normal close. */
  private void onShutdown() {
    synchronized (this) {
      if (closed.get()) {
        return; // closed normally (or being closed: this waited for it)
      }
    }
    interrupted = true;
    quietLogging();
    Screen s = screen;
    if (s != null) {
      s.abort();
    }
    out.println();
    out.println("demo: interrupted: stopping the replicas, kube-apiserver and etcd...");
    out.flush();
    int stopped = stopEverything();
    long left = ProcessHandle.current().descendants().filter(ProcessHandle::isAlive).count();
    out.println("demo: stopped " + stopped + " processes, removed " + tmp + "; "
        + (left == 0 && !Files.exists(tmp) ? "nothing left behind" : left + " processes left!"));
    out.flush();
  }

  @Override
  public void close() {
    stopEverything();
  }

  /** Stops everything once; returns how many processes were running. */
  private synchronized int stopEverything() {
    if (!closed.compareAndSet(false, true)) {
      return 0;
    }
    int running = (int) ProcessHandle.current().descendants().filter(ProcessHandle::isAlive)
        .count();
    ReplicaSet set = replicas;
    if (set != null) {
      try {
        set.close();
      } catch (RuntimeException e) {
        // already going
      }
    }
    ControlPlane cp = controlPlane;
    if (cp != null) {
      quietLogging(); // kube-api-test reports the processes it stops as errors otherwise
      try {
        cp.close();
      } catch (RuntimeException e) {
        // already going
      }
    }
    killDescendants();
    TempDirs.deleteTree(tmp);
    return running;
  }

  /** Kills whatever child process is still there (e.g. one a cut-short start left behind). */
  static void killDescendants() {
    for (int attempt = 0; attempt < 5; attempt++) {
      List<ProcessHandle> alive = ProcessHandle.current().descendants()
          .filter(ProcessHandle::isAlive).toList();
      if (alive.isEmpty()) {
        return;
      }
      alive.forEach(ProcessHandle::destroyForcibly);
      for (ProcessHandle p : alive) {
        try {
          p.onExit().get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
          // next attempt
        }
      }
    }
  }

  static void quietLogging() {
    if (LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME) instanceof Logger root) {
      root.setLevel(Level.OFF);
    }
  }
}
