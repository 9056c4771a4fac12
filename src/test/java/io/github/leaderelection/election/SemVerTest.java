package io.github.leaderelection.election;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SemVerTest {

  @ParameterizedTest
  @ValueSource(strings = {"1.36.0", "0.1.0", "1.35.0-rc.1", "1.0.0-alpha.beta+exp.sha.5114f85",
      "10.20.30", "1.0.0+20130313144700", "99999999999999999999.0.0"})
  @DisplayName("accepts semantic versions as the API server's strict parser does")
  void accepts(String text) {
    assertThat(SemVer.parseOrNull(text)).isNotNull().hasToString(text);
  }

  @ParameterizedTest
  @ValueSource(strings = {"v1.36.0", "1.36", "1", "", " 1.0.0", "1.0.0 ", "01.0.0", "1.02.0",
      "1.0.0-", "1.0.0-01", "1.0.0+", "1.0.0-a..b", "1.0.0.0", "latest"})
  @DisplayName("rejects anything else: leading v, missing parts, leading zeros, empty parts")
  void rejects(String text) {
    assertThat(SemVer.parseOrNull(text)).isNull();
  }

  @Test
  @DisplayName("orders by semver precedence: numbers numerically, pre-releases before releases,"
      + " build metadata ignored")
  void precedence() {
    List<String> ordered = List.of("1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
        "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.9.0", "1.10.0",
        "1.35.0", "1.36.0", "2.0.0");
    for (int i = 0; i + 1 < ordered.size(); i++) {
      SemVer lower = SemVer.parseOrNull(ordered.get(i));
      SemVer higher = SemVer.parseOrNull(ordered.get(i + 1));
      assertThat(lower.compareTo(higher)).as("%s < %s", lower, higher).isNegative();
      assertThat(higher.compareTo(lower)).as("%s > %s", higher, lower).isPositive();
    }
    assertThat(SemVer.parseOrNull("1.0.0+a").compareTo(SemVer.parseOrNull("1.0.0+b"))).isZero();
  }

  @Test
  @DisplayName("0.0.0 is zero: the server reads it as no emulation version")
  void zero() {
    assertThat(SemVer.parseOrNull("0.0.0").isZero()).isTrue();
    assertThat(SemVer.parseOrNull("0.0.0-rc.1").isZero()).isTrue();
    assertThat(SemVer.parseOrNull("0.0.1").isZero()).isFalse();
  }
}
