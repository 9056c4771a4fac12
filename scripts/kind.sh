#!/usr/bin/env bash
# The article's walkthrough on a local kind cluster: one command per step (see `make help`).
#
#   scripts/kind.sh up        create the kind cluster $CLUSTER (KIND_WORKERS=N adds worker nodes)
#   scripts/kind.sh load      build the image $IMAGE and load it into the cluster
#   scripts/kind.sh deploy    kubectl apply -k k8s/ (RBAC, 3-replica Deployment, PDB)
#   scripts/kind.sh status    pods, and who holds the Lease
#   scripts/kind.sh logs      follow the logs of all replicas
#   scripts/kind.sh failover  delete the leader pod, report how long until another pod holds the Lease
#   scripts/kind.sh e2e       all of the above, checked; exits non-zero with a message on failure
#   scripts/kind.sh undeploy  remove what deploy created (and the Lease)
#   scripts/kind.sh down      delete the kind cluster
#
# Needs Docker (kind runs Kubernetes nodes as containers). kind and kubectl are installed when
# missing: kind with `go install` at a pinned version, kubectl from the control-plane binaries the
# tests use (scripts/provision-control-plane.sh builds them from Go modules).
#
# Environment: CLUSTER (default leaderelection), IMAGE (default leaderelection:<pom version>),
# NAMESPACE (default: the context's namespace), KIND_NODE_IMAGE (default: kind's own),
# KIND_WORKERS (default 0: one node), FAILOVER_TIMEOUT seconds (default 30),
# E2E_CLEANUP=1 (delete the cluster after a successful e2e), CLUSTER_PROVIDER=local with
# KUBE_CONTEXT and KUBECONFIG (set by scripts/cluster.sh: the steps deploy..undeploy on the local
# node of scripts/node.sh instead of kind).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

KIND_VERSION=v0.33.0
CLUSTER="${CLUSTER:-leaderelection}"
version=$(sed -n 's:^  <version>\(.*\)</version>:\1:p' pom.xml | head -1)
IMAGE="${IMAGE:-leaderelection:$version}"
DEFAULT_IMAGE="leaderelection:$version" # the image k8s/deploy.yaml names
LEASE=my-lease
DEPLOYMENT=leaderelection
SELECTOR=app.kubernetes.io/name=leaderelection
FAILOVER_TIMEOUT="${FAILOVER_TIMEOUT:-30}"
tools="${XDG_CACHE_HOME:-$HOME/.cache}/leaderelection/bin"

log() { printf '[kind.sh] %s\n' "$*" >&2; }
die() {
  printf '[kind.sh] ERROR: %s\n' "$*" >&2
  exit 1
}

# ---- tools ----------------------------------------------------------------------------------

need_docker() {
  command -v docker >/dev/null 2>&1 ||
    die "docker is not installed. kind runs Kubernetes nodes as Docker containers: install Docker (or run on a machine that has it), then retry."
  docker info >/dev/null 2>&1 ||
    die "docker is installed but its daemon is not reachable (is it running, and may this user use it?). Check with: docker info"
}

KIND=""
need_kind() {
  if [ -n "$KIND" ]; then
    return
  fi
  if command -v kind >/dev/null 2>&1; then
    KIND=$(command -v kind)
  elif [ -x "$tools/kind" ]; then
    KIND="$tools/kind"
  elif command -v go >/dev/null 2>&1; then
    log "kind not found: installing sigs.k8s.io/kind@$KIND_VERSION with go install into $tools"
    mkdir -p "$tools"
    GOBIN="$tools" go install "sigs.k8s.io/kind@$KIND_VERSION"
    KIND="$tools/kind"
  else
    die "kind is not installed and Go is not available to install it. Install kind ($KIND_VERSION: go install sigs.k8s.io/kind@$KIND_VERSION, or see kind's documentation), then retry."
  fi
}

KUBECTL=""
need_kubectl() {
  if [ -n "$KUBECTL" ]; then
    return
  fi
  if command -v kubectl >/dev/null 2>&1; then
    KUBECTL=$(command -v kubectl)
    return
  fi
  local provisioned
  provisioned="${KUBEAPITEST_DIR:-$HOME/.kubeapitest}/k8s/$(scripts/provision-control-plane.sh --print-version)-linux-amd64/kubectl"
  if [ ! -x "$provisioned" ]; then
    command -v go >/dev/null 2>&1 ||
      die "kubectl is not installed and Go is not available to build it. Install kubectl, then retry."
    log "kubectl not found: building the project's pinned kubectl (and the test control plane) from Go modules"
    scripts/provision-control-plane.sh >&2
  fi
  KUBECTL="$provisioned"
}

