package io.github.leaderelection.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** Removing the scratch directories that control planes, replicas and the demo leave behind. */
public final class TempDirs {

  private TempDirs() {
  }

  /**
   * Deletes {@code dir} and everything below it, best effort. A second pass catches files that a
   * process which was just stopped (etcd, a replica) still wrote during the first.
   */
  public static void deleteTree(Path dir) {
    for (int pass = 0; pass < 2 && dir != null && Files.exists(dir); pass++) {
      try (Stream<Path> paths = Files.walk(dir)) {
        paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      } catch (IOException | UncheckedIOException e) {
        // best effort: try once more, then give up
      }
    }
  }
}
