package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code make demo} as a user runs it, non-interactively: the Demo in its own JVM (as
 * scripts/demo.sh starts it), with its own control plane and replicas. Checks the story it tells
 * and that it leaves nothing behind, after a normal end and after Ctrl-C (SIGINT).
 */
class DemoIT {

  /** A summary row: round, event, old leader, new leader, seconds, logged seconds. */
  private static final Pattern ROW = Pattern.compile(
      "^\\s+(\\d+)\\s+(crash \\(SIGKILL\\)|graceful \\(SIGTERM\\))\\s+(\\S+)\\s+(\\S+)"
          + "\\s+(\\d+\\.\\d+)\\s+(\\d+\\.\\d+)\\s*$");

  @TempDir
  Path tmp;

  private DemoProcess demo;

  @AfterEach
  void stopDemo() {
    if (demo != null) {
      demo.destroy();
    }
  }

  @Test
  void tellsTheStoryAndLeavesNothingBehind() throws Exception {
    int lease = 6;
    demo = DemoProcess.start(tmp, "--no-tty", "--rounds", "1", "--lease-duration", lease + "s");

    int exit = demo.awaitExit(Duration.ofMinutes(6));

    assertThat(exit).as(demo.output()).isZero();
    List<String> out = demo.lines();
    assertThat(out).as(demo.output())
        .anyMatch(l -> l.contains("== Round 1: crash: kill the leader"))
        .anyMatch(l -> l.contains("== Round 1: graceful: stop the leader"))
        .anyMatch(l -> l.contains("$ kubectl get lease my-lease -o yaml"))
        .anyMatch(l -> l.contains("$ kubectl delete pod demo-"))
        .anyMatch(l -> l.contains("one leader at a time: OK"))
        .anyMatch(l -> l.contains("leaseTransitions: 2"))
        .anyMatch(l -> l.contains("nothing left running"))
        .noneMatch(l -> l.contains("\033["));
    assertThat(out.get(out.size() - 1)).as(demo.output()).contains("demo: OK");

    List<Matcher> rows = out.stream().map(ROW::matcher).filter(Matcher::matches).toList();
    assertThat(rows).as(demo.output()).hasSize(2);
    Matcher crash = rows.get(0);
    Matcher graceful = rows.get(1);
    assertThat(crash.group(2)).isEqualTo("crash (SIGKILL)");
    assertThat(graceful.group(2)).isEqualTo("graceful (SIGTERM)");
    // a new leader each time, and the crash's successor is the one stopped gracefully
    assertThat(crash.group(4)).isNotEqualTo(crash.group(3));
    assertThat(graceful.group(3)).isEqualTo(crash.group(4));
    assertThat(graceful.group(4)).isNotEqualTo(graceful.group(3));
    double crashSeconds = Double.parseDouble(crash.group(5));
    double gracefulSeconds = Double.parseDouble(graceful.group(5));
    double retry = lease * 2 / 15.0;
    // a crash: the followers wait out the lease, counted from the last renewal they saw
    assertThat(crashSeconds).as(demo.output())
        .isBetween(lease - 1.2 * retry - 0.5, lease + 1.2 * retry + 15.0);
    // graceful: released and watched, so well before the lease could have expired
    assertThat(gracefulSeconds).as(demo.output()).isLessThan(lease - 1.0);
    assertThat(Double.parseDouble(crash.group(6))).isLessThan(crashSeconds + 15.0);
    assertThat(Double.parseDouble(graceful.group(6))).isLessThan(lease - 1.0);

    demo.assertNothingLeftBehind();
  }

  @Test
  void ctrlCStopsEverythingItStarted() throws Exception {
    demo = DemoProcess.start(tmp, "--no-tty", "--rounds", "3", "--lease-duration", "6s");
    await(Duration.ofMinutes(4)).alias("the demo started 3 replicas\n(output on failure)")
        .until(() -> demo.lines().stream().anyMatch(l -> l.contains("started demo-2"))
            && demo.seen("java") >= 3 && demo.seen("kube-apiserver") == 1
            && demo.seen("etcd") == 1);

    new ProcessBuilder("kill", "-INT", Long.toString(demo.pid())).inheritIO().start()
        .waitFor(30, TimeUnit.SECONDS);

    int exit = demo.awaitExit(Duration.ofSeconds(90));
    assertThat(exit).as(demo.output()).isEqualTo(130);
    assertThat(demo.lines()).as(demo.output())
        .anyMatch(l -> l.contains("demo: interrupted"))
        .anyMatch(l -> l.contains("nothing left behind"));
    demo.assertNothingLeftBehind();
  }

  private static ConditionFactory await(Duration atMost) {
    return Awaitility.await().atMost(atMost).pollInterval(Duration.ofMillis(100))
        .pollDelay(Duration.ZERO);
  }

