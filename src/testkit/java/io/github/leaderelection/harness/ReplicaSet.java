package io.github.leaderelection.harness;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * N replicas of the packaged controller, each an OS process pointed at one {@link ControlPlane}
 * through a kubeconfig, all competing for the same Lease. Used by the integration tests, the demo
 * and the benchmark.
 */
public final class ReplicaSet implements AutoCloseable {

  /** How a replica is launched: from its identity and arguments to the full command line. */
  public interface Launcher {
    List<String> command(String identity, List<String> args);
  }

  private final ControlPlane controlPlane;
  private final String namespace;
  private final String leaseName;
  private final List<String> args;
  private final Launcher launcher;
  private final Path kubeconfig;
  private final Path logDir;
  private final KubernetesClient admin;
  private final List<Replica> replicas = new ArrayList<>();
  private final Map<String, String> env = new HashMap<>();

  private ReplicaSet(ControlPlane controlPlane, String namespace, String leaseName,
      List<String> args, Launcher launcher, Path kubeconfig) {
    this.controlPlane = controlPlane;
    this.namespace = namespace;
    this.leaseName = leaseName;
    this.args = List.copyOf(args);
    this.launcher = launcher;
    this.kubeconfig = kubeconfig;
    this.admin = controlPlane.adminClient();
    try {
      this.logDir = Files.createDirectories(controlPlane.workDir().resolve("logs")
          .resolve(namespace + "-" + leaseName));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Replicas of the packaged jar (system property {@code app.jar}) with the admin kubeconfig.
   * Creates the namespace if needed.
   */
  public static ReplicaSet of(ControlPlane controlPlane, String namespace, String leaseName,
      List<String> args) {
    return of(controlPlane, namespace, leaseName, args, appLauncher(), controlPlane.kubeconfig());
  }

  public static ReplicaSet of(ControlPlane controlPlane, String namespace, String leaseName,
      List<String> args, Launcher launcher, Path kubeconfig) {
    ReplicaSet set = new ReplicaSet(controlPlane, namespace, leaseName, args, launcher, kubeconfig);
    set.ensureNamespace();
    return set;
  }

  /** {@code java [app.jvmFlags] -jar app.jar args}. */
  public static Launcher appLauncher() {
    return (identity, args) -> {
      List<String> command = new ArrayList<>();
      command.add(javaBinary());
      command.addAll(jvmFlags());
      command.add("-jar");
      command.add(appJar().toString());
      command.addAll(args);
      return command;
    };
  }

  /** {@code java [app.jvmFlags] -cp classpath mainClass args}. */
  public static Launcher classLauncher(String classpath, String mainClass) {
    return (identity, args) -> {
      List<String> command = new ArrayList<>();
      command.add(javaBinary());
      command.addAll(jvmFlags());
      command.add("-cp");
      command.add(classpath);
      command.add(mainClass);
      command.addAll(args);
      return command;
    };
  }

  public static Path appJar() {
    Path jar = Path.of(System.getProperty("app.jar", "target/leaderelection.jar"));
    if (!Files.isRegularFile(jar)) {
      throw new IllegalStateException(jar + " not found: build it first (mvn package)");
    }
    return jar.toAbsolutePath();
  }

  static String javaBinary() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  static List<String> jvmFlags() {
    String flags = System.getProperty("app.jvmFlags", "").trim();
    return flags.isEmpty() ? List.of() : List.of(flags.split("\\s+"));
  }

  /** Sets an environment variable for replicas started from now on. */
  public ReplicaSet env(String name, String value) {
    env.put(name, value);
    return this;
  }

  /** Starts one replica named {@code identity} (its POD_NAME and --identity). */
  public Replica start(String identity) {
    return start(identity, List.of());
  }

  /** Starts one replica with extra arguments after the common ones. */
  public synchronized Replica start(String identity, List<String> extraArgs) {
    int port = freePort();
    List<String> all = new ArrayList<>(List.of(
        "--lease-name=" + leaseName,
        "--lease-namespace=" + namespace,
        "--kubeconfig=" + kubeconfig,
        "--health-port=" + port));
    all.addAll(args);
    all.addAll(extraArgs);
    Map<String, String> replicaEnv = new HashMap<>(env);
    replicaEnv.put("POD_NAME", identity);
    replicaEnv.put("POD_NAMESPACE", namespace);
    Replica replica = Replica.start(identity, launcher.command(identity, all), replicaEnv,
        logDir.resolve(identity + ".log"), port);
    replicas.add(replica);
    return replica;
  }

  /** Starts {@code n} replicas named {@code prefix-0 .. prefix-(n-1)}. */
  public List<Replica> startAll(String prefix, int n) {
    List<Replica> started = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      started.add(start(prefix + "-" + i));
    }
    return started;
  }

  public synchronized List<Replica> replicas() {
    return List.copyOf(replicas);
  }

  public List<Replica> alive() {
    return replicas().stream().filter(Replica::isAlive).toList();
  }

  public Optional<Replica> byIdentity(String identity) {
    return replicas().stream().filter(r -> r.identity().equals(identity)).reduce((a, b) -> b);
  }

  /** The Lease as the API server has it now, or null. */
  public Lease lease() {
    return admin.leases().inNamespace(namespace).withName(leaseName).get();
  }

  /** The holder recorded in the Lease, or empty. */
  public String holder() {
    Lease lease = lease();
    if (lease == null || lease.getSpec() == null || lease.getSpec().getHolderIdentity() == null) {
      return "";
    }
    return lease.getSpec().getHolderIdentity();
  }

  /** The replica the Lease names, if it is one of ours. */
  public Optional<Replica> leader() {
    String holder = holder();
    return holder.isEmpty() ? Optional.empty() : byIdentity(holder);
  }

  /** Replicas whose log says they lead right now (acquired and not stepped down since). */
  public List<Replica> selfDeclaredLeaders() {
    return alive().stream().filter(Replica::believesLeading).toList();
  }

  public <T> T withAdmin(Function<KubernetesClient, T> action) {
    return action.apply(admin);
  }

  public String namespace() {
    return namespace;
  }

  public String leaseName() {
    return leaseName;
  }

  public ControlPlane controlPlane() {
    return controlPlane;
  }

  /** Every replica's log, for failure messages. */
  public String logs() {
    StringBuilder s = new StringBuilder();
    replicas().forEach(r -> s.append(r.log()));
    return s.toString();
  }

  private void ensureNamespace() {
    if (admin.namespaces().withName(namespace).get() == null) {
      admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace)
          .endMetadata().build()).create();
    }
  }

  static int freePort() {
    try (ServerSocket socket = new ServerSocket(0)) {
      socket.setReuseAddress(true);
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Kills every replica still running. */
  @Override
  public void close() {
    replicas().forEach(Replica::close);
    admin.close();
  }
}
