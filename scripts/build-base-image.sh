#!/usr/bin/env bash
# Assembles the offline base image for Jib, without any container registry:
#   - a JRE 25 jlink'ed from this machine's JDK 25 (Temurin), with only the modules the app needs
#     (the jar is compiled for release 17 and runs on it unchanged; the image adds an AOT cache
#     made by this very runtime: scripts/build-aot-cache.sh);
#   - the shared libraries that JRE links against (glibc, libgcc, libstdc++, zlib), taken from
#     the Debian packages (`apt-get download` + `dpkg-deb -x`);
#   - /etc/passwd and /etc/group with the distroless-style user nonroot (65532:65532), its home,
#     /tmp (1777), a minimal /etc/nsswitch.conf; java on PATH (the JRE's bin/ first, and the
#     /usr/bin/java symlink);
#   - no shell, no package manager, no other tools.
# and writes it as an image tarball in `docker save` layout (scripts/image-base-tar.py), two
# layers (system files, JRE), deterministic. scripts/build-image-tar.sh builds on it with
# -Djib.base.image=tar://<abs path>. Production images use the distroless base instead (pom.xml).
#
# Usage: scripts/build-base-image.sh [--force] [--print-path]
#   --force       rebuild even if the inputs did not change
#   --print-path  print the absolute path of the tarball (building it if needed) and nothing else
# Output: target/base-image/base.tar (+ base.inputs, the fingerprint of what it was built from).
# Cached: rebuilt only when missing or when an input changed: these scripts, the JDK, the module
# list, or the Debian package versions.
#
# Environment:
#   JDK25_HOME   the JDK 25 whose jlink is used (default: the jlink on PATH if it is 25, else the
#                first of /usr/lib/jvm/temurin-25-jdk-<arch>, /usr/lib/jvm/java-25-openjdk-<arch>,
#                /opt/*jdk*25*); without jmods/ it links from its own run-time image (JEP 493)
#   BASE_LIBS    apt (default): download the Debian packages, falling back to host when apt has
#                no candidate (no package lists, no network); host: copy the files of the same
#                packages as installed on this (Debian/Ubuntu) machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# The JDK modules the app needs. From `jdeps --print-module-deps --ignore-missing-deps` on the
# shaded jar (java.base, java.naming, java.net.http, java.sql, jdk.httpserver, jdk.management,
# jdk.unsupported; java.desktop left out: only snakeyaml's bean introspector and an optional
# Jackson extension use java.beans, and neither runs), plus what jdeps cannot see: java.logging and
# java.xml (logback, fabric8), jdk.crypto.ec (ECDHE/ECDSA for TLS to the API server).
MODULES=java.base,java.logging,java.naming,java.net.http,java.sql,java.xml,jdk.crypto.ec,jdk.httpserver,jdk.management,jdk.unsupported
# The Debian packages providing the libraries the jlink'ed JRE links against (check with ldd).
PACKAGES=(libc6 libgcc-s1 libstdc++6 zlib1g)
JRE_DIR=usr/lib/jvm/jre

out_dir=target/base-image
out=$out_dir/base.tar
force=false
print_path=false
for arg in "$@"; do
  case $arg in
    --force) force=true ;;
    --print-path) print_path=true ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-base-image: unknown argument $arg" >&2; exit 2 ;;
  esac
done

log() {
  if [ "$print_path" = true ]; then echo "build-base-image: $*" >&2; else echo "build-base-image: $*"; fi
}
die() { echo "build-base-image: $*" >&2; exit 1; }

for tool in python3 dpkg dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (this script needs a Debian/Ubuntu machine with python3)"
done

arch=$(dpkg --print-architecture)
case $arch in
  amd64) multiarch=x86_64-linux-gnu ;;
  arm64) multiarch=aarch64-linux-gnu ;;
  *) die "unsupported architecture $arch" ;;
esac

