package io.github.leaderelection.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.github.leaderelection.harness.Replica;
import io.github.leaderelection.harness.ReplicaSet;
import io.github.leaderelection.it.image.ImageTarball;
import io.github.leaderelection.it.image.RootfsRuntime;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * The container image, proven without Docker or a registry: the tarball that
 * {@code make image-tar} (scripts/build-image-tar.sh, Jib on a locally assembled base) writes is
 * unpacked like a runtime does, its config checked, and its entrypoint started as the image's
 * non-root user in a chroot against the real API server: the replicas join the election.
 *
 * <p>Never skips: without the tarball, or without root (chroot and mounts need it), it fails and
 * says what to do.
 */
class ImageIT extends ReplicaTestSupport {

  private static final Path ROOT = Path.of(System.getProperty("project.root", "."));
  private static final Path TARBALL = ROOT.resolve("target/leaderelection-image.tar");
  private static final Set<String> SHELLS =
      Set.of("sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "busybox");
  private static final long MAX_COMPRESSED_BYTES = 80_000_000L;
  private static final String AOT_CACHE = "/app/aot/leaderelection.aot";
  private static final Pattern CLASS_LOAD = Pattern.compile(
      "\\[class,load\\s*] (\\S+) source: (.*)$");

  private static Path workDir;
  private static ImageTarball.Unpacked image;

  @BeforeAll
  static void unpackImage() throws IOException {
    if (!Files.isRegularFile(TARBALL)) {
      fail(TARBALL.toAbsolutePath().normalize() + " not found: build the image tarball first with"
          + " `make image-tar` (scripts/build-image-tar.sh; offline, about 1-3 minutes);"
          + " `make test` does it before `mvn verify`.");
    }
    String uids = RootfsRuntime.uids(ProcessHandle.current().pid());
    if (!uids.startsWith("0 ")) {
      fail("ImageIT runs the image's entrypoint like a container runtime (unshare --mount, bind"
          + " mounts, chroot --userspec), which needs root; this JVM runs with uids " + uids
          + ". Run the tests as root (CI does), e.g. `sudo make test`.");
    }
    for (String tool : List.of("/usr/bin/env", "/bin/sh")) {
      assertThat(Path.of(tool)).as("host tool " + tool).isExecutable();
    }
    workDir = Files.createTempDirectory("image-it");
    Instant started = Instant.now();
    image = ImageTarball.unpack(TARBALL, workDir);
    System.out.printf(Locale.ROOT, "ImageIT: %s %s unpacked in %d ms: %d layers, %.1f MB"
            + " compressed (base %.1f MB + app %.1f MB), %.1f MB unpacked%n",
        TARBALL, image.repoTags(), Duration.between(started, Instant.now()).toMillis(),
        image.layers().size(), image.compressedBytes() / 1e6, image.baseCompressedBytes() / 1e6,
        (image.compressedBytes() - image.baseCompressedBytes()) / 1e6,
        image.unpackedBytes() / 1e6);
    image.layers().forEach(l -> System.out.printf(Locale.ROOT, "ImageIT:   %8.1f MB  %s%n",
        l.compressedBytes() / 1e6, l.createdBy()));
  }

  @AfterAll
  static void deleteImage() throws IOException {
    if (workDir != null) {
      ImageTarball.deleteTree(workDir);
    }
  }

  @Test
  void configStartsTheJvmDirectlyAsNonRootWithoutAShell() throws IOException {
    assertThat(image.repoTags()).singleElement().asString().startsWith("leaderelection:");
    assertThat(image.config().path("os").asText()).isEqualTo("linux");
    assertThat(image.config().path("architecture").asText()).isNotBlank();

    // Entrypoint: the JVM itself, exec'd by the runtime, not through a shell.
    List<String> entrypoint = image.entrypoint();
    assertThat(entrypoint).as("Entrypoint").isNotEmpty();
    assertThat(entrypoint.get(0)).as("Entrypoint[0]").isIn("java", "/usr/bin/java")
        .doesNotContain("sh");
    assertThat(entrypoint).contains("io.github.leaderelection.app.Main");
    assertThat(entrypoint).noneMatch(a -> a.equals("-c"));
    Path java = resolveExecutable(entrypoint.get(0));
    assertThat(Arrays.copyOf(Files.readAllBytes(java), 4)).as("%s is an ELF executable", java)
        .isEqualTo(new byte[] {0x7f, 'E', 'L', 'F'});

    // No shell at all in the image (nothing an attacker or a forgotten `sh -c` could use).
    List<String> shells = new ArrayList<>();
    try (Stream<Path> paths = Files.walk(image.rootfs())) {
      paths.filter(p -> p.getFileName() != null && SHELLS.contains(p.getFileName().toString()))
          .forEach(p -> shells.add(image.rootfs().relativize(p).toString()));
    }
    assertThat(shells).as("shells in the image").isEmpty();
    assertThat(image.rootfs().resolve("bin/sh")).doesNotExist();

    // Non-root, numeric (so runAsNonRoot can be enforced), and known to /etc/passwd.
    int[] ids = RootfsRuntime.ids(image.user());
    assertThat(ids[0]).as("image User %s", image.user()).isEqualTo(65532);
    assertThat(ids[1]).isNotZero();
    assertThat(Files.readAllLines(image.rootfs().resolve("etc/passwd")))
        .anyMatch(l -> l.startsWith("nonroot:x:65532:65532:"));

    // Container-aware JVM flags through the launcher's environment variable.
    assertThat(image.envValue("JDK_JAVA_OPTIONS")).as("JDK_JAVA_OPTIONS")
        .isEqualTo(System.getProperty("app.jvmFlags",
            image.envValue("JDK_JAVA_OPTIONS")).trim())
        .contains("-Xmx");
    assertThat(image.envValue("PATH")).isNotBlank();

    assertThat(image.containerConfig().path("ExposedPorts").has("8080/tcp")).isTrue();
    for (String label : List.of("title", "description", "version", "source", "licenses")) {
      assertThat(image.containerConfig().path("Labels")
          .path("org.opencontainers.image." + label).asText())
          .as("label org.opencontainers.image.%s", label).isNotBlank();
    }
    assertThat(image.containerConfig().path("Labels").path("org.opencontainers.image.title")
        .asText()).isEqualTo("leaderelection");

    // Reproducible: a fixed creation time, not the time of the build.
    Instant created = Instant.parse(image.config().path("created").asText());
    assertThat(created).isBefore(Files.getLastModifiedTime(TARBALL).toInstant()
        .minus(Duration.ofMinutes(1)));

    assertThat(image.compressedBytes()).as("compressed image size").isLessThan(MAX_COMPRESSED_BYTES);
  }

  @Test
  void replicasStartedFromTheEntrypointJoinTheElection(TestInfo info) throws Exception {
    String namespace = namespaceFor(info);
    RootfsRuntime runtime = RootfsRuntime.prepare(image, namespace, controlPlane.kubeconfig());
    replicas = ReplicaSet.of(controlPlane, namespace, "my-lease", List.of("--work-interval=1s"),
        runtime, controlPlane.kubeconfig());
    List<Replica> started = replicas.startAll("image", 2);

    Replica leader = awaitSingleLeader(Duration.ofSeconds(120));
    Replica follower = started.get(0) == leader ? started.get(1) : started.get(0);
    String lease = namespace + "/my-lease";
    assertThat(leader.log()).contains("attempting to acquire leader lease " + lease + "...")
        .contains("successfully acquired lease " + lease);
    await(Duration.ofSeconds(60)).alias(follower.log())
        .until(() -> follower.logged("new leader is " + leader.identity()));
    await(Duration.ofSeconds(30)).alias(leader.log()).until(() -> leader.logged("doing stuff..."));

    for (Replica replica : started) {
      // The JVM itself (every step exec'd), as the image's user.
      assertThat(RootfsRuntime.comm(replica.pid())).as("process of %s", replica.identity())
          .isEqualTo("java");
      assertThat(RootfsRuntime.uids(replica.pid())).as("uids of %s", replica.identity())
          .isEqualTo("65532 65532 65532 65532");
      // The launcher applied the image's JVM flags.
      assertThat(replica.logged("Picked up JDK_JAVA_OPTIONS:")).as(replica.log()).isTrue();
      // The health server and the JVM metrics work with the jlink'ed module set.
      assertThat(get(replica, "/healthz").statusCode()).isEqualTo(200);
      HttpResponse<String> metrics = get(replica, "/metrics");
      assertThat(metrics.statusCode()).isEqualTo(200);
      assertThat(metrics.body()).contains("jvm_memory");
    }

    // SIGTERM: the leader releases the Lease and exits 0; the follower takes over at once.
    leader.terminate();
    assertThat(leader.awaitExit(Duration.ofSeconds(60))).as(leader.log()).isZero();
    await(Duration.ofSeconds(30)).alias(follower.log())
        .until(() -> follower.logged("successfully acquired lease " + lease));
    follower.terminate();
    assertThat(follower.awaitExit(Duration.ofSeconds(60))).as(follower.log()).isZero();

    for (Replica replica : started) {
      assertThat(replica.texts()).as("log of %s", replica.identity()).noneMatch(l ->
          l.contains("NoClassDefFoundError") || l.contains("ClassNotFoundException")
              || l.contains("UnsatisfiedLinkError") || l.contains("Read-only file system"));
    }
    assertNoOverlappingWork();
  }

  /**
   * The runtime is a JDK 25 and the application's bytecode stays at release 17; the AOT cache is
   * in the entrypoint and in a layer of its own (so every other layer stays reproducible).
   */
  @Test
  void runsOnJdk25WithTheAotCacheInALayerOfItsOwn() throws IOException {
    Path release = image.rootfs().resolve("usr/lib/jvm/jre/release");
    assertThat(Files.readAllLines(release)).as("%s", release)
        .anyMatch(l -> l.startsWith("JAVA_VERSION=\"25"));
    assertThat(image.entrypoint()).as("Entrypoint").contains("-XX:AOTCache=" + AOT_CACHE);
    assertThat(image.entrypoint().indexOf("-XX:AOTCache=" + AOT_CACHE))
        .as("the JVM flag comes before the main class")
        .isLessThan(image.entrypoint().indexOf("io.github.leaderelection.app.Main"));
    assertThat(image.rootfs().resolve(AOT_CACHE.substring(1))).isRegularFile();

    List<ImageTarball.Layer> withCache = new ArrayList<>();
    for (ImageTarball.Layer layer : image.layers()) {
      List<String> files = image.entries(layer).stream().filter(e -> !e.endsWith("/")).toList();
      if (files.contains(AOT_CACHE.substring(1))) {
        withCache.add(layer);
        assertThat(files).as("files of the AOT cache's layer").containsExactly(AOT_CACHE.substring(1));
      }
    }
    assertThat(withCache).as("layers holding %s", AOT_CACHE).hasSize(1);

    // Jars only on the class path (the AOT cache cannot record classes from directories; Jib
    // names the project's jar by a wildcard), and the project's classes are Java 17 class files
    // (major version 61): the jar still runs on 17.
    String classpath = Files.readString(image.rootfs().resolve("app/jib-classpath-file")).trim();
    assertThat(classpath.split(":")).allMatch(e -> e.endsWith(".jar") || e.endsWith("/*"));
    Path appJar;
    try (Stream<Path> jars = Files.list(image.rootfs().resolve("app/classpath"))) {
      appJar = jars.filter(p -> p.toString().endsWith(".jar")).findFirst().orElseThrow();
    }
    try (JarFile jar = new JarFile(appJar.toFile())) {
      var entry = jar.getJarEntry("io/github/leaderelection/app/App.class");
      assertThat(entry).as("App.class in %s", appJar).isNotNull();
      byte[] header = jar.getInputStream(entry).readNBytes(8);
      assertThat(((header[6] & 0xff) << 8) | (header[7] & 0xff)).as("class file major version")
          .isEqualTo(61);
    }
  }

  /**
   * The cache is used, not merely present: a replica started from the entrypoint with
   * {@code -XX:AOTMode=on} (the JVM refuses to start on a cache it cannot use) and class-load
   * logging takes part in the election, and its classes, the application's and fabric8's
   * included, come from the cache ("source: shared objects file") instead of the jars.
   */
  @Test
  void theJvmLoadsItsClassesFromTheAotCache(TestInfo info) throws Exception {
    String namespace = namespaceFor(info);
    RootfsRuntime runtime = RootfsRuntime.prepare(image, namespace, controlPlane.kubeconfig())
        .withEnv("JAVA_TOOL_OPTIONS", "-XX:AOTMode=on -Xlog:aot=info -Xlog:class+load=info");
    replicas = ReplicaSet.of(controlPlane, namespace, "my-lease", List.of("--work-interval=1s"),
        runtime, controlPlane.kubeconfig());
    Replica replica = replicas.start("image-aot");
    String lease = namespace + "/my-lease";
    await(Duration.ofSeconds(120)).alias(tail(replica))
        .until(() -> replica.logged("successfully acquired lease " + lease)
            && replica.logged("doing stuff..."));

    assertThat(replica.logged("Opened AOT cache " + AOT_CACHE)).as(tail(replica)).isTrue();
    int shared = 0;
    int total = 0;
    int app = 0;
    List<String> appFromElsewhere = new ArrayList<>();
    List<String> fabric8Shared = new ArrayList<>();
    for (String line : replica.texts()) {
      Matcher m = CLASS_LOAD.matcher(line);
      if (!m.find()) {
        continue;
      }
      total++;
      boolean fromCache = m.group(2).startsWith("shared objects file");
      if (fromCache) {
        shared++;
      }
      String name = m.group(1);
      if (name.startsWith("io.github.leaderelection.") && !name.contains("$$Lambda")) {
        app++;
        if (!fromCache) {
          appFromElsewhere.add(name + " from " + m.group(2));
        }
      }
      if (name.startsWith("io.fabric8.kubernetes.client.") && fromCache) {
        fabric8Shared.add(name);
      }
    }
    System.out.printf(Locale.ROOT, "ImageIT: %d of %d classes loaded from the AOT cache;"
        + " application classes not from it: %s%n", shared, total, appFromElsewhere);
    assertThat(total).as("class+load lines").isGreaterThan(1000);
    assertThat(shared).as("classes from the AOT cache, of %d", total)
        .isGreaterThan(total * 8 / 10);
    assertThat(fabric8Shared).as("fabric8 client classes from the AOT cache").hasSizeGreaterThan(100);
    // The training run covers the in-cluster path; a few classes only this run needs (picocli's
    // converters for options the training did not pass) may come from the jar.
    assertThat(app).as("application classes loaded").isGreaterThan(20);
    assertThat(appFromElsewhere).as("application classes not from the AOT cache, of %d", app)
        .hasSizeLessThan(app / 10);

    replica.terminate();
    assertThat(replica.awaitExit(Duration.ofSeconds(60))).as(tail(replica)).isZero();
  }

  private static String tail(Replica replica) {
    List<String> lines = replica.texts().stream()
        .filter(l -> !l.contains("[class,load") && !l.contains("[aot"))
        .toList();
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
  }

  private static HttpResponse<String> get(Replica replica, String path) throws Exception {
    HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    URI uri = URI.create("http://127.0.0.1:" + replica.healthPort() + path);
    return client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(),
        HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  /** Resolves a command like the runtime: through the image's PATH, symlinks inside the rootfs. */
  private static Path resolveExecutable(String command) throws IOException {
    List<String> candidates = new ArrayList<>();
    if (command.startsWith("/")) {
      candidates.add(command);
    } else {
      for (String dir : image.envValue("PATH").split(":")) {
        candidates.add(dir + "/" + command);
      }
    }
    for (String candidate : candidates) {
      Path resolved = resolveInRootfs(candidate);
      if (resolved != null && Files.isRegularFile(resolved, LinkOption.NOFOLLOW_LINKS)) {
        return resolved;
      }
    }
    throw new AssertionError(command + " not found in the image along " + candidates);
  }

  /** The host path of {@code path} inside the rootfs, following symlinks within it; or null. */
  private static Path resolveInRootfs(String path) throws IOException {
    Path rootfs = image.rootfs();
    String current = path;
    for (int hops = 0; hops < 40; hops++) {
      Path host = rootfs;
      String rest = current.replaceFirst("^/+", "");
      String[] parts = rest.split("/");
      boolean followed = false;
      for (int i = 0; i < parts.length; i++) {
        host = host.resolve(parts[i]);
        if (Files.isSymbolicLink(host)) {
          String link = Files.readSymbolicLink(host).toString();
          String parent = "/" + rootfs.relativize(host.getParent()).toString();
          String remainder = String.join("/", List.of(parts).subList(i + 1, parts.length));
          current = (link.startsWith("/") ? link : parent + "/" + link)
              + (remainder.isEmpty() ? "" : "/" + remainder);
          current = Path.of(current).normalize().toString();
          followed = true;
          break;
        }
        if (!Files.exists(host, LinkOption.NOFOLLOW_LINKS)) {
          return null;
        }
      }
      if (!followed) {
        return host;
      }
    }
    return null;
  }
}