# kubectl against the chosen cluster only, never whatever the current context happens to be:
# kind-$CLUSTER, or KUBE_CONTEXT (scripts/cluster.sh sets it for the local node).
kc() {
  need_kubectl
  if [ -n "${NAMESPACE:-}" ]; then
    "$KUBECTL" --context "${KUBE_CONTEXT:-kind-$CLUSTER}" --namespace "$NAMESPACE" "$@"
  else
    "$KUBECTL" --context "${KUBE_CONTEXT:-kind-$CLUSTER}" "$@"
  fi
}

cluster_exists() {
  need_kind
  "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"
}

need_cluster() {
  if [ "${CLUSTER_PROVIDER:-kind}" = local ]; then
    scripts/node.sh status >/dev/null || die "the local node is not running: run 'make cluster-up' first."
    return
  fi
  need_docker
  cluster_exists || die "kind cluster '$CLUSTER' does not exist: run 'make kind-up' first."
}

# Seconds since the epoch, with fractions where the shell offers them.
now() {
  if [ -n "${EPOCHREALTIME:-}" ]; then
    printf '%s\n' "${EPOCHREALTIME/,/.}"
  else
    date +%s
  fi
}

# ---- steps ----------------------------------------------------------------------------------

up() {
  need_docker
  need_kind
  if cluster_exists; then
    log "kind cluster '$CLUSTER' already exists"
    return
  fi
  local workers="${KIND_WORKERS:-0}" config i
  config=$'kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n  - role: control-plane\n'
  for ((i = 0; i < workers; i++)); do
    config+=$'  - role: worker\n'
  done
  local args=(create cluster --name "$CLUSTER" --wait 180s --config -)
  if [ -n "${KIND_NODE_IMAGE:-}" ]; then
    args+=(--image "$KIND_NODE_IMAGE")
  fi
  log "creating kind cluster '$CLUSTER' ($((workers + 1)) node(s))"
  printf '%s' "$config" | "$KIND" "${args[@]}"
}

load() {
  need_cluster
  if command -v mvn >/dev/null 2>&1; then
    log "building $IMAGE with Jib into the Docker daemon (make image)"
    make --no-print-directory image IMAGE="$IMAGE"
  else
    log "Maven not found: building $IMAGE from the Dockerfile"
    docker build -t "$IMAGE" .
  fi
  log "loading $IMAGE into kind cluster '$CLUSTER'"
  "$KIND" load docker-image "$IMAGE" --name "$CLUSTER"
}

