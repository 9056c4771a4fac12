package io.github.leaderelection.election;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.client.KubernetesClientException;
import java.net.ConnectException;
import java.time.Duration;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Durations, the timing rules of ElectionConfig and the operator messages of LeaseApiException. */
class ElectionRulesTest {

  @ParameterizedTest(name = "{0} = {1} ms")
  @CsvSource({"15s,15000", "500ms,500", "1m,60000", "1m30s,90000", "1.5s,1500", "2h,7200000",
      "' 10s ',10000", "1h1m1s,3661000", "0s,0"})
  void parsesGoDurations(String text, long millis) {
    assertThat(Durations.parse(text)).isEqualTo(Duration.ofMillis(millis));
  }

  @ParameterizedTest(name = "''{0}''")
  @ValueSource(strings = {"", " ", "15", "15x", "abc", "s", "-1s", "1m30", "15 s", "1s2", "ms"})
  void rejectsWhatIsNotADuration(String text) {
    assertThatThrownBy(() -> Durations.parse(text))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("is not a duration (use e.g. 15s, 500ms, 1m)");
  }

  @Test
  void rejectsNull() {
    assertThatThrownBy(() -> Durations.parse(null)).isInstanceOf(IllegalArgumentException.class);
  }

  @ParameterizedTest(name = "{0} ms -> {1}")
  @CsvSource({"15000,15s", "500,500ms", "60000,1m", "2400,2.4s", "1500,1.5s", "90000,90s", "0,0s"})
  void formatsForMessages(long millis, String text) {
    assertThat(Durations.format(Duration.ofMillis(millis))).isEqualTo(text);
  }

  @Nested
  @DisplayName("Durations: long values are kept exactly as written, never cut to what fits")
  class LongDurations {

    @ParameterizedTest(name = "{0}")
    @CsvSource({"9999999999h,35999999996400", "2147483648s,2147483648", "2562048h,9223372800"})
    @DisplayName("parse keeps a value beyond nanoseconds exactly, so the caller's bound can name"
        + " it")
    void parsesExactly(String text, long seconds) {
      assertThat(Durations.parse(text)).isEqualTo(Duration.ofSeconds(seconds));
    }

    @Test
    @DisplayName("parse refuses what no Duration can hold, saying the limit")
    void refusesBeyondDuration() {
      assertThatThrownBy(() -> Durations.parse("99999999999999999999h"))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("'99999999999999999999h' is too long: at most 2147483647s (about 68 years)");
    }

    @ParameterizedTest(name = "{1}")
    @CsvSource({"35999999996400,9999999999h", "7200,2h", "3660,61m", "2147483647,2147483647s",
        "2147483648,2147483648s"})
    @DisplayName("format prints whole hours as hours and never overflows")
    void formatsLongValues(long seconds, String text) {
      assertThat(Durations.format(Duration.ofSeconds(seconds))).isEqualTo(text);
    }

    @Test
    @DisplayName("format of the longest Duration and of negative values")
    void formatsExtremes() {
      assertThat(Durations.format(Duration.ofSeconds(Long.MAX_VALUE)))
          .isEqualTo(Long.MAX_VALUE + "s");
      assertThat(Durations.format(Duration.ofMillis(-1500))).isEqualTo("-1.5s");
      assertThat(Durations.format(Duration.ofMillis(-500))).isEqualTo("-500ms");
      assertThat(Durations.format(Duration.ofSeconds(-1))).isEqualTo("-1s");
    }

    @Test
    @DisplayName("the timing rules check the bounds before counting in nanoseconds")
    void timingBoundsFirst() {
      assertThat(ElectionConfig.timingProblem(Duration.ofSeconds(Long.MAX_VALUE), secs(10),
          secs(2))).startsWith("leaseDuration must be at most 2147483647s");
      assertThat(ElectionConfig.timingProblem(secs(15), secs(10),
          Duration.ofSeconds(Long.MAX_VALUE))).startsWith("retryPeriod must be at most");
      assertThat(ElectionConfig.timingProblem(secs(15), Duration.ofSeconds(Long.MAX_VALUE),
          secs(2))).startsWith("renewDeadline must be at most");
    }
  }

