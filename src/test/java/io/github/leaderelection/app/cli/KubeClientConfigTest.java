package io.github.leaderelection.app.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.fabric8.kubernetes.client.Config;
import io.github.leaderelection.app.cli.KubeClientConfig.Discovery;
import io.github.leaderelection.app.cli.KubeClientConfig.Problem;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every kubeconfig that cannot work is one line naming the file and the problem, never a trace. */
class KubeClientConfigTest {

  private static final Duration TIMEOUT = Duration.ofSeconds(5);

  static final String VALID = """
      apiVersion: v1
      kind: Config
      clusters:
      - name: c1
        cluster:
          server: https://127.0.0.1:6443
      contexts:
      - name: ctx
        context:
          cluster: c1
          user: u1
          namespace: ns1
      current-context: ctx
      users:
      - name: u1
        user:
          token: abc
      """;

  @TempDir
  Path tmp;

  private Path write(String name, String content) throws IOException {
    return Files.writeString(tmp.resolve(name), content);
  }

  /** Discovery that sees only what the test arranges, never this machine's own kubeconfig. */
  private Discovery discovery(String kubeconfigVariable, boolean inCluster) {
    return new Discovery(kubeconfigVariable, tmp.resolve("home/.kube/config"), inCluster,
        tmp.resolve("no-such-token"));
  }

  private static Problem problem(Path file, Discovery discovery) {
    Problem p = catchThrowableOfType(Problem.class,
        () -> KubeClientConfig.load(file, TIMEOUT, discovery));
    assertThat(p).as("a Problem for %s", file).isNotNull();
    assertThat(p.getMessage()).as("one line").doesNotContain("\n").doesNotContain("\r");
    assertThat(p.getStackTrace()).as("nothing to print but the message").isEmpty();
    return p;
  }

  private Problem problem(Path file) {
    return problem(file, discovery(null, false));
  }

  static Stream<Arguments> badFiles() {
    return Stream.of(
        Arguments.of("garbage YAML", "clusters: [\n  - {name: x\n  : : ]]]",
            "not valid YAML at line "),
        Arguments.of("an empty file", "", "the file is empty"),
        Arguments.of("only blanks and comments", "\n  \n# nothing here\n", "the file is empty"),
        Arguments.of("a YAML list", "- a\n- b\n",
            "not a kubeconfig: the top level is a list, not a mapping"),
        Arguments.of("a YAML string", "just some text\n", "not a kubeconfig: the top level is a string"),
        Arguments.of("YAML that is no kubeconfig", "hello: world\n",
            "not a kubeconfig: it has no clusters, contexts or users"),
        Arguments.of("another kind of object", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
            "not a kubeconfig: kind is Pod, not Config"),
        Arguments.of("clusters of the wrong shape", "clusters: 42\n", "not a valid kubeconfig: "),
        Arguments.of("kubectl's empty kubeconfig",
            "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
            "no current-context is set (contexts: none)"),
        Arguments.of("no current-context", VALID.replace("current-context: ctx\n", ""),
            "no current-context is set (contexts: ctx)"),
        Arguments.of("a current-context that does not exist",
            VALID.replace("current-context: ctx", "current-context: prod"),
            "current-context 'prod' does not exist (contexts: ctx)"),
        Arguments.of("a context naming a missing cluster",
            VALID.replace("cluster: c1", "cluster: c2"),
            "context 'ctx' names cluster 'c2', which does not exist (clusters: c1)"),
        Arguments.of("a context naming a missing user", VALID.replace("user: u1", "user: u2"),
            "context 'ctx' names user 'u2', which does not exist (users: u1)"),
        Arguments.of("a cluster without a server",
            VALID.replace("server: https://127.0.0.1:6443", "insecure-skip-tls-verify: true"),
            "cluster 'c1' has no server URL"),
        Arguments.of("a certificate-authority file that does not exist",
            VALID.replace("    server:", "    certificate-authority: ca/missing.crt\n    server:"),
            "cluster 'c1' certificate-authority " + File.separator),
        Arguments.of("certificate-authority-data that is no base64",
            VALID.replace("    server:", "    certificate-authority-data: '%%%'\n    server:"),
            "cluster 'c1' certificate-authority-data is not valid base64"),
        Arguments.of("certificate-authority-data that is no certificate",
            VALID.replace("    server:", "    certificate-authority-data: "
                + Base64.getEncoder().encodeToString("not a certificate".getBytes(
                    StandardCharsets.UTF_8)) + "\n    server:"),
            "cluster 'c1' certificate-authority-data is not a PEM certificate"),
        Arguments.of("a certificate-authority file that is no certificate",
            VALID.replace("    server:", "    certificate-authority: " + File.separator + "dev"
                + File.separator + "null\n    server:"),
            "cluster 'c1' certificate-authority is not a PEM certificate"),
        Arguments.of("client-key-data that is no key",
            VALID.replace("token: abc", "client-certificate-data: "
                + Base64.getEncoder().encodeToString("x".getBytes(StandardCharsets.UTF_8))
                + "\n    client-key-data: "
                + Base64.getEncoder().encodeToString("y".getBytes(StandardCharsets.UTF_8))),
            "unusable certificate or key"),
        Arguments.of("a client-certificate file that does not exist",
            VALID.replace("token: abc", "client-certificate: /no/such/client.crt"),
            "user 'u1' client-certificate /no/such/client.crt: file not found or not readable"));
  }

