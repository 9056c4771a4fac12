# syntax=docker/dockerfile:1
# The same image as `make image-tar` (Jib on the offline base), for people without Maven:
# `docker build -t leaderelection:0.1.0 .`
# Multi-stage: Maven + JDK 25 build the jar (bytecode release 17), jlink a JDK 25 runtime with the
# modules the app needs, lay the app out like the Jib image (jars only: /app/classpath,
# /app/libs), and make the AOT cache (JEP 483/514/515) by a training run of that runtime against
# scripts/aot-train-apiserver.py; a distroless base (glibc, non-root, no shell, no package
# manager) runs it. Built and run by `make test` (scripts/build-dockerfile.sh: buildah, offline,
# on locally assembled stand-ins for the two base images, then `--version` and one election
# against a local kube-apiserver).

# The two base images are build arguments (declared before the first FROM), so that a build
# without a registry can name local stand-ins: scripts/build-dockerfile.sh passes a Debian
# bookworm with Debian's Maven and this machine's Temurin 25, and the offline base of
# scripts/build-base-image.sh. The defaults are the registry images: `docker build .` is unchanged.
ARG BUILD_IMAGE=maven:3.9-eclipse-temurin-25
ARG RUNTIME_IMAGE=gcr.io/distroless/base-debian12:nonroot

