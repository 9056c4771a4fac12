package io.github.leaderelection.app.cli;

import io.fabric8.kubernetes.api.model.Cluster;
import io.fabric8.kubernetes.api.model.NamedAuthInfo;
import io.fabric8.kubernetes.api.model.NamedCluster;
import io.fabric8.kubernetes.api.model.NamedContext;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.internal.KubeConfigUtils;
import io.fabric8.kubernetes.client.internal.SSLUtils;
import io.fabric8.kubernetes.client.utils.Utils;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;
import org.snakeyaml.engine.v2.exceptions.Mark;
import org.snakeyaml.engine.v2.exceptions.MarkedYamlEngineException;
import org.snakeyaml.engine.v2.exceptions.YamlEngineException;

/**
 * The API client's configuration: the kubeconfig (from {@code --kubeconfig}, else the usual
 * discovery), checked strictly, plus this program's timeouts.
 *
 * <p>Why strict: fabric8 throws long stack traces for a file it cannot parse, and silently falls
 * back to {@code https://kubernetes.default.svc/} for a file that parses but does not say where
 * the cluster is (not a kubeconfig, a {@code current-context} that does not exist). The replica
 * then retries for ever against a server that is not there. Every such mistake is reported here
 * as one {@link Problem} naming the file, before anything starts.
 */
public final class KubeClientConfig {

  /** A kubeconfig that cannot work; the message is one line naming the file and the problem. */
  public static final class Problem extends Exception {

    private static final long serialVersionUID = 1L;

    Problem(String message) {
      super(message, null, false, false);
    }
  }

  /**
   * Where discovery looks when no {@code --kubeconfig} is given; a seam for tests.
   *
   * @param kubeconfigVariable {@code $KUBECONFIG} (a path list), or null when unset
   * @param defaultFile {@code ~/.kube/config}
   * @param inCluster whether this runs in a pod ({@code KUBERNETES_SERVICE_HOST} is set)
   * @param serviceAccountToken the token Kubernetes mounts into pods
   */
  record Discovery(String kubeconfigVariable, Path defaultFile, boolean inCluster,
      Path serviceAccountToken) {

    /** The same sources fabric8's own auto-configuration reads. */
    static Discovery system() {
      String variable = Utils.getSystemPropertyOrEnvVar(Config.KUBERNETES_KUBECONFIG_FILE);
      // Without $KUBECONFIG, fabric8's list is its ~/.kube/config (with its own idea of home).
      Path defaultFile = Path.of(Config.getKubeconfigFilenames().iterator().next());
      return new Discovery(variable, defaultFile,
          Utils.getSystemPropertyOrEnvVar(Config.KUBERNETES_SERVICE_HOST_PROPERTY) != null,
          Path.of(Utils.getSystemPropertyOrEnvVar(
              Config.KUBERNETES_AUTH_SERVICEACCOUNT_TOKEN_FILE_SYSTEM_PROPERTY,
              Config.KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH)));
    }
  }

  private KubeClientConfig() {
  }

  /**
   * @param kubeconfigOrNull {@code --kubeconfig}, or null for discovery: {@code $KUBECONFIG} or
   *     {@code ~/.kube/config} when present (fabric8's order), else the in-cluster service account
   * @param requestTimeout bound of every connection and request
   */
  public static Config load(Path kubeconfigOrNull, Duration requestTimeout) throws Problem {
    return load(kubeconfigOrNull, requestTimeout, Discovery.system());
  }

  static Config load(Path kubeconfigOrNull, Duration requestTimeout, Discovery discovery)
      throws Problem {
    Config base;
    if (kubeconfigOrNull != null) {
      String shown = kubeconfigOrNull.toString().isEmpty() ? "''" : kubeconfigOrNull.toString();
      base = fromFiles("--kubeconfig " + shown, List.of(kubeconfigOrNull));
    } else {
      base = discover(discovery);
    }
    // No request may outlive the point where the leader has to give up. And no hidden retries
    // inside the client: the elector retries itself, on its own schedule and within its deadline.
    // HTTP/1.1: over HTTP/2 the JDK client multiplexes every request on one connection and sends
    // no pings, so after a partition that drops packets all requests time out on that dead
    // connection until TCP gives up (about 15 minutes); over HTTP/1.1 a timed-out request closes
    // its connection and the next one reconnects (DeadConnectionIT measures both).
    int timeoutMillis = (int) Math.min(Integer.MAX_VALUE, requestTimeout.toMillis());
    return new ConfigBuilder(base)
        .withConnectionTimeout(timeoutMillis)
        .withRequestTimeout(timeoutMillis)
        .withRequestRetryBackoffLimit(0)
        .withWatchReconnectInterval(500)
        .withHttp2Disable(true)
        .build();
  }

