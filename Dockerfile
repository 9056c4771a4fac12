# syntax=docker/dockerfile:1
# The same image as `make image` (Jib), for people without Maven: `docker build -t leaderelection:0.1.0 .`
# Multi-stage: Maven + JDK 17 build the jar, a distroless Java 17 runtime (non-root, no shell,
# no package manager) runs it.

# ---- build ----------------------------------------------------------------------------------
FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
# The cache mount keeps Maven's local repository between builds (BuildKit), so a rebuild after a
# source change downloads nothing.
COPY pom.xml .
COPY src ./src
RUN --mount=type=cache,target=/root/.m2 mvn -B -q package -DskipTests

# ---- runtime --------------------------------------------------------------------------------
FROM gcr.io/distroless/java17-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="leaderelection" \
      org.opencontainers.image.description="Kubernetes leader election through a coordination.k8s.io/v1 Lease: exactly one replica works." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/java17-debian12:nonroot"
# The JVM flags of every replica (pom.xml app.jvmFlags): small serial heap, C1 only, bounded
# metaspace and code cache, exit on OOM so Kubernetes restarts the pod.
ENV JDK_JAVA_OPTIONS="-XX:+UseSerialGC -Xms8m -Xmx64m -Xss512k -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=16m -XX:MaxMetaspaceSize=96m -XX:+ExitOnOutOfMemoryError"
WORKDIR /app
# Owned by root and read-only for the app user: the process cannot modify its own code.
COPY --from=build /src/target/leaderelection.jar /app/leaderelection.jar
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["java", "-jar", "/app/leaderelection.jar"]