  /**
   * The demo's JVM, its output, and every process it ever had below it (sampled every 100 ms:
   * the replicas, kube-apiserver and etcd live for seconds at least).
   */
  private static final class DemoProcess {

    private final Process process;
    private final Path tmp;
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final Set<ProcessHandle> descendants = ConcurrentHashMap.newKeySet();
    private final Map<ProcessHandle, String> commands = new ConcurrentHashMap<>();
    private final Thread reader;
    private final Thread tracker;

    private DemoProcess(Process process, Path tmp) {
      this.process = process;
      this.tmp = tmp;
      this.reader = new Thread(this::read, "demo-output");
      this.reader.setDaemon(true);
      this.reader.start();
      this.tracker = new Thread(this::track, "demo-descendants");
      this.tracker.setDaemon(true);
      this.tracker.start();
    }

    static DemoProcess start(Path tmp, String... args) throws IOException {
      List<String> command = new ArrayList<>();
      // A Ctrl-C must reach the demo even when the build runs as a background job: shells start
      // those with SIGINT ignored, children inherit that, and the JVM then cannot catch it. env
      // (coreutils) restores the default before exec'ing java, as in an interactive terminal.
      command.addAll(List.of("env", "--default-signal=INT"));
      command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      command.add("-cp");
      command.add(System.getProperty("java.class.path"));
      // all the demo's temporary files go below this test's own directory (as scripts/demo.sh
      // does it), so we can check that they are gone afterwards
      Path demoTmp = Files.createDirectory(tmp.resolve("demo"));
      command.add("-Djava.io.tmpdir=" + demoTmp);
      command.add("-Ddemo.tmpdir=" + demoTmp);
      for (String p : List.of("app.jar", "app.jvmFlags", "kubeapitest.offline", "kubeapitest.dir",
          "kubeapitest.version")) {
        String value = System.getProperty(p);
        if (value != null) {
          command.add("-D" + p + "=" + value);
        }
      }
      command.add("io.github.leaderelection.demo.Demo");
      command.addAll(List.of(args));
      ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
      builder.environment().put("CI", "true");
      return new DemoProcess(builder.start(), tmp);
    }

    private void read() {
      try (BufferedReader in = new BufferedReader(
          new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = in.readLine()) != null) {
          lines.add(line);
          System.out.println("[demo] " + line);
        }
      } catch (IOException e) {
        // ended
      }
    }

    private void track() {
      while (process.isAlive()) {
        process.descendants().forEach(p -> {
          descendants.add(p);
          // sampled again each time: a child seen between fork and exec is still jspawnhelper
          p.info().command().ifPresent(c -> commands.merge(p, c,
              (was, now) -> now.endsWith("/jspawnhelper") ? was : now));
        });
        try {
          Thread.sleep(100);
        } catch (InterruptedException e) {
          return;
        }
      }
    }

    long pid() {
      return process.pid();
    }

    /** How many processes whose command ends with {@code name} were ever seen below the demo. */
    long seen(String name) {
      return commands.values().stream().filter(c -> c.endsWith("/" + name)).count();
    }

    List<String> lines() {
      return List.copyOf(lines);
    }

    String output() {
      return "demo output:\n" + String.join("\n", lines);
    }

    int awaitExit(Duration timeout) throws InterruptedException {
      assertThat(process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS))
          .as("demo still running after %s\n%s", timeout, output()).isTrue();
      reader.join(10_000);
      tracker.join(10_000);
      return process.exitValue();
    }

    void assertNothingLeftBehind() throws Exception {
      assertThat(seen("kube-apiserver")).as("kube-apiserver seen\n%s", commands).isEqualTo(1);
      assertThat(seen("etcd")).as("etcd seen\n%s", commands).isEqualTo(1);
      assertThat(seen("java")).as("replicas seen\n%s", commands).isGreaterThanOrEqualTo(3);
      // the descendants it had are all gone (ProcessHandle compares start times too: no pid reuse)
      await(Duration.ofSeconds(30)).alias("every process the demo started has ended")
          .until(() -> descendants.stream().noneMatch(ProcessHandle::isAlive));
      // no process still refers to its temporary files (etcd's data dir, the kubeconfig)
      Process pgrep = new ProcessBuilder("pgrep", "-af", tmp.toString())
          .redirectErrorStream(true).start();
      String found = new String(pgrep.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      pgrep.waitFor(30, TimeUnit.SECONDS);
      assertThat(found.lines().filter(l -> !l.contains("pgrep")).toList())
          .as("processes using %s", tmp).isEmpty();
      // and its temporary directory (control plane, etcd data, logs) is gone
      try (Stream<Path> left = Files.list(tmp)) {
        assertThat(left.toList()).as("left in the demo's java.io.tmpdir").isEmpty();
      }
    }

    void destroy() {
      if (process.isAlive()) {
        process.destroyForcibly();
      }
      descendants.forEach(ProcessHandle::destroyForcibly);
    }
  }
}
