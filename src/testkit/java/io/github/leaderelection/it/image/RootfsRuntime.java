package io.github.leaderelection.it.image;

import io.github.leaderelection.harness.ReplicaSet;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Starts an unpacked image's entrypoint roughly the way a container runtime does, with host tools
 * only (root needed): a private mount namespace ({@code unshare --mount}) in which the root
 * filesystem is bind-mounted read-only (like {@code readOnlyRootFilesystem: true}), with
 * {@code /proc}, a {@code /tmp} tmpfs and a {@code /dev} holding null, zero, random and urandom;
 * then {@code chroot --userspec=<image User>} and exec of the image's Entrypoint + Cmd + the
 * replica's arguments, with exactly the image's environment (plus POD_NAME and POD_NAMESPACE, as
 * the Deployment's downward API gives). The network is the host's, so the API server on loopback
 * is reachable. Every step execs, so the replica's PID is the JVM's: SIGTERM goes to it. The
 * mounts vanish with the namespace when the JVM exits.
 *
 * <p>The harness passes {@code --kubeconfig=<host path>}: the kubeconfig is copied into the root
 * filesystem (client certificate, key and CA inlined, owned by the image user, mode 0400, like a
 * mounted Secret) and the argument rewritten to that path.
 */
public final class RootfsRuntime implements ReplicaSet.Launcher {

  /** Where the kubeconfig lives inside the root filesystem. */
  public static final String KUBECONFIG_IN_IMAGE = "/var/run/secrets/leaderelection/kubeconfig";

  // Runs on the host, inside the new mount namespace; $1 root, $2 user, then the command.
  private static final String MOUNT_AND_EXEC = String.join("\n",
      "set -e",
      "root=$1; user=$2; shift 2",
      "mount --bind \"$root\" \"$root\"",
      "mount -o remount,bind,ro \"$root\"",
      "mount -t proc proc \"$root/proc\"",
      "mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m tmpfs \"$root/tmp\"",
      "mount -t tmpfs -o nosuid,mode=0755,size=64k tmpfs \"$root/dev\"",
      "for d in null zero random urandom; do",
      "  : > \"$root/dev/$d\"",
      "  mount --bind \"/dev/$d\" \"$root/dev/$d\"",
      "done",
      "exec chroot --userspec=\"$user\" \"$root\" \"$@\"");

  private static final Pattern FILE_REFERENCE = Pattern.compile(
      "^(\\s*)(certificate-authority|client-certificate|client-key):\\s*(\\S+)\\s*$",
      Pattern.MULTILINE);

  private final ImageTarball.Unpacked image;
  private final String namespace;
  private final List<String> extraEnv;

  private RootfsRuntime(ImageTarball.Unpacked image, String namespace, List<String> extraEnv) {
    this.image = image;
    this.namespace = namespace;
    this.extraEnv = List.copyOf(extraEnv);
  }

  /**
   * The same runtime with {@code NAME=VALUE} added to the image's environment (after it, so it
   * wins), e.g. JAVA_TOOL_OPTIONS for JVM logging in a test.
   */
  public RootfsRuntime withEnv(String name, String value) {
    List<String> env = new ArrayList<>(extraEnv);
    env.add(name + "=" + value);
    return new RootfsRuntime(image, namespace, env);
  }

  /**
   * A launcher for replicas in {@code namespace}, installing {@code kubeconfig} into the image's
   * root filesystem first. Creates the mount points a runtime creates (/proc, /dev, /tmp).
   */
  public static RootfsRuntime prepare(ImageTarball.Unpacked image, String namespace,
      Path kubeconfig) throws IOException {
    Path rootfs = image.rootfs();
    for (String mountPoint : List.of("proc", "dev", "tmp")) {
      Path dir = rootfs.resolve(mountPoint);
      if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
        Files.createDirectories(dir);
      }
    }
    Path target = rootfs.resolve(KUBECONFIG_IN_IMAGE.substring(1));
    Files.createDirectories(target.getParent());
    Files.writeString(target, selfContained(Files.readString(kubeconfig)));
    int[] ids = ids(image.user());
    Files.setAttribute(target, "unix:uid", ids[0]);
    Files.setAttribute(target, "unix:gid", ids[1]);
    Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("r--------"));
    return new RootfsRuntime(image, namespace, List.of());
  }

  /** The kubeconfig with every referenced certificate/key file inlined as {@code *-data}. */
  static String selfContained(String kubeconfig) {
    Matcher m = FILE_REFERENCE.matcher(kubeconfig);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      byte[] content;
      try {
        content = Files.readAllBytes(Path.of(m.group(3)));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      m.appendReplacement(out, Matcher.quoteReplacement(m.group(1) + m.group(2) + "-data: "
          + Base64.getEncoder().encodeToString(content)));
    }
    m.appendTail(out);
    return out.toString();
  }

  /** uid and gid of an image User such as {@code 65532:65532} or {@code 65532} (numeric only). */
  public static int[] ids(String user) {
    String[] parts = user.split(":", 2);
    int uid = Integer.parseInt(parts[0]);
    int gid = parts.length > 1 ? Integer.parseInt(parts[1]) : uid;
    return new int[] {uid, gid};
  }

  @Override
  public List<String> command(String identity, List<String> args) {
    List<String> command = new ArrayList<>();
    command.add("/usr/bin/env");
    command.add("-i");
    command.addAll(image.env());
    command.add("POD_NAME=" + identity);
    command.add("POD_NAMESPACE=" + namespace);
    command.addAll(extraEnv);
    command.add("unshare");
    command.add("--mount");
    command.add("--propagation");
    command.add("private");
    command.add("--");
    command.add("/bin/sh");
    command.add("-c");
    command.add(MOUNT_AND_EXEC);
    command.add("mount-and-exec");
    command.add(image.rootfs().toString());
    int[] ids = ids(image.user());
    command.add(ids[0] + ":" + ids[1]);
    command.addAll(image.entrypoint());
    command.addAll(image.cmd());
    for (String arg : args) {
      command.add(arg.startsWith("--kubeconfig=") ? "--kubeconfig=" + KUBECONFIG_IN_IMAGE : arg);
    }
    return command;
  }

  /** The uid line of {@code /proc/<pid>/status}: real, effective, saved, filesystem uid. */
  public static String uids(long pid) {
    try {
      return Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"),
              StandardCharsets.UTF_8).stream()
          .filter(l -> l.startsWith("Uid:")).findFirst().orElse("")
          .substring("Uid:".length()).trim().replaceAll("\\s+", " ");
    } catch (IOException e) {
      return "";
    }
  }

  /** The command name ({@code comm}) of a process, or empty if gone. */
  public static String comm(long pid) {
    try {
      return Files.readString(Path.of("/proc", Long.toString(pid), "comm")).trim();
    } catch (IOException e) {
      return "";
    }
  }
}
