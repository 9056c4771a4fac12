#!/usr/bin/env bash
# Builds the project's Dockerfile for real, offline, with Debian's buildah, then runs the image
# once: `--version`, and one election against a local kube-apiserver + etcd. Part of `make test`.
#
# No container registry and no Docker: the Dockerfile's two base images are build arguments, and
# this script gives it local stand-ins, kept in buildah's storage under target/buildah:
#   BUILD_IMAGE    for maven:3.9-eclipse-temurin-25: Debian bookworm (mmdebstrap from the Debian
#                  mirror) with Debian's `maven`, python3, openssl and curl (so that the
#                  Dockerfile's apt-get line has nothing to install), and this machine's
#                  Temurin 25 JDK as /opt/java/openjdk (JAVA_HOME, first on PATH, like the image).
#   RUNTIME_IMAGE  for gcr.io/distroless/base-debian12:nonroot: the project's offline base
#                  (scripts/build-base-image.sh: glibc, user 65532, no shell).
# Maven inside the build runs offline (-o) on this machine's ~/.m2/repository, mounted as an
# overlay (buildah's `:O`: the build's writes are discarded, the host's repository is untouched);
# the build has no network at all (--network none). Before the first build, and after a change of
# pom.xml, the host's Maven runs the Dockerfile's Maven goals once to fill that repository
# (online only for what is missing).
#
# Then the image: `buildah run` of its entrypoint (as in the image: user 65532, its environment,
# AOT cache with -XX:AOTMode=on so that an unusable cache fails) with `--version`, and one election
# on the host network against a kube-apiserver + etcd started here on loopback (binaries of
# scripts/provision-control-plane.sh, certificates made here, the kubeconfig mounted read-only):
# it must log `successfully acquired lease` and `doing stuff`, and on SIGTERM `released lease`
# and exit 0.
#
# Cached: the stand-in build image is rebuilt only when its inputs change (this script, the JDK,
# the Debian package versions); the runtime stand-in when base.tar changes; the Dockerfile build
# uses buildah's layer cache (--layers), so an unchanged tree rebuilds nothing.
# Everything stays under target/buildah (storage, run root, temporary files, cache mounts) and
# target/dockerfile (logs, control plane); nothing is configured outside them. `make clean`
# removes both. Installs the Debian packages buildah and mmdebstrap with apt-get when missing.
#
# Usage: scripts/build-dockerfile.sh        build and run (make test)
#        scripts/build-dockerfile.sh --clean remove the buildah storage (target/buildah)
# Environment: JDK25_HOME (the JDK 25 to put into the build stand-in; default as in
# scripts/build-base-image.sh), MVN (default "mvn -B"), M2_REPOSITORY (the Maven repository to
# mount, default ~/.m2/repository; MVN must use the same one).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$SECONDS

log() { echo "build-dockerfile: $*"; }
die() { echo "build-dockerfile: $*" >&2; exit 1; }

state=$root/target/buildah
out=$root/target/dockerfile
IMAGE=localhost/leaderelection:dockerfile
BUILD_STANDIN=localhost/leaderelection-dockerfile-build:standin
RUNTIME_STANDIN=localhost/leaderelection-dockerfile-runtime:standin
DEBIAN_PACKAGES=(buildah mmdebstrap)
# What the build stand-in has besides Debian's minbase (Debian's maven brings OpenJDK 17, unused);
# binutils for jlink --strip-debug (objcopy), which the eclipse-temurin images install too.
STANDIN_PACKAGES=maven,python3,openssl,curl,ca-certificates,binutils

bah() {
  buildah --root "$state/storage" --runroot "$state/run" --storage-driver overlay "$@"
}

