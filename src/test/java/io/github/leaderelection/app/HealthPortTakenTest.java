package io.github.leaderelection.app;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real main, as a process, with its --health-port already bound by another socket. */
@DisplayName("the controller with its health port taken")
class HealthPortTakenTest {

  @TempDir
  Path tmp;

  private record Exit(int code, String out, List<String> err) {
  }

  /** An API server nobody listens on: the election, if it started, would only log its tries. */
  private Path kubeconfig() throws Exception {
    return Files.writeString(tmp.resolve("kubeconfig"), """
        apiVersion: v1
        kind: Config
        clusters:
        - name: nowhere
          cluster:
            server: https://127.0.0.1:1
        users:
        - name: someone
          user:
            token: not-a-token
        contexts:
        - name: here
          context:
            cluster: nowhere
            user: someone
        current-context: here
        """);
  }

  private Exit runWithPortTaken(int port) throws Exception {
    ProcessBuilder builder = new ProcessBuilder(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Main.class.getName(),
        "--lease-name", "my-lease", "--identity", "pod-0", "--lease-namespace", "default",
        "--health-port", Integer.toString(port), "--kubeconfig", kubeconfig().toString());
    builder.environment().remove("KUBECONFIG");
    Process process = builder.start();
    process.getOutputStream().close();
    String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("exits by itself").isTrue();
    return new Exit(process.exitValue(), out, err.lines().toList());
  }

  @Nested
  @DisplayName("is reported before anything starts")
  class ReportedFirst {

    @Test
    @DisplayName("exit 1 (not a bad option: 1 otherwise, as --help says), and the one fatal line"
        + " naming the port and the flag is all the process prints: no election line before or"
        + " after it")
    void theFatalLineIsTheOnlyLine() throws Exception {
      try (ServerSocket taken = new ServerSocket()) {
        taken.bind(new InetSocketAddress(0));
        int port = taken.getLocalPort();
        Exit exit = runWithPortTaken(port);
        assertThat(exit.code()).as("stderr: %s", exit.err()).isEqualTo(1);
        assertThat(exit.out()).isEmpty();
        assertThat(exit.err()).as("stderr").singleElement().satisfies(line -> assertThat(line)
            .startsWith("E").contains("cannot serve /healthz, /readyz and /metrics on port "
                + port + ": ")
            .endsWith("choose another --health-port (0 disables)"));
      }
    }
  }
}