deploy() {
  need_cluster
  if [ "$IMAGE" = "$DEFAULT_IMAGE" ]; then
    kc apply -k k8s/
  else
    # Another image than the manifests name: apply through a throw-away overlay that sets it.
    local overlay
    overlay=$(mktemp -d)
    # shellcheck disable=SC2064 # expand now: the path is fixed
    trap "rm -rf '$overlay'" EXIT
    cp -R k8s "$overlay/base"
    cat >"$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - base
images:
  - name: $DEFAULT_IMAGE
    newName: ${IMAGE%:*}
    newTag: ${IMAGE##*:}
YAML
    kc apply -k "$overlay"
  fi
}

lease_holder() {
  kc get lease "$LEASE" -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null || true
}

status() {
  need_cluster
  kc get pods -l "$SELECTOR" -o wide
  echo
  kc get lease "$LEASE" -o custom-columns='LEASE:.metadata.name,HOLDER:.spec.holderIdentity,TRANSITIONS:.spec.leaseTransitions,DURATION:.spec.leaseDurationSeconds,RENEWED:.spec.renewTime' ||
    log "no Lease '$LEASE' yet (deployed? the first replica creates it)"
}

logs() {
  need_cluster
  kc logs -l "$SELECTOR" --prefix --tail=50 --max-log-requests=10 --follow
}

# Deletes the leader pod and waits for another pod to hold the Lease; prints the elapsed time.
failover() {
  need_cluster
  local old new start elapsed
  old=$(lease_holder)
  [ -n "$old" ] || die "nobody holds Lease '$LEASE' (deployed? see 'make status')"
  kc get pod "$old" >/dev/null 2>&1 || die "Lease holder '$old' is not a pod here"
  log "leader is $old: deleting that pod (graceful: it releases the Lease on SIGTERM)"
  start=$(now)
  kc delete pod "$old" --wait=false >/dev/null
  while :; do
    new=$(lease_holder)
    elapsed=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    if [ -n "$new" ] && [ "$new" != "$old" ]; then
      break
    fi
    if awk -v e="$elapsed" -v t="$FAILOVER_TIMEOUT" 'BEGIN { exit !(e > t) }'; then
      die "no new leader within ${FAILOVER_TIMEOUT}s after deleting $old (holder now: '${new:-none}')"
    fi
    sleep 0.2
  done
  echo "failover: $old -> $new in ${elapsed}s"
  FAILOVER_NEW_LEADER="$new"
}

# Waits up to $1 seconds for `pod` to have logged the fixed string $2.
await_log() {
  local pod="$1" text="$2" timeout="$3" waited=0
  until kc logs "$pod" 2>/dev/null | grep -qF -- "$text"; do
    if [ "$waited" -ge "$timeout" ]; then
      kc logs "$pod" --tail=30 >&2 || true
      die "pod $pod did not log '$text' within ${timeout}s (its last lines are above)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "ok: $pod logged '$text'"
}

e2e() {
  local started ready pods holder pod ns new waited=0
  started=$(now)
  up
  load
  deploy
  log "waiting for 3/3 replicas to be Ready"
  kc rollout status "deployment/$DEPLOYMENT" --timeout=300s ||
    die "Deployment $DEPLOYMENT did not become Ready (see 'make status' and 'make logs')"
  ready=$(kc get deployment "$DEPLOYMENT" -o 'jsonpath={.status.readyReplicas}')
  [ "${ready:-0}" = 3 ] || die "expected 3 Ready replicas, found ${ready:-0}"
  log "ok: 3/3 replicas Ready"

  # Pods of the current revision that are not being deleted.
  pods=$(kc get pods -l "$SELECTOR" -o 'go-template={{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}}{{"\n"}}{{end}}{{end}}')
  until holder=$(lease_holder) && [ -n "$holder" ] && grep -qx -- "$holder" <<<"$pods"; do
    [ "$waited" -lt 60 ] || die "Lease '$LEASE' is not held by one of the pods (holder: '${holder:-none}'; pods: $(echo "$pods" | tr '\n' ' '))"
    sleep 1
    waited=$((waited + 1))
  done
  log "ok: Lease '$LEASE' held by pod $holder"

  ns=$(kc get pod "$holder" -o 'jsonpath={.metadata.namespace}')
  await_log "$holder" "attempting to acquire leader lease $ns/$LEASE" 30
  await_log "$holder" "successfully acquired lease $ns/$LEASE" 30
  await_log "$holder" "doing stuff..." 30
  while read -r pod; do
    if [ -z "$pod" ] || [ "$pod" = "$holder" ]; then
      continue
    fi
    await_log "$pod" "attempting to acquire leader lease $ns/$LEASE" 30
    await_log "$pod" "new leader is $holder" 30
  done <<<"$pods"

  failover
  new="$FAILOVER_NEW_LEADER"
  await_log "$new" "successfully acquired lease $ns/$LEASE" 30
  await_log "$new" "doing stuff..." 30
  log "waiting for the Deployment to replace the deleted pod"
  kc rollout status "deployment/$DEPLOYMENT" --timeout=300s ||
    die "Deployment $DEPLOYMENT did not get back to 3 Ready replicas after the failover"
  echo
  status
  echo
  echo "e2e: PASSED in $(awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')s (cluster '$CLUSTER' left running: make kind-down removes it)"
  if [ "${E2E_CLEANUP:-0}" = 1 ]; then
    down
  fi
}

undeploy() {
  need_cluster
  kc delete -f k8s/optional/ --ignore-not-found
  kc delete -k k8s/ --ignore-not-found
  # Created by the replicas, not by the manifests. With the replicas gone, nobody is left to
  # remove the holder's finalizer (see election/LeaseWrites.java): drop it, then delete.
  kc patch lease "$LEASE" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
  kc delete lease "$LEASE" --ignore-not-found --wait=false
}

down() {
  need_docker
  need_kind
  if cluster_exists; then
    "$KIND" delete cluster --name "$CLUSTER"
  else
    log "kind cluster '$CLUSTER' does not exist"
  fi
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

case "${1:-}" in
  up | load | deploy | status | logs | failover | e2e | undeploy | down) "$1" ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