# buildah's overlay driver bind-mounts its home onto itself and leaves that mount behind when it
# exits: unmounted whenever this script ends, so the host keeps no mount of it (and `mvn clean`
# can delete target/).
unmount_store() {
  if mountpoint -q "$state/storage/overlay" 2>/dev/null; then
    umount "$state/storage/overlay" || echo "build-dockerfile: warning: could not unmount $state/storage/overlay" >&2
  fi
}
clean_storage() {
  if [ -d "$state" ]; then
    bah rm --all >/dev/null 2>&1 || true
    bah rmi --all --force >/dev/null 2>&1 || true
    unmount_store
    rm -rf "$state"
  fi
}
# containers/image, which buildah uses, keeps a blob-info cache of root's in
# /var/lib/containers/cache (no option or variable moves it): removed at the end when this script
# created it (only that file, and the directories if nothing else is in them).
blob_info_cache=/var/lib/containers/cache/blob-info-cache-v1.boltdb
created_blob_info_cache=""
[ -e "$blob_info_cache" ] || created_blob_info_cache=1
remove_blob_info_cache() {
  if [ -n "$created_blob_info_cache" ] && [ -e "$blob_info_cache" ]; then
    rm -f "$blob_info_cache"
    rmdir /var/lib/containers/cache /var/lib/containers 2>/dev/null || true
  fi
}
run=""
etcd_pid="" api_pid="" runner="" java_pid="" container=""
# SIGTERM, then SIGKILL after 10 s (kube-apiserver can hang in its shutdown).
stop() {
  local i
  [ -n "$1" ] && kill -TERM "$1" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop "$java_pid"
  stop "$runner"
  stop "$api_pid"
  stop "$etcd_pid"
  if [ -n "$container" ]; then bah rm "$container" >/dev/null 2>&1 || true; fi
  if [ -n "$run" ]; then rm -rf "$run/etcd"; fi
  unmount_store
  remove_blob_info_cache
}
trap cleanup EXIT

