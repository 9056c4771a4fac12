package io.github.leaderelection.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The API server's audit log of Lease requests in the namespaces of the many-elections scenario
 * only (level Metadata, one event per request when its response is complete), so that the
 * requests of two processes running at the same time can be told apart: by their user agent,
 * which {@link ManyMain}, {@link ManyBaselineMain} and bench/clientgo/many set to
 * {@code bench-many/<identity>}. Every other request (the other scenarios) is not logged.
 */
final class AuditLog {

  /** The user agent prefix of the many-elections processes. */
  static final String AGENT_PREFIX = "bench-many/";

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path log;
  private final Path policy;

  private AuditLog(Path log, Path policy) {
    this.log = log;
    this.policy = policy;
  }

  /** A policy for Lease requests in {@code namespaces}, in a new temporary directory. */
  static AuditLog forNamespaces(List<String> namespaces) {
    try {
      Path dir = Files.createTempDirectory("bench-audit");
      Path policy = dir.resolve("policy.yaml");
      StringBuilder yaml = new StringBuilder("""
          apiVersion: audit.k8s.io/v1
          kind: Policy
          omitStages: ["RequestReceived", "ResponseStarted"]
          rules:
          """);
      if (!namespaces.isEmpty()) {
        yaml.append("""
              - level: Metadata
                resources:
                  - group: coordination.k8s.io
                    resources: ["leases"]
                namespaces:
            """);
        for (String ns : namespaces) {
          yaml.append("      - ").append(ns).append('\n');
        }
      }
      yaml.append("  - level: None\n");
      Files.writeString(policy, yaml.toString());
      return new AuditLog(dir.resolve("audit.log"), policy);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** kube-apiserver flags that turn it on. */
  List<String> apiServerFlags() {
    return List.of("--audit-policy-file=" + policy, "--audit-log-path=" + log,
        "--audit-log-format=json", "--audit-log-mode=blocking");
  }

  /** The log's length now: where a window starts. */
  long offset() {
    try {
      return Files.exists(log) ? Files.size(log) : 0;
    } catch (IOException e) {
      return 0;
    }
  }

  /**
   * Lease requests logged since {@code offset}, by user agent (the part after
   * {@link #AGENT_PREFIX}, or the whole agent) and verb (GET, PUT, PATCH, POST, LIST, WATCH,
   * DELETE, as {@code apiserver_request_total} names them).
   */
  Map<String, Map<String, Double>> since(long offset) {
    Map<String, Map<String, Double>> out = new TreeMap<>();
    if (!Files.exists(log)) {
      return out;
    }
    try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
      long end = f.length();
      if (end <= offset) {
        return out;
      }
      byte[] bytes = new byte[(int) (end - offset)];
      f.seek(offset);
      f.readFully(bytes);
      for (String line : new String(bytes, StandardCharsets.UTF_8).split("\n")) {
        if (line.isBlank()) {
          continue;
        }
        JsonNode event;
        try {
          event = JSON.readTree(line);
        } catch (IOException e) {
          continue; // a line being written as we read
        }
        if (!"leases".equals(event.path("objectRef").path("resource").asText())) {
          continue;
        }
        String agent = event.path("userAgent").asText("");
        int at = agent.indexOf(AGENT_PREFIX);
        String who = at >= 0 ? agent.substring(at + AGENT_PREFIX.length()).split("[ /]")[0]
            : agent;
        out.computeIfAbsent(who, k -> new TreeMap<>())
            .merge(httpVerb(event.path("verb").asText("")), 1.0, Double::sum);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }

  private static String httpVerb(String verb) {
    return switch (verb) {
      case "get" -> "GET";
      case "update" -> "PUT";
      case "patch" -> "PATCH";
      case "create" -> "POST";
      case "delete" -> "DELETE";
      case "list" -> "LIST";
      case "watch" -> "WATCH";
      default -> verb.toUpperCase(Locale.ROOT);
    };
  }
}
