#!/usr/bin/env bash
# The command behind `make demo`: leader election in action without a cluster.
#
# Provides the control plane (as scripts/test.sh does), builds the jar and the demo classes, then
# runs io.github.leaderelection.demo.Demo, which starts kube-apiserver + etcd on loopback and
# replicas of target/leaderelection.jar as processes. Arguments go to the demo:
#   scripts/demo.sh --help
#   scripts/demo.sh --rounds 2 --lease-duration 6s --no-tty
#
# KUBEAPITEST_OFFLINE=true   use local binaries, building them from Go modules when missing
# KUBEAPITEST_OFFLINE=false  let kube-api-test download its binaries (needs internet access)
# KUBEAPITEST_OFFLINE=auto   (default) true when the binaries are there or Go can build them,
#                            else false
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "demo: $*"; }
# Quiet Maven (only errors), without the colour resets some Maven builds print even in batch mode.
mvn_quiet() {
  # shellcheck disable=SC2086 # MVN may carry options
  ${MVN:-mvn -B} -q -Dstyle.color=never "$@" 2>&1 | sed 's/\x1b\[[0-9;]*m//g'
}

mode="${KUBEAPITEST_OFFLINE:-auto}"
if [ "$mode" = auto ]; then
  if scripts/provision-control-plane.sh --check >/dev/null 2>&1 || command -v go >/dev/null 2>&1; then
    mode=true
  else
    say "Go is not installed; kube-api-test will download the control-plane binaries"
    mode=false
  fi
fi
if [ "$mode" = true ]; then
  if ! scripts/provision-control-plane.sh --check >/dev/null 2>&1; then
    say "first run: building kube-apiserver, etcd and kubectl from Go modules (several minutes; later runs start at once)"
  fi
  scripts/provision-control-plane.sh
fi
version=$(scripts/provision-control-plane.sh --print-version)

# The replicas' JVM flags: the pom's app.jvmFlags, the same as the image and the tests use.
jvm_flags=$(sed -n 's:.*<app.jvmFlags>\(.*\)</app.jvmFlags>.*:\1:p' pom.xml | head -1)

say "building target/leaderelection.jar and the demo classes (mvn package -DskipTests)..."
start=$(date +%s)
mvn_quiet package -DskipTests
say "computing the test classpath..."
mvn_quiet dependency:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile=target/test-classpath.txt
say "build done ($(($(date +%s) - start)) s)"

# Every temporary file of the demo (control plane, etcd data, replica logs) goes below one
# directory, which the demo deletes when it ends, normally or by Ctrl-C.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/leaderelection-demo.XXXXXX")

# exec: Ctrl-C reaches the demo's JVM directly, whose shutdown hook stops everything it started.
exec java -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
  -Djava.io.tmpdir="$tmp" -Ddemo.tmpdir="$tmp" \
  -Dapp.jar="$PWD/target/leaderelection.jar" \
  -Dapp.jvmFlags="$jvm_flags" \
  -Dkubeapitest.offline="$mode" \
  -Dkubeapitest.dir="${KUBEAPITEST_DIR:-$HOME/.kubeapitest}" \
  -Dkubeapitest.version="$version" \
  io.github.leaderelection.demo.Demo "$@"
