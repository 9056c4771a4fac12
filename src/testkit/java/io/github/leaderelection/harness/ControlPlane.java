package io.github.leaderelection.harness;

import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A real Kubernetes control plane on loopback: kube-apiserver + etcd started by fabric8's
 * kube-api-test from local binaries (see scripts/provision-control-plane.sh), plus the kubectl of
 * the same version.
 *
 * <p>Configured by system properties (set by the Maven build): {@code kubeapitest.dir},
 * {@code kubeapitest.version} and {@code kubeapitest.offline} (false lets kube-api-test download
 * the binaries where the internet is reachable).
 */
public final class ControlPlane implements AutoCloseable {

  private static ControlPlane shared;
  private static ControlPlane sharedCoordinated;

  /**
   * kube-apiserver flags that turn on coordinated leader election (KEP-4355): the feature gate
   * starts the election controller inside kube-apiserver, the runtime config serves the
   * coordination.k8s.io/v1beta1 LeaseCandidate API. Both are off by default up to 1.36.
   */
  public static final List<String> COORDINATED_FLAGS = List.of(
      "--feature-gates=CoordinatedLeaderElection=true",
      "--runtime-config=coordination.k8s.io/v1beta1=true");

  private final KubeAPIServer server;
  private final Path dir;
  private final Path kubeconfig;
  private final Path binaries;

  private ControlPlane(KubeAPIServer server, Path dir, Path binaries) {
    this.server = server;
    this.dir = dir;
    this.binaries = binaries;
    try {
      this.kubeconfig = dir.resolve("admin.kubeconfig");
      Files.writeString(kubeconfig, server.getKubeConfigYaml());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** One control plane per JVM, shared by all tests (each test uses its own namespace/lease). */
  public static synchronized ControlPlane shared() {
    if (shared == null) {
      shared = start();
      ControlPlane started = shared;
      Runtime.getRuntime().addShutdownHook(new Thread(started::close, "control-plane-stop"));
    }
    return shared;
  }

  /**
   * A second control plane per JVM with coordinated leader election on ({@link #COORDINATED_FLAGS}),
   * started on first use: the default one stays as a cluster where the feature is off.
   */
  public static synchronized ControlPlane sharedCoordinated() {
    if (sharedCoordinated == null) {
      sharedCoordinated = start(COORDINATED_FLAGS);
      ControlPlane started = sharedCoordinated;
      Runtime.getRuntime().addShutdownHook(new Thread(started::close, "control-plane-stop"));
    }
    return sharedCoordinated;
  }

  /** Starts a new control plane; fails with instructions when the binaries are missing. */
  public static ControlPlane start() {
    return start(List.of());
  }

  /**
   * Starts a new control plane with extra kube-apiserver flags ({@code --name=value} each).
   */
  public static ControlPlane start(List<String> apiServerFlags) {
    String testDir = System.getProperty("kubeapitest.dir",
        System.getProperty("user.home") + "/.kubeapitest");
    String version = System.getProperty("kubeapitest.version", "1.36.3");
    boolean offline = Boolean.parseBoolean(System.getProperty("kubeapitest.offline", "true"));
    KubeAPIServerConfigBuilder config = KubeAPIServerConfigBuilder.anAPIServerConfig()
        .withTestDir(testDir)
        .withApiServerVersion(version)
        .withOfflineMode(offline)
        .withUpdateKubeConfig(false)
        .withStartupTimeout(120_000);
    apiServerFlags.forEach(config::withApiServerFlag);
    KubeAPIServer server = new KubeAPIServer(config.build());
    try {
      server.start();
    } catch (RuntimeException e) {
      throw new IllegalStateException("cannot start kube-apiserver " + version + " + etcd from "
          + testDir + "/k8s/" + version + "-linux-amd64 (offline=" + offline + "): " + e.getMessage()
          + ". Provide the binaries with `scripts/provision-control-plane.sh` (builds them from Go"
          + " modules; `make test` runs it) or, on a machine with internet access, run"
          + " `make test KUBEAPITEST_OFFLINE=false` to let kube-api-test download them.", e);
    }
    try {
      Path dir = Files.createTempDirectory("controlplane");
      return new ControlPlane(server, dir, Path.of(testDir, "k8s", version + "-linux-amd64"));
    } catch (IOException e) {
      server.stop();
      throw new UncheckedIOException(e);
    }
  }

  /** kubeconfig of a cluster admin (client certificate in system:masters). */
  public Path kubeconfig() {
    return kubeconfig;
  }

  public String kubeconfigYaml() {
    return server.getKubeConfigYaml();
  }

  /** A client with admin rights, for arranging and inspecting tests. */
  public KubernetesClient adminClient() {
    return new KubernetesClientBuilder()
        .withConfig(Config.fromKubeconfig(server.getKubeConfigYaml())).build();
  }

  /** The API server's URL (https://127.0.0.1:port). */
  public String url() {
    try (KubernetesClient client = adminClient()) {
      return client.getMasterUrl().toString();
    }
  }

  /** A scratch directory that lives as long as this control plane. */
  public Path workDir() {
    return dir;
  }

  public Path kubectlBinary() {
    return binaries.resolve("kubectl");
  }

  /** Runs the control plane's kubectl as admin; returns exit code and combined output. */
  public CommandResult kubectl(String... args) {
    return kubectlWith(kubeconfig, args);
  }

  /** Runs kubectl with another kubeconfig (e.g. a ServiceAccount token). */
  public CommandResult kubectlWith(Path config, String... args) {
    List<String> command = new ArrayList<>();
    command.add(kubectlBinary().toString());
    command.add("--kubeconfig=" + config);
    command.addAll(List.of(args));
    return CommandResult.run(command, Duration.ofSeconds(60));
  }

  /**
   * Stops the API server: the real kube-apiserver process is frozen (SIGSTOP). To clients it is an
   * API server that stops answering: connections hang and requests time out.
   */
  public void stopApiServer() {
    Signals.send(apiServerProcess(), "STOP");
  }

  /** Lets the frozen API server run again (SIGCONT); it answers at once, etcd state intact. */
  public void startApiServer() {
    Signals.send(apiServerProcess(), "CONT");
  }

  private ProcessHandle apiServerProcess() {
    // This control plane's own process, by its port: a JVM may run two of them (see
    // sharedCoordinated()), and freezing the other one would be a different test.
    String port = String.valueOf(java.net.URI.create(url()).getPort());
    Optional<ProcessHandle> process = ProcessHandle.current().descendants()
        .filter(p -> p.info().command().map(c -> c.endsWith("/kube-apiserver")).orElse(false))
        .filter(p -> p.info().arguments().map(a -> List.of(a).contains(port)
            || List.of(a).contains("--secure-port=" + port)).orElse(false))
        .findFirst();
    return process.orElseThrow(() -> new IllegalStateException("no kube-apiserver process found"));
  }

  @Override
  public void close() {
    try {
      startApiServer();
    } catch (RuntimeException ignored) {
      // not stopped, or already gone
    }
    server.stop();
    TempDirs.deleteTree(dir);
  }

  /** Result of a finished command. */
  public record CommandResult(int exitCode, String output) {

    public static CommandResult run(List<String> command, Duration timeout) {
      try {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
          p.destroyForcibly();
          throw new IllegalStateException("timed out: " + command);
        }
        return new CommandResult(p.exitValue(), new String(out, StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
  }
}
