#!/usr/bin/env bash
# The command behind `make bench`: this controller as the image runs it (JDK 25 runtime + AOT
# cache, started from the image tarball's entrypoint in a chroot: needs root), the article's
# client-go program (bench/clientgo, built here with this machine's Go), a baseline on fabric8's
# built-in LeaderElector, and this controller's fat jar on JDK 17; 3 replicas each, then a
# scaling run (3, 10, 30 replicas, with the 409 Conflicts per handover), and many elections in one
# process (1, 10, 100 on this library beside 100 fabric8 LeaderElectors and 100 client-go ones),
# on a local kube-apiserver + etcd. Writes bench/results.md, bench/results.json,
# bench/latency.png, bench/scaling.png and bench/many-elections.png.
#
# Arguments go to the benchmark (make bench BENCH_ARGS="..."):
#   --rounds N              rounds per scenario (default 20)
#   --out DIR               output directory (default bench)
#   --only ARM,...|none     of this, clientgo, baseline, this_jdk17 (default all)
#   --window SECONDS        steady-state window for API load, memory, idle CPU (default 60)
#   --scaling N,...|none    replica counts of the scaling run (default 3,10,30)
#   --scaling-arms ARM,...  arms of the scaling run (default this,clientgo,baseline)
#   --scaling-window S      steady window per scaling point (default 60)
#   --scaling-rounds N      graceful handovers per scaling point (default 5)
#   --many N,...|none       elections in one process, this library (default 1,10,100)
#   --many-arms ARM,...     of this, this_bounded_http, baseline, clientgo (default all; all but
#                           'this' run at the largest N only)
#   --many-window SECONDS   each of the two windows per many-elections point (default 30)
#   --many-followers BOOL   a second process following the same N Leases (default true)
#   --quick                 2 rounds, 20 s windows, scaling 3,10 with 2 rounds, many 1,10: a
#                           smoke run
#   --logs DIR              also keep every replica's log there
# MVN overrides the Maven command (default "mvn -B"); GO the Go command (default go); JDK25_HOME
# the JDK of the many-elections processes (default: /usr/lib/jvm/temurin-25-jdk-<arch> or
# java-25-openjdk-<arch> if present, else the java running the benchmark: then no virtual threads).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_STARTED_AT=$(date +%s)
export BENCH_STARTED_AT

read -r -a mvn <<< "${MVN:-mvn -B}"

scripts/provision-control-plane.sh
version=$(scripts/provision-control-plane.sh --print-version)

if [ "$(id -u)" -ne 0 ]; then
  echo "bench: the image arm starts the image's entrypoint in a chroot like a container runtime;" \
    "run as root" >&2
  exit 1
fi
echo "bench: building the image tarball (JDK 25 runtime + AOT cache)"
scripts/build-image-tar.sh
echo "bench: building (jar and test classes)"
"${mvn[@]}" -q package dependency:build-classpath -DskipTests -Dmdep.includeScope=test \
  -Dmdep.outputFile=target/test-classpath.txt
echo "bench: building the article's client-go program (bench/clientgo)"
go_cmd=${GO:-go}
mkdir -p target/bench
(cd bench/clientgo && "$go_cmd" build -trimpath -o ../../target/bench/clientgo . \
  && "$go_cmd" build -trimpath -o ../../target/bench/clientgo-many ./many)
go_version=$("$go_cmd" env GOVERSION)

# The replicas' JVM flags come from the pom, so the benchmark measures what the image runs.
jvm_flags=$(sed -n 's:.*<app.jvmFlags>\(.*\)</app.jvmFlags>.*:\1:p' pom.xml | head -1)
if [ -z "$jvm_flags" ]; then
  echo "bench: no <app.jvmFlags> in pom.xml" >&2
  exit 1
fi

# The many-elections processes run on a JDK 25 (the image's runtime; virtual threads) when there is one.
many_java=""
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
for jdk in "${JDK25_HOME:-}" "/usr/lib/jvm/temurin-25-jdk-$arch" "/usr/lib/jvm/java-25-openjdk-$arch"; do
  if [ -n "$jdk" ] && [ -x "$jdk/bin/java" ]; then
    many_java="$jdk/bin/java"
    break
  fi
done

echo "bench: running (about 45 minutes with the defaults; see --quick and the options above)"
exec java -Djava.awt.headless=true \
  -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
  -Dapp.jar="$PWD/target/leaderelection.jar" \
  -Dapp.jvmFlags="$jvm_flags" \
  -Dbench.image="$PWD/target/leaderelection-image.tar" \
  -Dbench.clientgo="$PWD/target/bench/clientgo" \
  -Dbench.clientgoMany="$PWD/target/bench/clientgo-many" \
  -Dbench.manyJava="$many_java" \
  -Dbench.goVersion="$go_version" \
  -Dbench.testClasses="$PWD/target/test-classes" \
  -Dkubeapitest.offline=true \
  -Dkubeapitest.dir="${KUBEAPITEST_DIR:-$HOME/.kubeapitest}" \
  -Dkubeapitest.version="$version" \
  io.github.leaderelection.bench.Bench "$@"
