#!/usr/bin/env bash
# A local single-node Kubernetes cluster, offline, in namespaces of its own (`make cluster-up`).
#
#   scripts/node.sh check      can a node run here? (root, namespaces, overlayfs, bridge, cgroups,
#                              netfilter, Go or built binaries); one line and exit 1 when not
#   scripts/node.sh build      build the binaries (cached) without starting anything
#   scripts/node.sh packages [name...]  install the node's Debian packages that are missing
#                              (default all; apt-get), without starting anything
#   scripts/node.sh up         start the node, import the images, write the kubeconfig
#   scripts/node.sh down       stop it, remove its state, check the host is as before
#   scripts/node.sh status     is it running? (exit 1 when not)
#   scripts/node.sh kubeconfig print the kubeconfig's path
#   scripts/node.sh paths      print the state directory and the cgroup name (for scripts/e2e.sh)
#   scripts/node.sh load       (re)import target/leaderelection-image.tar into the node
#
# What runs: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kube-proxy at the version controlplane/go.mod pins, built from Go modules (node/go.mod adds the
# node's binaries to the same pins); containerd, runc, the CNI plugins and iptables from Debian
# packages (installed with apt-get when missing); a pause image built here (node/pause).
#
# Where: one process tree in its own PID, mount and network namespaces (unshare), like a kind
# node inside its container. The node's network is a bridge with a private pod range
# ($POD_CIDR, the API server advertises the bridge address), the service range is routed to that
# bridge, nothing is forwarded or masqueraded out of the namespace. Host loopback reaches the API
# server through node/nsforward (127.0.0.1:<port> -> the namespace), which is how the kubeconfig
# and kubectl on the host talk to it. The sysctls the kubelet insists on are read-only files
# bind-mounted over /proc/sys inside the node's mount namespace; every kubelet, containerd, CNI
# and log directory is under the state directory; the pods' cgroups under /$CGROUP_ROOT in each
# hierarchy (cgroupfs driver, the host's v1/v2 hybrid as it is). `down` kills the namespace (every
# process of the node dies with it), removes the cgroups and the state, and compares the host's
# interfaces, routes, iptables, mounts and sysctls with the snapshot taken by `up`.
#
# Environment: NODE_STATE_DIR (default /var/tmp/leaderelection-node-<hash of the checkout's path>), NODE_BIN_DIR (default
# ~/.cache/leaderelection/node/<version>), KUBEAPITEST_DIR (etcd, kube-apiserver, kubectl; see
# scripts/provision-control-plane.sh), NODE_API_PORT (host loopback port, default: a free one).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
self="$root/scripts/node.sh"

NODE_NAME=leaderelection-node
POD_CIDR=10.245.0.0/24
NODE_IP=10.245.0.1
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
BRIDGE=le-br0
PAUSE_IMAGE=localhost/leaderelection/pause:1.0
# One node per checkout: its state directory and cgroups are named after the checkout's path, so
# two checkouts (a CI clone and a working copy) can each run a node at the same time.
instance=$(printf '%s' "$root" | sha256sum | cut -c1-8)
STATE="${NODE_STATE_DIR:-/var/tmp/leaderelection-node-$instance}"
CGROUP_ROOT="leaderelection-node-$(printf '%s' "$STATE" | sha256sum | cut -c1-8)"
DEBIAN_PACKAGES=(containerd runc containernetworking-plugins iptables conntrack)
CNI_BIN=/usr/lib/cni

log() { printf '[node] %s\n' "$*" >&2; }
die() {
  printf '[node] ERROR: %s\n' "$*" >&2
  exit 1
}

pinned() { awk -v m="$2" '$1 == m && $2 ~ /^v[0-9]/ { sub(/^v/, "", $2); print $2; exit }' "$1"; }
version=$(pinned "$root/controlplane/go.mod" k8s.io/kubernetes)
BIN="${NODE_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/leaderelection/node/$version}"
CP_BIN="${KUBEAPITEST_DIR:-$HOME/.kubeapitest}/k8s/$version-linux-amd64"

# ---- capability check -------------------------------------------------------------------------

