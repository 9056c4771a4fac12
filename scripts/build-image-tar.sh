#!/usr/bin/env bash
# `make image-tar`: builds the container image with Jib as a tarball,
# target/leaderelection-image.tar (`docker save` layout: docker load, kind load image-archive).
#
# BASE=offline (default)  no registry needed: the base image is assembled locally by
#                         scripts/build-base-image.sh (jlink'ed JRE 25, glibc from Debian packages,
#                         user 65532, no shell; cached in target/base-image/base.tar) and given to
#                         Jib as tar://. Then the AOT cache: scripts/build-aot-cache.sh trains the
#                         image just built (its own JVM, class path and user, in a chroot, against
#                         an in-memory API server) and Jib builds the image again with the cache
#                         as one more layer (/app/aot/leaderelection.aot, the only layer that is
#                         not reproducible) and -XX:AOTCache in the entrypoint. This is what CI and
#                         the image integration test (ImageIT) use.
# BASE=registry           the production base from pom.xml (gcr.io/distroless/java17-debian12:nonroot),
#                         pulled from its registry: needs network access to it. No AOT cache (the
#                         cache needs JDK 25 and must be made by the runtime that uses it).
#
# Extra arguments go to Maven, e.g. scripts/build-image-tar.sh -Djib.to.image=leaderelection:dev
# Environment: MVN (default "mvn -B"); AOT=off skips the AOT cache (offline base only; skipped
# with a warning when not root: the training run needs a chroot).
set -euo pipefail
cd "$(dirname "$0")/.."

base=${BASE:-offline}
started=$SECONDS
jib_args=()
# JDK 25 flags in the entrypoint of the offline image (JDK_JAVA_OPTIONS, from pom.xml, must also
# suit the JDK 17 of the production base and the tests): fewer wake-ups of the JVM's service
# thread at idle, and glibc's free memory handed back to the OS once a minute.
IMAGE_JVM_FLAGS=-XX:+UnlockDiagnosticVMOptions,-XX:ServiceThreadCleanupInterval=10000,-XX:TrimNativeHeapInterval=60000
case $base in
  offline)
    base_tar=$(scripts/build-base-image.sh --print-path)
    jib_args+=("-Djib.base.image=tar://$base_tar" "-Djib.container.jvmFlags=$IMAGE_JVM_FLAGS")
    ;;
  registry) ;;
  *) echo "build-image-tar: BASE must be offline or registry, not $base" >&2; exit 2 ;;
esac

out=target/leaderelection-image.tar
rm -f "$out"
echo "build-image-tar: jib:buildTar (base: $base)"
# maven.test.skip: the image needs neither the tests nor their compilation.
# shellcheck disable=SC2086 # MVN is a command line
${MVN:-mvn -B} -q package jib:buildTar -Dmaven.test.skip=true "${jib_args[@]}" "$@"
[ -f "$out" ] || { echo "build-image-tar: Jib did not write $out" >&2; exit 1; }

aot=${AOT:-on}
if [ "$base" = offline ] && [ "$aot" != off ] && [ "$(id -u)" -ne 0 ]; then
  echo "build-image-tar: not root: no AOT cache (its training run needs a chroot); the image" \
    "starts without it (ImageIT, which needs root too, would fail)" >&2
  aot=off
fi
if [ "$base" = offline ] && [ "$aot" != off ]; then
  # The cache is made from the image as built, then added as a layer of its own: every other
  # layer is rebuilt from the same inputs, so it keeps its digest.
  aot_dir=target/image-aot
  scripts/build-aot-cache.sh "$out" "$aot_dir"
  mv "$out" target/leaderelection-image-noaot.tar
  echo "build-image-tar: jib:buildTar with the AOT cache layer"
  # shellcheck disable=SC2086 # MVN is a command line
  ${MVN:-mvn -B} -q package jib:buildTar -Dmaven.test.skip=true "${jib_args[@]}" \
    -Djib.extraDirectories.paths="$(pwd)/$aot_dir/layer" \
    -Djib.container.jvmFlags="$IMAGE_JVM_FLAGS,-XX:AOTCache=/app/aot/leaderelection.aot" "$@"
  [ -f "$out" ] || { echo "build-image-tar: Jib did not write $out" >&2; exit 1; }
  rm -f target/leaderelection-image-noaot.tar
fi

# Size: what a registry stores and a node pulls (compressed layers + config), and unpacked.
python3 - "$out" <<'EOF'
import gzip, json, sys, tarfile
with tarfile.open(sys.argv[1]) as tar:
    manifest = json.load(tar.extractfile("manifest.json"))[0]
    config = json.load(tar.extractfile(manifest["Config"]))
    pulled = tar.getmember(manifest["Config"]).size
    unpacked = 0
    for name in manifest["Layers"]:
        pulled += tar.getmember(name).size
        with gzip.open(tar.extractfile(name)) as layer:
            while chunk := layer.read(1 << 20):
                unpacked += len(chunk)
print(f"build-image-tar: {', '.join(manifest.get('RepoTags') or ['(untagged)'])}:"
      f" {len(manifest['Layers'])} layers, {pulled / 1e6:.1f} MB compressed,"
      f" {unpacked / 1e6:.1f} MB unpacked; user {config['config'].get('User')};"
      f" entrypoint {' '.join(config['config'].get('Entrypoint') or [])}")
EOF
echo "build-image-tar: $(pwd)/$out ($(du -h "$out" | cut -f1)) in $((SECONDS - started))s"