  private static Config discover(Discovery discovery) throws Problem {
    List<Path> files = new ArrayList<>();
    if (discovery.kubeconfigVariable() != null) {
      for (String entry : discovery.kubeconfigVariable().split(File.pathSeparator)) {
        if (!entry.isBlank()) {
          files.add(Path.of(entry));
        }
      }
    }
    if (!files.isEmpty()) {
      // Set on purpose, so a file it names that is missing is a mistake, not "look elsewhere".
      return fromFiles("$KUBECONFIG " + discovery.kubeconfigVariable(), files);
    }
    if (Files.exists(discovery.defaultFile())) {
      return fromFiles("kubeconfig " + discovery.defaultFile(), List.of(discovery.defaultFile()));
    }
    return inCluster(discovery);
  }

  private static Config inCluster(Discovery discovery) throws Problem {
    if (!discovery.inCluster()) {
      throw new Problem("no kubeconfig: not running in a cluster (KUBERNETES_SERVICE_HOST is not"
          + " set), $KUBECONFIG is not set and " + discovery.defaultFile()
          + " does not exist; pass --kubeconfig");
    }
    if (!Files.isReadable(discovery.serviceAccountToken())) {
      throw new Problem("in-cluster configuration: service account token "
          + discovery.serviceAccountToken() + " not found or not readable; is"
          + " automountServiceAccountToken disabled for this pod?");
    }
    return checkTls("in-cluster configuration", Config.autoConfigure(null));
  }

  /** Several files are merged as kubectl does: the first to define a name wins. */
  private static Config fromFiles(String label, List<Path> files) throws Problem {
    List<io.fabric8.kubernetes.api.model.Config> models = new ArrayList<>();
    for (Path file : files) {
      models.add(parse(files.size() == 1 ? label : "$KUBECONFIG file " + file, file));
    }
    checkReferences(label, models);
    Config config;
    try {
      config = Config.empty();
      KubeConfigUtils.merge(config, null,
          models.toArray(io.fabric8.kubernetes.api.model.Config[]::new));
    } catch (RuntimeException e) {
      // e.g. an exec credential plugin that fails, or a client key of an unknown algorithm
      throw new Problem(label + ": " + rootMessage(e));
    }
    // As fabric8's own loading does: KUBERNETES_NAMESPACE, KUBERNETES_MASTER etc. still apply.
    Config.configFromSysPropsOrEnvVars(config);
    return checkTls(label, config);
  }

