#!/usr/bin/env bash
# Makes the image's AOT cache (JEP 483/514/515: classes loaded and linked, method profiles) by a
# training run of the image itself, offline:
#   1. unpacks the image tarball (Jib's output, without a cache) into a scratch root filesystem;
#   2. starts scripts/aot-train-apiserver.py, a small in-memory API server on 127.0.0.1 (HTTPS,
#      a throw-away self-signed certificate), in which another replica holds the Lease and
#      releases it after a few seconds;
#   3. runs the image's JVM, with the image's environment (JDK_JAVA_OPTIONS), entrypoint flags,
#      class path and main class, as the image's user in a chroot of that root filesystem (so every path, file size
#      and time stamp is the one the image has: the JVM ignores a cache whose class path differs),
#      configured in-cluster like a pod (service-account token, CA, KUBERNETES_SERVICE_HOST), with
#      -XX:AOTCacheOutput: it follows, takes over on the release, leads, renews, does its work,
#      serves /healthz, /readyz and /metrics, and on SIGTERM releases the Lease and exits; the JVM
#      then writes the cache;
#   4. checks the cache: the same JVM with -XX:AOTMode=on (which refuses to start on a cache it
#      cannot use) prints its version.
#
# Usage: scripts/build-aot-cache.sh IMAGE_TAR OUT_DIR
# Output: OUT_DIR/layer/app/aot/leaderelection.aot (the tree Jib adds as a layer of its own with
# -Djib.extraDirectories.paths=OUT_DIR/layer) and OUT_DIR/training.log. Needs root (mount namespace,
# chroot), python3, openssl, curl; scripts/build-image-tar.sh calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE_IN_IMAGE=/app/aot/leaderelection.aot
MAIN_CLASS=io.github.leaderelection.app.Main
LEASE=my-lease
NAMESPACE=default

