#!/usr/bin/env bash
# `make e2e` on the local node (scripts/node.sh): the article's walkthrough on a real Kubernetes
# node, printed as it goes (each command and its real output) and checked:
#
#   kubectl apply -k k8s/ -> 3 pods Ready -> kubectl describe lease my-lease -> leader and
#   follower logs -> delete the leader pod (3 rounds, new holder timed with a watch on the Lease)
#   -> kubectl rollout restart (one leader at a time, leaderless gaps measured) -> SIGKILL of the
#   leader's JVM (the kubelet restarts it in the same pod; it re-takes its own Lease at once)
#   -> the leader pod frozen past the lease duration (cgroup freezer: a paused node); a follower
#   takes over, the frozen one does no work after it thaws -> the leader pod cut off the API
#   server (iptables DROP rules inside the pod's own network namespace): it stops working within
#   the renew deadline, a follower leads a lease duration after its last renewal, and once the
#   rules go it follows within 30 s -> a drain that the PDB limits
#   -> the ServiceAccount's real token has exactly the Role's verbs (kubectl auth can-i --list)
#   -> uid, capabilities, read-only root, no-new-privs, seccomp and the memory limit as the
#   kernel sees them -> no probe failure after start-up. Across all of it: no two pods log
#   'doing stuff...' in overlapping leadership terms, read from every container's log.
#
# Writes target/e2e/results.json (and the pods' logs, the Lease watch and the walkthrough in
# target/e2e/). Starts the node when it is not running and stops it at the end (E2E_KEEP=1
# leaves it running); exits non-zero with one line per failed check.
#
# Environment: E2E_HANDOVER_MAX (seconds a delete-pod handover may take, default 1.5),
# E2E_GAP_MAX (longest leaderless gap in the rollout restart, default 2), E2E_KEEP=1.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
node="$root/scripts/node.sh"
OUT="$root/target/e2e"
HANDOVER_MAX="${E2E_HANDOVER_MAX:-1.5}"
GAP_MAX="${E2E_GAP_MAX:-2}"
LEASE=my-lease
DEPLOYMENT=leaderelection
SELECTOR=app.kubernetes.io/name=leaderelection
NODE_NAME=leaderelection-node
read -r STATE CGROUP_ROOT < <("$node" paths)
version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { sub(/^v/, "", $2); print $2; exit }' controlplane/go.mod)
KUBECTL="${KUBEAPITEST_DIR:-$HOME/.kubeapitest}/k8s/$version-linux-amd64/kubectl"

