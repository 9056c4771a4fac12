package io.github.leaderelection.app.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.leaderelection.election.LogCapture;
import io.github.leaderelection.app.logging.LogSetup;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;

/** Flags, every validation rule, the defaults from the environment, --help and --version. */
class LeaderElectionCommandTest {

  /** Never connects: the elections are built to read back their settings, never started. */
  private static final io.fabric8.kubernetes.client.KubernetesClient CLIENT =
      new io.fabric8.kubernetes.client.KubernetesClientBuilder().withConfig(
          new io.fabric8.kubernetes.client.ConfigBuilder().withMasterUrl("https://127.0.0.1:1")
              .build()).build();

  private static io.github.leaderelection.election.LeaderElection built(Settings s) {
    return s.election().client(CLIENT).build();
  }


  private static final String HINT = "Try 'leaderelection --help' for more information.";

  @TempDir
  Path tmp;

  private record Run(int code, String out, String err) {
  }

  private Environment env(Map<String, String> vars) {
    return new Environment(vars, tmp.resolve("no-such-namespace-file"), () -> "host-1");
  }

  private Environment env() {
    return env(Map.of());
  }

  private static Run run(Environment env, String... args) {
    CommandLine cmd = LeaderElectionCommand.commandLine(env);
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cmd.setOut(new PrintWriter(out));
    cmd.setErr(new PrintWriter(err));
    int code = cmd.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  private static Settings settings(Environment env, String... args) {
    CommandLine cmd = LeaderElectionCommand.commandLine(env);
    cmd.parseArgs(args);
    LeaderElectionCommand command = cmd.getCommand();
    return command.toSettings();
  }

  /**
   * Bad input: exit 2, exactly one line naming the flag and the rule, then the hint; nothing on
   * stdout, no stack trace. Checked first without executing, so a rule that wrongly lets the input
   * pass fails here instead of starting the controller.
   */
  private static void assertUsageError(Environment env, String[] args, String expected) {
    assertThatThrownBy(() -> settings(env, args)).isInstanceOf(ParameterException.class);
    Run r = run(env, args);
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.out()).isEmpty();
    List<String> lines = r.err().lines().toList();
    assertThat(lines).as("stderr: %s", r.err()).hasSize(2);
    assertThat(lines.get(0)).startsWith("leaderelection: ").contains(expected);
    assertThat(lines.get(1)).isEqualTo(HINT);
    assertThat(r.err()).doesNotContain("Exception").doesNotContain("\tat ");
  }

  private static String[] args(String... a) {
    return a;
  }

  private static String[] withName(String... a) {
    List<String> all = new ArrayList<>(List.of("--lease-name", "my-lease"));
    all.addAll(Arrays.asList(a));
    return all.toArray(String[]::new);
  }

