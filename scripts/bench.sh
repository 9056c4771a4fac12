#!/usr/bin/env bash
# The command behind `make bench`: this controller vs a baseline on fabric8's built-in
# LeaderElector, 3 replicas each, on a local kube-apiserver + etcd. Writes bench/results.md,
# bench/results.json and bench/latency.png.
#
# Arguments go to the benchmark (make bench BENCH_ARGS="..."):
#   --rounds N        rounds per scenario (default 20)
#   --out DIR         output directory (default bench)
#   --only ELECTOR    this or baseline
#   --window SECONDS  steady-state window for API load and memory (default 60)
#   --quick           2 rounds, 20 s window: a smoke run of the whole pipeline
#   --logs DIR        also keep every replica's log there
# MVN overrides the Maven command (default "mvn -B").
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_STARTED_AT=$(date +%s)
export BENCH_STARTED_AT

read -r -a mvn <<< "${MVN:-mvn -B}"

scripts/provision-control-plane.sh
version=$(scripts/provision-control-plane.sh --print-version)

echo "bench: building (jar and test classes)"
"${mvn[@]}" -q package dependency:build-classpath -DskipTests -Dmdep.includeScope=test \
  -Dmdep.outputFile=target/test-classpath.txt

# The replicas' JVM flags come from the pom, so the benchmark measures what the image runs.
jvm_flags=$(sed -n 's:.*<app.jvmFlags>\(.*\)</app.jvmFlags>.*:\1:p' pom.xml | head -1)
if [ -z "$jvm_flags" ]; then
  echo "bench: no <app.jvmFlags> in pom.xml" >&2
  exit 1
fi

echo "bench: running (about 15 minutes for the default 20 rounds)"
exec java -Djava.awt.headless=true \
  -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
  -Dapp.jar="$PWD/target/leaderelection.jar" \
  -Dapp.jvmFlags="$jvm_flags" \
  -Dbench.testClasses="$PWD/target/test-classes" \
  -Dkubeapitest.offline=true \
  -Dkubeapitest.dir="${KUBEAPITEST_DIR:-$HOME/.kubeapitest}" \
  -Dkubeapitest.version="$version" \
  io.github.leaderelection.bench.Bench "$@"