log() { echo "build-aot-cache: $*"; }
die() { echo "build-aot-cache: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 IMAGE_TAR OUT_DIR"
image_tar=$(readlink -f "$1")
out_dir=$2
[ -f "$image_tar" ] || die "$1 not found"
[ "$(id -u)" -eq 0 ] || die "needs root (a mount namespace and a chroot, like a container runtime)"
for tool in python3 openssl curl unshare chroot tar; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done

started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/aot-train.XXXXXX")
server_pid=""
java_pid=""
cleanup() {
  if [ -n "$java_pid" ]; then kill -KILL "$java_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The image's root filesystem and configuration.
rootfs=$work/rootfs
mkdir -p "$work/blobs" "$rootfs"
tar -xf "$image_tar" -C "$work/blobs"
python3 - "$work/blobs" "$work" <<'EOF'
import json, sys
blobs, work = sys.argv[1], sys.argv[2]
manifest = json.load(open(f"{blobs}/manifest.json"))[0]
config = json.load(open(f"{blobs}/{manifest['Config']}"))["config"]
with open(f"{work}/layers", "w") as f:
    f.write("\n".join(manifest["Layers"]) + "\n")
with open(f"{work}/env", "w") as f:
    f.write("\n".join(config.get("Env") or []) + "\n")
with open(f"{work}/user", "w") as f:
    f.write(config.get("User") or "0:0")
# The entrypoint's JVM flags (between "java" and "-cp"): the training run uses them too.
entrypoint = config.get("Entrypoint") or []
flags = entrypoint[1:entrypoint.index("-cp")] if "-cp" in entrypoint else []
with open(f"{work}/jvm-flags", "w") as f:
    f.write("\n".join(a for a in flags if not a.startswith("-XX:AOTCache")) + "\n")
EOF
while IFS= read -r layer; do
  if tar -tzf "$work/blobs/$layer" --warning=no-unknown-keyword | grep -q '\.wh\.'; then
    die "layer $layer has whiteouts; this script applies layers without them"
  fi
  tar -xzf "$work/blobs/$layer" -C "$rootfs" --numeric-owner --same-owner --preserve-permissions \
    --warning=no-unknown-keyword
done < "$work/layers"
user=$(cat "$work/user")
mapfile -t image_env < "$work/env"
mapfile -t jvm_flags < <(grep -v '^$' "$work/jvm-flags" || true)
[ -x "$rootfs/usr/bin/java" ] || [ -L "$rootfs/usr/bin/java" ] || die "the image has no /usr/bin/java"
[ -f "$rootfs/app/jib-classpath-file" ] || die "the image has no /app/jib-classpath-file"

# 2. The training API server and the pod's service-account files.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" -subj /CN=kubernetes \
  -addext "subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc" 2>/dev/null \
  || die "openssl could not make a certificate"
python3 scripts/aot-train-apiserver.py --cert "$work/cert.pem" --key "$work/key.pem" \
  --port-file "$work/port" --namespace "$NAMESPACE" --lease "$LEASE" \
  --holder aot-training-previous-leader --hold 3 > "$work/counts.json" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  if [ -s "$work/port" ]; then break; fi
  kill -0 "$server_pid" 2>/dev/null || die "the training API server did not start: $(cat "$work/server.log")"
  sleep 0.1
done
port=$(cat "$work/port")
sa=$rootfs/var/run/secrets/kubernetes.io/serviceaccount
mkdir -p "$sa" "$rootfs/tmp/aot" "$rootfs/proc" "$rootfs/dev"
printf 'aot-training-token' > "$sa/token"
cp "$work/cert.pem" "$sa/ca.crt"
printf '%s' "$NAMESPACE" > "$sa/namespace"
chown -R "$user" "$sa" "$rootfs/tmp/aot"
health_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# 3. The training run: the image's JVM, environment, class path and user, in a chroot.
# shellcheck disable=SC2016 # expanded by the inner shell
mount_and_exec='set -e
root=$1; user=$2; shift 2
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=0755,size=64k tmpfs "$root/dev"
for d in null zero random urandom; do : > "$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"; done
exec chroot --userspec="$user" "$root" "$@"'
# Always in a subshell or in the background: it execs, so $! is the JVM's PID.
in_image() {
  exec env -i "${image_env[@]}" KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$port" \
    POD_NAME=aot-training POD_NAMESPACE="$NAMESPACE" \
    unshare --mount --propagation private -- sh -c "$mount_and_exec" mount-and-exec \
    "$rootfs" "$user" "$@"
}
training_log=$work/training.log
(in_image /usr/bin/java "${jvm_flags[@]}" -XX:AOTCacheOutput=/tmp/aot/leaderelection.aot \
  -Xlog:aot=warning \
  -cp @/app/jib-classpath-file "$MAIN_CLASS" --lease-name="$LEASE" --health-port="$health_port" \
  --work-interval=1s > "$training_log" 2>&1) &
java_pid=$!

wait_for() { # pattern timeout-seconds
  local deadline=$((SECONDS + $2))
  until grep -q -- "$1" "$training_log"; do
    if ! kill -0 "$java_pid" 2>/dev/null; then
      die "the training run exited before logging '$1':"$'\n'"$(tail -40 "$training_log")"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "the training run did not log '$1' within $2 s:"$'\n'"$(tail -40 "$training_log")"
    fi
    sleep 0.2
  done
}
wait_for "new leader is aot-training-previous-leader" 60
wait_for "successfully acquired lease $NAMESPACE/$LEASE" 60
wait_for "doing stuff..." 30
for path in /healthz /readyz /metrics /healthz /metrics; do
  curl -fsS -o /dev/null "http://127.0.0.1:$health_port$path" \
    || die "GET $path on the training run failed"
done
sleep 3 # a few renewals and units of work
kill -TERM "$java_pid"
deadline=$((SECONDS + 180))
while kill -0 "$java_pid" 2>/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || die "the training run did not exit within 180 s of SIGTERM"
  sleep 0.2
done
status=0
wait "$java_pid" || status=$?
java_pid=""
grep -q "released lease $NAMESPACE/$LEASE" "$training_log" \
  || die "the training run did not release the Lease:"$'\n'"$(tail -40 "$training_log")"
[ "$status" -eq 0 ] || die "the training run exited with $status:"$'\n'"$(tail -40 "$training_log")"
kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=""
log "training API server saw: $(cat "$work/counts.json")"
grep -q '"PUT leases"' "$work/counts.json" || die "the training run never renewed the Lease"
cache=$rootfs/tmp/aot/leaderelection.aot
[ -s "$cache" ] || die "the JVM wrote no AOT cache:"$'\n'"$(tail -40 "$training_log")"

# 4. The cache must be usable by the image as it is: AOTMode=on refuses to start otherwise.
mkdir -p "$rootfs/app/aot"
cp "$cache" "$rootfs/app/aot/leaderelection.aot"
chmod 0644 "$rootfs/app/aot/leaderelection.aot"
if ! check=$(in_image /usr/bin/java "${jvm_flags[@]}" -XX:AOTCache="$CACHE_IN_IMAGE" -XX:AOTMode=on \
    -cp @/app/jib-classpath-file "$MAIN_CLASS" --version 2>&1); then
  die "the JVM refuses the new cache: $check"
fi

rm -rf "$out_dir"
mkdir -p "$out_dir/layer/app/aot"
cp "$cache" "$out_dir/layer/app/aot/leaderelection.aot"
chmod 0644 "$out_dir/layer/app/aot/leaderelection.aot"
cp "$training_log" "$out_dir/training.log"
log "$out_dir/layer$CACHE_IN_IMAGE: $(du -h "$cache" | cut -f1), from a $(grep -c 'doing stuff' "$training_log")-unit training run, checked with -XX:AOTMode=on ($((SECONDS - started)) s)"
