package io.github.leaderelection.bench;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Percentiles by the nearest-rank method: every reported value is one that was observed. */
final class Stats {

  private Stats() {
  }

  static double percentile(List<Double> samples, double p) {
    if (samples.isEmpty()) {
      return Double.NaN;
    }
    List<Double> sorted = new ArrayList<>(samples);
    Collections.sort(sorted);
    int rank = (int) Math.ceil(p / 100.0 * sorted.size());
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, rank - 1)));
  }

  static double max(List<Double> samples) {
    return samples.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
  }

  /** {"p50","p90","p99","max"}, rounded to whole milliseconds (or null when there is no sample). */
  static Map<String, Object> summary(List<Double> samples) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("p50", round(percentile(samples, 50)));
    m.put("p90", round(percentile(samples, 90)));
    m.put("p99", round(percentile(samples, 99)));
    m.put("max", round(max(samples)));
    return m;
  }

  static Object round(double v) {
    return Double.isNaN(v) ? null : (Object) Math.round(v);
  }

  static double round1(double v) {
    return Math.round(v * 10) / 10.0;
  }
}
