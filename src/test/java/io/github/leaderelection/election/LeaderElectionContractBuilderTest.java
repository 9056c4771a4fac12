package io.github.leaderelection.election;

import static io.github.leaderelection.election.LeaderElectionContractSupport.IDLE;
import static io.github.leaderelection.election.LeaderElectionContractSupport.NS;
import static io.github.leaderelection.election.LeaderElectionContractSupport.election;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.time.Duration;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The builder's errors name its fields and rules (never a flag of the demo's CLI), and coordinated
 * election stays a builder option.
 */
@DisplayName("LeaderElection contract: builder")
class LeaderElectionContractBuilderTest {

  /** A client that is never connected: the builder's checks need no API server. */
  private static final KubernetesClient OFFLINE = new KubernetesClientBuilder()
      .withConfig(new ConfigBuilder().withMasterUrl("https://127.0.0.1:1").build()).build();

  @AfterAll
  static void closeClient() {
    OFFLINE.close();
  }

  /** A valid builder: lease, identity, timings 15 s / 10 s / 2 s (the defaults), periodic work. */
  private static LeaderElection.Builder valid() {
    return LeaderElection.builder(OFFLINE).lease(NS, "my-lease").identity("pod-0")
        .periodicWork(Duration.ofSeconds(5), IDLE);
  }

  private static Arguments broken(String why, UnaryOperator<LeaderElection.Builder> change,
      String message) {
    return Arguments.of(why, change, message);
  }

