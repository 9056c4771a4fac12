#!/usr/bin/env bash
# The test command behind `make test`: provisions the control plane, builds the image tarball and
# the Dockerfile (scripts/build-dockerfile.sh: buildah, offline, then the image runs one election),
# runs unit and integration tests with Maven, then the article's walkthrough on a real single-node
# Kubernetes (the local node of scripts/node.sh: scripts/e2e.sh, results in target/e2e/results.json).
#
# NODE_E2E=run   (default) the node e2e is part of the tests. Checked first: where a node cannot
#                run (not root, no namespaces, overlayfs, bridge or netfilter...), the tests stop
#                at once with one line saying what is missing.
# NODE_E2E=skip  run everything else; says so at the end (make test NODE_E2E=skip).
#
# FABRIC8_8=run   (default) after the main build (fabric8 7.x), the unit tests again against
#                fabric8 8.0 (mvn -Pfabric8-8 test, output in target/fabric8-8)
# FABRIC8_8=skip  without that run; says so at the end
#
# KUBEAPITEST_OFFLINE=true   use local binaries, building them from Go modules when missing
# KUBEAPITEST_OFFLINE=false  let kube-api-test download its binaries (needs internet access)
# KUBEAPITEST_OFFLINE=auto   (default) true when the binaries are there or Go can build them,
#                            else false
set -euo pipefail
cd "$(dirname "$0")/.."

node_e2e="${NODE_E2E:-run}"
case "$node_e2e" in
  run)
    if ! why=$(scripts/node.sh check); then
      echo "test: the node e2e cannot run on this machine ($why); to run the other tests without it: make test NODE_E2E=skip" >&2
      exit 1
    fi
    ;;
  skip) ;;
  *)
    echo "test: NODE_E2E must be run or skip, not '$node_e2e'" >&2
    exit 2
    ;;
esac
fabric8_8="${FABRIC8_8:-run}"
case "$fabric8_8" in
  run|skip) ;;
  *)
    echo "test: FABRIC8_8 must be run or skip, not '$fabric8_8'" >&2
    exit 2
    ;;
esac

mode="${KUBEAPITEST_OFFLINE:-auto}"
if [ "$mode" = auto ]; then
  if scripts/provision-control-plane.sh --check >/dev/null 2>&1 || command -v go >/dev/null 2>&1; then
    mode=true
  else
    echo "test: Go is not installed; kube-api-test will download the control-plane binaries" >&2
    mode=false
  fi
fi
if [ "$mode" = true ]; then
  scripts/provision-control-plane.sh
fi
version=$(scripts/provision-control-plane.sh --print-version)
# The image tarball for ImageIT, built offline (Jib on a locally assembled base, cached in target/).
scripts/build-image-tar.sh
# The Dockerfile, built for real with Debian's buildah, offline (local stand-ins for its two base
# images, Maven -o on ~/.m2), then its image runs --version and one election against a local
# kube-apiserver (cached in target/buildah: an unchanged tree rebuilds nothing).
scripts/build-dockerfile.sh
# The article's client-go program for MixedFleetIT (client-go and this controller on one Lease),
# built with this machine's Go. Without Go the other tests still run, and MixedFleetIT fails
# saying what is missing (it never skips).
scripts/build-clientgo.sh \
  || echo "test: the client-go program was not built (see above): MixedFleetIT will fail" >&2
# PartitionIT cuts a replica off the API server with iptables inside a network namespace of its
# own, reached through node/nsforward: iptables and iproute2 (ip, ss) come from Debian as for the
# node (whose e2e runs after Maven), nsforward is built here with this machine's Go. Without them,
# PartitionIT fails and says what is missing (it never skips).
if ! command -v iptables >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1 || ! command -v ss >/dev/null 2>&1; then
  scripts/node.sh packages iptables iproute2 \
    || echo "test: iptables/iproute2 could not be installed (see above): PartitionIT will fail" >&2
fi
rm -f target/nsforward
mkdir -p target
(cd node && CGO_ENABLED=0 go build -trimpath -buildvcs=false -o ../target/nsforward ./nsforward) \
  || echo "test: node/nsforward was not built (see above; needs Go): PartitionIT will fail" >&2
# shellcheck disable=SC2086 # MVN is a command line
${MVN:-mvn -B} verify -Dkubeapitest.offline="$mode" -Dkubeapitest.version="$version" \
  -Dkubeapitest.dir="${KUBEAPITEST_DIR:-$HOME/.kubeapitest}" "$@" && maven=0 || maven=$?
# The library against fabric8 8.0 (users have 7.x and 8.0): the unit tests only, against the
# mock API server and the simulation. The integration tests and the node e2e run the jar and the
# image of the main build (fabric8 7.x); running them on 8.0 as well would double the time.
fabric8_8_result=0
if [ "$fabric8_8" = run ]; then
  echo "test: the unit tests against fabric8 8.0 (mvn -Pfabric8-8 test)"
  # shellcheck disable=SC2086 # MVN is a command line
  ${MVN:-mvn -B} -Pfabric8-8 test "$@" && fabric8_8_result=0 || fabric8_8_result=$?
fi
skipped() {
  if [ "$fabric8_8" = skip ]; then
    echo "test: the unit tests against fabric8 8.0 were SKIPPED (FABRIC8_8=skip)" >&2
  fi
}
if [ "$node_e2e" = skip ]; then
  skipped
  echo "test: the node e2e was SKIPPED (NODE_E2E=skip): the manifests in k8s/ were not run on a node" >&2
  if [ "$maven" != 0 ]; then exit "$maven"; fi
  if [ "$fabric8_8_result" != 0 ]; then
    echo "test: FAILED: the unit tests against fabric8 8.0 (mvn -Pfabric8-8 test) exit $fabric8_8_result" >&2
    exit "$fabric8_8_result"
  fi
  exit 0
fi
# The node e2e runs whatever Maven said, so one run reports both. The image the node runs is
# the one ImageIT tested; the node's binaries are cached after the first build.
scripts/node.sh build && E2E_BUILD_IMAGE=0 scripts/e2e.sh && node=0 || node=$?
skipped
if [ "$maven" != 0 ] || [ "$fabric8_8_result" != 0 ] || [ "$node" != 0 ]; then
  failed=()
  [ "$maven" = 0 ] || failed+=("Maven (unit/integration tests) exit $maven")
  [ "$fabric8_8_result" = 0 ] || failed+=("unit tests against fabric8 8.0 exit $fabric8_8_result")
  [ "$node" = 0 ] || failed+=("node e2e exit $node (see target/e2e/)")
  summary=$(printf '%s; ' "${failed[@]}")
  echo "test: FAILED: ${summary%; }" >&2
  exit 1
fi
also=""
[ "$fabric8_8" = skip ] || also="; the unit tests against fabric8 8.0 too"
echo "test: unit, integration and node e2e tests passed (target/e2e/results.json)$also"
