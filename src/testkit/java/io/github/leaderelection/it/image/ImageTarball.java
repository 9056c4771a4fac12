package io.github.leaderelection.it.image;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * An image tarball in {@code docker save} layout (what {@code jib:buildTar} writes), unpacked the
 * way a container runtime does it: {@code manifest.json} names the config and the layers, the
 * layers are applied in order onto one root filesystem, whiteouts ({@code .wh.<name>} deletes a
 * lower path, {@code .wh..wh..opq} empties a lower directory) are honoured. GNU tar does the
 * extracting, as root, so owners and modes are kept.
 */
public final class ImageTarball {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration TAR_TIMEOUT = Duration.ofMinutes(5);

  /** One layer: its file in the tarball, compressed size, and who made it (history). */
  public record Layer(String file, long compressedBytes, String createdBy) {
  }

  /** The unpacked image: its root filesystem, its config and its layers. */
  public record Unpacked(Path rootfs, JsonNode config, List<String> repoTags, List<Layer> layers,
      long configBytes) {

    /** {@code config.config}: Entrypoint, Cmd, Env, User, ExposedPorts, Labels... */
    public JsonNode containerConfig() {
      return config.path("config");
    }

    /** What a registry stores and a node pulls: compressed layers plus the config. */
    public long compressedBytes() {
      return configBytes + layers.stream().mapToLong(Layer::compressedBytes).sum();
    }

    /** Compressed size of the layers not made by Jib: the base image. */
    public long baseCompressedBytes() {
      return layers.stream().filter(l -> !l.createdBy().startsWith("jib-"))
          .mapToLong(Layer::compressedBytes).sum();
    }

    /** The paths a layer adds (directories end in /), as its tar lists them. */
    public List<String> entries(Layer layer) throws IOException {
      Path file = rootfs.resolveSibling("blobs").resolve(layer.file());
      List<String> entries = new ArrayList<>();
      for (String entry : tar("-tzf", file.toString(), "--warning=no-unknown-keyword").split("\n")) {
        String path = entry.replaceFirst("^\\./", "");
        if (!path.isEmpty()) {
          entries.add(path);
        }
      }
      return entries;
    }

    /** Bytes of the regular files in the root filesystem. */
    public long unpackedBytes() {
      try (Stream<Path> files = Files.walk(rootfs)) {
        return files.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS))
            .mapToLong(p -> {
              try {
                return Files.size(p);
              } catch (IOException e) {
                throw new UncheckedIOException(e);
              }
            }).sum();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    /** The image's environment as NAME=VALUE strings. */
    public List<String> env() {
      List<String> env = new ArrayList<>();
      containerConfig().path("Env").forEach(e -> env.add(e.asText()));
      return env;
    }

    /** Value of one environment variable of the image, or null. */
    public String envValue(String name) {
      return env().stream().filter(e -> e.startsWith(name + "=")).findFirst()
          .map(e -> e.substring(name.length() + 1)).orElse(null);
    }

    public List<String> entrypoint() {
      return strings(containerConfig().path("Entrypoint"));
    }

    public List<String> cmd() {
      return strings(containerConfig().path("Cmd"));
    }

    public String user() {
      return containerConfig().path("User").asText("");
    }

    private static List<String> strings(JsonNode array) {
      List<String> list = new ArrayList<>();
      array.forEach(n -> list.add(n.asText()));
      return list;
    }
  }

  private ImageTarball() {
  }

  /** Unpacks {@code tarball} into {@code dir}: {@code dir/blobs} (as is) and {@code dir/rootfs}. */
  public static Unpacked unpack(Path tarball, Path dir) throws IOException {
    Path blobs = Files.createDirectories(dir.resolve("blobs"));
    Path rootfs = Files.createDirectories(dir.resolve("rootfs"));
    tar("-xf", tarball.toString(), "-C", blobs.toString());

    JsonNode manifests = JSON.readTree(blobs.resolve("manifest.json").toFile());
    if (!manifests.isArray() || manifests.size() != 1) {
      throw new IllegalStateException("manifest.json must describe exactly one image: " + manifests);
    }
    JsonNode manifest = manifests.get(0);
    Path configFile = blobs.resolve(manifest.path("Config").asText());
    JsonNode config = JSON.readTree(configFile.toFile());
    List<String> tags = new ArrayList<>();
    manifest.path("RepoTags").forEach(t -> tags.add(t.asText()));

    List<String> history = new ArrayList<>();
    config.path("history").forEach(h -> {
      if (!h.path("empty_layer").asBoolean(false)) {
        String comment = h.path("comment").asText("");
        history.add(h.path("created_by").asText("") + (comment.isEmpty() ? "" : ": " + comment));
      }
    });
    List<Layer> layers = new ArrayList<>();
    int index = 0;
    for (JsonNode node : manifest.path("Layers")) {
      Path layerFile = blobs.resolve(node.asText());
      applyLayer(layerFile, rootfs);
      String createdBy = index < history.size() ? history.get(index) : "";
      layers.add(new Layer(node.asText(), Files.size(layerFile), createdBy));
      index++;
    }
    int diffIds = config.path("rootfs").path("diff_ids").size();
    if (diffIds != layers.size()) {
      throw new IllegalStateException("config has " + diffIds + " diff_ids but manifest.json "
          + layers.size() + " layers");
    }
    return new Unpacked(rootfs, config, tags, layers, Files.size(configFile));
  }

  private static void applyLayer(Path layer, Path rootfs) throws IOException {
    // Whiteouts first: they remove what lower layers put there.
    for (String entry : tar("-tf", layer.toString()).split("\n")) {
      String path = entry.replaceFirst("^\\./", "").replaceFirst("/$", "");
      if (path.isEmpty()) {
        continue;
      }
      Path target = rootfs.resolve(path).normalize();
      if (!target.startsWith(rootfs)) {
        throw new IllegalStateException(layer + ": entry outside the root: " + entry);
      }
      String name = target.getFileName().toString();
      if (name.equals(".wh..wh..opq")) {
        Path directory = target.getParent();
        if (Files.isDirectory(directory, LinkOption.NOFOLLOW_LINKS)) {
          try (Stream<Path> children = Files.list(directory)) {
            for (Path child : children.toList()) {
              deleteTree(child);
            }
          }
        }
      } else if (name.startsWith(".wh.")) {
        deleteTree(target.resolveSibling(name.substring(".wh.".length())));
      }
    }
    tar("-xf", layer.toString(), "-C", rootfs.toString(), "--numeric-owner", "--same-owner",
        "--preserve-permissions", "--exclude=.wh.*", "--warning=no-unknown-keyword");
  }

  /** Deletes a file, a symlink (not what it points to) or a directory tree. */
  public static void deleteTree(Path path) throws IOException {
    if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(path)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  /** Runs GNU tar (it detects gzip itself); returns its standard output. */
  static String tar(String... args) throws IOException {
    List<String> command = new ArrayList<>();
    command.add("tar");
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    byte[] out = process.getInputStream().readAllBytes();
    try {
      if (!process.waitFor(TAR_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
        throw new IllegalStateException("timed out: " + command);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
    String output = new String(out, StandardCharsets.UTF_8);
    if (process.exitValue() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed ("
          + process.exitValue() + "): " + output);
    }
    return output;
  }
}
