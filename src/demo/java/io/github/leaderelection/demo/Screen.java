package io.github.leaderelection.demo;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseSpec;
import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.harness.WorkLog;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalTime;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;

/**
 * What the demo prints. Two kinds: {@link LiveScreen} (a terminal: story lines scroll, a status
 * panel below them is redrawn five times a second) and {@link PlainScreen} (CI, pipes: plain
 * timestamped lines only).
 */
abstract class Screen {

  static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss.SSS", Locale.ROOT);
  static final Duration TICK = Duration.ofMillis(200);

  protected final PrintStream out;
  protected volatile ReplicaSet replicas;
  /** What the demo is waiting for right now, with the time it started waiting; or null. */
  protected volatile String status;
  protected volatile long statusSince;
  private volatile boolean running;
  private Thread ticker;

  Screen(PrintStream out) {
    this.out = out;
  }

  static Screen create(boolean tty, PrintStream out) {
    return tty ? new LiveScreen(out) : new PlainScreen(out);
  }

  /** A line of the story. */
  abstract void say(String text);

  /** A heading: the next step of the story. */
  abstract void step(String title);

  /** The real-cluster equivalent of what happens now. */
  abstract void hint(String comment, String... commands);

  /** Lines printed as they are (tables); no timestamps. */
  abstract void block(List<String> lines);

  /** Shows what the demo waits for (with a running clock in a terminal). */
  void status(String text) {
    statusSince = System.nanoTime();
    status = text;
  }

  void clearStatus() {
    status = null;
  }

  /** From now on the screen follows these replicas and their Lease. */
  void follow(ReplicaSet set) {
    this.replicas = set;
  }

  /** Starts the background refresh. */
  synchronized void start() {
    if (running) {
      return;
    }
    running = true;
    ticker = new Thread(() -> {
      while (running) {
        try {
          tick();
        } catch (RuntimeException e) {
          // the API server or a replica went away mid-refresh: next tick
        }
        try {
          Thread.sleep(TICK.toMillis());
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "demo-screen");
    ticker.setDaemon(true);
    ticker.start();
  }

  /** Stops the refresh after a last one. */
  void stop() {
    Thread t;
    synchronized (this) {
      if (!running) {
        return;
      }
      running = false;
      t = ticker;
    }
    t.interrupt();
    try {
      t.join(2000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    try {
      tick();
    } catch (RuntimeException e) {
      // gone
    }
    replicas = null; // no more API calls: the control plane is about to stop
    finish();
  }

  /** Stops at once (Ctrl-C): no more API calls, terminal restored. */
  void abort() {
    running = false;
    replicas = null;
    finish();
  }

  protected abstract void tick();

  protected void finish() {
  }

  // ---- what the panel and the plain lines show ----

  /** A replica's state as the demo derives it from its log and process. */
  static String state(Replica r) {
    if (!r.isAlive()) {
      return "stopped";
    }
    if (r.believesLeading()) {
      return "leader";
    }
    return r.logged("attempting to acquire") ? "follower" : "starting";
  }

  /** The message part of the replica's latest log line. */
  static String latest(Replica r) {
    List<String> texts = r.texts();
    String msg = texts.isEmpty() ? "" : WorkLog.message(texts.get(texts.size() - 1));
    if (!r.isAlive()) {
      int code = r.exitCode().orElse(-1);
      return (code == 137 ? "(killed: SIGKILL) " : "(exited " + code + ") ") + msg;
    }
    return msg;
  }

  static String clock(Instant at) {
    return at == null ? "-" : CLOCK.format(LocalTime.ofInstant(at, ZoneId.systemDefault()));
  }

  static Instant instant(ZonedDateTime value) {
    return value == null ? null : value.toInstant();
  }

  /** holderIdentity, leaseTransitions, acquireTime, renewTime of a Lease, for display. */
  record LeaseView(String holder, int transitions, Instant acquired, Instant renewed,
      int durationSeconds) {

    static LeaseView of(Lease lease) {
      if (lease == null || lease.getSpec() == null) {
        return null;
      }
      LeaseSpec s = lease.getSpec();
      return new LeaseView(s.getHolderIdentity() == null ? "" : s.getHolderIdentity(),
          s.getLeaseTransitions() == null ? 0 : s.getLeaseTransitions(),
          instant(s.getAcquireTime()), instant(s.getRenewTime()),
          s.getLeaseDurationSeconds() == null ? 0 : s.getLeaseDurationSeconds());
    }

    String holderText() {
      return holder.isEmpty() ? "(none: released)" : holder;
    }
  }

  static String seconds(double s) {
    return String.format(Locale.ROOT, "%.1fs", s);
  }
}