# Prints what is missing (one line) and returns 1, or returns 0.
check() {
  local missing=()
  [ "$(uname -s)" = Linux ] || missing+=("Linux")
  [ "$(uname -m)" = x86_64 ] || missing+=("x86_64 (this is $(uname -m))")
  [ "$(id -u)" -eq 0 ] || missing+=("root (the node needs namespaces, mounts and cgroups)")
  if [ ${#missing[@]} -eq 0 ]; then
    command -v unshare >/dev/null && command -v nsenter >/dev/null && command -v ip >/dev/null ||
      missing+=("unshare/nsenter/ip (util-linux, iproute2)")
    unshare --pid --fork --mount --net --propagation private true 2>/dev/null ||
      missing+=("PID/mount/network namespaces (unshare failed)")
    grep -qw overlay /proc/filesystems || missing+=("overlayfs")
    unshare --net sh -c "ip link add b0 type bridge && ip link add v0 type veth peer name v1" 2>/dev/null ||
      missing+=("bridge/veth interfaces")
    local c
    for c in memory cpu cpuacct cpuset pids freezer devices; do
      [ -d "/sys/fs/cgroup/$c" ] || { missing+=("cgroup v1 controller $c (cgroupfs driver)"); break; }
    done
    if command -v iptables >/dev/null; then
      unshare --net iptables -t nat -S >/dev/null 2>&1 || missing+=("netfilter NAT (iptables -t nat fails)")
    elif ! command -v apt-get >/dev/null; then
      missing+=("iptables (and apt-get to install it)")
    fi
    if ! command -v containerd >/dev/null || ! command -v runc >/dev/null || [ ! -x "$CNI_BIN/bridge" ]; then
      command -v apt-get >/dev/null || missing+=("containerd, runc and CNI plugins (or apt-get to install them)")
    fi
    if ! binaries_present; then
      command -v go >/dev/null || missing+=("Go (to build the Kubernetes binaries)")
    fi
    command -v openssl >/dev/null || missing+=("openssl")
    command -v python3 >/dev/null || missing+=("python3")
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    local IFS=';'
    echo "missing: ${missing[*]}"
    return 1
  fi
}

# ---- binaries ---------------------------------------------------------------------------------

NODE_TOOLS=(kubelet kube-proxy kube-controller-manager kube-scheduler pause nsforward)
# What the binaries are built from: a change to any of it rebuilds them.
build_inputs() {
  (cd "$root/node" && cat go.mod go.sum ./*/*.go && sed -n '/^build() {/,/^}/p' "$self") | sha256sum | cut -d' ' -f1
}
binaries_present() {
  local b
  [ "$(cat "$BIN/.inputs" 2>/dev/null)" = "$(build_inputs)" ] || return 1
  for b in "${NODE_TOOLS[@]}"; do [ -x "$BIN/$b" ] || return 1; done
  for b in etcd kube-apiserver kubectl; do [ -x "$CP_BIN/$b" ] || return 1; done
}

# Installs the Debian packages named (default: all of DEBIAN_PACKAGES) that are missing.
install_packages() {
  local need=() p
  for p in "${@:-${DEBIAN_PACKAGES[@]}}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null || need+=("$p")
  done
  [ ${#need[@]} -eq 0 ] && return
  command -v apt-get >/dev/null || die "missing Debian packages: ${need[*]} (and no apt-get to install them)"
  log "installing Debian packages: ${need[*]} (apt-get; none of them starts a service here)"
  # No service may start on the host: policy-rc.d refuses, and without systemd nothing starts anyway.
  local policy=/usr/sbin/policy-rc.d created=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created=1
  fi
  {
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  } >"$STATE.apt.log" 2>&1 || {
    [ -z "$created" ] || rm -f "$policy"
    tail -20 "$STATE.apt.log" >&2
    die "apt-get install ${need[*]} failed (log above, and $STATE.apt.log)"
  }
  [ -z "$created" ] || rm -f "$policy"
  rm -f "$STATE.apt.log"
}

build() {
  local node_version
  node_version=$(pinned "$root/node/go.mod" k8s.io/kubernetes)
  [ "$node_version" = "$version" ] ||
    die "node/go.mod pins k8s.io/kubernetes v$node_version but controlplane/go.mod pins v$version: make them the same (copy controlplane/go.mod's requires into node/go.mod, then go mod tidy)"
  "$root/scripts/provision-control-plane.sh" >&2
  if binaries_present; then
    log "binaries: kubelet, kube-proxy, kube-controller-manager, kube-scheduler $version ready in $BIN"
    return
  fi
  command -v go >/dev/null || die "Go is not installed: it builds the node's Kubernetes binaries (install Go 1.26+)"
  log "building kubelet, kube-proxy, kube-controller-manager, kube-scheduler $version, pause and nsforward from Go modules into $BIN"
  log "(first run only: several minutes on 2 cores)"
  local staging="$BIN.partial.$$" start=$SECONDS
  rm -rf "$staging"
  mkdir -p "$staging"
  (
    cd "$root/node"
    export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod -trimpath -buildvcs=false"
    # The version the binaries report (kubectl get nodes), as Kubernetes' own build stamps it.
    local v=k8s.io/component-base/version
    nice -n 10 go build -ldflags "-s -w -X $v.gitVersion=v$version -X $v.gitMajor=${version%%.*} -X $v.gitMinor=$(cut -d. -f2 <<<"$version") -X $v.gitTreeState=clean" -o "$staging/" \
      k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy \
      k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
      ./pause ./nsforward
  ) || {
    rm -rf "$staging"
    die "go build of the node's binaries failed (output above)"
  }
  build_inputs >"$staging/.inputs"
  rm -rf "$BIN"
  mv "$staging" "$BIN"
  log "binaries ready in $BIN ($((SECONDS - start)) s)"
}

# ---- state ------------------------------------------------------------------------------------

init_pid() { cat "$STATE/init.pid" 2>/dev/null; }
running() {
  local pid
  pid=$(init_pid) || return 1
  [ -n "$pid" ] && [ -e "/proc/$pid/ns/net" ] && grep -qx 1 <(awk '/^NSpid/ { print $NF }' "/proc/$pid/status" 2>/dev/null)
}

# Runs a command in the node's namespaces (network, mount, PID).
in_node() {
  local pid
  pid=$(init_pid)
  nsenter --target "$pid" --net --mount --pid -- "$@"
}

# What `down` compares: the host's interfaces, addresses, routes, firewall, mounts and sysctls.
SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys
  kernel/keys/root_maxbytes net/ipv4/ip_forward net/ipv4/conf/all/forwarding net/ipv4/conf/all/route_localnet
  net/netfilter/nf_conntrack_max net/bridge/bridge-nf-call-iptables)
host_snapshot() {
  local s
  echo "## links"
  ip -o link show | sed -E 's/^[0-9]+: //; s/ qlen [0-9]+//; s/ state [A-Z]+//' | awk '{ print $1, $2 }' | sort
  echo "## addresses"
  ip -o addr show | awk '{ print $2, $3, $4 }' | sort
  echo "## routes"
  ip route show table all | sort
  ip -6 route show table all 2>/dev/null | { grep -v '^local\|^multicast\|^anycast' || true; } | sort
  echo "## iptables"
  for s in iptables-save ip6tables-save; do
    if command -v "$s" >/dev/null; then "$s" 2>/dev/null | { grep -v '^#' || true; } | sed -E 's/\[[0-9]+:[0-9]+\]/[-]/'; fi
  done
  echo "## sysctls"
  for s in "${SYSCTLS[@]}"; do
    [ -e "/proc/sys/$s" ] && echo "$s=$(cat "/proc/sys/$s")"
  done
  echo "## paths"
  for s in /var/lib/kubelet /var/lib/cni /var/lib/containerd /run/containerd /etc/cni /opt/cni \
    /var/log/pods /var/log/containers /run/netns /etc/kubernetes; do
    [ ! -e "$s" ] || echo "$s"
  done
  echo "## mounts"
  awk '{ print $5, $(NF-2) }' /proc/self/mountinfo | sort -u
  echo "## cgroups"
  for s in /sys/fs/cgroup/*/; do
    [ -e "$s$CGROUP_ROOT" ] && echo "${s}$CGROUP_ROOT"
  done
  true
}

# ---- up ---------------------------------------------------------------------------------------

certs() {
  local pki="$STATE/pki"
  mkdir -p "$pki"
  cd "$pki"
  key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
  key ca
  openssl req -x509 -new -key ca.key -subj "/CN=leaderelection-node-ca" -days 30 -out ca.crt 2>/dev/null
  # name, subject, extensions
  sign() {
    key "$1"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
  }
  local client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  sign apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:$API_SERVICE_IP"
  sign kubelet-serving "/CN=$NODE_NAME" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$NODE_NAME,IP:$NODE_IP"
  sign admin "/O=system:masters/CN=kubernetes-admin" "$client"
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
  sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$client"
  sign controller-manager "/CN=system:kube-controller-manager" "$client"
  sign scheduler "/CN=system:kube-scheduler" "$client"
  sign kube-proxy "/CN=system:kube-proxy" "$client"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out sa.key 2>/dev/null
  openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
  rm -f ca.srl
  cd - >/dev/null
}

# kubeconfig <file> <server> <client cert name>
kubeconfig() {
  local pki="$STATE/pki"
  cat >"$1" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: $NODE_NAME
    cluster:
      server: $2
      certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
  - name: $3
    user:
      client-certificate-data: $(base64 -w0 "$pki/$3.crt")
      client-key-data: $(base64 -w0 "$pki/$3.key")
contexts:
  - name: $NODE_NAME
    context:
      cluster: $NODE_NAME
      user: $3
      namespace: default
current-context: $NODE_NAME
YAML
}

configs() {
  local c="$STATE/config" inner="https://$NODE_IP:6443"
  mkdir -p "$c" "$STATE/cni/net.d" "$STATE/cni/data" "$STATE/cni/cache"
  kubeconfig "$c/controller-manager.kubeconfig" "$inner" controller-manager
  kubeconfig "$c/scheduler.kubeconfig" "$inner" scheduler
  kubeconfig "$c/kubelet.kubeconfig" "$inner" kubelet
  kubeconfig "$c/kube-proxy.kubeconfig" "$inner" kube-proxy
  : >"$c/resolv.conf"
  # A sandbox per pod: the bridge gives each a veth and an address from host-local; no masquerade.
  cat >"$STATE/cni/net.d/10-leaderelection.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "leaderelection-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/data",
        "ranges": [[{ "subnet": "$POD_CIDR", "rangeStart": "${POD_CIDR%.*}.10", "gateway": "$NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
  cat >"$c/containerd.toml" <<TOML
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$STATE/containerd/containerd.sock"
[ttrpc]
  address = "$STATE/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # root here lacks CAP_SYS_RESOURCE: never ask runc for an oom_score_adj below containerd's own.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$STATE/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$STATE/cni/net.d"
TOML
  cat >"$c/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The host's cgroups are a v1/v2 hybrid and stay so.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
tlsCertFile: $STATE/pki/kubelet-serving.crt
tlsPrivateKeyFile: $STATE/pki/kubelet-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $STATE/pki/ca.crt }
authorization:
  mode: Webhook
podLogsDir: $STATE/pod-logs
resolvConf: $c/resolv.conf
failSwapOn: false
oomScoreAdj: 0
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
containerRuntimeEndpoint: unix://$STATE/containerd/containerd.sock
YAML
  cat >"$c/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: $c/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# conntrack's limits and timeouts are global to the machine: leave them alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
YAML
}

# The pause image as a `docker save` tarball (one layer: the static /pause binary).
pause_image() {
  python3 - "$BIN/pause" "$STATE/images/pause.tar" "$PAUSE_IMAGE" <<'EOF'
import hashlib, io, json, sys, tarfile
binary, out, name = sys.argv[1:4]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
    data = open(binary, "rb").read()
    info = tarfile.TarInfo("pause")
    info.size, info.mode, info.mtime = len(data), 0o755, 0
    t.addfile(info, io.BytesIO(data))
layer = layer.getvalue()
diff = "sha256:" + hashlib.sha256(layer).hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
                     "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
cfg_name = hashlib.sha256(config).hexdigest() + ".json"
manifest = json.dumps([{"Config": cfg_name, "RepoTags": [name], "Layers": ["layer.tar"]}]).encode()
with tarfile.open(out, "w") as t:
    for n, d in ((cfg_name, config), ("layer.tar", layer), ("manifest.json", manifest)):
        info = tarfile.TarInfo(n)
        info.size, info.mtime = len(d), 0
        t.addfile(info, io.BytesIO(d))
EOF
}

# Waits up to $2 seconds for the command $3... to succeed; $1 names what is awaited.
await() {
  local what="$1" timeout="$2" start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
      return 1
    fi
    sleep 0.3
  done
  log "$what ready after $((SECONDS - start)) s"
}

# Runs "$@" unless the node has failed (then: its one-line reason, and exit).
node_ready() {
  if [ -e "$STATE/failed" ]; then
    die "$(cat "$STATE/failed")"
  fi
  "$@"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

up() {
  if running; then
    log "the node is already running (kubeconfig: $STATE/kubeconfig)"
    return
  fi
  local why
  why=$(check) || die "cannot run a local node here: $why"
  if [ -e "$STATE" ]; then
    log "removing the leftovers of a previous node in $STATE"
    down_quiet
  fi
  mkdir -p "$STATE"
  install_packages
  build
  local started=$SECONDS
  mkdir -p "$STATE/logs" "$STATE/images" "$STATE/pod-logs"
  host_snapshot >"$STATE/host-before.txt"
  certs
  configs
  pause_image
  if [ ! -f "$root/target/leaderelection-image.tar" ]; then
    log "target/leaderelection-image.tar is missing: building it (scripts/build-image-tar.sh)"
    "$root/scripts/build-image-tar.sh" >&2
  fi
  # A copy: the node imports what was there when it started, whatever rebuilds target/ meanwhile.
  cp "$root/target/leaderelection-image.tar" "$STATE/images/leaderelection-image.tar"
  log "starting the node in new PID, mount and network namespaces (state: $STATE)"
  setsid unshare --pid --fork --mount-proc --net --propagation private -- \
    "$self" _inside "$STATE" "$BIN" "$CP_BIN" >"$STATE/logs/node.log" 2>&1 </dev/null &
  echo $! >"$STATE/unshare.pid"
  local pid="" i unshare_pid
  unshare_pid=$(cat "$STATE/unshare.pid")
  for ((i = 0; i < 50; i++)); do
    pid=$(awk '{ print $1 }' "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null) || true
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || die "the node's namespaces did not start (see $STATE/logs/node.log)"
  echo "$pid" >"$STATE/init.pid"
  if ! await "node: control plane, containerd, kubelet" 180 test -e "$STATE/ready"; then
    [ -e "$STATE/failed" ] && log "$(cat "$STATE/failed")"
    tail -5 "$STATE/logs/node.log" >&2
    die "the node did not start within 180 s (logs in $STATE/logs/)"
  fi
  [ ! -e "$STATE/failed" ] || die "$(cat "$STATE/failed") (logs in $STATE/logs/)"
  local port="${NODE_API_PORT:-$(free_port)}"
  setsid "$BIN/nsforward" -netns "/proc/$pid/ns/net" -listen "127.0.0.1:$port" -target "$NODE_IP:6443" \
    >"$STATE/logs/nsforward.log" 2>&1 </dev/null &
  echo $! >"$STATE/nsforward.pid"
  kubeconfig "$STATE/kubeconfig" "https://127.0.0.1:$port" admin
  export KUBECONFIG="$STATE/kubeconfig" KUBECACHEDIR="$STATE/kubectl-cache"
  local kubectl="$CP_BIN/kubectl"
  await "API server via 127.0.0.1:$port" 30 "$kubectl" get --raw /readyz ||
    die "the API server is not reachable on 127.0.0.1:$port (see $STATE/logs/nsforward.log)"
  await "node $NODE_NAME Ready" 120 node_ready "$kubectl" wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s ||
    die "node $NODE_NAME is not Ready (see $STATE/logs/kubelet.log)"
  await "ServiceAccount default/default" 60 "$kubectl" get serviceaccount default ||
    die "the default ServiceAccount was not created (see $STATE/logs/kube-controller-manager.log)"
  log "up in $((SECONDS - started)) s: Kubernetes $version, node $NODE_NAME, pods in $POD_CIDR, services in $SERVICE_CIDR"
  cat <<MSG
local node ready. Use it with:
  export KUBECONFIG=$STATE/kubeconfig
  $kubectl get nodes
  make deploy status logs failover undeploy     (or: make e2e)
  make cluster-down                             (stops it and removes everything)
MSG
}

load() {
  running || die "the local node is not running: make cluster-up"
  [ -f "$root/target/leaderelection-image.tar" ] || "$root/scripts/build-image-tar.sh" >&2
  cp "$root/target/leaderelection-image.tar" "$STATE/images/leaderelection-image.tar"
  in_node ctr --address "$STATE/containerd/containerd.sock" -n k8s.io images import \
    "$STATE/images/leaderelection-image.tar" >&2
}

# ---- inside the namespaces (PID 1 of the node) ------------------------------------------------

inside() {
  STATE="$1" BIN="$2" CP_BIN="$3"
  local L="$STATE/logs" pids=() c="$STATE/config" pki="$STATE/pki"
  fail() {
    echo "$*" >"$STATE/failed"
    echo "node: $*"
    exit 1
  }
  stop() {
    echo "node: stopping"
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 1
    exit 0 # PID 1 leaves: the kernel kills what is left in the namespace
  }
  trap stop TERM INT
  # Nothing of the node may land in host paths: a private /run, /var/log and /tmp for the tools.
  mkdir -p "$STATE/fs/run" "$STATE/fs/var-log" "$STATE/fs/tmp" "$STATE/fs/sysctl" \
    "$STATE/fs/var-lib/upper" "$STATE/fs/var-lib/work" "$STATE/fs/node-bin" "$STATE/fs/cp-bin"
  # The binaries may live under /tmp or /run (KUBEAPITEST_DIR, XDG_CACHE_HOME), which are
  # replaced next: keep them reachable through bind mounts of this namespace's own.
  mount --bind "$BIN" "$STATE/fs/node-bin"
  mount --bind "$CP_BIN" "$STATE/fs/cp-bin"
  BIN="$STATE/fs/node-bin" CP_BIN="$STATE/fs/cp-bin"
  mount --bind "$STATE/fs/run" /run
  mount --bind "$STATE/fs/var-log" /var/log
  mount --bind "$STATE/fs/tmp" /tmp
  # Some paths are fixed in the kubelet and libcni (/var/lib/kubelet/device-plugins,
  # /var/lib/cni/results): the node sees the host's /var/lib through an overlay whose writes land
  # in the state directory.
  mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$STATE/fs/var-lib/upper,workdir=$STATE/fs/var-lib/work" /var/lib
  export KUBECACHEDIR="$STATE/kubectl-cache"
  # The kubelet insists on these values; set here, read-only, for the node only.
  local kv
  for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
    kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
    local f="$STATE/fs/sysctl/${kv%%=*}"
    mkdir -p "$(dirname "$f")"
    echo "${kv#*=}" >"$f"
    mount --bind "$f" "/proc/sys/${kv%%=*}"
    mount -o remount,bind,ro "/proc/sys/${kv%%=*}"
  done
  # The network: loopback, the bridge with the node's address, the service range routed to it.
  ip link set lo up
  ip link add "$BRIDGE" type bridge
  ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  ip route add "$SERVICE_CIDR" dev "$BRIDGE"
  export PATH="$BIN:$CP_BIN:$PATH"

  etcd --name node --data-dir "$STATE/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster node=http://127.0.0.1:2380 \
    --unsafe-no-fsync --quota-backend-bytes 2147483648 >"$L/etcd.log" 2>&1 &
  pids+=($!)
  kube-apiserver --etcd-servers http://127.0.0.1:2379 --advertise-address "$NODE_IP" \
    --bind-address 0.0.0.0 --secure-port 6443 --service-cluster-ip-range "$SERVICE_CIDR" \
    --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --kubelet-preferred-address-types InternalIP --allow-privileged=true --profiling=false \
    >"$L/kube-apiserver.log" 2>&1 &
  pids+=($!)
  local i
  for ((i = 0; i < 600; i++)); do
    if kubectl --kubeconfig "$c/controller-manager.kubeconfig" get --raw /readyz >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  [ "$i" -lt 600 ] || fail "kube-apiserver did not become ready (see $L/kube-apiserver.log)"
  echo "node: kube-apiserver ready"
  kube-controller-manager --kubeconfig "$c/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$c/controller-manager.kubeconfig" --authorization-kubeconfig "$c/controller-manager.kubeconfig" \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --use-service-account-credentials --leader-elect=false --bind-address 127.0.0.1 \
    --controllers '*,-cloud-node-lifecycle-controller,-service-lb-controller,-node-route-controller' \
    --profiling=false >"$L/kube-controller-manager.log" 2>&1 &
  pids+=($!)
  kube-scheduler --kubeconfig "$c/scheduler.kubeconfig" --authentication-kubeconfig "$c/scheduler.kubeconfig" \
    --authorization-kubeconfig "$c/scheduler.kubeconfig" --leader-elect=false --bind-address 127.0.0.1 \
    --profiling=false >"$L/kube-scheduler.log" 2>&1 &
  pids+=($!)
  containerd --config "$c/containerd.toml" >"$L/containerd.log" 2>&1 &
  pids+=($!)
  for ((i = 0; i < 300; i++)); do
    if ctr --address "$STATE/containerd/containerd.sock" version >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  [ "$i" -lt 300 ] || fail "containerd did not start (see $L/containerd.log)"
  echo "node: containerd ready"
  local image
  for image in "$STATE/images/pause.tar" "$STATE/images/leaderelection-image.tar"; do
    ctr --address "$STATE/containerd/containerd.sock" -n k8s.io images import "$image" >>"$L/images.log" 2>&1 ||
      fail "importing $image into containerd failed (see $L/images.log)"
  done
  echo "node: images imported"
  # The pods' cgroups live under /$CGROUP_ROOT in each v1 hierarchy (removed again by `down`).
  local h
  for h in /sys/fs/cgroup/*/; do
    [ "$h" != /sys/fs/cgroup/unified/ ] || continue
    mkdir -p "$h$CGROUP_ROOT"
    if [ -e "${h}cpuset.cpus" ]; then
      cat "${h}cpuset.cpus" >"$h$CGROUP_ROOT/cpuset.cpus"
      cat "${h}cpuset.mems" >"$h$CGROUP_ROOT/cpuset.mems"
    fi
  done
  kubelet --config "$c/kubelet.yaml" --kubeconfig "$c/kubelet.kubeconfig" --root-dir "$STATE/kubelet" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" >"$L/kubelet.log" 2>&1 &
  pids+=($!)
  kube-proxy --config "$c/kube-proxy.yaml" >"$L/kube-proxy.log" 2>&1 &
  pids+=($!)
  touch "$STATE/ready"
  echo "node: started"
  while :; do
    # A component that dies is a failed node, not one that silently lacks a part.
    local p
    for p in "${pids[@]}"; do
      if ! kill -0 "$p" 2>/dev/null; then
        fail "a node component (pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-40)) exited; see $L/"
      fi
    done
    sleep 1 &
    wait $! || true
  done
}

# ---- down -------------------------------------------------------------------------------------

remove_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h$CGROUP_ROOT" ] || continue
    # Deepest first; a cgroup dir goes with rmdir once it has no processes and no children.
    find "$h$CGROUP_ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

stop_node() {
  local pid unshare_pid fwd i
  fwd=$(cat "$STATE/nsforward.pid" 2>/dev/null) || true
  [ -z "$fwd" ] || kill "$fwd" 2>/dev/null || true
  pid=$(init_pid) || true
  unshare_pid=$(cat "$STATE/unshare.pid" 2>/dev/null) || true
  if [ -n "$pid" ] && running; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      [ -e "/proc/$pid" ] || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  [ -z "$unshare_pid" ] || kill "$unshare_pid" 2>/dev/null || true
  # Everything of the node lived in its PID namespace: it died with PID 1. Wait for the cgroups
  # to empty, then remove them.
  for ((i = 0; i < 50; i++)); do
    remove_cgroups
    [ -z "$(ls -d /sys/fs/cgroup/*/"$CGROUP_ROOT" 2>/dev/null)" ] && break
    sleep 0.2
  done
}

down_quiet() {
  stop_node
  rm -rf "$STATE"
}

down() {
  if [ ! -e "$STATE" ]; then
    log "no local node (nothing in $STATE)"
    return
  fi
  local before="" started=$SECONDS node_pids=() p
  [ -f "$STATE/host-before.txt" ] && before=$(cat "$STATE/host-before.txt")
  for p in init unshare nsforward; do
    [ -f "$STATE/$p.pid" ] && node_pids+=("$(cat "$STATE/$p.pid")")
  done
  stop_node
  local after problems=()
  after=$(host_snapshot)
  local leftover
  local i
  for ((i = 0; i < 25; i++)); do
    leftover=$(pgrep -f -- "$STATE/" || true)
    for p in "${node_pids[@]}"; do
      [ ! -e "/proc/$p" ] || leftover+=" $p"
    done
    [ -n "${leftover// /}" ] || break
    sleep 0.2
  done
  [ -z "${leftover// /}" ] || leftover+=" ($(ps -o pid=,args= -p "$(tr ' ' ',' <<<"${leftover# }")" | cut -c1-80 | tr '\n' ';'))"
  [ -z "${leftover// /}" ] || problems+=("processes still running:${leftover}")
  grep -q -- "$STATE" /proc/self/mountinfo && problems+=("mounts under $STATE are left on the host")
  ls -d /sys/fs/cgroup/*/"$CGROUP_ROOT" >/dev/null 2>&1 && problems+=("cgroups /sys/fs/cgroup/*/$CGROUP_ROOT are left")
  rm -rf "$STATE"
  if [ -n "$before" ]; then
    local section diff
    for section in links addresses routes iptables sysctls paths mounts; do
      diff=$(diff <(sed -n "/^## $section\$/,/^## /p" <<<"$before" | grep -v '^## ') \
        <(sed -n "/^## $section\$/,/^## /p" <<<"$after" | grep -v '^## ') || true)
      if [ -n "$diff" ]; then
        problems+=("host $section differ from before the node: $(grep '^[<>]' <<<"$diff" | sed -n 1,5p | tr '\n' ';')")
      fi
    done
  else
    problems+=("no snapshot of the host from 'up' to compare with")
  fi
  if [ ${#problems[@]} -gt 0 ]; then
    local p
    for p in "${problems[@]}"; do log "LEFT BEHIND: $p"; done
    die "cluster-down: the host is not as before the node (see above)"
  fi
  log "down in $((SECONDS - started)) s: no process, mount, cgroup, interface, route, iptables rule or sysctl of the node is left on the host"
}

status() {
  if running; then
    echo "local node running: init pid $(init_pid), KUBECONFIG=$STATE/kubeconfig"
  else
    echo "local node not running"
    return 1
  fi
}

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

case "${1:-}" in
  check)
    if ! why=$(check); then
      echo "$why"
      exit 1
    fi
    echo "local node: can run here"
    ;;
  build) build ;;
  packages)
    # Also for scripts/test.sh: PartitionIT needs iptables before the node is up.
    shift
    install_packages "$@"
    ;;
  up) up ;;
  down) down ;;
  status) status ;;
  kubeconfig) echo "$STATE/kubeconfig" ;;
  paths) echo "$STATE $CGROUP_ROOT" ;;
  load) load ;;
  _inside)
    shift
    inside "$@"
    ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