jdk_version() { sed -n 's/^JAVA_VERSION="\(.*\)"$/\1/p' "$1/release" 2>/dev/null; }
find_jdk25() {
  local candidates=() home
  if [ -n "${JDK25_HOME:-}" ]; then
    candidates+=("$JDK25_HOME")
  else
    if command -v jlink >/dev/null 2>&1; then
      candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v jlink)")")")")
    fi
    candidates+=("/usr/lib/jvm/temurin-25-jdk-$arch" "/usr/lib/jvm/java-25-openjdk-$arch")
    for home in /opt/*jdk*25* /usr/lib/jvm/*25*; do
      if [ -d "$home" ]; then candidates+=("$home"); fi
    done
  fi
  for home in "${candidates[@]}"; do
    case $(jdk_version "$home") in
      25|25.*) if [ -x "$home/bin/jlink" ]; then echo "$home"; return 0; fi ;;
    esac
  done
  return 1
}
jdk=$(find_jdk25) || die "no JDK 25 with jlink found (tried ${JDK25_HOME:-the jlink on PATH, /usr/lib/jvm/temurin-25-jdk-$arch, /usr/lib/jvm/java-25-openjdk-$arch, /opt/*jdk*25*}); install a JDK 25 or set JDK25_HOME"

# Where the libraries come from, and which versions: part of the fingerprint.
libs_mode=${BASE_LIBS:-apt}
versions=()
if [ "$libs_mode" = apt ]; then
  for pkg in "${PACKAGES[@]}"; do
    version=$(apt-cache policy "$pkg:$arch" 2>/dev/null | sed -n 's/^  Candidate: //p')
    if [ -z "$version" ] || [ "$version" = "(none)" ]; then
      log "apt has no candidate for $pkg (no package lists? run apt-get update); using the host's installed packages"
      libs_mode=host
      versions=()
      break
    fi
    versions+=("$pkg=$version")
  done
fi
if [ "$libs_mode" = host ]; then
  for pkg in "${PACKAGES[@]}"; do
    version=$(dpkg-query -W -f '${Version}' "$pkg:$arch" 2>/dev/null) \
      || die "$pkg:$arch is not installed on this machine"
    versions+=("$pkg=$version")
  done
elif [ "$libs_mode" != apt ]; then
  die "BASE_LIBS must be apt or host, not $libs_mode"
fi

inputs=$(
  echo "modules $MODULES"
  echo "arch $arch"
  echo "libs $libs_mode ${versions[*]}"
  echo "jdk $jdk"; cat "$jdk/release"
  sha256sum "$0" scripts/image-base-tar.py
)
if [ "$force" = false ] && [ -f "$out" ] && [ -f "$out_dir/base.inputs" ] \
    && [ "$(cat "$out_dir/base.inputs")" = "$inputs" ]; then
  log "up to date: $out"
  if [ "$print_path" = true ]; then echo "$root/$out"; fi
  exit 0
fi

started=$SECONDS
log "assembling the base image (JDK $jdk, libraries: $libs_mode ${versions[*]})"
mkdir -p "$out_dir"
rm -f "$out" "$out_dir/base.inputs"
work=$(mktemp -d "$out_dir/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"

# 1. Shared libraries from the Debian packages.
if [ "$libs_mode" = apt ]; then
  mkdir -p "$work/debs"
  apt_opts=(-q)
  # Root downloads as root: the _apt sandbox user could not write into the work tree.
  if [ "$(id -u)" -eq 0 ]; then apt_opts+=(-o APT::Sandbox::User=root); fi
  (cd "$work/debs" && apt-get "${apt_opts[@]}" download "${versions[@]}" >/dev/null) \
    || die "apt-get download ${versions[*]} failed; retry with BASE_LIBS=host"
  for deb in "$work"/debs/*.deb; do
    dpkg-deb -x "$deb" "$rootfs"
  done
else
  # The same packages as installed here: their files (not directories: on a merged-/usr host
  # /lib is a symlink, and the image keeps Debian's package layout instead).
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -L "$pkg:$arch"
  done | while IFS= read -r path; do
    if [ -e "$path" ] && [ ! -d "$path" ]; then printf '%s\n' "${path#/}"; fi
  done | sort -u > "$work/host-files"
  tar -C / -cf - --no-recursion -T "$work/host-files" | tar -C "$rootfs" -xf -
fi

# Keep the libraries and the loader (and the packages' copyright files); drop the rest: locales,
# gconv modules, docs, the tools in bin/ and sbin/ (ldconfig, ldd, iconv...), lintian overrides.
find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
find "$rootfs/usr/share" -mindepth 1 -maxdepth 1 ! -name doc -exec rm -rf {} +
rm -rf "${rootfs:?}/etc" "${rootfs:?}/bin" "${rootfs:?}/sbin" "${rootfs:?}/usr/bin" \
  "${rootfs:?}/usr/sbin" "${rootfs:?}/usr/libexec" "${rootfs:?}/usr/lib/$multiarch/gconv" \
  "${rootfs:?}/lib/$multiarch/gconv" "${rootfs:?}/var"
find "$rootfs" -depth -type d -empty -delete

# 2. The JRE.
"$jdk/bin/jlink" --add-modules "$MODULES" --strip-debug --no-header-files --no-man-pages \
  --compress=zip-6 --output "$rootfs/$JRE_DIR"
mkdir -p "$rootfs/usr/bin"
ln -s "../lib/jvm/jre/bin/java" "$rootfs/usr/bin/java"

# 3. Users, groups, name service, writable places.
mkdir -p "$rootfs/etc" "$rootfs/tmp" "$rootfs/home/nonroot" "$rootfs/root"
cat > "$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat > "$rootfs/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nonroot:x:65532:
EOF
cat > "$rootfs/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
shadow: files
hosts: files dns
networks: files
protocols: files
services: files
EOF
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$rootfs/etc/hosts"

# 4. Checks: no shell anywhere; the JRE starts as 65532 against these libraries only. Like in a
# container, /proc must be mounted (java finds libjli.so through $ORIGIN, which glibc resolves
# through /proc/self/exe): a private mount namespace gets it, and takes it away on exit.
shells=$(find "$rootfs" -name sh -o -name bash -o -name dash -o -name ash -o -name busybox)
[ -z "$shells" ] || die "the base must have no shell, found: $shells"
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 && command -v chroot >/dev/null 2>&1; then
  mkdir "$rootfs/proc"
  # shellcheck disable=SC2016 # expanded by the inner shell
  if ! check=$(unshare --mount --propagation private -- sh -c \
      'mount -t proc proc "$1/proc" && exec chroot --userspec=65532:65532 "$1" /usr/bin/java -version' \
      sh "$rootfs" 2>&1); then
    die "the jlink'ed JRE does not start in the base rootfs: $check"
  fi
  rmdir "$rootfs/proc"
  log "java -version in the rootfs as 65532: $(printf '%s' "$check" | head -1)"
else
  log "not root (or no unshare/chroot): skipping the start check of the JRE in the rootfs"
fi

# 5. The image tarball.
python3 scripts/image-base-tar.py --rootfs "$rootfs" --out "$out" \
  --tag "leaderelection-base:jre25-offline" --architecture "$arch" \
  --layer "$JRE_DIR" \
  --env "PATH=/$JRE_DIR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --env "JAVA_HOME=/$JRE_DIR" --env "LANG=C.UTF-8" \
  --user "65532:65532" \
  --owner "home/nonroot=65532:65532" --mode "home/nonroot=0700" \
  --mode "tmp=1777" --mode "root=0700" \
  --history "scripts/build-base-image.sh: glibc, libgcc, libstdc++, zlib (${versions[*]}); /etc; nonroot 65532" \
  --history "scripts/build-base-image.sh: jlink $(jdk_version "$jdk") --add-modules $MODULES" \
  | if [ "$print_path" = true ]; then cat >&2; else cat; fi
printf '%s\n' "$inputs" > "$out_dir/base.inputs"
log "built $out in $((SECONDS - started))s"
if [ "$print_path" = true ]; then echo "$root/$out"; fi