  @DisplayName("--kubeconfig with bad content: one line naming the file and what is wrong")
  @ParameterizedTest(name = "{0}")
  @MethodSource("badFiles")
  void badContentIsOneLineNamingTheFile(String what, String content, String expected)
      throws IOException {
    Path file = write("kubeconfig", content);
    assertThat(problem(file).getMessage()).startsWith("--kubeconfig " + file + ": ")
        .contains(expected);
  }

  @DisplayName("a relative certificate-authority path is resolved against the kubeconfig's folder")
  @Test
  void relativeCertificatePathsAreResolvedAgainstTheKubeconfig() throws IOException {
    Path file = write("kubeconfig",
        VALID.replace("    server:", "    certificate-authority: ca/missing.crt\n    server:"));
    assertThat(problem(file).getMessage()).contains(
        "certificate-authority " + tmp.resolve("ca/missing.crt") + ": file not found");
  }

  @DisplayName("--kubeconfig naming a directory, nothing, a missing file or binary junk: one line")
  @Test
  void notAKubeconfigFileAtAll() throws IOException {
    assertThat(problem(tmp).getMessage())
        .isEqualTo("--kubeconfig " + tmp + ": is a directory, not a kubeconfig file");
    assertThat(problem(Path.of("")).getMessage())
        .isEqualTo("--kubeconfig '': the file name is empty");
    Path missing = tmp.resolve("missing");
    assertThat(problem(missing).getMessage())
        .isEqualTo("--kubeconfig " + missing + ": file not found");
    byte[] junk = new byte[4096];
    new Random(42).nextBytes(junk);
    Path binary = Files.write(tmp.resolve("junk.bin"), junk);
    assertThat(problem(binary).getMessage())
        .isEqualTo("--kubeconfig " + binary + ": not a kubeconfig: binary data, not YAML text");
    Path withNul = Files.write(tmp.resolve("nul"),
        "clusters:\0\n".getBytes(StandardCharsets.UTF_8));
    assertThat(problem(withNul).getMessage()).contains("binary data");
  }

  @DisplayName("a valid kubeconfig loads with the timeouts applied, no hidden retries and HTTP/1.1"
      + " (a timed-out request reconnects instead of waiting on a dead HTTP/2 connection)")
  @Test
  void validKubeconfigLoadsWithTheTimeouts() throws Exception {
    Config config = KubeClientConfig.load(write("kubeconfig", VALID), TIMEOUT,
        discovery(null, false));
    assertThat(config.getMasterUrl()).isEqualTo("https://127.0.0.1:6443/");
    assertThat(config.getAutoOAuthToken()).isEqualTo("abc");
    assertThat(config.getNamespace()).isEqualTo("ns1");
    assertThat(config.getConnectionTimeout()).isEqualTo(5000);
    assertThat(config.getRequestTimeout()).isEqualTo(5000);
    assertThat(config.getRequestRetryBackoffLimit()).isZero();
    assertThat(config.getWatchReconnectInterval()).isEqualTo(500);
    assertThat(config.isHttp2Disable()).isTrue();
  }

