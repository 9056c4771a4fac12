package io.github.leaderelection.app.cli;

import io.fabric8.kubernetes.client.Config;
import io.github.leaderelection.app.logging.LogSetup;
import io.github.leaderelection.election.Durations;
import io.github.leaderelection.election.LeaderElection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The command line: options are declared here, checked in {@link #validate()} and by the
 * election's builder (whose messages name its fields: they are mapped to the flags here), and
 * turned into {@link Settings} for whatever runs them (the app's {@code Main}). Usage errors print
 * one line and exit with 2.
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
        "Durations are written like 15s, 500ms, 1m; each at most 2147483647s (about 68 years).",
        "Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 2 for bad options, 1 otherwise."})
public final class LeaderElectionCommand implements Callable<Integer> {

  /** ConfigMap names are DNS-1123 subdomains. */
  private static final Pattern SUBDOMAIN =
      Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  /** The builder's fields, as the flags that set them. */
  private static final Map<String, String> FLAGS = Map.of(
      "namespace", "--lease-namespace", "leaseName", "--lease-name", "identity", "--identity",
      "leaseDuration", "--lease-duration", "renewDeadline", "--renew-deadline",
      "retryPeriod", "--retry-period", "leaseLabels", "--lease-label",
      "binaryVersion", "--binary-version", "emulationVersion", "--emulation-version");
  private static final Pattern FIELD = Pattern.compile("\\b(" + String.join("|", FLAGS.keySet())
      + ")\\b");

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

  @Option(names = "--work-record", paramLabel = "<configmap>",
      description = "ConfigMap in the Lease's namespace where the leader records each unit of"
          + " work with a fenced write (who, when, under which fencing token); a write from an"
          + " older term is refused. Empty disables it. Default: <lease-name>-work.")
  String workRecord;

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
  private final Function<Settings, Integer> runner;

  public LeaderElectionCommand() {
    this(Environment.system(), settings -> 0);
  }

  LeaderElectionCommand(Environment environment) {
    this(environment, settings -> 0);
  }

  /**
   * @param runner runs the replica with the validated settings and returns the exit code
   */
  public LeaderElectionCommand(Environment environment, Function<Settings, Integer> runner) {
    this.environment = environment;
    this.runner = runner;
  }

  /** Parses, validates and hands the settings to {@code runner}; returns the exit code. */
  public static int execute(Environment environment, Function<Settings, Integer> runner,
      String... args) {
    CommandLine cmd = new CommandLine(new LeaderElectionCommand(environment, runner));
    cmd.setParameterExceptionHandler(LeaderElectionCommand::usageError);
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
    try {
      settings = settings.withClientConfig(KubeClientConfig.load(settings.kubeconfig(),
          settings.election().requestTimeout()));
    } catch (KubeClientConfig.Problem e) {
      spec.commandLine().getErr().println("leaderelection: " + e.getMessage());
      spec.commandLine().getErr().flush();
      return 2;
    }
    return runner.apply(settings);
  }

