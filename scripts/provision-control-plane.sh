#!/usr/bin/env bash
# Provides kube-apiserver, etcd and kubectl for the tests, where fabric8's kube-api-test looks for
# them: $KUBEAPITEST_DIR/k8s/<version>-linux-amd64/.
#
# Order of preference:
#   1. already there (idempotent: nothing is rebuilt or downloaded);
#   2. built from Go modules with the machine's Go toolchain (controlplane/go.mod pins the versions)
#      - works where only the Go module proxy is reachable, as on our CI machines;
#   3. nothing: print how to provide them and fail. (On an online machine without Go, the tests
#      can instead let kube-api-test download its own binaries: `make test KUBEAPITEST_OFFLINE=false`.)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
module="$here/controlplane"
# The pinned versions are read from the Go module, so go.mod is the single place to change them.
pinned() { awk -v m="$1" '$1 == m && $2 ~ /^v[0-9]/ { sub(/^v/, "", $2); print $2; exit }' "$module/go.mod"; }
version=$(pinned k8s.io/kubernetes)
etcd_version=$(pinned go.etcd.io/etcd/server/v3)
os=$(uname -s | tr '[:upper:]' '[:lower:]')
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
base="${KUBEAPITEST_DIR:-$HOME/.kubeapitest}"
target="$base/k8s/$version-$os-$arch"

if [ "${1:-}" = "--print-version" ]; then
  echo "$version"
  exit 0
fi

present() { [ -x "$target/kube-apiserver" ] && [ -x "$target/etcd" ] && [ -x "$target/kubectl" ]; }
if [ "${1:-}" = "--check" ]; then
  present
  exit
fi
if present; then
  echo "control plane: kube-apiserver $version, etcd $etcd_version and kubectl ready in $target"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
control plane: kube-apiserver/etcd/kubectl $version are not in $target and Go is not installed.
Provide them in one of these ways, then run the tests again:
  - install Go (1.26+) and run: scripts/provision-control-plane.sh   (builds them from Go modules)
  - on a machine with internet access: make test   (without Go, kube-api-test downloads them)
  - or copy existing binaries (kube-apiserver, etcd, kubectl) into $target
MSG
  exit 1
fi

echo "control plane: building kube-apiserver $version, etcd $etcd_version and kubectl from Go modules"
echo "control plane: (first run only: downloads the modules and compiles; several minutes on 2 cores)"
staging="$target.partial.$$"
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging"
start=$(date +%s)
(
  cd "$module"
  # -trimpath and no VCS stamping keep the binaries independent of where the repo is checked out.
  export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod -trimpath -buildvcs=false"
  go mod download
  for pkg in go.etcd.io/etcd/server/v3:etcd \
             k8s.io/kubernetes/cmd/kube-apiserver:kube-apiserver \
             k8s.io/kubernetes/cmd/kubectl:kubectl; do
    echo "control plane: go build ${pkg%%:*} -> ${pkg##*:}"
    go build -ldflags "-s -w" -o "$staging/${pkg##*:}" "${pkg%%:*}"
  done
)
"$staging/kube-apiserver" --version >/dev/null
"$staging/etcd" --version >/dev/null
"$staging/kubectl" version --client >/dev/null
rm -rf "$target"
mkdir -p "$(dirname "$target")"
mv "$staging" "$target"
trap - EXIT
echo "control plane: ready in $target ($(($(date +%s) - start)) s)"
