package io.github.leaderelection.bench;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One scrape of kube-apiserver's own request counter, {@code apiserver_request_total}, kept by
 * resource, verb and HTTP code (summed over every other label: scope, group, version, ...). The
 * counter has no namespace or client label: it counts every request the API server served, so a
 * window measures one arm only if nothing else runs in it.
 */
record ApiCounts(Map<Key, Double> counts) {

  /** A resource ("leases", "configmaps"), a verb (GET, PUT, ...) and an HTTP code ("200", "409"). */
  record Key(String resource, String verb, String code) {
  }

  private static final Pattern REQUEST_TOTAL = Pattern.compile(
      "^apiserver_request_total\\{([^}]*)}\\s+(\\S+)$");
  private static final Pattern LABEL = Pattern.compile("(\\w+)=\"([^\"]*)\"");

  /** GET /metrics of the API server, parsed. */
  static ApiCounts scrape(KubernetesClient admin) {
    String metrics = admin.raw("/metrics");
    if (metrics == null) {
      throw new IllegalStateException("GET /metrics returned nothing");
    }
    return parse(metrics);
  }

  static ApiCounts parse(String metrics) {
    Map<Key, Double> counts = new LinkedHashMap<>();
    for (String line : metrics.split("\n")) {
      Matcher m = REQUEST_TOTAL.matcher(line.trim());
      if (!m.matches()) {
        continue;
      }
      Map<String, String> labels = new LinkedHashMap<>();
      Matcher l = LABEL.matcher(m.group(1));
      while (l.find()) {
        labels.put(l.group(1), l.group(2));
      }
      counts.merge(new Key(labels.getOrDefault("resource", ""), labels.getOrDefault("verb", "?"),
          labels.getOrDefault("code", "?")), Double.parseDouble(m.group(2)), Double::sum);
    }
    return new ApiCounts(counts);
  }

  /** Requests on {@code resource}, by verb (every code). */
  Map<String, Double> byVerb(String resource) {
    Map<String, Double> out = new TreeMap<>();
    counts.forEach((k, n) -> {
      if (k.resource().equals(resource)) {
        out.merge(k.verb(), n, Double::sum);
      }
    });
    return out;
  }

  /** Requests on {@code resource} answered with {@code code}, every verb. */
  double withCode(String resource, String code) {
    return counts.entrySet().stream()
        .filter(e -> e.getKey().resource().equals(resource) && e.getKey().code().equals(code))
        .mapToDouble(Map.Entry::getValue).sum();
  }

  /** What was counted since {@code before}. */
  ApiCounts minus(ApiCounts before) {
    Map<Key, Double> delta = new LinkedHashMap<>();
    counts.forEach((k, n) -> {
      double d = n - before.counts().getOrDefault(k, 0.0);
      if (d != 0) {
        delta.put(k, d);
      }
    });
    return new ApiCounts(delta);
  }

  /** {@code counts} per minute over {@code seconds}, by verb, net of a per-minute background. */
  static Map<String, Double> perMinute(Map<String, Double> counts, double seconds,
      Map<String, Double> backgroundPerMin) {
    Map<String, Double> out = new TreeMap<>();
    counts.forEach((verb, n) -> {
      double net = n * 60.0 / seconds - backgroundPerMin.getOrDefault(verb, 0.0);
      if (net > 0.05) {
        out.put(verb, net);
      }
    });
    return out;
  }

  static double sum(Map<String, Double> byVerb) {
    return byVerb.values().stream().mapToDouble(Double::doubleValue).sum();
  }
}