  static Stream<Arguments> badInput() {
    return Stream.of(
        Arguments.of(args(), "Missing required option: '--lease-name=<name>'"),
        Arguments.of(args("--lease-name"), "Missing required parameter for option '--lease-name'"),
        Arguments.of(args("--lease-name", ""), "--lease-name must not be empty"),
        Arguments.of(args("--lease-name", "Bad_Name"), "--lease-name 'Bad_Name' is invalid: must be a DNS-1123 subdomain"),
        Arguments.of(args("--lease-name", "-lease"), "--lease-name '-lease' is invalid"),
        Arguments.of(args("--lease-name", "lease-"), "--lease-name 'lease-' is invalid"),
        Arguments.of(args("--lease-name", "a".repeat(254)), "at most 253 characters"),
        Arguments.of(withName("--lease-namespace", ""), "--lease-namespace must not be empty"),
        Arguments.of(withName("--lease-namespace", "Bad_NS"), "--lease-namespace 'Bad_NS' is invalid: must be a DNS-1123 label"),
        Arguments.of(withName("--lease-namespace", "a.b"), "--lease-namespace 'a.b' is invalid"),
        Arguments.of(withName("--lease-namespace", "n".repeat(64)), "at most 63 characters"),
        Arguments.of(withName("--identity", ""), "--identity must not be empty"),
        Arguments.of(withName("--identity", "  "), "--identity must not be empty"),
        Arguments.of(withName("--renew-deadline", "20s"), "--lease-duration (15s) must be greater than --renew-deadline (20s)"),
        Arguments.of(withName("--renew-deadline", "15s"), "--lease-duration (15s) must be greater than --renew-deadline (15s)"),
        Arguments.of(withName("--renew-deadline", "2s"), "--renew-deadline (2s) must be greater than 1.2 x --retry-period (2.4s)"),
        Arguments.of(withName("--renew-deadline", "2400ms"), "--renew-deadline (2.4s) must be greater than 1.2 x --retry-period (2.4s)"),
        Arguments.of(withName("--retry-period", "0s"), "--retry-period must be greater than 0 (got 0s)"),
        Arguments.of(withName("--retry-period", "0"), "Invalid value for option '--retry-period': '0' is not a duration"),
        Arguments.of(withName("--lease-duration", "15x"), "Invalid value for option '--lease-duration': '15x' is not a duration (use e.g. 15s, 500ms, 1m)"),
        Arguments.of(withName("--lease-duration", "abc"), "Invalid value for option '--lease-duration'"),
        Arguments.of(withName("--lease-duration", ""), "Invalid value for option '--lease-duration'"),
        Arguments.of(withName("--renew-deadline", "-1s"), "Invalid value for option '--renew-deadline'"),
        Arguments.of(withName("--retry-period", "1m30"), "Invalid value for option '--retry-period'"),
        Arguments.of(withName("--lease-duration", "15500ms"), "--lease-duration must be whole seconds (the Lease stores seconds), got 15500ms"),
        Arguments.of(withName("--work-interval", "0s"), "--work-interval must be greater than 0"),
        Arguments.of(withName("--work-interval", "5"), "Invalid value for option '--work-interval'"),
        Arguments.of(withName("--watchdog-grace", "soon"), "Invalid value for option '--watchdog-grace'"),
        Arguments.of(withName("--health-port", "65536"), "--health-port must be between 0 and 65535 (0 disables), got 65536"),
        Arguments.of(withName("--health-port", "-1"), "--health-port must be between 0 and 65535"),
        Arguments.of(withName("--health-port", "http"), "Invalid value for option '--health-port'"),
        Arguments.of(withName("--log-format", "xml"), "Invalid value for option '--log-format'"),
        Arguments.of(withName("--kubeconfig", "/no/such/kubeconfig"), "--kubeconfig /no/such/kubeconfig: file not found or not readable"),
        Arguments.of(withName("--label-leader"), "--label-leader needs env POD_NAME"),
        Arguments.of(withName("--coordinated", "--binary-version", "v1.36.0"), "--binary-version 'v1.36.0' is invalid: must be a semantic version MAJOR.MINOR.PATCH without a leading 'v', e.g. 1.36.0"),
        Arguments.of(withName("--coordinated", "--binary-version", "1.36"), "--binary-version '1.36' is invalid"),
        Arguments.of(withName("--coordinated", "--binary-version", "1.36.0", "--emulation-version", "01.35.0"), "--emulation-version '01.35.0' is invalid"),
        Arguments.of(withName("--coordinated", "--binary-version", "0.0.0"), "--binary-version must not be 0.0.0: the API server reads it as no version"),
        Arguments.of(withName("--coordinated", "--binary-version", "1.36.0", "--emulation-version", "1.37.0"), "--emulation-version (1.37.0) must not be greater than --binary-version (1.36.0)"),
        Arguments.of(withName("--coordinated", "--binary-version", "1.36.0-rc.1", "--emulation-version", "1.36.0"), "--emulation-version (1.36.0) must not be greater than --binary-version (1.36.0-rc.1)"),
        Arguments.of(withName("--coordinated", "--binary-version", "1.36.0", "--identity", "a b"), "--identity 'a b' cannot name a LeaseCandidate (--coordinated)"),
        Arguments.of(withName("--binary-version", "1.36.0"), "--binary-version only applies with --coordinated"),
        Arguments.of(withName("--emulation-version", "1.36.0"), "--emulation-version only applies with --coordinated"),
        Arguments.of(withName("--lease-label", "novalue"), "'--lease-label'"),
        Arguments.of(withName("--lease-label", "Bad Key=v"), "--lease-label 'Bad Key=v': the key's name must be 1-63 characters"),
        Arguments.of(withName("--lease-label", "-team=v"), "--lease-label '-team=v': the key's name"),
        Arguments.of(withName("--lease-label", "k".repeat(64) + "=v"), "the key's name must be 1-63 characters"),
        Arguments.of(withName("--lease-label", "Example.com/team=v"), "--lease-label 'Example.com/team=v': the key's prefix must be a DNS-1123 subdomain"),
        Arguments.of(withName("--lease-label", "/team=v"), "the key's prefix must be a DNS-1123 subdomain"),
        Arguments.of(withName("--lease-label", "team/=v"), "the key's name must be 1-63 characters"),
        Arguments.of(withName("--lease-label", "team=a b"), "--lease-label 'team=a b': the value must be empty or at most 63 characters"),
        Arguments.of(withName("--lease-label", "team=a=b"), "the value must be empty"),
        Arguments.of(withName("--lease-label", "team=" + "v".repeat(64)), "the value must be empty or at most 63 characters"),
        Arguments.of(withName("--frobnicate"), "Unknown option: '--frobnicate'"),
        Arguments.of(withName("extra"), "extra"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badInput")
  void badInputIsOneLineNamingTheFlagAndExit2(String[] args, String expected) {
    assertUsageError(env(), args, expected);
  }

  @Test
  void anInvalidNamespaceFromTheEnvironmentIsReportedForTheFlag() {
    assertUsageError(env(Map.of("POD_NAMESPACE", "Bad_NS")), withName(),
        "--lease-namespace 'Bad_NS' is invalid");
  }

  @Test
  void defaults() {
    Settings s = settings(env(Map.of("POD_NAME", "pod-a")), "--lease-name", "my-lease");
    assertThat(built(s).leaseName()).isEqualTo("my-lease");
    assertThat(built(s).leaseNamespace()).isEqualTo("default");
    assertThat(built(s).identity()).isEqualTo("pod-a");
    assertThat(built(s).leaseDuration()).isEqualTo(Duration.ofSeconds(15));
    assertThat(built(s).renewDeadline()).isEqualTo(Duration.ofSeconds(10));
    assertThat(built(s).retryPeriod()).isEqualTo(Duration.ofSeconds(2));
    assertThat(built(s).releasesOnClose()).isTrue();
    assertThat(built(s).isWatching()).isTrue();
    assertThat(s.workInterval()).isEqualTo(Duration.ofSeconds(5));
    assertThat(s.kubeconfig()).isNull();
    assertThat(s.healthPort()).isEqualTo(8080);
    assertThat(s.watchdogGrace()).isEqualTo(Duration.ofSeconds(5));
    assertThat(s.logFormat()).isEqualTo(LogSetup.Format.text);
    assertThat(s.labelLeader()).isFalse();
    assertThat(s.podName()).isEqualTo("pod-a");
  }

  @Test
  void durationsInGoNotation() {
    Settings s = settings(env(), withName("--lease-duration", "1m30s", "--renew-deadline", "1m",
        "--retry-period", "500ms", "--work-interval", "1.5s", "--watchdog-grace", "0s"));
    assertThat(built(s).leaseDuration()).isEqualTo(Duration.ofSeconds(90));
    assertThat(built(s).renewDeadline()).isEqualTo(Duration.ofMinutes(1));
    assertThat(built(s).retryPeriod()).isEqualTo(Duration.ofMillis(500));
    assertThat(s.workInterval()).isEqualTo(Duration.ofMillis(1500));
    assertThat(s.watchdogGrace()).isZero();
  }

  @Test
  void boundariesThatAreStillValid() throws IOException {
    Path kubeconfig = Files.writeString(tmp.resolve("kubeconfig"), "apiVersion: v1\n");
    Settings s = settings(env(Map.of("POD_NAME", "pod-a")),
        "--lease-name", "a".repeat(253), "--lease-namespace", "n".repeat(63),
        "--lease-duration", "3s", "--renew-deadline", "2500ms", "--retry-period", "2s",
        "--health-port", "65535", "--kubeconfig", kubeconfig.toString(), "--label-leader",
        "--no-release-on-cancel", "--no-watch", "--log-format", "json");
    assertThat(built(s).leaseName()).hasSize(253);
    assertThat(built(s).leaseNamespace()).hasSize(63);
    assertThat(built(s).renewDeadline()).isEqualTo(Duration.ofMillis(2500));
    assertThat(s.healthPort()).isEqualTo(65535);
    assertThat(s.kubeconfig()).isEqualTo(kubeconfig);
    assertThat(s.labelLeader()).isTrue();
    assertThat(built(s).releasesOnClose()).isFalse();
    assertThat(built(s).isWatching()).isFalse();
    assertThat(s.logFormat()).isEqualTo(LogSetup.Format.json);
    assertThat(settings(env(), "--health-port", "0", "--lease-name", "a.b-c.d").healthPort())
        .isZero();
    // Put the log format back for the other tests in this JVM.
    settings(env(), withName());
  }

  @Test
  void namespaceFromTheFlagFirst() throws IOException {
    Path file = Files.writeString(tmp.resolve("namespace"), "from-file\n");
    Environment env = new Environment(Map.of("POD_NAMESPACE", "from-env"), file, () -> "host-1");
    assertThat(settings(env, withName("--lease-namespace", "from-flag")).namespace())
        .isEqualTo("from-flag");
  }

  @Test
  void namespaceFromPodNamespaceBeforeTheServiceAccountFile() throws IOException {
    Path file = Files.writeString(tmp.resolve("namespace"), "from-file\n");
    Environment env = new Environment(Map.of("POD_NAMESPACE", "from-env"), file, () -> "host-1");
    assertThat(settings(env, withName()).namespace()).isEqualTo("from-env");
  }

  @Test
  void namespaceFromTheServiceAccountFileWhenNoEnv() throws IOException {
    Path file = Files.writeString(tmp.resolve("namespace"), "from-file\n");
    Map<String, String> vars = new HashMap<>();
    vars.put("POD_NAMESPACE", "  "); // blank counts as unset
    Environment env = new Environment(vars, file, () -> "host-1");
    assertThat(settings(env, withName()).namespace()).isEqualTo("from-file");
  }

  @Test
  void namespaceDefaultsToDefault() {
    assertThat(settings(env(), withName()).namespace()).isEqualTo("default");
  }

  @Test
  void identityFromTheFlagFirst() {
    Settings s = settings(env(Map.of("POD_NAME", "pod-a")), withName("--identity", "replica-1"));
    assertThat(built(s).identity()).isEqualTo("replica-1");
  }

  @Test
  void identityFromPodNameWithoutWarning() {
    try (LogCapture logs = new LogCapture(LeaderElectionCommand.class)) {
      Settings s = settings(env(Map.of("POD_NAME", "pod-a")), withName());
      assertThat(built(s).identity()).isEqualTo("pod-a");
      assertThat(logs.messages()).isEmpty();
    }
  }

  @Test
  void identityFromTheHostNameWithAWarning() {
    try (LogCapture logs = new LogCapture(LeaderElectionCommand.class)) {
      Settings s = settings(env(), withName());
      assertThat(built(s).identity()).isEqualTo("host-1");
      assertThat(logs.events()).singleElement().satisfies(e -> {
        assertThat(e.getLevel().toString()).isEqualTo("WARN");
        assertThat(e.getFormattedMessage()).contains("neither --identity nor env POD_NAME is set")
            .contains("'host-1'").contains("unique");
      });
    }
  }

  @Test
  void helpDocumentsEveryOptionAndExits0() {
    Run r = run(env(), "--help");
    assertThat(r.code()).isZero();
    assertThat(r.err()).isEmpty();
    CommandLine cmd = LeaderElectionCommand.commandLine(env());
    for (OptionSpec option : cmd.getCommandSpec().options()) {
      assertThat(r.out()).as("usage mentions %s", option.longestName())
          .contains(option.longestName().replaceFirst("^--", ""));
      assertThat(option.description()).as("%s has a description", option.longestName()).isNotEmpty();
    }
    assertThat(r.out().replaceAll("\\s+", " ")).contains("--lease-name", "--lease-namespace", "--identity",
        "--lease-duration", "--renew-deadline", "--retry-period", "--work-interval",
        "--[no-]release-on-cancel", "--kubeconfig", "--lease-label", "--coordinated",
        "--binary-version", "--emulation-version", "--help", "--version",
        "lease-duration > renew-deadline > 1.2 x retry-period > 0");
  }

  private static Settings settingsBuiltAs(String buildVersion, String... args) {
    CommandLine cmd = LeaderElectionCommand.commandLine(new Environment(Map.of("POD_NAME",
        "pod-a"), Path.of("/no/such/namespace/file"), () -> "host-1"));
    LeaderElectionCommand command = cmd.getCommand();
    command.buildVersion = () -> buildVersion;
    cmd.parseArgs(args);
    return command.toSettings();
  }

  @Test
  @DisplayName("without --coordinated: the usual election, no versions, no labels")
  void notCoordinatedByDefault() {
    Settings s = settingsBuiltAs("0.1.0", withName());
    assertThat(built(s).isCoordinated()).isFalse();
    assertThat(built(s).leaseLabels()).isEmpty();
    assertThat(s.binaryVersion()).isNull();
    assertThat(s.emulationVersion()).isNull();
  }

  @Test
  @DisplayName("--coordinated: the binary version defaults to this build's, the emulation version"
      + " to the binary version")
  void coordinatedVersionsDefaultToTheBuild() {
    Settings s = settingsBuiltAs("0.1.0", withName("--coordinated"));
    assertThat(built(s).isCoordinated()).isTrue();
    assertThat(s.binaryVersion()).isEqualTo("0.1.0");
    assertThat(s.emulationVersion()).isEqualTo("0.1.0");
    Settings explicit = settingsBuiltAs("0.1.0", withName("--coordinated",
        "--binary-version", "1.36.2", "--emulation-version", "1.35.0"));
    assertThat(explicit.binaryVersion()).isEqualTo("1.36.2");
    assertThat(explicit.emulationVersion()).isEqualTo("1.35.0");
    assertThat(settingsBuiltAs("0.1.0", withName("--coordinated", "--binary-version",
        "1.36.0")).emulationVersion()).isEqualTo("1.36.0");
    assertThat(settingsBuiltAs(null, withName("--coordinated", "--binary-version",
        "2.0.0-rc.1+build.5", "--emulation-version", "2.0.0-alpha")).emulationVersion())
        .isEqualTo("2.0.0-alpha");
  }

  @Test
  @DisplayName("--coordinated in a build that does not know its version asks for"
      + " --binary-version, in one line, exit 2")
  void coordinatedWithoutAKnownBuildVersionNeedsTheFlag() {
    assertThatThrownBy(() -> settingsBuiltAs(null, withName("--coordinated")))
        .isInstanceOf(ParameterException.class)
        .hasMessage("--coordinated needs --binary-version: this build does not know its own"
            + " version (run the packaged jar, or pass e.g. --binary-version=1.0.0)");
  }

  @Test
  @DisplayName("--lease-label is repeatable and takes prefixed keys and empty values")
  void leaseLabels() {
    Settings s = settings(env(), withName("--lease-label", "app.kubernetes.io/name=leaderelection",
        "--lease-label", "team=", "--lease-label", "x=a_b.c-D", "--lease-label",
        "k".repeat(63) + "=" + "v".repeat(63)));
    assertThat(built(s).leaseLabels()).containsOnly(
        Map.entry("app.kubernetes.io/name", "leaderelection"), Map.entry("team", ""),
        Map.entry("x", "a_b.c-D"), Map.entry("k".repeat(63), "v".repeat(63)));
  }

  @Test
  void versionExits0() {
    Run r = run(env(), "--version");
    assertThat(r.code()).isZero();
    assertThat(r.out()).startsWith("leaderelection ");
    assertThat(r.err()).isEmpty();
  }

  static Stream<Arguments> identitiesThatSplitLogLines() {
    return Stream.of(
        Arguments.of("pod\n0", "--identity 'pod\\n0' is invalid: must not contain control"
            + " characters or line breaks, found \\n at index 3 (it would split or garble log"
            + " lines)"),
        Arguments.of("pod-0\r", "found \\r at index 5"),
        Arguments.of("pod\t0", "--identity 'pod\\t0' is invalid"),
        Arguments.of("\u001b[31mpod", "--identity '\\u001b[31mpod' is invalid"),
        Arguments.of("pod\u00850", "found \\u0085 at index 3"),
        Arguments.of("pod\u20280", "found \\u2028 at index 3"),
        Arguments.of("pod\u0000", "found \\u0000 at index 3"),
        Arguments.of("pod\ud800", "--identity 'pod\\ud800' is invalid: must be valid Unicode"
            + " text, found an unpaired surrogate \\ud800 at index 3"));
  }

  static Stream<Arguments> durationsOverTheLimit() {
    String lease = "--lease-duration must be at most 2147483647s (about 68 years: the Lease"
        + " stores it in seconds as a 32-bit number), got ";
    return Stream.of(
        Arguments.of(withName("--lease-duration=9999999999h"), lease + "9999999999h"),
        Arguments.of(withName("--lease-duration=2147483648s"), lease + "2147483648s"),
        Arguments.of(withName("--lease-duration=596524h"), lease + "596524h"),
        Arguments.of(withName("--renew-deadline=9999999999h"),
            "--renew-deadline must be at most 2147483647s (about 68 years), got 9999999999h"),
        Arguments.of(withName("--retry-period=9999999999h"),
            "--retry-period must be at most 2147483647s (about 68 years), got 9999999999h"),
        Arguments.of(withName("--work-interval=9999999999h"),
            "--work-interval must be at most 2147483647s (about 68 years), got 9999999999h"),
        Arguments.of(withName("--watchdog-grace=9999999999h"),
            "--watchdog-grace must be at most 2147483647s (about 68 years), got 9999999999h"),
        Arguments.of(withName("--lease-duration=99999999999999999999h"),
            "Invalid value for option '--lease-duration': '99999999999999999999h' is too long:"
                + " at most 2147483647s (about 68 years)"));
  }

  @Nested
  @DisplayName("small bad inputs: one line naming the flag and the rule, exit 2")
  class SmallBadInputs {

    @ParameterizedTest(name = "--identity {0}")
    @MethodSource("io.github.leaderelection.app.cli.LeaderElectionCommandTest#identitiesThatSplitLogLines")
    @DisplayName("--identity with a control character, line break or unpaired surrogate is"
        + " refused, shown escaped so the message stays one line")
    void identityThatSplitsLogLines(String identity, String expected) {
      assertUsageError(env(), withName("--identity", identity), expected);
    }

    @Test
    @DisplayName("an identity from env POD_NAME is held to the same rule, and the message says"
        + " where it came from")
    void identityFromPodName() {
      assertUsageError(env(Map.of("POD_NAME", "pod\na")), withName(),
          "--identity 'pod\\na' is invalid: must not contain control characters or line breaks,"
              + " found \\n at index 3 (it would split or garble log lines) (taken from env"
              + " POD_NAME: set --identity)");
    }

    @Test
    @DisplayName("an identity from the host name is held to the same rule, and the message says"
        + " where it came from")
    void identityFromTheHostName() {
      Environment env = new Environment(Map.of(), tmp.resolve("none"), () -> "host\u001b1");
      assertUsageError(env, withName(), "--identity 'host\\u001b1' is invalid");
      assertUsageError(env, withName(), "(taken from the host name: set --identity)");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pod-0", "leaderelection-7d9f8b6c5-x2x9z",
        "web-0.web.prod.svc.cluster.local", "node-1_2f1c0a3e-8b1d-4c1e-9a55-0f1f2e3d4c5b",
        "Alice", "pod 0", "\u00fcn\u00ef-\u20ac-\ud83d\ude00"})
    @DisplayName("ordinary pod names, host names and any printable text are still accepted")
    void ordinaryIdentitiesPass(String identity) {
      assertThat(built(settings(env(), withName("--identity", identity))).identity())
          .isEqualTo(identity);
      assertThat(built(settings(env(Map.of("POD_NAME", identity)), withName())).identity())
          .isEqualTo(identity);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("io.github.leaderelection.app.cli.LeaderElectionCommandTest#durationsOverTheLimit")
    @DisplayName("a duration over the limit says what the limit is and echoes the value typed")
    void durationOverTheLimit(String[] args, String expected) {
      assertUsageError(env(), args, expected);
    }

    @Test
    @DisplayName("every duration flag accepts the limit itself, 2147483647s")
    void theLimitItselfIsAccepted() {
      Settings s = settings(env(), withName("--lease-duration=2147483647s",
          "--renew-deadline=2147483646s", "--retry-period=1000000000s",
          "--work-interval=2147483647s", "--watchdog-grace=2147483647s"));
      assertThat(built(s).leaseDuration()).isEqualTo(Duration.ofSeconds(Integer.MAX_VALUE));
      assertThat(s.workInterval()).isEqualTo(Duration.ofSeconds(Integer.MAX_VALUE));
      assertThat(s.watchdogGrace()).isEqualTo(Duration.ofSeconds(Integer.MAX_VALUE));
    }
  }
}
