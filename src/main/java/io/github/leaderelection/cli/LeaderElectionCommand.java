package io.github.leaderelection.cli;

import io.fabric8.kubernetes.client.Config;
import io.github.leaderelection.App;
import io.github.leaderelection.coordinated.SemVer;
import io.github.leaderelection.election.ElectionConfig;
import io.github.leaderelection.logging.LogSetup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The command line: options are declared here, checked in {@link #validate()}, and turned into
 * {@link Settings} for {@link App}. Usage errors print one line and exit with 2.
 */
@Command(
    name = "leaderelection",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    sortOptions = false,
    usageHelpAutoWidth = true,
    description = {
        "Kubernetes leader election through a coordination.k8s.io/v1 Lease: run several replicas,"
            + " exactly one leads and does the work (logs 'doing stuff...'), the others stand by"
            + " and take over when it fails or shuts down.",
        ""},
    footer = {"",
        "Timings follow client-go: lease-duration > renew-deadline > 1.2 x retry-period > 0.",
        "Durations are written like 15s, 500ms, 1m.",
        "Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 2 for bad options, 1 otherwise."})
public final class LeaderElectionCommand implements Callable<Integer> {

  /** Lease names are DNS-1123 subdomains. */
  private static final Pattern SUBDOMAIN =
      Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  /** Namespaces are DNS-1123 labels. */
  private static final Pattern LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  /** The name part of a label key, and a non-empty label value. */
  private static final Pattern LABEL_NAME =
      Pattern.compile("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");
  /** LeaseCandidate names are ConfigMap keys. */
  private static final Pattern CANDIDATE_NAME = Pattern.compile("[-._a-zA-Z0-9]+");

  @Spec
  CommandSpec spec;

  @Option(names = "--lease-name", required = true, paramLabel = "<name>",
      description = "Name of the Lease used as the lock (required; a DNS-1123 subdomain, e.g. my-lease).")
  String leaseName;

  @Option(names = "--lease-namespace", paramLabel = "<namespace>",
      description = "Namespace of the Lease. Default: env POD_NAMESPACE, else the in-cluster"
          + " service-account namespace, else 'default'.")
  String leaseNamespace;

  @Option(names = "--identity", paramLabel = "<id>",
      description = "This replica's unique identity, written into the Lease."
          + " Default: env POD_NAME, else the host name (with a warning).")
  String identity;

  @Option(names = "--lease-duration", defaultValue = "15s", converter = DurationConverter.class,
      paramLabel = "<duration>",
      description = "How long followers wait after they last saw the Lease change before taking"
          + " over. Longer rides out leader stalls; shorter fails over faster. Default: ${DEFAULT-VALUE}.")
  Duration leaseDuration;

  @Option(names = "--renew-deadline", defaultValue = "10s", converter = DurationConverter.class,
      paramLabel = "<duration>",
      description = "How long the leader keeps trying to renew before it stops working and steps"
          + " down. Must be below the lease duration: the gap is the safety margin. Default: ${DEFAULT-VALUE}.")
  Duration renewDeadline;

  @Option(names = "--retry-period", defaultValue = "2s", converter = DurationConverter.class,
      paramLabel = "<duration>",
      description = "How often the leader renews and a polling follower retries (with jitter)."
          + " Default: ${DEFAULT-VALUE}.")
  Duration retryPeriod;

  @Option(names = "--work-interval", defaultValue = "5s", converter = DurationConverter.class,
      paramLabel = "<duration>",
      description = "Time between two units of leader work ('doing stuff...'). Default: ${DEFAULT-VALUE}.")
  Duration workInterval;

  @Option(names = "--release-on-cancel", negatable = true, defaultValue = "true",
      fallbackValue = "true",
      description = "On SIGTERM/SIGINT, stop the work and then clear the Lease's holder, so a"
          + " follower takes over at once instead of after the lease duration. Default: on.")
  boolean releaseOnCancel;

  @Option(names = "--watch", negatable = true, defaultValue = "true", fallbackValue = "true",
      description = "Followers watch the Lease instead of polling it: instant takeover after a"
          + " release and no follower GETs. Falls back to polling while the watch is down."
          + " Needs list+watch on the Lease. Default: on.")
  boolean watch;

  @Option(names = "--kubeconfig", paramLabel = "<file>",
      description = "kubeconfig file. Default: the usual discovery (in-cluster service account,"
          + " else $KUBECONFIG or ~/.kube/config).")
  Path kubeconfig;

  @Option(names = "--health-port", defaultValue = "8080", paramLabel = "<port>",
      description = "Port for /healthz, /readyz and /metrics; 0 disables them. Default: ${DEFAULT-VALUE}.")
  int healthPort;

  @Option(names = "--watchdog-grace", defaultValue = "5s", converter = DurationConverter.class,
      paramLabel = "<duration>",
      description = "/healthz fails when the elector has made no progress for the lease"
          + " duration plus this grace (it is wedged). An unreachable API server does not make a"
          + " replica unhealthy. Default: ${DEFAULT-VALUE}.")
  Duration watchdogGrace;

  @Option(names = "--log-format", defaultValue = "text", paramLabel = "<format>",
      description = "text (klog-style lines) or json (one object per line). Default: ${DEFAULT-VALUE}.")
  LogSetup.Format logFormat;

  @Option(names = "--label-leader", defaultValue = "false",
      description = "Keep a leader=true|false label on this replica's own pod (needs env POD_NAME"
          + " and patch on pods: see k8s/optional/). Default: off.")
  boolean labelLeader;

  @Option(names = "--lease-label", paramLabel = "<key=value>",
      description = "A label this replica puts on the Lease with each of its writes (client-go's"
          + " NewWithLabels), e.g. to select Leases by owner; repeatable. Keys and values follow"
          + " the Kubernetes label rules. Other labels on the Lease are kept.")
  Map<String, String> leaseLabels = new LinkedHashMap<>();

  @Option(names = "--coordinated", defaultValue = "false",
      description = "Coordinated leader election (KEP-4355): publish a LeaseCandidate and let the"
          + " API server pick the holder (lowest emulation version, then lowest binary version,"
          + " then the oldest candidate); never create or take over the Lease. Needs"
          + " kube-apiserver --feature-gates=CoordinatedLeaderElection=true"
          + " --runtime-config=coordination.k8s.io/v1beta1=true (exit 2 otherwise) and the RBAC"
          + " in k8s/coordinated/. Default: off.")
  boolean coordinated;

  @Option(names = "--binary-version", paramLabel = "<semver>",
      description = "With --coordinated: this build's version in the LeaseCandidate"
          + " (MAJOR.MINOR.PATCH, no leading v). Default: the version of this build"
          + " (leaderelection --version).")
  String binaryVersion;

  @Option(names = "--emulation-version", paramLabel = "<semver>",
      description = "With --coordinated: the version whose behaviour this replica offers; the"
          + " lowest leads, so during a rolling upgrade the old version keeps leading until the"
          + " last old replica is gone. At most --binary-version. Default: --binary-version.")
  String emulationVersion;

  /** This build's version (from the jar's manifest), or null when run from classes. */
  Supplier<String> buildVersion =
      () -> LeaderElectionCommand.class.getPackage().getImplementationVersion();

  private final Environment environment;

  public LeaderElectionCommand() {
    this(Environment.system());
  }

  LeaderElectionCommand(Environment environment) {
    this.environment = environment;
  }

  public static void main(String[] args) {
    System.exit(execute(Environment.system(), args));
  }

  /** Parses and runs; returns the process exit code. */
  static int execute(Environment environment, String... args) {
    CommandLine cmd = commandLine(environment);
    return cmd.execute(args);
  }

  static CommandLine commandLine(Environment environment) {
    CommandLine cmd = new CommandLine(new LeaderElectionCommand(environment));
    cmd.setParameterExceptionHandler(LeaderElectionCommand::usageError);
    return cmd;
  }

  /** One line naming the option and the rule, then a hint; no usage dump, no stack trace. */
  private static int usageError(ParameterException e, String[] args) {
    CommandLine cmd = e.getCommandLine();
    cmd.getErr().println("leaderelection: " + e.getMessage());
    cmd.getErr().println("Try 'leaderelection --help' for more information.");
    cmd.getErr().flush();
    return 2;
  }

  @Override
  public Integer call() throws Exception {
    Settings settings = toSettings();
    // A kubeconfig that cannot work is bad input like a bad flag: one line and 2, before anything
    // starts, rather than a stack trace or retries for ever against a default URL.
    Config client;
    try {
      client = KubeClientConfig.load(settings.kubeconfig(), settings.election().requestTimeout());
    } catch (KubeClientConfig.Problem e) {
      spec.commandLine().getErr().println("leaderelection: " + e.getMessage());
      spec.commandLine().getErr().flush();
      return 2;
    }
    return new App(settings, client).run();
  }

  /** Validates every option and resolves the defaults that do not come from flags. */
  Settings toSettings() {
    validate();
    String namespace = leaseNamespace != null ? leaseNamespace
        : environment.variable("POD_NAMESPACE")
            .or(environment::inClusterNamespace)
            .orElse("default");
    checkPattern("--lease-namespace", namespace, LABEL, 63, "a DNS-1123 label");
    String podName = environment.variable("POD_NAME").orElse(null);
    String id = identity;
    boolean fromHost = false;
    if (id == null) {
      id = podName;
    }
    if (id == null) {
      id = environment.hostname().get();
      fromHost = true;
    }
    String binary = null;
    String emulation = null;
    if (coordinated) {
      if (!CANDIDATE_NAME.matcher(id).matches() || id.length() > 253) {
        throw usage("--coordinated: the identity '" + id + "' cannot name a LeaseCandidate: use"
            + " letters, digits, '-', '_' and '.' only, at most 253 characters");
      }
      binary = binaryVersion != null ? binaryVersion : buildVersion.get();
      if (binary == null) {
        throw usage("--coordinated needs --binary-version: this build does not know its own"
            + " version (run the packaged jar, or pass e.g. --binary-version=1.0.0)");
      }
      checkVersion(binaryVersion != null ? "--binary-version" : "this build's version", binary);
      emulation = emulationVersion != null ? emulationVersion : binary;
      checkVersion("--emulation-version", emulation);
      if (SemVer.parseOrNull(emulation).compareTo(SemVer.parseOrNull(binary)) > 0) {
        throw usage("--emulation-version (" + emulation + ") must not be greater than"
            + " --binary-version (" + binary + ")");
      }
    }
    ElectionConfig election = new ElectionConfig(namespace, leaseName, id, leaseDuration,
        renewDeadline, retryPeriod, releaseOnCancel, watch, coordinated, leaseLabels);
    LogSetup.configure(logFormat, id, election.leaseKey());
    if (fromHost) {
      LoggerFactory.getLogger(LeaderElectionCommand.class).warn(
          "neither --identity nor env POD_NAME is set; using the host name '{}' as identity:"
              + " it must be unique among the replicas", id);
    }
    return new Settings(election, workInterval, kubeconfig, healthPort, watchdogGrace, logFormat,
        labelLeader, podName, binary, emulation);
  }

  /** All the rules, in one place. */
  private void validate() {
    checkPattern("--lease-name", leaseName, SUBDOMAIN, 253, "a DNS-1123 subdomain: lowercase"
        + " letters, digits, '-' and '.', starting and ending with a letter or digit");
    if (leaseNamespace != null) {
      checkPattern("--lease-namespace", leaseNamespace, LABEL, 63, "a DNS-1123 label");
    }
    if (identity != null && identity.isBlank()) {
      throw usage("--identity must not be empty");
    }
    String timing = ElectionConfig.timingProblem(leaseDuration, renewDeadline, retryPeriod);
    if (timing != null) {
      throw usage(timing);
    }
    if (workInterval.isZero() || workInterval.isNegative()) {
      throw usage("--work-interval must be greater than 0");
    }
    if (watchdogGrace.isNegative()) {
      throw usage("--watchdog-grace must not be negative");
    }
    if (healthPort < 0 || healthPort > 65535) {
      throw usage("--health-port must be between 0 and 65535 (0 disables), got " + healthPort);
    }
    if (kubeconfig != null && !Files.isReadable(kubeconfig)) {
      throw usage("--kubeconfig " + kubeconfig + ": file not found or not readable");
    }
    if (labelLeader && environment.variable("POD_NAME").isEmpty()) {
      throw usage("--label-leader needs env POD_NAME (the downward API's metadata.name)");
    }
    for (Map.Entry<String, String> label : leaseLabels.entrySet()) {
      checkLabel(label.getKey(), label.getValue());
    }
    if (!coordinated && (binaryVersion != null || emulationVersion != null)) {
      throw usage((binaryVersion != null ? "--binary-version" : "--emulation-version")
          + " only applies with --coordinated");
    }
  }

  /** A semantic version as the API server validates a LeaseCandidate's. */
  private void checkVersion(String option, String value) {
    SemVer version = SemVer.parseOrNull(value);
    if (version == null) {
      throw usage(option + " '" + value + "' is invalid: must be a semantic version"
          + " MAJOR.MINOR.PATCH without a leading 'v', e.g. 1.36.0");
    }
    if (version.isZero()) {
      throw usage(option + " must not be 0.0.0: the API server reads it as no version");
    }
  }

  /** Kubernetes' label rules: [prefix/]name, prefix a DNS subdomain, name and value 63 chars. */
  private void checkLabel(String key, String value) {
    String what = "--lease-label '" + key + "=" + value + "': ";
    int slash = key.indexOf('/');
    String prefix = slash >= 0 ? key.substring(0, slash) : null;
    String name = slash >= 0 ? key.substring(slash + 1) : key;
    if (prefix != null && (prefix.isEmpty() || prefix.length() > 253
        || !SUBDOMAIN.matcher(prefix).matches())) {
      throw usage(what + "the key's prefix must be a DNS-1123 subdomain (e.g. example.com),"
          + " at most 253 characters");
    }
    if (name.isEmpty() || name.length() > 63 || !LABEL_NAME.matcher(name).matches()) {
      throw usage(what + "the key's name must be 1-63 characters: letters, digits, '-', '_'"
          + " and '.', starting and ending with a letter or digit");
    }
    if (value.length() > 63 || (!value.isEmpty() && !LABEL_NAME.matcher(value).matches())) {
      throw usage(what + "the value must be empty or at most 63 characters: letters, digits,"
          + " '-', '_' and '.', starting and ending with a letter or digit");
    }
  }

  private void checkPattern(String option, String value, Pattern pattern, int maxLength,
      String rule) {
    if (value.isEmpty()) {
      throw usage(option + " must not be empty");
    }
    if (value.length() > maxLength || !pattern.matcher(value).matches()) {
      throw usage(option + " '" + value + "' is invalid: must be " + rule + ", at most "
          + maxLength + " characters");
    }
  }

  private ParameterException usage(String message) {
    return new ParameterException(spec.commandLine(), message);
  }
}