  @DisplayName("$KUBECONFIG naming a missing or bad file is reported for $KUBECONFIG, not skipped")
  @Test
  void badKubeconfigVariable() throws IOException {
    Path missing = tmp.resolve("missing");
    assertThat(problem(null, discovery(missing.toString(), true)).getMessage())
        .isEqualTo("$KUBECONFIG " + missing + ": file not found");
    Path bad = write("bad", "hello: world\n");
    assertThat(problem(null, discovery(bad.toString(), false)).getMessage())
        .startsWith("$KUBECONFIG " + bad + ": not a kubeconfig");
    Path good = write("good", VALID);
    String list = good + File.pathSeparator + bad;
    assertThat(problem(null, discovery(list, false)).getMessage())
        .startsWith("$KUBECONFIG file " + bad + ": not a kubeconfig");
  }

  @DisplayName("$KUBECONFIG with several files merges them as kubectl does: the first name wins")
  @Test
  void kubeconfigVariableWithSeveralFiles() throws Exception {
    Path contexts = write("contexts", """
        contexts:
        - name: ctx
          context: {cluster: c1, user: u1}
        current-context: ctx
        """);
    Path rest = write("rest", VALID.replace("current-context: ctx", "current-context: other"));
    Config config = KubeClientConfig.load(null, TIMEOUT,
        discovery(contexts + File.pathSeparator + rest, false));
    assertThat(config.getMasterUrl()).isEqualTo("https://127.0.0.1:6443/");
    assertThat(config.getCurrentContext().getName()).isEqualTo("ctx");
  }

  @DisplayName("a bad ~/.kube/config is reported by name; a missing one outside a cluster says so")
  @Test
  void defaultKubeconfig() throws IOException {
    Path home = tmp.resolve("home/.kube/config");
    assertThat(problem(null, discovery(null, false)).getMessage())
        .isEqualTo("no kubeconfig: not running in a cluster (KUBERNETES_SERVICE_HOST is not set),"
            + " $KUBECONFIG is not set and " + home + " does not exist; pass --kubeconfig");
    assertThat(problem(null, discovery(null, true)).getMessage())
        .startsWith("in-cluster configuration: service account token "
            + tmp.resolve("no-such-token") + " not found or not readable");
    Files.createDirectories(home.getParent());
    Files.writeString(home, "current-context: nowhere\ncontexts: []\n");
    assertThat(problem(null, discovery(null, true)).getMessage())
        .isEqualTo("kubeconfig " + home
            + ": current-context 'nowhere' does not exist (contexts: none)");
  }

  /**
   * The real main in its own JVM, as an operator runs it: exit 2 and exactly one line on stderr,
   * {@code leaderelection: <file>: <problem>}, no stack trace, nothing started.
   */
  @DisplayName("the real main with a bad --kubeconfig exits 2 with one stderr line, no stack trace")
  @Test
  void realMainExits2WithOneLine() throws Exception {
    Path notKubeconfig = write("deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\n");
    for (Path bad : new Path[] {tmp, notKubeconfig}) {
      ProcessBuilder builder = new ProcessBuilder(
          Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-cp", System.getProperty("java.class.path"), io.github.leaderelection.app.Main.class.getName(),
          "--lease-name", "my-lease", "--identity", "a", "--health-port", "0",
          "--kubeconfig", bad.toString());
      builder.environment().remove("KUBECONFIG");
      Process process = builder.start();
      process.getOutputStream().close();
      String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(process.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      assertThat(process.exitValue()).as("stderr: %s", err).isEqualTo(2);
      assertThat(out).isEmpty();
      assertThat(err.lines().toList()).as("stderr: %s", err).hasSize(1);
      assertThat(err).startsWith("leaderelection: --kubeconfig " + bad + ": ")
          .doesNotContain("Exception").doesNotContain("\tat ");
    }
  }
}
