package io.github.leaderelection.bench;

import io.github.leaderelection.harness.ControlPlane;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.it.image.ImageTarball;
import io.github.leaderelection.it.image.RootfsRuntime;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How each arm's replicas are started.
 *
 * <ul>
 *   <li>{@code this}: as the image runs them: the image tarball ({@code bench.image}, built by
 *       scripts/build-image-tar.sh) unpacked once, its entrypoint (JDK 25 runtime,
 *       {@code -XX:AOTCache}, the image's JDK_JAVA_OPTIONS) started as the image's user in a
 *       chroot of a read-only root filesystem ({@link RootfsRuntime}, needs root);</li>
 *   <li>{@code this_jdk17}: the fat jar on the JDK running the benchmark (17) with the pom's
 *       JVM flags, as before the image moved to JDK 25;</li>
 *   <li>{@code baseline}: {@link BaselineMain} (fabric8's LeaderElector), same JDK and flags;</li>
 *   <li>{@code clientgo}: the article's client-go program ({@code bench.clientgo}, built from
 *       bench/clientgo by scripts/bench.sh).</li>
 * </ul>
 */
final class Launchers implements AutoCloseable {

  private final String appJar;
  private final String testClasses;
  private final ControlPlane controlPlane;
  private Path imageDir;
  private ImageTarball.Unpacked image;

  Launchers(String appJar, String testClasses, ControlPlane controlPlane) {
    this.appJar = appJar;
    this.testClasses = testClasses;
    this.controlPlane = controlPlane;
  }

  ReplicaSet.Launcher of(String arm, String namespace) {
    return switch (arm) {
      case "this" -> {
        try {
          yield RootfsRuntime.prepare(image(), namespace, controlPlane.kubeconfig());
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
      case "this_jdk17" -> ReplicaSet.appLauncher();
      case "baseline" -> ReplicaSet.classLauncher(appJar + ":" + testClasses,
          BaselineMain.class.getName());
      case "clientgo" -> {
        Path binary = Path.of(System.getProperty("bench.clientgo", "target/bench/clientgo"));
        if (!Files.isExecutable(binary)) {
          throw new IllegalStateException(binary + " not found: scripts/bench.sh builds it from"
              + " bench/clientgo with go build");
        }
        String path = binary.toAbsolutePath().toString();
        yield (identity, args) -> {
          List<String> command = new ArrayList<>();
          command.add(path);
          command.add("--identity=" + identity);
          command.addAll(args);
          return command;
        };
      }
      default -> throw new IllegalArgumentException("unknown arm " + arm);
    };
  }

  /**
   * How the processes of the many-elections scenario ({@link ManyElections}) are started: the
   * Java arms as {@code java [app.jvmFlags] -cp jar:test-classes <main>} on {@link #manyJava()},
   * client-go's as {@code bench.clientgoMany} (bench/clientgo/many).
   */
  ReplicaSet.Launcher many(String arm) {
    String main = switch (arm) {
      case "this", "this_bounded_http" -> ManyMain.class.getName();
      case "baseline" -> ManyBaselineMain.class.getName();
      case "clientgo" -> null;
      default -> throw new IllegalArgumentException("unknown arm of the many-elections scenario "
          + arm);
    };
    if (main == null) {
      Path binary = Path.of(System.getProperty("bench.clientgoMany",
          "target/bench/clientgo-many"));
      if (!Files.isExecutable(binary)) {
        throw new IllegalStateException(binary + " not found: scripts/bench.sh builds it from"
            + " bench/clientgo/many with go build");
      }
      String path = binary.toAbsolutePath().toString();
      return (identity, args) -> {
        List<String> command = new ArrayList<>();
        command.add(path);
        command.add("--identity=" + identity);
        command.addAll(args);
        return command;
      };
    }
    String java = manyJava();
    String classpath = appJar + ":" + testClasses;
    return (identity, args) -> {
      List<String> command = new ArrayList<>();
      command.add(java);
      String flags = System.getProperty("app.jvmFlags", "").trim();
      if (!flags.isEmpty()) {
        command.addAll(List.of(flags.split("\\s+")));
      }
      command.add("-cp");
      command.add(classpath);
      command.add(main);
      command.add("--identity=" + identity);
      command.addAll(args);
      return command;
    };
  }

  /**
   * The java of the many-elections scenario: {@code bench.manyJava} (scripts/bench.sh passes a
   * JDK 25 when it finds one: the runtime of the image, and virtual threads), else the JDK running
   * the benchmark.
   */
  static String manyJava() {
    String java = System.getProperty("bench.manyJava", "");
    return java.isBlank() ? Path.of(System.getProperty("java.home"), "bin", "java").toString()
        : java;
  }

  /** The Java feature version of {@link #manyJava()}, or 0 if unknown. */
  static int manyJavaVersion() {
    try {
      Process p = new ProcessBuilder(manyJava(), "-XshowSettings:properties", "-version")
          .redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes());
      p.waitFor();
      java.util.regex.Matcher m = java.util.regex.Pattern
          .compile("java\\.specification\\.version = (\\d+)").matcher(out);
      return m.find() ? Integer.parseInt(m.group(1)) : 0;
    } catch (IOException | InterruptedException e) {
      return 0;
    }
  }

  /** What each arm of the many-elections scenario runs, for the report. */
  static String manyRuntime(String arm) {
    return switch (arm) {
      case "this" -> "this library's public API (ManyMain), JDK " + MANY_JAVA_VERSION
          + ", pom flags";
      case "this_bounded_http" -> "the same on a client whose JDK HTTP client runs on at most "
          + ManyMain.HTTP_THREADS + " threads (the README's \"Threads\"), JDK " + MANY_JAVA_VERSION
          + ", pom flags";
      case "baseline" -> "fabric8 " + io.fabric8.kubernetes.client.Version.clientVersion()
          + " LeaderElector (ManyBaselineMain), JDK " + MANY_JAVA_VERSION + ", pom flags";
      case "clientgo" -> "client-go 0.36.3 LeaderElectors (bench/clientgo/many), Go "
          + System.getProperty("bench.goVersion", "?");
      default -> arm;
    };
  }

  static final int MANY_JAVA_VERSION = manyJavaVersion();

  /** JVM flags of the image (its JDK_JAVA_OPTIONS and entrypoint flags), for the report. */
  String imageJvmFlags() {
    if (image == null) {
      return "";
    }
    List<String> flags = new ArrayList<>();
    String env = image.envValue("JDK_JAVA_OPTIONS");
    if (env != null) {
      flags.add(env);
    }
    image.entrypoint().stream().filter(a -> a.startsWith("-X")).forEach(flags::add);
    return String.join(" ", flags);
  }

  private synchronized ImageTarball.Unpacked image() throws IOException {
    if (image == null) {
      Path tarball = Path.of(System.getProperty("bench.image",
          "target/leaderelection-image.tar"));
      if (!Files.isRegularFile(tarball)) {
        throw new IllegalStateException(tarball + " not found: scripts/bench.sh builds it with"
            + " scripts/build-image-tar.sh");
      }
      imageDir = Files.createTempDirectory("bench-image");
      image = ImageTarball.unpack(tarball, imageDir);
      Bench.imageJvmFlags = imageJvmFlags();
    }
    return image;
  }

  @Override
  public void close() {
    if (imageDir != null) {
      try {
        ImageTarball.deleteTree(imageDir);
      } catch (IOException e) {
        // best effort
      }
    }
  }
}
