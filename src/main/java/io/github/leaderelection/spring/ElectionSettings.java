package io.github.leaderelection.spring;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.github.leaderelection.election.LeaderElection;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.springframework.core.env.Environment;

/**
 * The election's settings from {@link LeaderElectionProperties} and their defaults, checked by the
 * library's builder; a complaint of the builder is reworded to name the property.
 */
final class ElectionSettings {

  /** Where a pod finds its own namespace. */
  static final Path SERVICE_ACCOUNT_NAMESPACE =
      Path.of("/var/run/secrets/kubernetes.io/serviceaccount/namespace");

  /** The builder's field names and the properties they come from. */
  private static final Map<String, String> PROPERTIES = new LinkedHashMap<>();

  static {
    PROPERTIES.put("leaseDuration", "leaderelection.lease-duration");
    PROPERTIES.put("renewDeadline", "leaderelection.renew-deadline");
    PROPERTIES.put("retryPeriod", "leaderelection.retry-period");
    PROPERTIES.put("leaseName", "leaderelection.lease-name");
    PROPERTIES.put("leaseLabels", "leaderelection.labels");
    PROPERTIES.put("namespace", "leaderelection.namespace");
    PROPERTIES.put("identity", "leaderelection.identity");
  }

  private static final Pattern FIELD = Pattern.compile(
      "\\b(" + String.join("|", PROPERTIES.keySet()) + ")\\b");

  final String leaseName;
  final String leaseNameSource;
  final String namespace;
  final String namespaceSource;
  final String identity;
  final String identitySource;
  final String role;

  ElectionSettings(LeaderElectionProperties p, Environment env, KubernetesClient client,
      Path namespaceFile) {
    if (hasText(p.getLeaseName())) {
      leaseName = p.getLeaseName().trim();
      leaseNameSource = null;
    } else if (hasText(env.getProperty("spring.application.name"))) {
      leaseName = env.getProperty("spring.application.name").trim();
      leaseNameSource = "spring.application.name";
    } else {
      throw new InvalidLeaderElectionPropertyException("leaderelection.lease-name must be set"
          + " (it defaults to spring.application.name, which is not set either)", null);
    }
    if (hasText(p.getNamespace())) {
      namespace = p.getNamespace().trim();
      namespaceSource = null;
    } else {
      String own = readNamespace(namespaceFile);
      String fromClient = client == null ? null : client.getNamespace();
      if (own != null) {
        namespace = own;
        namespaceSource = namespaceFile.toString();
      } else if (hasText(fromClient)) {
        namespace = fromClient;
        namespaceSource = "the Kubernetes client's namespace";
      } else {
        namespace = "default";
        namespaceSource = "the default";
      }
    }
    if (hasText(p.getIdentity())) {
      identity = p.getIdentity().trim();
      identitySource = null;
    } else if (hasText(env.getProperty("POD_NAME"))) {
      identity = env.getProperty("POD_NAME").trim();
      identitySource = "POD_NAME";
    } else {
      identity = hostName();
      identitySource = "the host name";
    }
    role = hasText(p.getRole()) ? p.getRole().trim() : leaseName;
  }

  /**
   * A builder with every setting, checked.
   *
   * @throws InvalidLeaderElectionPropertyException naming the property that breaks a rule
   */
  LeaderElection.Builder builder(KubernetesClient client, LeaderElectionProperties p) {
    requireSet("leaderelection.lease-duration", p.getLeaseDuration());
    requireSet("leaderelection.renew-deadline", p.getRenewDeadline());
    requireSet("leaderelection.retry-period", p.getRetryPeriod());
    LeaderElection.Builder builder = LeaderElection.builder(client)
        .lease(namespace, leaseName)
        .identity(identity)
        .leaseDuration(p.getLeaseDuration())
        .renewDeadline(p.getRenewDeadline())
        .retryPeriod(p.getRetryPeriod())
        .watch(p.isWatch())
        .releaseOnClose(p.isReleaseOnClose());
    try {
      if (p.getLabels() != null) {
        builder.leaseLabels(p.getLabels());
      }
      return builder.validate();
    } catch (IllegalArgumentException e) {
      throw new InvalidLeaderElectionPropertyException(explain(e.getMessage()), e);
    }
  }

  /** The builder's message with its field names replaced by the properties, and the defaults named. */
  String explain(String message) {
    Matcher m = FIELD.matcher(message);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(out, Matcher.quoteReplacement(PROPERTIES.get(m.group(1))));
    }
    m.appendTail(out);
    String text = out.toString();
    if (leaseNameSource != null && text.startsWith("leaderelection.lease-name")) {
      text += " (taken from " + leaseNameSource + ": set leaderelection.lease-name)";
    } else if (identitySource != null && text.startsWith("leaderelection.identity")) {
      text += " (taken from " + identitySource + ": set leaderelection.identity)";
    } else if (namespaceSource != null && text.startsWith("leaderelection.namespace")) {
      text += " (taken from " + namespaceSource + ": set leaderelection.namespace)";
    }
    return text;
  }

  private static void requireSet(String property, Object value) {
    if (value == null) {
      throw new InvalidLeaderElectionPropertyException(property + " must be set", null);
    }
  }

  static String readNamespace(Path file) {
    try {
      if (file != null && Files.isReadable(file)) {
        String ns = Files.readString(file, StandardCharsets.UTF_8).trim();
        return ns.isEmpty() ? null : ns;
      }
    } catch (IOException e) {
      // unreadable: not in a pod
    }
    return null;
  }

  private static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      String env = System.getenv("HOSTNAME");
      return env != null ? env : "";
    }
  }

  private static boolean hasText(String s) {
    return s != null && !s.isBlank();
  }
}
