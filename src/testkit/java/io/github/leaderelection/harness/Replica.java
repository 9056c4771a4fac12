package io.github.leaderelection.harness;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * One replica as an OS process, like a pod: its own {@code POD_NAME}, its own log. The harness can
 * terminate it (SIGTERM), kill it (SIGKILL), freeze it (SIGSTOP) and thaw it (SIGCONT).
 */
public final class Replica implements AutoCloseable {

  /** A log line and when the harness read it. */
  public record Line(Instant readAt, String text) {
  }

  private final String identity;
  private final Process process;
  private final Instant startedAt;
  private final long startedNanos;
  private final List<Line> lines = new CopyOnWriteArrayList<>();
  private final Thread reader;
  private final int healthPort;

  private Replica(String identity, Process process, Path logFile, int healthPort,
      long startedNanos) {
    this.identity = identity;
    this.process = process;
    this.startedAt = Instant.now();
    this.startedNanos = startedNanos;
    this.healthPort = healthPort;
    this.reader = new Thread(() -> pump(logFile), "replica-log-" + identity);
    this.reader.setDaemon(true);
    this.reader.start();
  }

  /**
   * Starts {@code command} with {@code env} added to this process's environment; stdout and stderr
   * are captured line by line into memory and {@code logFile}.
   */
  public static Replica start(String identity, List<String> command, Map<String, String> env,
      Path logFile, int healthPort) {
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().putAll(env);
    try {
      long nanos = System.nanoTime();
      return new Replica(identity, builder.start(), logFile, healthPort, nanos);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void pump(Path logFile) {
    try (BufferedReader in = new BufferedReader(
            new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
         Writer out = logFile == null ? Writer.nullWriter()
             : Files.newBufferedWriter(logFile, StandardCharsets.UTF_8)) {
      String line;
      while ((line = in.readLine()) != null) {
        lines.add(new Line(Instant.now(), line));
        out.write(line);
        out.write('\n');
        out.flush();
      }
    } catch (IOException e) {
      // process gone
    }
  }

  public String identity() {
    return identity;
  }

  public long pid() {
    return process.pid();
  }

  public Instant startedAt() {
    return startedAt;
  }

  /** System.nanoTime() just before the process was spawned. */
  public long startedNanos() {
    return startedNanos;
  }

  /** Port of /healthz, /readyz, /metrics, or 0 if disabled. */
  public int healthPort() {
    return healthPort;
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /** Exit code once the process ended. */
  public OptionalInt exitCode() {
    return process.isAlive() ? OptionalInt.empty() : OptionalInt.of(process.exitValue());
  }

  /** Everything logged so far. */
  public List<Line> lines() {
    return List.copyOf(lines);
  }

  public List<String> texts() {
    return lines.stream().map(Line::text).toList();
  }

  public boolean logged(String fragment) {
    return lines.stream().anyMatch(l -> l.text().contains(fragment));
  }

  public long count(Predicate<String> matches) {
    return lines.stream().filter(l -> matches.test(l.text())).count();
  }

  /** True if its log says it leads: acquired the lease and has not stepped down since. */
  public boolean believesLeading() {
    boolean leading = false;
    for (String line : texts()) {
      String msg = WorkLog.message(line);
      if (msg.startsWith("successfully acquired lease")) {
        leading = true;
      } else if (msg.startsWith("no longer the leader")) {
        leading = false;
      }
    }
    return leading;
  }

  /** Whole log, for assertion messages. */
  public String log() {
    StringBuilder s = new StringBuilder();
    lines.forEach(l -> s.append("  [").append(identity).append("] ").append(l.text()).append('\n'));
    return s.toString();
  }

  /** SIGTERM. Through the ProcessHandle: Process.destroy() would also close our end of its output. */
  public void terminate() {
    process.toHandle().destroy();
  }

  /** SIGKILL. */
  public void kill() {
    process.toHandle().destroyForcibly();
  }

  public void freeze() {
    Signals.send(process.toHandle(), "STOP");
  }

  public void thaw() {
    Signals.send(process.toHandle(), "CONT");
  }

  /** Waits for the process to end and its output to be read; returns the exit code. */
  public int awaitExit(Duration timeout) throws InterruptedException {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new IllegalStateException(identity + " still running after " + timeout);
    }
    reader.join(5000);
    return process.exitValue();
  }

  /** Kills the process if it still runs (thawing it first, so a frozen one can die). */
  @Override
  public void close() {
    if (process.isAlive()) {
      try {
        thaw();
      } catch (RuntimeException ignored) {
        // gone meanwhile
      }
      process.destroyForcibly();
      try {
        process.waitFor(10, TimeUnit.SECONDS);
        reader.join(2000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
