package io.github.leaderelection.app.health;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class SlowpathMetricTest {

  private static String scrape(PrometheusMetrics metrics) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    metrics.writeTo(out);
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  @DisplayName("leader_election_slowpath_total{name} is exported at 0 from the start and counts"
      + " each renewal that needed a GET")
  void slowpathCounter() throws IOException {
    PrometheusMetrics metrics = new PrometheusMetrics("my-lease");
    assertThat(scrape(metrics)).contains("leader_election_slowpath_total{name=\"my-lease\"} 0.0");
    metrics.slowpathExercised();
    metrics.slowpathExercised();
    assertThat(scrape(metrics)).contains("leader_election_slowpath_total{name=\"my-lease\"} 2.0")
        .contains("# TYPE leader_election_slowpath_total counter");
  }
}