  static Stream<Arguments> brokenBuilders() {
    String longName = "a".repeat(254);
    return Stream.of(
        broken("leaseDuration equal to renewDeadline",
            b -> b.leaseDuration(Duration.ofSeconds(10)).renewDeadline(Duration.ofSeconds(10)),
            "leaseDuration (10s) must be greater than renewDeadline (10s)"),
        broken("leaseDuration shorter than renewDeadline",
            b -> b.leaseDuration(Duration.ofSeconds(5)).renewDeadline(Duration.ofSeconds(8)),
            "leaseDuration (5s) must be greater than renewDeadline (8s)"),
        broken("leaseDuration not whole seconds",
            b -> b.leaseDuration(Duration.ofMillis(15_500)),
            "leaseDuration must be whole seconds (the Lease stores seconds), got 15500ms"),
        broken("renewDeadline within 1.2 x retryPeriod",
            b -> b.renewDeadline(Duration.ofSeconds(2)).retryPeriod(Duration.ofSeconds(2)),
            "renewDeadline (2s) must be greater than 1.2 x retryPeriod (2.4s)"),
        broken("retryPeriod zero", b -> b.retryPeriod(Duration.ZERO),
            "retryPeriod must be greater than 0 (got 0s)"),
        broken("leaseDuration null", b -> b.leaseDuration(null), "leaseDuration must be set"),
        broken("renewDeadline null", b -> b.renewDeadline(null), "renewDeadline must be set"),
        broken("retryPeriod null", b -> b.retryPeriod(null), "retryPeriod must be set"),
        broken("requeueDelay negative", b -> b.requeueDelay(Duration.ofSeconds(-1)),
            "requeueDelay must not be negative"),
        broken("no lease", b -> b.lease(null, null),
            "lease must be set: lease(namespace, name)"),
        broken("bad lease name", b -> b.lease(NS, "My_Lease"),
            "leaseName 'My_Lease' is invalid: must be a DNS-1123 subdomain"),
        broken("empty lease name", b -> b.lease(NS, ""), "leaseName must not be empty"),
        broken("lease name too long", b -> b.lease(NS, longName),
            "leaseName '" + longName + "' is invalid"),
        broken("bad namespace", b -> b.lease("Team_A", "my-lease"),
            "namespace 'Team_A' is invalid: must be a DNS-1123 label"),
        broken("no identity", b -> b.identity(null), "identity must not be empty"),
        broken("blank identity", b -> b.identity("  "), "identity must not be empty"),
        broken("label key with a space", b -> b.leaseLabel("my key", "v"),
            "leaseLabels 'my key=v': the key's name must be 1-63 characters"),
        broken("label key with a bad prefix", b -> b.leaseLabel("Example.COM/app", "v"),
            "leaseLabels 'Example.COM/app=v': the key's prefix must be a DNS-1123 subdomain"),
        broken("label value too long", b -> b.leaseLabels(Map.of("app", "v".repeat(64))),
            "leaseLabels 'app=" + "v".repeat(64) + "': the value must be empty or at most 63"),
        broken("label value with a bad character", b -> b.leaseLabel("app", "a/b"),
            "leaseLabels 'app=a/b': the value must be empty or at most 63"),
        broken("work and periodicWork both set", b -> b.work(term -> { }),
            "work and periodicWork are exclusive: set one"),
        broken("periodicWork interval zero", b -> b.periodicWork(Duration.ZERO, IDLE),
            "periodicWork's interval must be greater than 0"),
        broken("coordinated: binaryVersion not a version", b -> b.coordinated("v1.2", null),
            "binaryVersion 'v1.2' is invalid: must be a semantic version"),
        broken("coordinated: binaryVersion 0.0.0", b -> b.coordinated("0.0.0", null),
            "binaryVersion must not be 0.0.0"),
        broken("coordinated: emulationVersion not a version",
            b -> b.coordinated("1.0.0", "latest"), "emulationVersion 'latest' is invalid"),
        broken("coordinated: emulationVersion above binaryVersion",
            b -> b.coordinated("1.0.0", "1.1.0"),
            "emulationVersion (1.1.0) must not be greater than binaryVersion (1.0.0)"),
        broken("coordinated: identity that cannot name a LeaseCandidate",
            b -> b.identity("pod 0").coordinated("1.0.0", null),
            "identity 'pod 0' cannot name a LeaseCandidate"),
        broken("coordinated: identity '.'", b -> b.identity(".").coordinated("1.0.0", null),
            "identity '.' cannot name a LeaseCandidate"),
        broken("coordinated: identity '..'", b -> b.identity("..").coordinated("1.0.0", null),
            "identity '..' cannot name a LeaseCandidate"),
        broken("coordinated: identity starting with '..'",
            b -> b.identity("..pod").coordinated("1.0.0", null),
            "identity '..pod' cannot name a LeaseCandidate"),
        broken("identity with a line break", b -> b.identity("pod\n0"),
            "identity 'pod\\n0' is invalid: must not contain control characters or line breaks,"
                + " found \\n at index 3 (it would split or garble log lines)"),
        broken("identity with a carriage return", b -> b.identity("pod-0\r"),
            "identity 'pod-0\\r' is invalid: must not contain control characters"),
        broken("identity with a tab", b -> b.identity("\tpod"),
            "identity '\\tpod' is invalid: must not contain control characters"),
        broken("identity with an escape sequence", b -> b.identity("\u001b[2Jpod"),
            "identity '\\u001b[2Jpod' is invalid: must not contain control characters"),
        broken("identity with a C1 next-line character", b -> b.identity("pod\u0085"),
            "identity 'pod\\u0085' is invalid: must not contain control characters"),
        broken("identity with a Unicode line separator", b -> b.identity("pod\u2029"),
            "identity 'pod\\u2029' is invalid: must not contain control characters"),
        broken("identity with an unpaired surrogate", b -> b.identity("pod\udc00-0"),
            "identity 'pod\\udc00-0' is invalid: must be valid Unicode text, found an unpaired"
                + " surrogate \\udc00 at index 3 (it cannot be sent to the API server as UTF-8)"),
        broken("leaseDuration over the Lease's 32-bit seconds",
            b -> b.leaseDuration(Duration.ofSeconds(Integer.MAX_VALUE + 1L)),
            "leaseDuration must be at most 2147483647s (about 68 years: the Lease stores it in"
                + " seconds as a 32-bit number), got 2147483648s"),
        broken("leaseDuration of 9999999999h", b -> b.leaseDuration(Duration.ofHours(9999999999L)),
            "leaseDuration must be at most 2147483647s (about 68 years: the Lease stores it in"
                + " seconds as a 32-bit number), got 9999999999h"),
        broken("leaseDuration beyond nanoseconds",
            b -> b.leaseDuration(Duration.ofSeconds(Long.MAX_VALUE)),
            "leaseDuration must be at most 2147483647s"),
        broken("renewDeadline over the limit", b -> b.renewDeadline(Duration.ofHours(9999999999L)),
            "renewDeadline must be at most 2147483647s (about 68 years), got 9999999999h"),
        broken("retryPeriod over the limit", b -> b.retryPeriod(Duration.ofSeconds(Long.MAX_VALUE)),
            "retryPeriod must be at most 2147483647s (about 68 years), got "),
        broken("requeueDelay over the limit", b -> b.requeueDelay(Duration.ofDays(100_000)),
            "requeueDelay must be at most 2147483647s (about 68 years), got 2400000h"),
        broken("periodicWork interval over the limit",
            b -> b.periodicWork(Duration.ofHours(9999999999L), IDLE),
            "periodicWork's interval must be at most 2147483647s (about 68 years), got"
                + " 9999999999h"));
  }

  @Nested
  @DisplayName("errors name the builder's field and rule")
  class Errors {

    @ParameterizedTest(name = "{0}")
    @MethodSource("io.github.leaderelection.election.LeaderElectionContractBuilderTest#brokenBuilders")
    @DisplayName("build() and validate() throw IllegalArgumentException naming the field and the"
        + " rule, never a CLI flag")
    void namesTheFieldAndTheRule(String why, UnaryOperator<LeaderElection.Builder> change,
        String message) {
      assertThatThrownBy(() -> change.apply(valid()).build())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith(message)
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("--"));
      assertThatThrownBy(() -> change.apply(valid()).validate())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith(message);
    }