started=$(date +%s.%N)
failures=()
bg_pids=()
now() { date +%s.%N; }
ts() { date -u +%H:%M:%S.%3N; }
say() { printf '%s e2e | %s\n' "$(ts)" "$*"; }
step() { printf '\n%s e2e | == %s ==\n' "$(ts)" "$*"; }
ok() { say "ok: $*"; }
fail() {
  say "FAILED: $*"
  failures+=("$*")
}
die() {
  say "ERROR: $*"
  if [ -f "${STATE:-/nonexistent}/failed" ]; then say "the node itself failed: $(cat "$STATE/failed")"; fi
  exit 1
}
kc() { "$KUBECTL" "$@"; }
# Prints the command as the article shows it, then runs it and prints its real output.
show() {
  printf '$ kubectl %s\n' "$*"
  kc "$@" 2>&1
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

cleanup() {
  local p
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # A run stopped during the partition step leaves no rule behind in the pod (E2E_KEEP=1).
  if [ -n "${partitioned:-}" ]; then partition_off 2>/dev/null || true; fi
  wait 2>/dev/null || true
  # The node's own logs, for whoever reads a failure.
  if [ -d "$STATE/logs" ]; then cp -R "$STATE/logs" "$OUT/node-logs" 2>/dev/null || true; fi
  if [ "${E2E_KEEP:-0}" != 1 ] && [ -n "${node_started:-}" ]; then
    "$node" down || say "FAILED: cluster-down left something on the host (see above)"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A command failing outside the checks (set -e) says where, instead of ending the run silently.
on_err() {
  local rc=$?
  say "ERROR: line $1: $2 (exit $rc)"
}
set -E
trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR

rm -rf "$OUT"
mkdir -p "$OUT/pod-logs"

step "the cluster: a local node (make cluster-up)"
# The image of the code as it is now (make test has just built it: E2E_BUILD_IMAGE=0).
if [ "${E2E_BUILD_IMAGE:-1}" = 1 ]; then
  scripts/build-image-tar.sh
fi
if "$node" status >/dev/null 2>&1; then
  say "using the running local node; importing target/leaderelection-image.tar into it"
  "$node" load
else
  node_started=1
  up_start=$(now)
  "$node" up
  say "cluster-up took $(elapsed "$up_start" "$(now)") s"
fi
KUBECONFIG=$("$node" kubeconfig)
export KUBECONFIG
export KUBECACHEDIR="$STATE/kubectl-cache"
show get nodes -o wide

# Every container's log, kept: the kubelet removes a pod's logs with the pod, so each log file
# is hard-linked here as soon as it appears (the link keeps the file, and containerd keeps
# appending to it until the container exits).
collect_logs() {
  local f dest
  while :; do
    for f in "$STATE"/pod-logs/default_leaderelection-*/leaderelection/*.log; do
      [ -e "$f" ] || continue
      dest="$STATE/e2e-logs/$(basename "$(dirname "$(dirname "$f")")" | cut -d_ -f2)_$(basename "$f")"
      [ -e "$dest" ] || ln "$f" "$dest" 2>/dev/null || true
    done
    sleep 0.2
  done
}
mkdir -p "$STATE/e2e-logs"
collect_logs &
bg_pids+=($!)
# The Lease as a watch sees it: one line per change, "<epoch seconds> <holder> <transitions>".
watch_lease() {
  while :; do
    kc get leases --watch --field-selector "metadata.name=$LEASE" \
      -o 'go-template={{.spec.holderIdentity}}|{{.spec.leaseTransitions}}{{"\n"}}' 2>/dev/null |
      while IFS='|' read -r holder transitions; do
        case "$holder" in "" | "<no value>") holder="<none>" ;; esac
        printf '%s %s %s\n' "$(now)" "$holder" "$transitions"
      done
    sleep 0.2
  done
}
watch_lease >"$OUT/lease-watch.txt" &
bg_pids+=($!)
# The pods as a watch sees them: "<epoch seconds> <pod> <Ready status> <deleting or ->".
watch_pods() {
  while :; do
    kc get pods -l "$SELECTOR" --watch -o 'go-template={{.metadata.name}}|{{range .status.conditions}}{{if eq .type "Ready"}}{{.status}}{{end}}{{end}}|{{if .metadata.deletionTimestamp}}deleting{{else}}-{{end}}{{"\n"}}' 2>/dev/null |
      while IFS='|' read -r pod ready deleting; do
        printf '%s %s %s %s\n' "$(now)" "$pod" "${ready:-Unknown}" "$deleting"
      done
    sleep 0.2
  done
}
watch_pods >"$OUT/pod-watch.txt" &
bg_pids+=($!)

holder() { kc get lease "$LEASE" -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null || true; }
live_pods() {
  kc get pods -l "$SELECTOR" -o 'go-template={{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}}{{"\n"}}{{end}}{{end}}'
}
ready_count() {
  kc get pods -l "$SELECTOR" -o 'go-template={{range .items}}{{if not .metadata.deletionTimestamp}}{{range .status.conditions}}{{if and (eq .type "Ready") (eq .status "True")}}x{{"\n"}}{{end}}{{end}}{{end}}{{end}}' | grep -c x || true
}
# Waits for 3 Ready pods, none terminating, and a Lease held by one of them.
settle() {
  local h deadline=$(($(date +%s) + 120))
  until [ "$(ready_count)" = 3 ] && [ "$(kc get pods -l "$SELECTOR" --no-headers 2>/dev/null | wc -l)" = 3 ] &&
    h=$(holder) && [ -n "$h" ] && live_pods | grep -x -- "$h" >/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      show get pods -l "$SELECTOR"
      die "the Deployment did not get back to 3 Ready pods with a leader within 120 s"
    fi
    sleep 0.2
  done
}
# The first watched holder other than $1 (and not empty) at or after epoch $2; waits up to $3 s.
# Prints "<epoch> <holder>".
await_new_holder() {
  local old="$1" since="$2" timeout="$3" line
  local deadline
  deadline=$(awk -v a="$since" -v t="$timeout" 'BEGIN { printf "%.3f", a + t }')
  while :; do
    line=$(awk -v s="$since" -v o="$old" '$1 >= s && $2 != o && $2 != "<none>" && $2 != "" { print $1, $2; exit }' "$OUT/lease-watch.txt")
    if [ -n "$line" ]; then
      echo "$line"
      return 0
    fi
    le "$(now)" "$deadline" || return 1
    sleep 0.05
  done
}
await_pod_log() {
  local pod="$1" text="$2" timeout="$3" t=0
  until kc logs "$pod" 2>/dev/null | grep -F -- "$text" >/dev/null; do
    [ "$t" -lt $((timeout * 5)) ] || return 1
    sleep 0.2
    t=$((t + 1))
  done
}
container_cgroup() { # <controller> <pod> -> the container's cgroup directory
  local uid cid
  uid=$(kc get pod "$2" -o 'jsonpath={.metadata.uid}')
  cid=$(kc get pod "$2" -o 'jsonpath={.status.containerStatuses[0].containerID}')
  cid=${cid#containerd://}
  find "/sys/fs/cgroup/$1/$CGROUP_ROOT" -maxdepth 4 -type d -name "$cid" -print -quit
}
pod_cgroup() { # <controller> <pod>
  local uid
  uid=$(kc get pod "$2" -o 'jsonpath={.metadata.uid}')
  find "/sys/fs/cgroup/$1/$CGROUP_ROOT" -maxdepth 3 -type d -name "pod$uid" -print -quit
}
jvm_pid() { # the pod's container's main process, as the host sees it
  local cg
  cg=$(container_cgroup pids "$1")
  [ -n "$cg" ] || return 1
  head -1 "$cg/cgroup.procs"
}

# ---- 1. apply -----------------------------------------------------------------------------------
step "steps 2-3: RBAC and the 3-replica Deployment"
apply_start=$(now)
show apply -k k8s/
ready_s=""
until [ "$(ready_count)" = 3 ] || [ $(($(date +%s) - ${apply_start%.*})) -ge 180 ]; do
  sleep 0.2
done
pods_ready=$(ready_count)
if [ "$pods_ready" = 3 ]; then
  ready_s=$(elapsed "$apply_start" "$(now)")
  ok "3/3 pods Ready ${ready_s} s after kubectl apply"
else
  fail "only $pods_ready/3 pods Ready 180 s after kubectl apply"
  show get pods -l "$SELECTOR" -o wide
  for p in $(kc get pods -l "$SELECTOR" -o 'go-template={{range .items}}{{range .status.conditions}}{{if and (eq .type "Ready") (ne .status "True")}}{{$.metadata.name}}{{end}}{{end}}{{"\n"}}{{end}}' 2>/dev/null | grep . || true); do
    show logs "$p" --tail=10
  done
  show get events --field-selector reason=Unhealthy
  die "cannot go on without 3 Ready pods (the pods' logs are above; the node's in target/e2e/node-logs/)"
fi
settle

step "steps 4-5: the pods and the Lease"
show get pods -l "$SELECTOR" -o wide
leader=$(holder)
show describe lease "$LEASE"
if live_pods | grep -x -- "$leader" >/dev/null; then ok "Lease $LEASE held by pod $leader"; else fail "Lease holder '$leader' is not one of the pods"; fi

step "step 6: the logs"
await_pod_log "$leader" "doing stuff..." 30 || fail "leader $leader did not log 'doing stuff...' within 30 s"
show logs "$leader" --tail=8
for p in $(live_pods); do
  [ "$p" != "$leader" ] || continue
  await_pod_log "$p" "new leader is $leader" 30 || fail "follower $p did not log 'new leader is $leader'"
  show logs "$p" --tail=4
done
if kc logs "$leader" | grep -F "successfully acquired lease default/$LEASE" >/dev/null; then
  ok "leader logged 'successfully acquired lease default/$LEASE' and 'doing stuff...'; followers 'new leader is $leader'"
else
  fail "leader $leader did not log 'successfully acquired lease default/$LEASE'"
fi

# The leader records each unit in the ConfigMap it owns (k8s/work-record.yaml) with a fenced
# write: who did the last unit, under which fencing token (the Lease's resourceVersion when its
# term began).
WORK_RECORD="$LEASE-work"
record_field() { kc get configmap "$WORK_RECORD" -o "jsonpath={.metadata.annotations.leaderelection\.github\.io/$1}" 2>/dev/null || true; }
for _ in $(seq 1 30); do
  [ "$(record_field fenced-by)" = "$leader" ] && break
  sleep 1
done
show get configmap "$WORK_RECORD" -o yaml
record_by=$(record_field fenced-by)
record_token=$(record_field fencing-token)
record_token_json=null
[[ "$record_token" =~ ^[0-9]+$ ]] && record_token_json=$record_token
if [ "$record_by" = "$leader" ] && [[ "$record_token" =~ ^[0-9]+$ ]]; then
  ok "configmap $WORK_RECORD: the last unit was done by $record_by under fencing token $record_token"
else
  fail "configmap $WORK_RECORD does not show the leader's fenced units (fenced-by '$record_by', token '$record_token')"
fi

# ---- 2. delete the leader pod, 3 rounds ------------------------------------------------------
handovers_json=""
deleted=()
for round in 1 2 3; do
  step "step 7: kill the leader (round $round of 3): delete its pod"
  settle
  old=$(holder)
  t0=$(now)
  show delete pod "$old" --wait=false
  if got=$(await_new_holder "$old" "$t0" 30); then
    secs=$(elapsed "$t0" "${got%% *}")
    new=${got#* }
    say "new holder $new after ${secs} s (timed by the watch on Lease $LEASE)"
    show get lease "$LEASE"
    handovers_json+="${handovers_json:+, }{\"kind\": \"delete-pod\", \"from\": \"$old\", \"to\": \"$new\", \"seconds\": $secs}"
    if le "$secs" "$HANDOVER_MAX"; then ok "delete-pod handover in ${secs} s (bound ${HANDOVER_MAX} s)"; else fail "delete-pod handover took ${secs} s (bound ${HANDOVER_MAX} s)"; fi
  else
    fail "no new holder within 30 s after deleting the leader pod $old"
  fi
  deleted+=("$old")
done
settle

# ---- 3. rollout restart --------------------------------------------------------------------------
step "a rolling update: kubectl rollout restart"
t0=$(now)
show rollout restart "deployment/$DEPLOYMENT"
show rollout status "deployment/$DEPLOYMENT" --timeout=300s || fail "the rollout did not finish in 300 s"
settle
sleep 2
t1=$(now)
read -r rollout_handovers rollout_gap rollout_unreleased < <(awk -v a="$t0" -v b="$t1" '
  $1 >= a && $1 <= b {
    h = $2
    if (h == "<none>" || h == "") { if (cur != "" && released == "") released = $1; next }
    if (cur == "") { cur = h; next }
    if (h != cur) {
      n++
      if (released != "") { g = $1 - released; if (g > max) max = g } else unreleased++
      cur = h
    }
    released = ""
  }
  END { printf "%d %.2f %d\n", n, max, unreleased }' "$OUT/lease-watch.txt")
say "rollout restart: $rollout_handovers handover(s), longest leaderless gap ${rollout_gap} s (from the release to the next holder), $rollout_unreleased handover(s) without a release"
rollout_ok=true
if [ "$rollout_unreleased" != 0 ]; then fail "rollout restart: $rollout_unreleased handover(s) without the old leader releasing the Lease"; rollout_ok=false; fi
if ! le "$rollout_gap" "$GAP_MAX"; then fail "rollout restart: leaderless for ${rollout_gap} s (bound ${GAP_MAX} s)"; rollout_ok=false; fi
[ "$rollout_ok" = false ] || ok "rollout restart: one leader at a time, gaps ≤ ${rollout_gap} s"
show get pods -l "$SELECTOR"

# ---- 4. SIGKILL of the leader's JVM ------------------------------------------------------------
# The kubelet restarts the container in the same pod, under the same name. The new JVM is another
# process: it cannot know that the old one is dead (a StatefulSet pod force-deleted on an
# unreachable node looks the same, with the old process alive), so it does not take the Lease back
# at once; like every replica it waits out the old holder's claim (a lease duration after the last
# renewal it saw), and whichever replica gets there first leads.
step "the leader's JVM killed (SIGKILL): the kubelet restarts the container in the same pod, a new process"
settle
victim=$(holder)
pid=$(jvm_pid "$victim") || die "cannot find the JVM of pod $victim in its cgroup"
restarts0=$(kc get pod "$victim" -o 'jsonpath={.status.containerStatuses[0].restartCount}')
lease_s=$(kc get lease "$LEASE" -o 'jsonpath={.spec.leaseDurationSeconds}')
transitions0=$(kc get lease "$LEASE" -o 'jsonpath={.spec.leaseTransitions}')
printf '$ kill -KILL %s    # pid of java in pod %s, as the host sees it\n' "$pid" "$victim"
t0=$(now)
kill_t=$t0
kill -KILL "$pid"
container_kill_ok=false
kill_s=""
taker=""
for ((i = 0; i < 600; i++)); do
  line=$(awk -v s="$t0" -v n="${transitions0:-0}" '$1 >= s && $3 > n && $2 != "<none>" { print $1, $2; exit }' "$OUT/lease-watch.txt")
  if [ -n "$line" ]; then
    kill_s=$(elapsed "$t0" "${line%% *}")
    taker=${line#* }
    break
  fi
  sleep 0.2
done
kill_end=$(now)
restarts1=$(kc get pod "$victim" -o 'jsonpath={.status.containerStatuses[0].restartCount}' 2>/dev/null || echo 0)
show get pod "$victim"
show logs "$victim" --tail=5
if [ -z "$kill_s" ]; then
  fail "nobody took the Lease within 120 s of the kill of $victim's JVM"
else
  who="another pod ($taker)"
  [ "$taker" = "$victim" ] && who="the restarted container of $victim"
  say "$who took the Lease ${kill_s} s after the kill (lease duration ${lease_s} s; restarts of $victim: $restarts0 -> ${restarts1:-?})"
  # Not before the old process's claim can have run out: its last renewal was at most a retry
  # period (2 s) before the kill; nothing earlier than that is safe, whoever takes it.
  if ! le "$(awk -v l="$lease_s" 'BEGIN { print l - 2.5 }')" "$kill_s"; then
    fail "the Lease was taken ${kill_s} s after the kill, before the old process's claim (lease duration ${lease_s} s) ran out"
  elif ! le "$kill_s" "$(awk -v l="$lease_s" 'BEGIN { print l + 10 }')"; then
    fail "the Lease was taken only ${kill_s} s after the kill (lease duration ${lease_s} s)"
  else
    container_kill_ok=true
    ok "a new leader once the dead process's claim ran out, not before (the restarted container is a new process and waits like the others)"
  fi
fi

# ---- 5. a frozen leader -----------------------------------------------------------------------
step "a paused node: the leader pod's processes frozen past the lease duration (cgroup freezer)"
settle
frozen=$(holder)
freezer=$(pod_cgroup freezer "$frozen")
[ -n "$freezer" ] || die "no freezer cgroup for pod $frozen"
printf '$ echo FROZEN > %s/freezer.state    # pod %s\n' "$freezer" "$frozen"
freeze_t=$(now)
echo FROZEN >"$freezer/freezer.state"
frozen_ok=false
takeover_s=""
if got=$(await_new_holder "$frozen" "$freeze_t" 60); then
  takeover_s=$(elapsed "$freeze_t" "${got%% *}")
  say "${got#* } took over ${takeover_s} s after the freeze (lease duration ${lease_s} s)"
  show get lease "$LEASE"
else
  fail "nobody took over within 60 s of freezing the leader $frozen"
fi
sleep 2
printf '$ echo THAWED > %s/freezer.state\n' "$freezer"
echo THAWED >"$freezer/freezer.state"
thaw_t=$(now)
say "thawed; watching the old leader for 12 s"
sleep 12
show logs "$frozen" --tail=6
late=$(kc logs "$frozen" --timestamps | awk -v t="$thaw_t" '
  /doing stuff\.\.\./ { cmd = "date -d " $1 " +%s.%N"; cmd | getline e; close(cmd); if (e > t) n++ } END { print n + 0 }')
if [ -n "$takeover_s" ]; then
  if awk -v s="$takeover_s" -v l="$lease_s" 'BEGIN { exit !(s >= l - 5 && s <= l + 10) }'; then
    if [ "$late" = 0 ]; then
      frozen_ok=true
      ok "a follower took over after about the lease duration (${takeover_s} s) and the thawed pod did no work"
    else
      fail "the thawed pod $frozen logged 'doing stuff...' $late time(s) after it thawed"
    fi
  else
    fail "takeover ${takeover_s} s after the freeze: expected about the lease duration (${lease_s} s)"
  fi
fi

# ---- 5b. a network partition of the leader pod ------------------------------------------------
# The leader pod loses the API server and nothing else: DROP rules for its packets to and from
# the API server's Service address, inside the pod's own network namespace (the sandbox's, which
# its JVM's /proc/<pid>/ns/net names), so the node's and the host's tables are never touched and
# the kubelet's probes still reach it. A blackhole: no reset, its connection looks open.
step "a network partition: the leader pod cut off the API server (iptables in the pod's network namespace)"
settle
cut=$(holder)
cut_pid=$(jvm_pid "$cut") || die "cannot find the JVM of pod $cut in its cgroup"
cut_netns="/proc/$cut_pid/ns/net"
api_ip=$(kc get service kubernetes -n default -o 'jsonpath={.spec.clusterIP}')
api_port=$(kc get service kubernetes -n default -o 'jsonpath={.spec.ports[0].port}')
# The Deployment runs the app's defaults: --renew-deadline=10s, --retry-period=2s.
renew_deadline_s=10
retry_s=2
partition_rules=("OUTPUT -p tcp -d $api_ip --dport $api_port -j DROP" "INPUT -p tcp -s $api_ip --sport $api_port -j DROP")
partition_on() {
  local r
  for r in "${partition_rules[@]}"; do
    # shellcheck disable=SC2086 # a rule is words
    nsenter --net="$cut_netns" -- iptables -w 5 -I $r
  done
}
partition_off() {
  local r
  for r in "${partition_rules[@]}"; do
    # shellcheck disable=SC2086 # a rule is words
    nsenter --net="$cut_netns" -- iptables -w 5 -D $r
  done
}
printf '$ nsenter --net=%s -- ss -tn state established    # pod %s: its connections\n' "$cut_netns" "$cut"
nsenter --net="$cut_netns" -- ss -tn state established
for r in "${partition_rules[@]}"; do printf '$ nsenter --net=%s -- iptables -I %s\n' "$cut_netns" "$r"; done
partition_t=$(now)
partitioned=1
partition_on
# The Lease's renewTime stops moving: the last renewal the API server stored.
last_renew=""
part_deadline=$(($(date +%s) + 60))
while :; do
  read -r h rt < <(kc get lease "$LEASE" -o 'jsonpath={.spec.holderIdentity} {.spec.renewTime}{"\n"}' 2>/dev/null || echo)
  if [ "${h:-}" = "$cut" ]; then
    last_renew=$rt
  elif [ -n "${h:-}" ]; then
    break
  fi
  [ "$(date +%s)" -lt "$part_deadline" ] || break
  sleep 0.2
done
partition_ok=false
part_taker=""
part_takeover_s=""
part_work_s=""
part_down_s=""
part_follow_s=""
if got=$(await_new_holder "$cut" "$partition_t" 5); then
  part_taker=${got#* }
  taken_t=${got%% *}
  # Keep it cut off a while longer: its requests time out on the connection, as in a real partition.
  sleep "$(awk -v t="$taken_t" -v n="$(now)" 'BEGIN { s = t + 8 - n; print (s > 0 ? s : 0) }')"
else
  fail "nobody took over within 60 s of cutting the leader $cut off the API server"
fi
show get lease "$LEASE"
for r in "${partition_rules[@]}"; do printf '$ nsenter --net=%s -- iptables -D %s\n' "$cut_netns" "$r"; done
heal_t=$(now)
partition_off
partitioned=""
say "healed after $(elapsed "$partition_t" "$heal_t") s; waiting up to 30 s for $cut to follow ${part_taker:-the new leader}"
# Times from the container runtime's log timestamps (the same clock as the Lease's renewTime).
cut_times() {
  kc logs "$cut" --timestamps 2>/dev/null | python3 -c '
import datetime, sys
start, heal, taker = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
def at(stamp):
    return datetime.datetime.strptime(stamp[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()
last_unit = down = follows = None
for line in sys.stdin:
    parts = line.rstrip("\n").split(" ", 1)
    if len(parts) < 2:
        continue
    t, msg = at(parts[0]), parts[1].split("] ", 1)[-1]
    if msg == "doing stuff..." and t < heal:
        last_unit = t
    elif msg.startswith("no longer the leader") and t >= start and down is None:
        down = t
    elif taker and msg == "new leader is " + taker and t >= heal and follows is None:
        follows = t
print(*("-" if v is None else "%.3f" % v for v in (last_unit, down, follows)))
' "$partition_t" "$heal_t" "$part_taker"
}
cut_last_unit=- cut_down=- cut_follows=-
follow_deadline=$(awk -v t="$heal_t" 'BEGIN { printf "%.3f", t + 30 }')
while :; do
  times=$(cut_times || true)
  if [ "$(wc -w <<<"$times")" = 3 ]; then read -r cut_last_unit cut_down cut_follows <<<"$times"; fi
  if [ "$cut_follows" != - ] || ! le "$(now)" "$follow_deadline"; then break; fi
  sleep 0.2
done
show logs "$cut" --tail=8
if [ -n "$last_renew" ] && [ -n "$part_taker" ]; then
  renew_t=$(date -d "$last_renew" +%s.%N)
  part_takeover_s=$(elapsed "$renew_t" "$taken_t")
  [ "$cut_last_unit" = - ] || part_work_s=$(elapsed "$renew_t" "$cut_last_unit")
  [ "$cut_down" = - ] || part_down_s=$(elapsed "$renew_t" "$cut_down")
  [ "$cut_follows" = - ] || part_follow_s=$(elapsed "$heal_t" "$cut_follows")
  say "last renewal of $cut $(elapsed "$renew_t" "$partition_t") s before the rules; its last unit ${part_work_s:-?} s after it, stepped down ${part_down_s:-?} s after it (renew deadline ${renew_deadline_s} s); $part_taker took over ${part_takeover_s} s after it (lease duration ${lease_s} s); after the heal $cut followed in ${part_follow_s:-(not within 30 s)} s"
  partition_ok=true
  if [ -z "$part_work_s" ] || ! le "$part_work_s" "$(awk -v d="$renew_deadline_s" 'BEGIN { print d + 0.5 }')"; then
    fail "the partitioned leader $cut worked ${part_work_s:-?} s after its last renewal (renew deadline ${renew_deadline_s} s)"
    partition_ok=false
  fi
  if [ -z "$part_down_s" ]; then
    fail "the partitioned leader $cut did not log 'no longer the leader'"
    partition_ok=false
  fi
  # Never before the old claim ran out; at most a retry period (and a busy node) late.
  if ! awk -v s="$part_takeover_s" -v l="$lease_s" -v r="$retry_s" 'BEGIN { exit !(s >= l - 0.5 && s <= l + r + 5) }'; then
    fail "takeover ${part_takeover_s} s after the partitioned leader's last renewal: expected about the lease duration (${lease_s} s)"
    partition_ok=false
  fi
  if [ -z "$part_follow_s" ] || ! le "$part_follow_s" 30; then
    fail "after the heal, $cut did not log 'new leader is $part_taker' within 30 s (${part_follow_s:-not at all})"
    partition_ok=false
  fi
  [ "$partition_ok" = false ] || ok "cut off, the leader stopped within the renew deadline; a follower led about a lease duration after its last renewal; healed, the old leader followed in ${part_follow_s} s"
elif [ -z "$last_renew" ]; then
  fail "the Lease never showed a renewal by $cut during the partition"
fi

# ---- 6. drain ------------------------------------------------------------------------------------
step "a node drain, limited by the PodDisruptionBudget"
settle
show get pdb "$DEPLOYMENT"
before=$(live_pods | sort)
drain_out=$(kc drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --pod-selector "$SELECTOR" --timeout=25s 2>&1) && drain_rc=0 || drain_rc=$?
printf '$ kubectl drain %s --ignore-daemonsets --delete-emptydir-data --pod-selector %s --timeout=25s\n%s\n' \
  "$NODE_NAME" "$SELECTOR" "$(grep -v '^$' <<<"$drain_out" | awk '!seen[$0]++ && n++ < 12')"
after=$(live_pods | sort)
evicted=$(comm -23 <(echo "$before") <(echo "$after") | grep -c . || true)
drain_ok=false
if [ "$drain_rc" != 0 ] && [ "$evicted" = 1 ] && grep -q "disruption budget" <<<"$drain_out"; then
  drain_ok=true
  ok "the drain evicted 1 pod; the PDB refused the other 2 (the drain timed out, as it should on one node)"
else
  fail "drain: exit $drain_rc, $evicted pod(s) evicted (expected a refused drain with 1 eviction)"
fi
show uncordon "$NODE_NAME"
settle

# ---- 7. the ServiceAccount's real token ---------------------------------------------------------
step "least privilege: what the pods' ServiceAccount token may do"
p=$(live_pods | sed -n 1p)
jpid=$(jvm_pid "$p")
token=$(cat "/proc/$jpid/root/var/run/secrets/kubernetes.io/serviceaccount/token")
server=$(kc config view --minify -o 'jsonpath={.clusters[0].cluster.server}')
sa_kc="$STATE/sa.kubeconfig"
kc config view --minify --raw -o 'jsonpath={.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$STATE/sa-ca.crt"
KUBECONFIG=/dev/null "$KUBECTL" config --kubeconfig "$sa_kc" set-cluster node --server "$server" --certificate-authority "$STATE/sa-ca.crt" >/dev/null
KUBECONFIG=/dev/null "$KUBECTL" config --kubeconfig "$sa_kc" set-credentials sa --token "$token" >/dev/null
KUBECONFIG=/dev/null "$KUBECTL" config --kubeconfig "$sa_kc" set-context sa --cluster node --user sa --namespace default >/dev/null
KUBECONFIG=/dev/null "$KUBECTL" config --kubeconfig "$sa_kc" use-context sa >/dev/null
# shellcheck disable=SC2016 # shown as the article would type it
printf '$ kubectl --token %s auth can-i --list    # the token mounted in %s\n' '"$(cat /var/run/secrets/kubernetes.io/serviceaccount/token)"' "$p"
canI=$(KUBECONFIG="$sa_kc" "$KUBECTL" auth can-i --list 2>&1)
echo "$canI"
# Exactly the Role: both sides as (resource, resource name, verb) triples; the rules every
# authenticated user has (self-reviews, discovery URLs) are left out.
kc get role leaderelection-role -o json >"$OUT/role.json"
read -r rbac_same rbac_diff < <(python3 - "$OUT/role.json" <<'EOF' 3<<<"$canI"
import json, os, sys
def triples(resource, names, verbs):
    return {(resource, n, v) for n in (names or ["*"]) for v in verbs}
want = set()
for rule in json.load(open(sys.argv[1]))["rules"]:
    for group in rule.get("apiGroups", [""]):
        for res in rule.get("resources", []):
            want |= triples(res + ("." + group if group else ""), rule.get("resourceNames"), rule["verbs"])
got = set()
for line in os.fdopen(3).read().splitlines()[1:]:
    cols = line.split()
    if not cols or cols[0].startswith("[") or cols[0].startswith("selfsubject"):
        continue
    # Resources  Non-Resource URLs ([])  Resource Names ([a b])  Verbs ([x y])
    rest = line[len(cols[0]):].strip()
    lists, depth, cur = [], 0, ""
    for ch in rest:
        if ch == "[":
            depth, cur = 1, ""
        elif ch == "]":
            depth = 0
            lists.append(cur.split())
        elif depth:
            cur += ch
    if len(lists) == 3:
        got |= triples(cols[0], lists[1], lists[2])
extra, missing = sorted(got - want), sorted(want - got)
print("true" if not extra and not missing else "false",
      ("extra " + ",".join(map("/".join, extra)) + " missing " + ",".join(map("/".join, missing))).replace(" ", "_"))
EOF
)
whoami=$(KUBECONFIG="$sa_kc" "$KUBECTL" auth whoami -o 'jsonpath={.status.userInfo.username}' 2>&1 || true)
rbac_ok=false
if [ "$rbac_same" = true ] && [ "$whoami" = "system:serviceaccount:default:leaderelection-sa" ]; then
  rbac_ok=true
  ok "the token is $whoami and may do exactly what Role leaderelection-role grants"
else
  fail "the ServiceAccount token ($whoami) has other permissions than Role leaderelection-role: ${rbac_diff//_/ }"
fi
for q in "delete leases/$LEASE" "list leases" "get pods" "get secrets"; do
  # shellcheck disable=SC2086 # a verb and a resource
  a=$(KUBECONFIG="$sa_kc" "$KUBECTL" auth can-i $q 2>/dev/null || true)
  printf '$ kubectl auth can-i %s    # as the ServiceAccount\n%s\n' "$q" "$a"
  [ "$a" = no ] || { fail "the ServiceAccount may $q"; rbac_ok=false; }
done
rm -f "$sa_kc" "$STATE/sa-ca.crt"

# ---- 8. the securityContext as the kernel sees it -----------------------------------------------
step "the securityContext as the kernel sees it (/proc/<pid>/status of each JVM)"
security_ok=true
printf '%-34s %-6s %-6s %-18s %-18s %-10s %-8s %-9s %s\n' POD PID UID CAPEFF CAPBND NONEWPRIV SECCOMP ROOTFS MEMLIMIT
for p in $(live_pods); do
  jpid=$(jvm_pid "$p")
  st="/proc/$jpid/status"
  uid=$(awk '/^Uid:/ { print $2 "/" $3 "/" $4 "/" $5 }' "$st")
  gid=$(awk '/^Gid:/ { print $2 }' "$st")
  capeff=$(awk '/^CapEff:/ { print $2 }' "$st")
  capbnd=$(awk '/^CapBnd:/ { print $2 }' "$st")
  capprm=$(awk '/^CapPrm:/ { print $2 }' "$st")
  nnp=$(awk '/^NoNewPrivs:/ { print $2 }' "$st")
  seccomp=$(awk '/^Seccomp:/ { print $2 }' "$st")
  rootfs=$(awk '$5 == "/" { split($6, o, ","); print o[1] }' "/proc/$jpid/mountinfo" | tail -1)
  mem=$(cat "$(container_cgroup memory "$p")/memory.limit_in_bytes")
  printf '%-34s %-6s %-6s %-18s %-18s %-10s %-8s %-9s %s\n' "$p" "$jpid" "${uid%%/*}" "$capeff" "$capbnd" "$nnp" "$seccomp" "$rootfs" "$mem"
  [ "$uid/$gid" = 65532/65532/65532/65532/65532 ] || { fail "$p runs as uid $uid gid $gid, not 65532"; security_ok=false; }
  [ "$capeff$capprm$capbnd" = 000000000000000000000000000000000000000000000000 ] || { fail "$p has capabilities (eff $capeff, prm $capprm, bnd $capbnd)"; security_ok=false; }
  [ "$nnp" = 1 ] || { fail "$p: no_new_privs is not set"; security_ok=false; }
  [ "$seccomp" = 2 ] || { fail "$p: no seccomp filter (Seccomp: $seccomp)"; security_ok=false; }
  [ "$rootfs" = ro ] || { fail "$p: the root filesystem is $rootfs, not read-only"; security_ok=false; }
  [ "$mem" = $((160 * 1024 * 1024)) ] || { fail "$p: memory limit $mem, not 160Mi"; security_ok=false; }
done
[ "$security_ok" = false ] || ok "uid/gid 65532, no capabilities, no_new_privs, seccomp filter, read-only root, 160Mi limit: enforced by the kernel"

# ---- 9. probes ---------------------------------------------------------------------------------
step "probes: no failure after start-up (Unhealthy events of pods that were Ready and serving)"
# A probe failure counts when the pod was Ready and not shutting down (from the pod watch): a
# readiness probe failing before a pod's first election round, after its SIGTERM, or while its
# killed container restarts is the probe doing its job. The frozen pod is expected to fail while frozen.
kc get events --field-selector reason=Unhealthy -o json >"$OUT/unhealthy-events.json"
probe_report=$(python3 - "$OUT/unhealthy-events.json" "$OUT/pod-watch.txt" \
  "$frozen:$freeze_t:$thaw_t" "$victim:$kill_t:$kill_end" <<'EOF'
import datetime, json, sys
events_file, watch_file = sys.argv[1:3]
# pod:from:to -> failures of that pod in [from - 1, to + 15] were provoked (frozen, killed)
provoked = [(w.split(":")[0], float(w.split(":")[1]), float(w.split(":")[2])) for w in sys.argv[3:]]
def epoch(s):
    return datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
serving = {}  # pod -> list of [start, end) while Ready and not deleting
state = {}
for line in open(watch_file):
    parts = line.split()
    if len(parts) != 4:
        continue
    t, pod, ready, deleting = float(parts[0]), parts[1], parts[2], parts[3]
    up = ready == "True" and deleting == "-"
    spans = serving.setdefault(pod, [])
    if up and not state.get(pod):
        spans.append([t, float("inf")])
    elif not up and state.get(pod):
        spans[-1][1] = t
    state[pod] = up
def provoked_at(pod, t):
    return any(pod == p and a - 1 <= t <= b + 15 for p, a, b in provoked)
def serving_at(pod, t):
    # event times are whole seconds: serving when a whole second lies inside a serving span
    return any(a <= t and t + 1 <= b for a, b in serving.get(pod, []))
counted, expected = [], 0
for e in json.load(open(events_file))["items"]:
    pod, msg = e["involvedObject"]["name"], e.get("message", "")
    n = e.get("count") or 1
    if msg.startswith("Startup probe"):
        expected += n
        continue
    first = e.get("firstTimestamp") or e.get("eventTime")
    last = e.get("lastTimestamp") or first
    times = [epoch(first), epoch(last)]
    # Kubernetes folds repeats into one event with its first and last time only: a pod frozen
    # and later evicted has one event spanning both, so each time is judged on its own.
    if any(serving_at(pod, t) and not provoked_at(pod, t) for t in times):
        counted.append(f"{pod}: {msg} (x{n}, {last})")
    else:
        expected += n
print(len(counted), expected)
for c in counted:
    print(c)
EOF
)
read -r probe_failures probe_expected <<<"$(head -1 <<<"$probe_report")"
tail -n +2 <<<"$probe_report" | while read -r line; do say "probe failure: $line"; done
say "$probe_expected probe failure(s) outside serving time: start-up, shutdown after SIGTERM, the killed container's restart, the freeze (the watches: target/e2e/*-watch.txt)"
if [ "$probe_failures" = 0 ]; then ok "no probe failed while a pod was Ready and serving"; else fail "$probe_failures probe failure(s) of Ready pods (see above)"; fi

# ---- 10. one leader at a time, from every container's log ---------------------------------------
step "safety: no two pods worked in overlapping terms (every container's log)"
sleep 1
for f in "$STATE"/e2e-logs/*.log; do cp "$f" "$OUT/pod-logs/"; done
analysis=$(python3 - "$OUT/pod-logs" "${deleted[@]}" <<'EOF'
import datetime, glob, json, os, sys
logdir, deleted = sys.argv[1], sys.argv[2:]
def at(stamp):
    # CRI log time: RFC 3339 with nanoseconds, UTC
    return datetime.datetime.strptime(stamp[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
terms, units, released = [], 0, set()
for path in sorted(glob.glob(os.path.join(logdir, "*.log"))):
    pod = os.path.basename(path).rsplit("_", 1)[0]
    acquired = last = None
    for line in open(path, errors="replace"):
        parts = line.rstrip("\n").split(" ", 3)
        if len(parts) < 4:
            continue
        t, msg = at(parts[0]), parts[3].split("] ", 1)[-1]
        if msg.startswith("successfully acquired lease"):
            if acquired is not None:
                terms.append((pod, acquired, last or acquired))
            acquired, last = t, None
        elif msg == "doing stuff...":
            units += 1
            if acquired is None:
                acquired = t
            last = t
        elif msg.startswith("no longer the leader") and acquired is not None:
            terms.append((pod, acquired, last or acquired))
            acquired = last = None
        elif msg.startswith("released lease"):
            released.add(pod)
    if acquired is not None:
        terms.append((pod, acquired, last or acquired))
overlaps = []
for i, a in enumerate(terms):
    for b in terms[i + 1:]:
        if a[0] != b[0] and a[1] <= b[2] and b[1] <= a[2]:
            overlaps.append(f"{a[0]} [{a[1]:.3f}, {a[2]:.3f}] and {b[0]} [{b[1]:.3f}, {b[2]:.3f}]")
print(json.dumps({"overlaps": overlaps, "terms": len(terms), "units": units,
                  "logs": len(glob.glob(os.path.join(logdir, "*.log"))),
                  "unreleased": [p for p in deleted if p not in released]}))
EOF
)
overlapping=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["overlaps"]))' "$analysis")
read -r terms units nlogs < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["terms"], d["units"], d["logs"])' "$analysis")
unreleased=$(python3 -c 'import json,sys; print(" ".join(json.loads(sys.argv[1])["unreleased"]))' "$analysis")
# At least: the first leader, 3 after deleted leaders, 1 in the rollout, the takeover after the
# killed JVM, the takeover from the frozen pod, the takeover from the partitioned pod. Fewer means
# the logs were not all read.
if [ "$overlapping" = 0 ] && [ "$terms" -ge 8 ]; then
  ok "0 overlapping work terms: $terms leadership terms, $units units of 'doing stuff...' in $nlogs container logs"
else
  fail "$overlapping overlapping work term(s) among $terms terms (at least 8 expected): $(python3 -c 'import json,sys; print("; ".join(json.loads(sys.argv[1])["overlaps"]))' "$analysis")"
fi
if [ -z "$unreleased" ]; then ok "each deleted leader logged 'released lease' on SIGTERM"; else fail "deleted leader(s) that did not release the Lease: $unreleased"; fi

# ---- results -------------------------------------------------------------------------------------
step "summary"
show get lease "$LEASE"
show get configmap "$WORK_RECORD" -o 'jsonpath={.metadata.annotations}{"\n"}{.data}{"\n"}'
duration=$(elapsed "$started" "$(now)")
cat >"$OUT/results.json" <<JSON
{"cluster": "local-node", "kubernetes": "$version", "pods_ready": $pods_ready, "ready_after_apply_s": ${ready_s:-null},
 "handovers": [$handovers_json],
 "rollout_restart": {"ok": $rollout_ok, "handovers": $rollout_handovers, "max_gap_s": $rollout_gap},
 "container_kill": {"ok": $container_kill_ok, "seconds": ${kill_s:-null}},
 "frozen_leader": {"ok": $frozen_ok, "takeover_s": ${takeover_s:-null}, "lease_duration_s": $lease_s},
 "partition": {"ok": $partition_ok, "work_after_last_renewal_s": ${part_work_s:-null}, "stepped_down_after_last_renewal_s": ${part_down_s:-null}, "renew_deadline_s": $renew_deadline_s, "takeover_after_last_renewal_s": ${part_takeover_s:-null}, "lease_duration_s": $lease_s, "partition_s": $(elapsed "$partition_t" "$heal_t"), "follows_after_heal_s": ${part_follow_s:-null}},
 "work_record": {"fenced_by": "$record_by", "fencing_token": $record_token_json},
 "drain_limited_by_pdb": $drain_ok, "rbac_exact": $rbac_ok, "security_context_enforced": $security_ok,
 "probe_failures": $probe_failures, "probe_failures_outside_serving": $probe_expected, "overlapping_terms": $overlapping, "terms": $terms, "work_units": $units,
 "failures": ${#failures[@]}, "duration_s": $duration}
JSON
python3 -m json.tool "$OUT/results.json" >/dev/null || die "target/e2e/results.json is not valid JSON"
cat "$OUT/results.json"
show delete -k k8s/ --ignore-not-found --wait=false
# The holder's finalizer (see election/LeaseWrites.java) would keep a Lease whose holder is gone
# (killed) forever: once the replicas are gone, nobody is left to protect, so drop it first.
kc patch lease "$LEASE" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
kc delete lease "$LEASE" --ignore-not-found --wait=false >/dev/null
if [ ${#failures[@]} -gt 0 ]; then
  say "e2e: FAILED (${#failures[@]} check(s)):"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
say "e2e: OK in ${duration} s (results: target/e2e/results.json)"