  private static io.fabric8.kubernetes.api.model.Config parse(String label, Path file)
      throws Problem {
    if (file.toString().isEmpty()) {
      throw new Problem(label + ": the file name is empty");
    }
    if (Files.isDirectory(file)) {
      throw new Problem(label + ": is a directory, not a kubeconfig file");
    }
    if (!Files.exists(file)) {
      throw new Problem(label + ": file not found");
    }
    if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
      throw new Problem(label + ": not a readable file");
    }
    String text;
    try {
      byte[] bytes = Files.readAllBytes(file);
      text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString();
      if (text.indexOf('\0') >= 0) {
        throw new CharacterCodingException();
      }
    } catch (CharacterCodingException e) {
      throw new Problem(label + ": not a kubeconfig: binary data, not YAML text");
    } catch (IOException e) {
      throw new Problem(label + ": cannot read it: " + e);
    }
    // SnakeYAML Engine, the YAML parser under fabric8 7.x and 8.x alike (its Jackson is 2.x in
    // one, 3.x in the other). The first document, as fabric8 reads it.
    Object root;
    try {
      Iterator<Object> documents =
          new Load(LoadSettings.builder().build()).loadAllFromString(text).iterator();
      root = documents.hasNext() ? documents.next() : null;
    } catch (MarkedYamlEngineException e) {
      // The message starts with what it was parsing; the problem and its place follow.
      if (e.getProblemMark().isPresent()) {
        Mark mark = e.getProblemMark().get();
        throw new Problem(label + ": not valid YAML at line " + (mark.getLine() + 1)
            + ", column " + (mark.getColumn() + 1) + ": " + e.getProblem());
      }
      throw new Problem(label + ": not valid YAML: " + firstLine(e.getProblem()));
    } catch (YamlEngineException e) {
      throw new Problem(label + ": not valid YAML: " + firstLine(e.getMessage()));
    }
    if (root == null) {
      throw new Problem(label + ": the file is empty");
    }
    if (!(root instanceof Map<?, ?> top)) {
      String found = root instanceof List<?> ? "list"
          : root instanceof CharSequence ? "string"
          : root instanceof Number ? "number"
          : root instanceof Boolean ? "boolean"
          : root.getClass().getSimpleName().toLowerCase(Locale.ROOT);
      throw new Problem(label + ": not a kubeconfig: the top level is a " + found
          + ", not a mapping");
    }
    Object kindValue = top.get("kind");
    String kind = kindValue == null || kindValue instanceof Map || kindValue instanceof List
        ? "" : String.valueOf(kindValue);
    if (!kind.isEmpty() && !kind.equals("Config")) {
      throw new Problem(label + ": not a kubeconfig: kind is " + kind + ", not Config");
    }
    if (!top.containsKey("clusters") && !top.containsKey("contexts")
        && !top.containsKey("users")) {
      throw new Problem(label + ": not a kubeconfig: it has no clusters, contexts or users");
    }
    try {
      // fabric8's own parser remembers the file, so relative certificate paths resolve against it.
      return KubeConfigUtils.parseConfig(file.toFile());
    } catch (RuntimeException e) {
      throw new Problem(label + ": not a valid kubeconfig: " + rootMessage(e));
    }
  }

  /** What fabric8 would silently skip or fall back from: each becomes a Problem instead. */
  private static void checkReferences(String label,
      List<io.fabric8.kubernetes.api.model.Config> models) throws Problem {
    String current = models.stream().map(io.fabric8.kubernetes.api.model.Config::getCurrentContext)
        .filter(c -> c != null && !c.isEmpty()).findFirst().orElse(null);
    List<NamedContext> contexts = all(models, io.fabric8.kubernetes.api.model.Config::getContexts);
    String contextNames = names(contexts, NamedContext::getName);
    if (current == null) {
      throw new Problem(label + ": no current-context is set (contexts: " + contextNames + ")");
    }
    NamedContext context = contexts.stream()
        .filter(c -> current.equals(c.getName()) && c.getContext() != null).findFirst()
        .orElseThrow(() -> new Problem(label + ": current-context '" + current
            + "' does not exist (contexts: " + contextNames + ")"));

    String clusterName = context.getContext().getCluster();
    List<NamedCluster> clusters = all(models, io.fabric8.kubernetes.api.model.Config::getClusters);
    NamedCluster named = clusters.stream()
        .filter(c -> Objects.equals(clusterName, c.getName()) && c.getCluster() != null)
        .findFirst()
        .orElseThrow(() -> new Problem(label + ": context '" + current + "' names cluster '"
            + clusterName + "', which does not exist (clusters: "
            + names(clusters, NamedCluster::getName) + ")"));
    Cluster cluster = named.getCluster();
    if (cluster.getServer() == null || cluster.getServer().isBlank()) {
      throw new Problem(label + ": cluster '" + clusterName + "' has no server URL");
    }
    // fabric8's parser records in each entry the file it came from.
    File definedIn = (File) named.getAdditionalProperties().values().stream()
        .filter(File.class::isInstance).findFirst().orElse(null);
    checkCertificates(label, "cluster '" + clusterName + "' certificate-authority",
        checkFile(label, "cluster '" + clusterName + "' certificate-authority",
            cluster.getCertificateAuthority(), definedIn));
    checkCertificates(label, "cluster '" + clusterName + "' certificate-authority-data",
        decode(label, "cluster '" + clusterName + "' certificate-authority-data",
            cluster.getCertificateAuthorityData()));

    // A context without a user is anonymous access, which kubectl allows; a missing one is a typo.
    String userName = context.getContext().getUser();
    if (userName != null && !userName.isEmpty()) {
      List<NamedAuthInfo> users = all(models, io.fabric8.kubernetes.api.model.Config::getUsers);
      NamedAuthInfo user = users.stream()
          .filter(u -> userName.equals(u.getName()) && u.getUser() != null).findFirst()
          .orElseThrow(() -> new Problem(label + ": context '" + current + "' names user '"
              + userName + "', which does not exist (users: " + names(users, NamedAuthInfo::getName)
              + ")"));
      File userFile = (File) user.getAdditionalProperties().values().stream()
          .filter(File.class::isInstance).findFirst().orElse(null);
      checkFile(label, "user '" + userName + "' client-certificate",
          user.getUser().getClientCertificate(), userFile);
      checkFile(label, "user '" + userName + "' client-key", user.getUser().getClientKey(),
          userFile);
      decode(label, "user '" + userName + "' client-certificate-data",
          user.getUser().getClientCertificateData());
      decode(label, "user '" + userName + "' client-key-data", user.getUser().getClientKeyData());
    }
  }

  /** Paths in a kubeconfig are relative to the file that holds them, as kubectl reads them. */
  private static byte[] checkFile(String label, String setting, String path, File definedIn)
      throws Problem {
    if (path == null || path.isEmpty()) {
      return null;
    }
    Path resolved = definedIn != null && definedIn.getParentFile() != null
        ? definedIn.toPath().getParent().resolve(path) : Path.of(path);
    try {
      return Files.readAllBytes(resolved);
    } catch (IOException e) {
      throw new Problem(label + ": " + setting + " " + resolved
          + ": file not found or not readable");
    }
  }

  private static byte[] decode(String label, String setting, String data) throws Problem {
    if (data == null || data.isEmpty()) {
      return null;
    }
    try {
      return Base64.getDecoder().decode(data.replaceAll("\\s", ""));
    } catch (IllegalArgumentException e) {
      throw new Problem(label + ": " + setting + " is not valid base64: " + e.getMessage());
    }
  }

  /**
   * fabric8 does not complain about a CA that holds no certificate: the API server's certificate
   * would then fail to verify on every request, for ever.
   */
  private static void checkCertificates(String label, String setting, byte[] pem) throws Problem {
    if (pem == null) {
      return;
    }
    try {
      if (CertificateFactory.getInstance("X.509")
          .generateCertificates(new ByteArrayInputStream(pem)).isEmpty()) {
        throw new CertificateException("no certificate in it");
      }
    } catch (CertificateException e) {
      throw new Problem(label + ": " + setting + " is not a PEM certificate: " + rootMessage(e));
    }
  }

  /**
   * Builds the trust and key managers now, as the client will: a CA or client certificate that
   * is not a certificate, or a key that does not parse, is reported here instead of as a trace.
   */
  private static Config checkTls(String label, Config config) throws Problem {
    try {
      SSLUtils.trustManagers(config);
      SSLUtils.keyManagers(config);
      return config;
    } catch (Exception e) {
      throw new Problem(label + ": unusable certificate or key (certificate-authority, "
          + "client-certificate, client-key or their -data): " + rootMessage(e));
    }
  }

  private static <T> List<T> all(List<io.fabric8.kubernetes.api.model.Config> models,
      Function<io.fabric8.kubernetes.api.model.Config, List<T>> list) {
    return models.stream().map(list).filter(Objects::nonNull).flatMap(List::stream)
        .filter(Objects::nonNull).toList();
  }

  private static <T> String names(List<T> items, Function<T, String> name) {
    String joined = items.stream().map(name).filter(Objects::nonNull).distinct()
        .collect(Collectors.joining(", "));
    return joined.isEmpty() ? "none" : joined;
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    String message = t.getMessage();
    return t.getClass().getSimpleName() + (message == null ? "" : ": " + firstLine(message));
  }

  private static String firstLine(String text) {
    return text == null ? "" : text.strip().lines().findFirst().orElse("");
  }
}