if [ "${1:-}" = --clean ]; then clean_storage; log "removed $state"; exit 0; fi
[ $# -eq 0 ] || die "unknown argument $1 (usage: scripts/build-dockerfile.sh [--clean])"

# ---- tools --------------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "needs root (buildah's storage and isolation, mmdebstrap); run make test as root"
for tool in openssl python3 dpkg; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (this script needs a Debian machine)"
done
need=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing Debian packages: ${need[*]} (and no apt-get to install them)"
  log "installing Debian packages: ${need[*]} (apt-get)"
  mkdir -p "$out"
  {
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
  } >"$out/apt.log" 2>&1 || { tail -20 "$out/apt.log" >&2; die "apt-get install ${need[*]} failed (log above, $out/apt.log)"; }
fi
scripts/provision-control-plane.sh --check \
  || die "kube-apiserver/etcd are not provisioned (run scripts/provision-control-plane.sh)"
cp_version=$(scripts/provision-control-plane.sh --print-version)
cp_bin="${KUBEAPITEST_DIR:-$HOME/.kubeapitest}/k8s/$cp_version-linux-$(dpkg --print-architecture)"

arch=$(dpkg --print-architecture)
jdk=${JDK25_HOME:-}
if [ -z "$jdk" ]; then
  for home in "/usr/lib/jvm/temurin-25-jdk-$arch" "/usr/lib/jvm/java-25-openjdk-$arch" /opt/*jdk*25* /usr/lib/jvm/*25*; do
    if [ -x "$home/bin/jlink" ] && grep -q '^JAVA_VERSION="25' "$home/release" 2>/dev/null; then jdk=$home; break; fi
  done
fi
if [ -z "$jdk" ] || [ ! -x "$jdk/bin/jlink" ]; then die "no JDK 25 with jlink found (/usr/lib/jvm/temurin-25-jdk-$arch...); set JDK25_HOME"; fi
m2=${M2_REPOSITORY:-$HOME/.m2/repository}

mkdir -p "$state/tmp" "$out"
# buildah's temporary files and RUN --mount=type=cache directories go to TMPDIR; no registry is
# configured (full local names only), so nothing is ever looked up or pulled.
export TMPDIR=$state/tmp
printf 'unqualified-search-registries = []\n' >"$state/registries.conf"
export CONTAINERS_REGISTRIES_CONF=$state/registries.conf
export BUILDAH_ISOLATION=oci

# Working containers left by an interrupted run (the store is this script's alone).
bah rm --all >/dev/null 2>&1 || true

image_label() { bah inspect --type image --format "{{index .ImageAnnotations \"$2\"}}" "$1" 2>/dev/null; }

# ---- the build stand-in (maven:3.9-eclipse-temurin-25) --------------------------------------------
# The host's Debian release (its package versions are the fingerprint), from deb.debian.org.
# shellcheck disable=SC1091 # the host's file
suite=$(. /etc/os-release && if [ "${ID:-}" = debian ] && [ -n "${VERSION_CODENAME:-}" ]; then echo "$VERSION_CODENAME"; else echo bookworm; fi)
IFS=, read -ra standin_packages <<<"$STANDIN_PACKAGES"
versions=$(apt-cache policy "${standin_packages[@]}" 2>/dev/null | sed -n 's/^  Candidate: //p' | paste -sd' ')
build_inputs=$( (echo "$suite $STANDIN_PACKAGES $versions"; cat "$jdk/release"; sed -n '/^# ---- the build stand-in/,/^# ---- the runtime stand-in/p' "$0") | sha256sum | cut -c1-16)
if [ "$(image_label "$BUILD_STANDIN" io.github.leaderelection.inputs)" = "$build_inputs" ]; then
  log "build stand-in up to date: $BUILD_STANDIN"
else
  t=$SECONDS
  log "assembling the build stand-in $BUILD_STANDIN: mmdebstrap $suite + $STANDIN_PACKAGES, Temurin $jdk"
  rootfs_tar=$state/tmp/build-standin.tar
  rm -f "$rootfs_tar"
  mmdebstrap --variant=minbase --include="$STANDIN_PACKAGES" \
    --customize-hook="mkdir -p \"\$1/opt/java\" && cp -a '$jdk' \"\$1/opt/java/openjdk\"" \
    --customize-hook="chroot \"\$1\" /opt/java/openjdk/bin/java -version" \
    "$suite" "$rootfs_tar" >"$out/mmdebstrap.log" 2>&1 \
    || { tail -20 "$out/mmdebstrap.log" >&2; die "mmdebstrap failed (log above, $out/mmdebstrap.log)"; }
  bah rmi --force "$BUILD_STANDIN" >/dev/null 2>&1 || true
  c=$(bah from --pull=never scratch)
  bah add --quiet "$c" "$rootfs_tar" / >/dev/null
  bah config --env JAVA_HOME=/opt/java/openjdk \
    --env PATH=/opt/java/openjdk/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env MAVEN_HOME=/usr/share/maven --env LANG=C.UTF-8 --workingdir / --cmd /bin/bash \
    --annotation io.github.leaderelection.inputs="$build_inputs" "$c"
  bah commit --quiet --rm "$c" "$BUILD_STANDIN" >/dev/null
  rm -f "$rootfs_tar"
  log "build stand-in ready in $((SECONDS - t))s"
fi

# ---- the runtime stand-in (gcr.io/distroless/base-debian12:nonroot) ------------------------------
base_tar=$(scripts/build-base-image.sh --print-path)
runtime_inputs=$(sha256sum "$base_tar" | cut -c1-16)
if [ "$(image_label "$RUNTIME_STANDIN" io.github.leaderelection.inputs)" = "$runtime_inputs" ]; then
  log "runtime stand-in up to date: $RUNTIME_STANDIN"
else
  bah rmi --force "$RUNTIME_STANDIN" >/dev/null 2>&1 || true
  c=$(bah from --quiet --pull=never "docker-archive:$base_tar")
  bah config --annotation io.github.leaderelection.inputs="$runtime_inputs" "$c"
  bah commit --quiet --rm "$c" "$RUNTIME_STANDIN" >/dev/null
  log "runtime stand-in imported from $base_tar"
fi

# ---- the Dockerfile -----------------------------------------------------------------------------
# The Maven artifacts the Dockerfile's two Maven runs need, in the repository mounted into the
# build: the host's Maven runs the same goals once (online only for what is missing), again only
# when pom.xml or the Maven version changes. (dependency:go-offline is not enough: it misses
# components that plugins load at run time, e.g. maven-filtering for the resources plugin.)
# shellcheck disable=SC2086 # MVN is a command line
maven_inputs=$( (cat pom.xml; ${MVN:-mvn -B} -v 2>&1 | head -1; echo "$m2") | sha256sum | cut -c1-16)
if [ "$(cat "$out/maven.inputs" 2>/dev/null)" != "$maven_inputs" ]; then
  log "resolving the build's Maven artifacts into $m2 (host Maven: package -DskipTests dependency:copy-dependencies)"
  rm -f "$out/maven.inputs"
  # shellcheck disable=SC2086 # MVN is a command line
  ${MVN:-mvn -B} -q package -DskipTests dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$out/maven-libs" >"$out/maven-resolve.log" 2>&1 \
    || { tail -20 "$out/maven-resolve.log" >&2; die "the host's Maven could not resolve the build's artifacts ($out/maven-resolve.log)"; }
  rm -rf "$out/maven-libs"
  echo "$maven_inputs" >"$out/maven.inputs"
fi
t=$SECONDS
log "buildah bud Dockerfile (offline, Maven -o on $m2)"
if ! bah bud --layers --force-rm --pull=never --network none --format docker \
    --build-arg BUILD_IMAGE="$BUILD_STANDIN" --build-arg RUNTIME_IMAGE="$RUNTIME_STANDIN" \
    --build-arg MAVEN_FLAGS="-o -Dmaven.repo.local=/m2" \
    --volume "$m2:/m2:O" \
    --tag "$IMAGE" . >"$out/build.log" 2>&1; then
  tail -30 "$out/build.log" >&2
  die "the Dockerfile did not build (log above, $out/build.log)"
fi
log "built $IMAGE in $((SECONDS - t))s ($(grep -c 'Using cache' "$out/build.log" || true) steps from the cache)"
# The layer cache is this build's: untagged images that none of its steps made or reused (builds
# of earlier sources, the previous image) are removed, so the store does not grow with every change.
keep=$(sed -n 's/.*--> \([0-9a-f]\{11\}\)$/\1/p' "$out/build.log")
stale=()
while read -r id name; do
  if [ "$name" = "<none>:<none>" ] && ! grep -qx "${id:0:11}" <<<"$keep"; then stale+=("$id"); fi
done < <(bah images --all --format '{{.ID}} {{.Name}}:{{.Tag}}')
if [ ${#stale[@]} -gt 0 ] && ! bah rmi "${stale[@]}" >/dev/null 2>&1; then
  log "warning: could not remove all of ${#stale[@]} stale cache images (scripts/build-dockerfile.sh --clean empties the store)"
fi

# ---- run the image: --version, then one election -------------------------------------------------
run=$out/run
rm -rf "$run"
mkdir -p "$run/pki" "$run/kube" "$run/logs"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
fail_run() {
  echo "build-dockerfile: $1; last lines of $2:" >&2
  tail -20 "$2" >&2
  exit 1
}

# The control plane: etcd + kube-apiserver on loopback, with certificates made here.
(
  cd "$run/pki"
  key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
  sign() {
    [ -f "$1.key" ] || key "$1"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" \
      -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
  }
  key ca
  openssl req -x509 -new -key ca.key -subj /CN=leaderelection-dockerfile-ca -days 2 -out ca.crt 2>/dev/null
  sign apiserver /CN=kube-apiserver "extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
  # The client's key in PKCS#1 RSA: fabric8 reads neither an EC key nor PKCS#8 from a kubeconfig.
  openssl genrsa -traditional -out admin.key 2048 2>/dev/null
  sign admin /O=system:masters/CN=dockerfile-check "extendedKeyUsage=clientAuth"
  key sa
  openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
) || die "making the control plane's certificates with openssl failed"
etcd_port=$(free_port)
peer_port=$(free_port)
api_port=$(free_port)
"$cp_bin/etcd" --name dockerfile --data-dir "$run/etcd" --unsafe-no-fsync \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "dockerfile=http://127.0.0.1:$peer_port" >"$run/logs/etcd.log" 2>&1 &
etcd_pid=$!
"$cp_bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address 127.0.0.1 \
  --advertise-address 127.0.0.1 --secure-port "$api_port" --service-cluster-ip-range 10.0.0.0/24 \
  --cert-dir "$run/pki" --client-ca-file "$run/pki/ca.crt" \
  --tls-cert-file "$run/pki/apiserver.crt" --tls-private-key-file "$run/pki/apiserver.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$run/pki/sa.pub" --service-account-signing-key-file "$run/pki/sa.key" \
  --authorization-mode RBAC --profiling=false >"$run/logs/kube-apiserver.log" 2>&1 &
api_pid=$!
b64() { base64 -w0 "$1"; }
cat >"$run/kube/config" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(b64 "$run/pki/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$run/pki/admin.crt")
    client-key-data: $(b64 "$run/pki/admin.key")
contexts:
- name: local
  context: {cluster: local, user: admin, namespace: default}
current-context: local
YAML
# Read by the image's user (65532): a throwaway certificate of this run.
chmod 0755 "$run/kube"
chmod 0644 "$run/kube/config"
kubectl() { "$cp_bin/kubectl" --kubeconfig "$run/kube/config" "$@"; }
for ((i = 0; i < 300; i++)); do
  if kubectl get --raw /readyz >/dev/null 2>&1; then break; fi
  sleep 0.2
done
[ "$i" -lt 300 ] || fail_run "kube-apiserver $cp_version did not become ready" "$run/logs/kube-apiserver.log"

# The image's entrypoint, as the image says (user, environment, entrypoint), on the host network.
config=$(bah inspect --type image "$IMAGE" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["OCIv1"]["config"]))')
image_config() { python3 -c "import json, sys; c = json.loads(sys.argv[1]); $1" "$config"; }
mapfile -t entrypoint < <(image_config 'print("\n".join(c.get("Entrypoint") or []))')
[ ${#entrypoint[@]} -gt 0 ] || die "the image $IMAGE has no entrypoint"
java_opts=$(image_config 'print("".join(e.split("=", 1)[1] for e in c.get("Env", []) if e.startswith("JDK_JAVA_OPTIONS=")))')
user=$(image_config 'print(c.get("User", ""))')
[ "$user" = 65532:65532 ] || die "the image runs as '$user', not 65532:65532"
bah rm leaderelection-dockerfile-check >/dev/null 2>&1 || true
container=$(bah from --pull=never --name leaderelection-dockerfile-check "$IMAGE")
# -XX:AOTMode=on: the JVM fails instead of starting without the image's AOT cache.
run_image() {
  bah run --network host --volume "$run/kube:/kube:ro" \
    --env "JDK_JAVA_OPTIONS=$java_opts -XX:AOTMode=on" "$container" -- "${entrypoint[@]}" "$@"
}
if ! run_image --version >"$run/logs/version.log" 2>&1; then
  fail_run "the image's entrypoint --version failed" "$run/logs/version.log"
fi
log "image --version: $(grep -v '^NOTE: Picked up' "$run/logs/version.log" | tr '\n' ' ' | sed 's/ *$//')"

election_log=$run/logs/election.log
health_port=$(free_port)
: >"$election_log"
run_image --kubeconfig=/kube/config --lease-name=dockerfile-check --identity=dockerfile-check \
  --health-port="$health_port" --work-interval=1s >"$election_log" 2>&1 &
runner=$!
wait_log() {
  local i
  for ((i = 0; i < 300; i++)); do
    if grep -q "$1" "$election_log"; then return 0; fi
    kill -0 "$runner" 2>/dev/null || break
    sleep 0.2
  done
  grep -q "$1" "$election_log"
}
wait_log 'successfully acquired lease' || fail_run "the image did not log 'successfully acquired lease' within 60s" "$election_log"
wait_log 'doing stuff' || fail_run "the image did not log 'doing stuff' within 60s" "$election_log"
holder=$(kubectl get lease dockerfile-check -o jsonpath='{.spec.holderIdentity}' 2>&1) || true
[ "$holder" = dockerfile-check ] || fail_run "the Lease names '$holder' as its holder, not dockerfile-check" "$election_log"
# The JVM: the runner's descendant named java (PID 1 of the container), as the image's user.
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1"); do echo "$child"; descendants "$child"; done
}
java_pid=""
for pid in $(descendants "$runner"); do
  if [ "$(ps -o comm= -p "$pid")" = java ]; then java_pid=$pid; break; fi
done
[ -n "$java_pid" ] || fail_run "no java process found under buildah run (pid $runner)" "$election_log"
java_uid=$(ps -o uid= -p "$java_pid" | tr -d ' ')
[ "$java_uid" = 65532 ] || fail_run "the JVM runs as uid $java_uid, not 65532" "$election_log"
kill -TERM "$java_pid"
for ((i = 0; i < 150; i++)); do
  kill -0 "$runner" 2>/dev/null || break
  sleep 0.2
done
kill -0 "$runner" 2>/dev/null && fail_run "the image did not exit within 30s of SIGTERM" "$election_log"
status=0
wait "$runner" || status=$?
java_pid="" runner=""
grep -q 'released lease' "$election_log" || fail_run "the image did not log 'released lease' on SIGTERM" "$election_log"
[ "$status" = 0 ] || fail_run "the image exited $status on SIGTERM, not 0" "$election_log"
holder=$(kubectl get lease dockerfile-check -o jsonpath='{.spec.holderIdentity}' 2>&1) || true
[ -z "$holder" ] || fail_run "after the release the Lease still names '$holder' as its holder" "$election_log"
log "image election: $(grep -m1 'successfully acquired lease' "$election_log" | sed 's/^.*\] //')," \
  "'doing stuff' $(grep -c 'doing stuff' "$election_log") times as uid 65532, released on SIGTERM (holder cleared), exit 0"
log "Dockerfile built and run in $((SECONDS - started))s (logs in $out)"
