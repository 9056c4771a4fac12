package io.github.leaderelection.demo;

import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A terminal: the story scrolls up line by line, and below it a panel (what the demo waits for,
 * the Lease, every replica's state and latest log line) is redrawn in place five times a second
 * with ANSI cursor movement.
 */
final class LiveScreen extends Screen {

  private static final String ESC = "\033[";
  private static final String RESET = ESC + "0m";
  private static final String BOLD = ESC + "1m";
  private static final String DIM = ESC + "2m";
  private static final String GREEN = ESC + "32m";
  private static final String CYAN = ESC + "36m";
  private static final String YELLOW = ESC + "33m";
  private static final String[] SPINNER = {"|", "/", "-", "\\"};

  private int panelHeight;
  private int width = 100;
  private long widthCheckedAt;
  private int frame;
  private volatile LeaseView lease;
  private volatile boolean finished;

  LiveScreen(PrintStream out) {
    super(out);
    out.print(ESC + "?25l"); // hide the cursor while the panel is redrawn
    out.flush();
  }

  @Override
  void say(String text) {
    render(List.of("  " + text));
  }

  @Override
  void step(String title) {
    render(List.of("", BOLD + "> " + title + RESET));
  }

  @Override
  void hint(String comment, String... commands) {
    List<String> lines = new ArrayList<>();
    lines.add("  " + DIM + "in a real cluster: " + comment + RESET);
    for (String c : commands) {
      lines.add("    " + CYAN + "$ " + c + RESET);
    }
    render(lines);
  }

  @Override
  void block(List<String> lines) {
    render(lines);
  }

  @Override
  protected void tick() {
    ReplicaSet set = replicas;
    if (set != null) {
      lease = LeaseView.of(set.lease());
    }
    render(List.of());
  }

  @Override
  protected synchronized void finish() {
    if (!finished) {
      finished = true;
      out.print(ESC + "?25h" + RESET);
      out.flush();
    }
  }

  /** Erases the panel, prints {@code lines} for good, draws the panel again below them. */
  private synchronized void render(List<String> lines) {
    if (finished) {
      lines.forEach(out::println);
      out.flush();
      return;
    }
    StringBuilder b = new StringBuilder();
    if (panelHeight > 0) {
      b.append(ESC).append(panelHeight).append('F');
    }
    b.append(ESC).append('J');
    for (String l : lines) {
      b.append(l).append(ESC).append("K\n");
    }
    List<String> panel = panel();
    for (String l : panel) {
      b.append(l).append(ESC).append("K\n");
    }
    panelHeight = panel.size();
    out.print(b);
    out.flush();
  }

  private List<String> panel() {
    int w = terminalWidth() - 1;
    List<String> p = new ArrayList<>();
    String waiting = status;
    frame++;
    if (waiting != null) {
      double s = (System.nanoTime() - statusSince) / 1e9;
      p.add(YELLOW + fit(" " + SPINNER[frame % SPINNER.length] + " " + waiting + "  "
          + seconds(s), w) + RESET);
    }
    ReplicaSet set = replicas;
    if (set == null) {
      return p;
    }
    LeaseView l = lease;
    p.add(fit(" " + "-".repeat(Math.min(w - 2, 78)), w));
    p.add(BOLD + fit(" Lease " + set.namespace() + "/" + set.leaseName(), w) + RESET);
    if (l == null) {
      p.add(fit("   (not created yet: the first replica to get through creates it)", w));
    } else {
      Instant now = Instant.now();
      String ago = l.renewed() == null ? ""
          : "  (" + seconds(Duration.between(l.renewed(), now).toMillis() / 1000.0) + " ago)";
      p.add(fit("   holderIdentity:    " + l.holderText(), w));
      p.add(fit("   leaseTransitions:  " + l.transitions()
          + "      leaseDurationSeconds: " + l.durationSeconds(), w));
      p.add(fit("   acquireTime:       " + clock(l.acquired()), w));
      p.add(fit("   renewTime:         " + clock(l.renewed()) + ago, w));
    }
    p.add(BOLD + fit(String.format(" %-9s %-8s %-9s %s", "REPLICA", "PID", "STATE",
        "LATEST LOG LINE"), w) + RESET);
    List<Replica> all = set.replicas();
    List<Replica> shown = new ArrayList<>();
    List<Replica> stopped = all.stream().filter(r -> !r.isAlive()).toList();
    // every running replica, and the last few stopped ones
    for (Replica r : all) {
      if (r.isAlive() || stopped.indexOf(r) >= stopped.size() - 3) {
        shown.add(r);
      }
    }
    for (Replica r : shown) {
      String state = state(r);
      String row = fit(String.format(" %-9s %-8d %-9s %s", r.identity(), r.pid(), state,
          latest(r)), w);
      switch (state) {
        case "leader" -> p.add(GREEN + BOLD + row + RESET);
        case "stopped" -> p.add(DIM + row + RESET);
        default -> p.add(row);
      }
    }
    p.add(fit(" " + "-".repeat(Math.min(w - 2, 78)), w));
    return p;
  }

  private static String fit(String s, int width) {
    return s.length() <= width ? s : s.substring(0, Math.max(0, width - 3)) + "...";
  }

  /** The terminal's columns (stty size on /dev/tty, checked every few seconds). */
  private int terminalWidth() {
    long now = System.nanoTime();
    if (widthCheckedAt != 0 && now - widthCheckedAt < TimeUnit.SECONDS.toNanos(3)) {
      return width;
    }
    widthCheckedAt = now;
    try {
      Process p = new ProcessBuilder("stty", "size").redirectInput(new File("/dev/tty"))
          .redirectError(ProcessBuilder.Redirect.DISCARD).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      if (p.waitFor(2, TimeUnit.SECONDS) && p.exitValue() == 0) {
        String[] parts = out.split("\\s+");
        width = Math.max(40, Integer.parseInt(parts[1]));
      }
    } catch (IOException | RuntimeException e) {
      String columns = System.getenv("COLUMNS");
      if (columns != null && columns.matches("\\d+")) {
        width = Math.max(40, Integer.parseInt(columns));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return width;
  }
}