  /** Validates every option and resolves the defaults that do not come from flags. */
  Settings toSettings() {
    validate();
    String namespace = leaseNamespace != null ? leaseNamespace
        : environment.variable("POD_NAMESPACE")
            .or(environment::inClusterNamespace)
            .orElse("default");
    String podName = environment.variable("POD_NAME").orElse(null);
    String id = identity;
    String idSource = null;
    boolean fromHost = false;
    if (id == null && podName != null) {
      id = podName;
      idSource = "env POD_NAME";
    }
    if (id == null) {
      id = environment.hostname().get();
      idSource = "the host name";
      fromHost = true;
    }
    LeaderElection.Builder election = LeaderElection.builder(null)
        .lease(namespace, leaseName)
        .identity(id)
        .leaseDuration(leaseDuration)
        .renewDeadline(renewDeadline)
        .retryPeriod(retryPeriod)
        .releaseOnClose(releaseOnCancel)
        .watch(watch)
        .leaseLabels(leaseLabels);
    String binary = null;
    String emulation = null;
    if (coordinated) {
      binary = binaryVersion != null ? binaryVersion : buildVersion.get();
      if (binary == null) {
        throw usage("--coordinated needs --binary-version: this build does not know its own"
            + " version (run the packaged jar, or pass e.g. --binary-version=1.0.0)");
      }
      emulation = emulationVersion != null ? emulationVersion : binary;
      election.coordinated(binary, emulation);
    }
    try {
      election.validate();
    } catch (IllegalArgumentException e) {
      String message = asFlags(e.getMessage(), binaryVersion == null);
      if (idSource != null && message.startsWith("--identity")) {
        message += " (taken from " + idSource + ": set --identity)";
      }
      throw usage(message);
    }
    // The default follows the Lease's name, unless that leaves no room for the suffix.
    String record = workRecord != null ? workRecord
        : leaseName.length() <= 248 ? leaseName + "-work" : "";
    if (!record.isEmpty() && (record.length() > 253 || !SUBDOMAIN.matcher(record).matches())) {
      throw usage("--work-record '" + record + "' is invalid: must be a ConfigMap name (a DNS-1123"
          + " subdomain), at most 253 characters");
    }
    LogSetup.configure(logFormat, id, namespace + "/" + leaseName);
    if (fromHost) {
      LoggerFactory.getLogger(LeaderElectionCommand.class).warn(
          "neither --identity nor env POD_NAME is set; using the host name '{}' as identity:"
              + " it must be unique among the replicas", id);
    }
    return new Settings(election, id, namespace, leaseName, workInterval, record, kubeconfig,
        healthPort, watchdogGrace, logFormat, labelLeader, podName, binary, emulation, null);
  }

  /**
   * The builder's message with its field names as this command's flags ("leaseDuration (10s)
   * must be greater than renewDeadline (10s)" becomes "--lease-duration (10s) must be ...").
   */
  static String asFlags(String message, boolean binaryFromBuild) {
    Matcher m = FIELD.matcher(message);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String flag = m.group(1).equals("binaryVersion") && binaryFromBuild
          ? "this build's version" : FLAGS.get(m.group(1));
      m.appendReplacement(out, Matcher.quoteReplacement(flag));
    }
    m.appendTail(out);
    return out.toString().replace("(coordinated)", "(--coordinated)");
  }

  /** All the rules, in one place. */
  private void validate() {
    if (identity != null && identity.isBlank()) {
      throw usage("--identity must not be empty");
    }
    if (workInterval.isZero() || workInterval.isNegative()) {
      throw usage("--work-interval must be greater than 0");
    }
    if (watchdogGrace.isNegative()) {
      throw usage("--watchdog-grace must not be negative");
    }
    // The library's bound for every timing; the three election timings are checked by its
    // builder, whose messages are mapped to the flags below.
    atMostMax("--work-interval", workInterval);
    atMostMax("--watchdog-grace", watchdogGrace);
    if (healthPort < 0 || healthPort > 65535) {
      throw usage("--health-port must be between 0 and 65535 (0 disables), got " + healthPort);
    }
    if (kubeconfig != null && !Files.isReadable(kubeconfig)) {
      throw usage("--kubeconfig " + kubeconfig + ": file not found or not readable");
    }
    if (labelLeader && environment.variable("POD_NAME").isEmpty()) {
      throw usage("--label-leader needs env POD_NAME (the downward API's metadata.name)");
    }
    if (!coordinated && (binaryVersion != null || emulationVersion != null)) {
      throw usage((binaryVersion != null ? "--binary-version" : "--emulation-version")
          + " only applies with --coordinated");
    }
  }

  private void atMostMax(String flag, Duration value) {
    if (value.compareTo(Durations.MAX) > 0) {
      throw usage(flag + " must be at most " + Durations.MAX_IN_WORDS + ", got "
          + Durations.format(value));
    }
  }

  private ParameterException usage(String message) {
    return new ParameterException(spec.commandLine(), message);
  }
}
