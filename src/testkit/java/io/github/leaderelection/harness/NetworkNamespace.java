package io.github.leaderelection.harness;

import io.github.leaderelection.harness.ControlPlane.CommandResult;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A network namespace of its own for one replica, so that a test can cut that replica off the API
 * server the way a real partition does: packets dropped, no RST, no FIN, the connection left
 * looking open.
 *
 * <p>The namespace has only {@code lo}. A forwarder ({@code node/nsforward}, run inside the
 * namespace with {@code ip netns exec}) listens there on {@code 127.0.0.1:<port>} and dials the
 * same address from the harness's own namespace, where the API server listens. The replica keeps
 * the kubeconfig of everyone else (same URL, so the certificate's SAN 127.0.0.1 still matches),
 * and nothing is added to the host: no interface, route, sysctl or firewall rule. The partition
 * is a pair of iptables DROP rules inside the namespace ({@code ip netns exec <ns> iptables}), so
 * the host's tables are never touched.
 *
 * <p>Needs root, {@code ip} and {@code ss} (iproute2), {@code iptables} and the nsforward binary; {@link
 * #missingPrerequisite} says which one is missing. Namespaces are named {@value #PREFIX}
 * {@code <pid of the JVM>-<n>}: {@link #create} first deletes those whose JVM is gone (a run
 * killed before its clean-up), and {@link #close} (also run by a shutdown hook) kills what runs
 * inside and deletes the namespace.
 */
public final class NetworkNamespace implements AutoCloseable {

  public static final String PREFIX = "leaderelection-it-";
  private static final AtomicInteger COUNTER = new AtomicInteger();
  private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(30);

  private final String name;
  private final List<Process> forwarders = new ArrayList<>();
  private final List<List<String>> dropRules = new ArrayList<>();
  private final Thread hook;
  private boolean closed;

  private NetworkNamespace(String name) {
    this.name = name;
    this.hook = new Thread(this::deleteQuietly, "netns-cleanup-" + name);
    Runtime.getRuntime().addShutdownHook(hook);
  }

  /** What is missing for namespaces, forwarders and iptables here, in one line; empty if nothing. */
  public static Optional<String> missingPrerequisite(Path nsforward) {
    List<String> missing = new ArrayList<>();
    if (!System.getProperty("os.name", "").startsWith("Linux")) {
      missing.add("Linux");
    } else if (!isRoot()) {
      missing.add("root (network namespaces and iptables need it; CI runs as root)");
    }
    if (!onPath("ip") || !onPath("ss")) {
      missing.add("`ip` and `ss` (Debian package iproute2)");
    }
    if (!onPath("iptables")) {
      missing.add("`iptables` (Debian package iptables; scripts/test.sh installs it with apt-get)");
    }
    if (!Files.isExecutable(nsforward)) {
      missing.add(nsforward + " (node/nsforward, built by scripts/test.sh: cd node && go build -o "
          + "../target/nsforward ./nsforward)");
    }
    return missing.isEmpty() ? Optional.empty()
        : Optional.of("missing: " + String.join("; ", missing));
  }

  /**
   * Creates a fresh namespace with {@code lo} up, after deleting the namespaces that earlier runs
   * left behind. Fails with one line when a command fails (namespaces or netfilter unavailable).
   */
  public static NetworkNamespace create() {
    deleteStale();
    String name = PREFIX + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet();
    run("create network namespace " + name, "ip", "netns", "add", name);
    NetworkNamespace ns = new NetworkNamespace(name);
    try {
      ns.exec("bring lo up in " + name, "ip", "link", "set", "lo", "up");
      // Fails here, with the reason, where netfilter is not available in a namespace.
      ns.exec("use iptables in " + name, "iptables", "-S");
    } catch (RuntimeException e) {
      ns.close();
      throw e;
    }
    return ns;
  }

  /** Deletes namespaces of this harness whose JVM no longer runs (killed before its clean-up). */
  static void deleteStale() {
    CommandResult list = CommandResult.run(List.of("ip", "netns", "list"), COMMAND_TIMEOUT);
    for (String line : list.output().split("\n")) {
      String ns = line.trim().split("\\s+")[0];
      if (!ns.startsWith(PREFIX)) {
        continue;
      }
      String pid = ns.substring(PREFIX.length()).split("-")[0];
      boolean ownerAlive;
      try {
        ownerAlive = ProcessHandle.of(Long.parseLong(pid)).map(ProcessHandle::isAlive)
            .orElse(false);
      } catch (NumberFormatException e) {
        ownerAlive = false;
      }
      if (!ownerAlive) {
        killInside(ns);
        CommandResult.run(List.of("ip", "netns", "delete", ns), COMMAND_TIMEOUT);
      }
    }
  }

  public String name() {
    return name;
  }

  /** {@code command}, run inside this namespace ({@code ip netns exec}, which execs it: same pid). */
  public List<String> wrap(List<String> command) {
    List<String> wrapped = new ArrayList<>(List.of("ip", "netns", "exec", name));
    wrapped.addAll(command);
    return wrapped;
  }

  /** A launcher that runs {@code launcher}'s command inside this namespace. */
  public ReplicaSet.Launcher inside(ReplicaSet.Launcher launcher) {
    return (identity, args) -> wrap(launcher.command(identity, args));
  }

  /**
   * Makes {@code 127.0.0.1:port} of the harness's namespace reachable at the same address inside
   * this one: starts {@code nsforward} in the namespace, dialling from the namespace of this JVM
   * ({@code /proc/<pid>/ns/net}), and waits until it listens.
   */
  public void forward(Path nsforward, int port) {
    String address = "127.0.0.1:" + port;
    Process process;
    try {
      process = new ProcessBuilder(wrap(List.of(nsforward.toString(),
          "-netns", "/proc/" + ProcessHandle.current().pid() + "/ns/net",
          "-listen", address, "-target", address))).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    forwarders.add(process);
    // It prints one line once it listens; anything else is its error.
    CompletableFuture<String> first = CompletableFuture.supplyAsync(() -> {
      try {
        BufferedReader in = new BufferedReader(
            new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String line = in.readLine();
        Thread drain = new Thread(() -> {
          try {
            while (in.readLine() != null) {
              // keep its pipe from filling up
            }
          } catch (IOException ignored) {
            // it ended
          }
        }, "nsforward-" + name);
        drain.setDaemon(true);
        drain.start();
        return line;
      } catch (IOException e) {
        return null;
      }
    });
    String line;
    try {
      line = first.get(20, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    } catch (ExecutionException | TimeoutException e) {
      line = null;
    }
    if (line == null || !line.startsWith("nsforward: ")) {
      throw new IllegalStateException("nsforward did not start in " + name + ": " + line);
    }
  }

  /**
   * Drops every TCP packet to and from {@code port} inside the namespace (both directions, so
   * nothing reaches the replica, not even a reset): established connections stall and look open,
   * new ones never complete. The forwarder's side to the API server stays up, as a server would.
   */
  public void partition(int port) {
    for (String direction : List.of("--dport", "--sport")) {
      List<String> rule = List.of("INPUT", "-p", "tcp", "-i", "lo", direction,
          String.valueOf(port), "-j", "DROP");
      List<String> add = new ArrayList<>(List.of("iptables", "-w", "5", "-I"));
      add.addAll(rule);
      exec("add an iptables DROP rule in " + name, add.toArray(String[]::new));
      dropRules.add(rule);
    }
  }

  /** Removes the DROP rules: the stalled connections resume with TCP's next retransmission. */
  public void heal() {
    for (List<String> rule : List.copyOf(dropRules)) {
      List<String> delete = new ArrayList<>(List.of("iptables", "-w", "5", "-D"));
      delete.addAll(rule);
      exec("remove an iptables DROP rule in " + name, delete.toArray(String[]::new));
      dropRules.remove(rule);
    }
  }

  /**
   * Heals the partition for new connections only: the connections that were open across it stay
   * blackholed, as after a stateful firewall, NAT or load balancer on the path lost their state
   * (it drops their packets silently; a new connection is set up afresh). A client that keeps
   * using such a connection waits until TCP gives up on it (about 15 minutes). Returns the
   * replica-side ports of the connections left dead.
   */
  public List<Integer> healForNewConnectionsOnly(int port) {
    List<Integer> old = new ArrayList<>();
    String sockets = exec("list the connections in " + name, "ss", "-Htn", "state", "established")
        .output();
    for (String line : sockets.split("\n")) {
      String[] cols = line.trim().split("\\s+");
      if (cols.length < 4) {
        continue;
      }
      int local = portOf(cols[2]);
      int peer = portOf(cols[3]);
      if (peer == port && !old.contains(local)) {
        old.add(local);
      }
    }
    // multiport matches source or destination port, so one rule drops both directions.
    for (int i = 0; i < old.size(); i += 15) {
      String ports = String.join(",", old.subList(i, Math.min(old.size(), i + 15)).stream()
          .map(String::valueOf).toList());
      List<String> rule = List.of("INPUT", "-p", "tcp", "-i", "lo", "-m", "multiport", "--ports",
          ports, "-j", "DROP");
      List<String> add = new ArrayList<>(List.of("iptables", "-w", "5", "-I"));
      add.addAll(rule);
      exec("add an iptables DROP rule in " + name, add.toArray(String[]::new));
    }
    heal();
    return old;
  }

  private static int portOf(String address) {
    return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
  }

  /** The namespace's iptables rules, for messages. */
  public String rules() {
    return exec("list iptables rules in " + name, "iptables", "-S").output();
  }

  private CommandResult exec(String what, String... command) {
    return run(what, wrap(List.of(command)).toArray(String[]::new));
  }

  private static CommandResult run(String what, String... command) {
    CommandResult result;
    try {
      result = CommandResult.run(List.of(command), COMMAND_TIMEOUT);
    } catch (UncheckedIOException e) {
      throw new IllegalStateException("cannot " + what + ": " + e.getCause().getMessage(), e);
    }
    if (result.exitCode() != 0) {
      throw new IllegalStateException("cannot " + what + ": `" + String.join(" ", command)
          + "` exit " + result.exitCode() + ": " + result.output().strip());
    }
    return result;
  }

  /** Kills every process inside the namespace (the replica, the forwarder) and deletes it. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    deleteQuietly();
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException ignored) {
      // the JVM is already shutting down: the hook is what runs this
    }
  }

  private synchronized void deleteQuietly() {
    if (closed) {
      return;
    }
    closed = true;
    forwarders.forEach(Process::destroyForcibly);
    killInside(name);
    CommandResult.run(List.of("ip", "netns", "delete", name), COMMAND_TIMEOUT);
  }

  private static void killInside(String ns) {
    CommandResult pids = CommandResult.run(List.of("ip", "netns", "pids", ns), COMMAND_TIMEOUT);
    List<ProcessHandle> inside = Stream.of(pids.output().split("\\s+")).filter(s -> !s.isBlank())
        .map(s -> {
          try {
            return ProcessHandle.of(Long.parseLong(s));
          } catch (NumberFormatException e) {
            return Optional.<ProcessHandle>empty();
          }
        })
        .flatMap(Optional::stream).toList();
    inside.forEach(ProcessHandle::destroyForcibly);
    for (ProcessHandle p : inside) {
      try {
        p.onExit().get(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (ExecutionException | TimeoutException e) {
        // left to the kernel: the namespace goes when its last process does
      }
    }
  }

  private static boolean isRoot() {
    try {
      return Files.readAllLines(Path.of("/proc/self/status")).stream()
          .filter(l -> l.startsWith("Uid:")).findFirst()
          .map(l -> l.split("\\s+")[2].equals("0")).orElse(false);
    } catch (IOException e) {
      return false;
    }
  }

  private static boolean onPath(String command) {
    String path = System.getenv("PATH");
    return path != null && Stream.of(path.split(java.io.File.pathSeparator))
        .anyMatch(dir -> Files.isExecutable(Path.of(dir, command)));
  }
}