  @Test
  void timingRulesOfClientGo() {
    assertThat(ElectionConfig.timingProblem(secs(15), secs(10), secs(2))).isNull();
    assertThat(ElectionConfig.timingProblem(secs(15), secs(20), secs(2)))
        .isEqualTo("leaseDuration (15s) must be greater than renewDeadline (20s)");
    assertThat(ElectionConfig.timingProblem(secs(15), secs(15), secs(2)))
        .isEqualTo("leaseDuration (15s) must be greater than renewDeadline (15s)");
    assertThat(ElectionConfig.timingProblem(secs(15), Duration.ofMillis(2400), secs(2)))
        .isEqualTo("renewDeadline (2.4s) must be greater than 1.2 x retryPeriod (2.4s)");
    assertThat(ElectionConfig.timingProblem(secs(15), Duration.ofMillis(2401), secs(2))).isNull();
    assertThat(ElectionConfig.timingProblem(secs(15), secs(10), Duration.ZERO))
        .isEqualTo("retryPeriod must be greater than 0 (got 0s)");
    assertThat(ElectionConfig.timingProblem(secs(15), secs(10), Duration.ofSeconds(-1)))
        .startsWith("retryPeriod must be greater than 0");
  }

  @Test
  void configEnforcesTheRulesForEveryCaller() {
    assertThatThrownBy(() -> new ElectionConfig("ns", "l", "me", secs(10), secs(10), secs(2), true, false))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("renewDeadline");
    assertThatThrownBy(() -> new ElectionConfig("ns", "l", " ", secs(15), secs(10), secs(2), true, false))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("identity must not be empty");
    assertThat(new ElectionConfig("ns", "l", "me", secs(15), secs(10), secs(2), true, false).leaseKey())
        .isEqualTo("ns/l");
  }

  private static Duration secs(long s) {
    return Duration.ofSeconds(s);
  }

  private static LeaseApiException api(ApiVerb verb, int code) {
    return new LeaseApiException(verb, new KubernetesClientException("Failure executing: something"
        + "\nsecond line", code, null), "https://10.96.0.1:443/");
  }

  @Test
  void explainsForbiddenWithTheVerbAndTheRbacManifest() {
    assertThat(api(ApiVerb.UPDATE, 403).explain("prod/my-lease")).isEqualTo(
        "forbidden (403): missing permission to update leases.coordination.k8s.io in namespace prod;"
            + " apply k8s/rbac.yaml (Role leaderelection-role grants get, create, update on leases)"
            + " and bind it to this pod's ServiceAccount");
  }

  @Test
  void explainsUnauthorized() {
    assertThat(api(ApiVerb.GET, 401).explain("prod/my-lease")).isEqualTo(
        "unauthorized (401) to get lease prod/my-lease: the credentials were rejected;"
            + " check the ServiceAccount token or --kubeconfig");
  }

  @Test
  void explainsAMissingNamespace() {
    assertThat(api(ApiVerb.CREATE, 404).explain("prod/my-lease")).isEqualTo(
        "namespace prod not found (404) when trying to create lease prod/my-lease;"
            + " create the namespace or pass --lease-namespace");
  }

  @Test
  void explainsAConflictAsALostRace() {
    LeaseApiException e = api(ApiVerb.UPDATE, 409);
    assertThat(e.isConflict()).isTrue();
    assertThat(e.explain("prod/my-lease")).contains("another replica wrote first");
  }

  /** fabric8 reports a failure without any response as -1 (or 0): "cannot reach", never "API error -1". */
  @Test
  void explainsNoResponseAsUnreachable() {
    LeaseApiException e = new LeaseApiException(ApiVerb.GET,
        new KubernetesClientException("Failure executing", new ConnectException("Connection refused")),
        "https://10.96.0.1:443/");
    assertThat(e.isUnreachable()).isTrue();
    assertThat(e.code()).isZero();
    assertThat(e.explain("prod/my-lease")).isEqualTo("cannot reach the API server"
        + " https://10.96.0.1:443/ to get lease prod/my-lease (ConnectException: Connection refused);"
        + " is it running and reachable? retrying with backoff");
  }

  @Test
  void otherErrorsKeepOnlyTheFirstLineOfTheCause() {
    String line = api(ApiVerb.GET, 500).explain("prod/my-lease");
    assertThat(line).startsWith("API error 500 on get of lease prod/my-lease: ").doesNotContain("\n");
  }
}