# ---- build ----------------------------------------------------------------------------------
FROM ${BUILD_IMAGE} AS build
# The training stage needs python3, openssl and curl. Installed only when missing: a build image
# that has them already (the offline stand-in) needs no package repository.
RUN if command -v python3 && command -v openssl && command -v curl; then :; else \
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3 openssl curl >/dev/null && rm -rf /var/lib/apt/lists/*; fi >/dev/null
WORKDIR /src
# The cache mount keeps Maven's local repository between builds (BuildKit), so a rebuild after a
# source change downloads nothing. MAVEN_FLAGS: more Maven options for both runs, e.g. `-o
# -Dmaven.repo.local=/m2` for an offline build on a repository mounted there (what
# scripts/build-dockerfile.sh does; not named MAVEN_ARGS, which Maven 3.9 reads by itself).
COPY pom.xml .
COPY src ./src
ARG MAVEN_FLAGS=""
# Only the thin jar goes to /app/classpath, as in the Jib image: `mvn package` also writes the
# sources jar (leaderelection-<version>-sources.jar), which the former
# `cp target/leaderelection-*.jar` put on the class path as well (found when first built).
RUN --mount=type=cache,target=/root/.m2 mvn -B -q $MAVEN_FLAGS package -DskipTests \
 && mvn -B -q $MAVEN_FLAGS dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=/out/app/libs \
 && mkdir -p /out/app/classpath \
 && find target -maxdepth 1 -name 'leaderelection-*.jar' ! -name '*-sources.jar' ! -name '*-javadoc.jar' \
      -exec cp {} /out/app/classpath/ \; \
 && [ "$(ls /out/app/classpath | wc -l)" = 1 ] \
 && printf '/app/classpath/*:%s\n' "$(cd /out/app/libs && ls | sed 's#^#/app/libs/#' | paste -sd:)" \
      > /out/app/classpath-file
# The runtime: the same modules as scripts/build-base-image.sh. jlink --strip-debug needs objcopy
# (binutils, which the eclipse-temurin images have).
# Then one fixed modification time (pom.xml's project.build.outputTimestamp) on all of /out. The
# AOT cache checks the size and time of every jar it was trained on. Layer caches (BuildKit's and
# buildah's) key COPY on the files' content, not their times: when this stage reruns and gives
# the same bytes (the jars are reproducible), the runtime stage's COPY of /out/app could come
# from the cache with the old times while the training ran on the new ones, and the JVM would
# silently drop the cache ("timestamp has changed"; found by building twice). Fixed times make
# equal content mean equal files.
RUN jlink --add-modules java.base,java.logging,java.naming,java.net.http,java.sql,java.xml,jdk.crypto.ec,jdk.httpserver,jdk.management,jdk.unsupported \
      --strip-debug --no-header-files --no-man-pages --compress=zip-6 --output /out/jre \
 && find /out -exec touch -h -d 2026-01-01T00:00:00Z {} +

# ---- AOT training: the runtime and the jars at the paths they have in the final image ----------
FROM build AS train
ARG JVM_FLAGS="-XX:+UseSerialGC -Xms8m -Xmx64m -Xss256k -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=16m -XX:MaxMetaspaceSize=96m -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=20 -XX:-UsePerfData -XX:+UnlockDiagnosticVMOptions -XX:AsyncDeflationInterval=10000 -XX:+ExitOnOutOfMemoryError"
COPY --from=build /out/jre /usr/lib/jvm/jre
COPY --from=build /out/app /app
COPY scripts/aot-train-apiserver.py /train/
# In-cluster configuration like a pod's: service-account token, CA, KUBERNETES_SERVICE_HOST.
# The training replica follows a simulated leader, takes over on its release, leads, serves
# /healthz, /readyz and /metrics, releases on SIGTERM; the JVM writes the cache at exit.
RUN set -eu; cd /train; \
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
      -keyout key.pem -out cert.pem -subj /CN=kubernetes -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null; \
    sa=/var/run/secrets/kubernetes.io/serviceaccount; mkdir -p $sa; \
    printf token > $sa/token; cp cert.pem $sa/ca.crt; printf default > $sa/namespace; \
    python3 aot-train-apiserver.py --cert cert.pem --key key.pem --port-file port \
      --holder aot-training-previous-leader --hold 3 > counts.json & server=$!; \
    while [ ! -s port ]; do sleep 0.1; done; \
    KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$(cat port) POD_NAME=aot-training \
    JDK_JAVA_OPTIONS="$JVM_FLAGS" MALLOC_ARENA_MAX=2 \
      /usr/lib/jvm/jre/bin/java -XX:+UnlockDiagnosticVMOptions -XX:ServiceThreadCleanupInterval=10000 \
      -XX:TrimNativeHeapInterval=60000 -XX:AOTCacheOutput=/train/leaderelection.aot \
      -cp @/app/classpath-file io.github.leaderelection.app.Main \
      --lease-name=my-lease --health-port=18080 --work-interval=1s > training.log 2>&1 & java=$!; \
    for i in $(seq 1 300); do grep -q 'doing stuff' training.log && break; sleep 0.2; done; \
    grep -q 'doing stuff' training.log || { cat training.log; exit 1; }; \
    for p in /healthz /readyz /metrics; do curl -fsS -o /dev/null http://127.0.0.1:18080$p; done; \
    sleep 3; kill -TERM $java; wait $java; kill -TERM $server; wait $server || true; \
    grep -q 'released lease' training.log || { cat training.log; exit 1; }; \
    test -s /train/leaderelection.aot; \
    /usr/lib/jvm/jre/bin/java $JVM_FLAGS -XX:AOTCache=/train/leaderelection.aot -XX:AOTMode=on \
      -cp @/app/classpath-file io.github.leaderelection.app.Main --version

# ---- runtime --------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG RUNTIME_IMAGE
LABEL org.opencontainers.image.title="leaderelection" \
      org.opencontainers.image.description="Kubernetes leader election through a coordination.k8s.io/v1 Lease: exactly one replica works." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
# The JVM flags of every replica (pom.xml app.jvmFlags): small serial heap handed back when free,
# C1 only, bounded metaspace and code cache, small stacks, no perf data, exit on OOM so
# Kubernetes restarts the pod.
ENV JDK_JAVA_OPTIONS="-XX:+UseSerialGC -Xms8m -Xmx64m -Xss256k -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=16m -XX:MaxMetaspaceSize=96m -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=20 -XX:-UsePerfData -XX:+UnlockDiagnosticVMOptions -XX:AsyncDeflationInterval=10000 -XX:+ExitOnOutOfMemoryError" \
    MALLOC_ARENA_MAX=2 \
    JAVA_HOME=/usr/lib/jvm/jre \
    PATH=/usr/lib/jvm/jre/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Owned by root and read-only for the app user: the process cannot modify its own code. The same
# build stage gives the runtime and the jars their file sizes and (fixed) times, which the AOT
# cache checks (COPY keeps modification times).
COPY --from=build /out/jre /usr/lib/jvm/jre
COPY --from=build /out/app /app
COPY --from=train /train/leaderelection.aot /app/aot/leaderelection.aot
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["java", "-XX:+UnlockDiagnosticVMOptions", "-XX:ServiceThreadCleanupInterval=10000", "-XX:TrimNativeHeapInterval=60000", "-XX:AOTCache=/app/aot/leaderelection.aot", "-cp", "@/app/classpath-file", "io.github.leaderelection.app.Main"]
