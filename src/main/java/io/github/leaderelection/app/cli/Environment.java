package io.github.leaderelection.app.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Where defaults come from outside the flags: environment variables, the in-cluster service-account
 * namespace file and the host name. A seam for tests, which pass their own.
 *
 * @param env environment variables
 * @param serviceAccountNamespace the file Kubernetes mounts into every pod with its namespace
 * @param hostname the host name, looked up only when nothing better names this replica
 */
public record Environment(Map<String, String> env, Path serviceAccountNamespace,
    Supplier<String> hostname) {

  public static final Path IN_CLUSTER_NAMESPACE =
      Path.of("/var/run/secrets/kubernetes.io/serviceaccount/namespace");

  public static Environment system() {
    return new Environment(System.getenv(), IN_CLUSTER_NAMESPACE, Environment::localHostname);
  }

  Optional<String> variable(String name) {
    return Optional.ofNullable(env.get(name)).map(String::trim).filter(v -> !v.isEmpty());
  }

  Optional<String> inClusterNamespace() {
    try {
      return Files.isReadable(serviceAccountNamespace)
          ? Optional.of(Files.readString(serviceAccountNamespace).trim()).filter(v -> !v.isEmpty())
          : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  private static String localHostname() {
    String fromEnv = System.getenv("HOSTNAME");
    if (fromEnv != null && !fromEnv.isBlank()) {
      return fromEnv.trim();
    }
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return "unknown-host";
    }
  }
}