    @Test
    @DisplayName("a missing client: IllegalArgumentException naming client")
    void missingClient() {
      assertThatThrownBy(() -> LeaderElection.builder(null).lease(NS, "my-lease")
          .identity("pod-0").build())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("client must be set")
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("--"));
    }

    @Test
    @DisplayName("a valid builder builds; the defaults are client-go's 15 s / 10 s / 2 s")
    void aValidBuilderBuilds() {
      LeaderElection e = valid().build();
      assertThat(e.leaseDuration()).isEqualTo(Duration.ofSeconds(15));
      assertThat(e.renewDeadline()).isEqualTo(Duration.ofSeconds(10));
      assertThat(e.retryPeriod()).isEqualTo(Duration.ofSeconds(2));
      assertThat(e.leaseKey()).isEqualTo(NS + "/my-lease");
      assertThat(e.identity()).isEqualTo("pod-0");
      assertThat(e.isCoordinated()).isFalse();
      assertThat(e.isLeader()).isFalse();
      e.close();
    }
  }

  @Nested
  @DisplayName("identity: any text Kubernetes takes as holderIdentity, minus what splits log lines")
  class Identity {

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pod-0", "leaderelection-7d9f8b6c5-x2x9z",
        "web-0.web.prod.svc.cluster.local", "node-1_2f1c0a3e-8b1d-4c1e-9a55-0f1f2e3d4c5b",
        "Alice", "pod 0", "\u00fcn\u00ef-\u20ac-\ud83d\ude00"})
    @DisplayName("pod names, host names and printable text (spaces, accents, emoji) build")
    void printableIdentitiesBuild(String identity) {
      LeaderElection e = valid().identity(identity).build();
      assertThat(e.identity()).isEqualTo(identity);
      e.close();
    }

    @Test
    @DisplayName("no length limit of its own (Kubernetes has none for holderIdentity); 253"
        + " characters in coordinated mode, the LeaseCandidate name limit")
    void length() {
      assertThatCode(() -> valid().identity("a".repeat(10_000)).validate())
          .doesNotThrowAnyException();
      assertThatCode(() -> valid().identity("a".repeat(253)).coordinated("1.0.0", null)
          .validate()).doesNotThrowAnyException();
      assertThatThrownBy(() -> valid().identity("a".repeat(254)).coordinated("1.0.0", null)
          .validate()).hasMessageContaining("cannot name a LeaseCandidate");
    }

    @Test
    @DisplayName("the refusal is one line: the identity is shown escaped")
    void oneLine() {
      assertThatThrownBy(() -> valid().identity("a\nb\rc\u2028d").validate())
          .satisfies(x -> assertThat(x.getMessage()).doesNotContain("\n", "\r", "\u2028")
              .startsWith("identity 'a\\nb\\rc\\u2028d' is invalid"));
    }
  }

  @Nested
  @DisplayName("timings: each at most 2147483647s, the Lease's 32-bit leaseDurationSeconds")
  class TimingLimits {

    @Test
    @DisplayName("the limit itself builds, and is stored as the Lease's leaseDurationSeconds")
    void theLimitItselfBuilds() {
      Duration max = Duration.ofSeconds(Integer.MAX_VALUE);
      assertThat(Durations.MAX).isEqualTo(max);
      ElectionConfig config = valid().leaseDuration(max).renewDeadline(max.minusSeconds(1))
          .retryPeriod(Duration.ofSeconds(1_000_000_000)).requeueDelay(max)
          .periodicWork(max, IDLE).config();
      assertThat(config.leaseDurationSeconds()).isEqualTo(Integer.MAX_VALUE);
    }
  }

  @Nested
  @DisplayName("coordinated election stays a builder option")
  class Coordinated {

    @Test
    @DisplayName("coordinated(\"1.0.0\", null) builds a coordinated election")
    void builds() {
      LeaderElection e = valid().coordinated("1.0.0", null).build();
      assertThat(e.isCoordinated()).isTrue();
      e.close();
      assertThatCode(() -> valid().coordinated("1.36.0", "1.35.0").validate())
          .doesNotThrowAnyException();
    }

    @Test
    @DisplayName("start() on an API server that does not serve LeaseCandidates throws"
        + " CoordinatedElectionUnavailableException and starts nothing")
    void startWithoutLeaseCandidates() throws Exception {
      try (MockApi api = new MockApi()) {
        LeaderElection e = election(api, "pod-0").coordinated("1.0.0", null)
            .periodicWork(Duration.ofMillis(100), IDLE).build();
        assertThatThrownBy(e::start)
            .isInstanceOf(CoordinatedElectionUnavailableException.class)
            .hasMessageContaining("leasecandidates")
            .satisfies(x -> assertThat(x.getMessage()).doesNotContain("--coordinated"));
        Thread.sleep(500);
        assertThat(api.lease()).as("no Lease created").isNull();
        assertThat(api.calls()).as("no Lease request")
            .noneMatch(c -> c.path().contains("/leases"));
        assertThat(e.isLeader()).isFalse();
        assertThat(e.failure()).containsInstanceOf(CoordinatedElectionUnavailableException.class);
        assertThat(e.termination()).isCompletedExceptionally();
        assertThatThrownBy(e::start).isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("closed");
        e.close();
      }
    }
  }
}
