#!/usr/bin/env bash
# Chooses the cluster for the article's walkthrough (`make deploy status logs failover undeploy
# e2e`) and runs the step there:
#
#   local  the local single-node cluster of scripts/node.sh (make cluster-up): the default where
#          there is no Docker engine
#   kind   a kind cluster (scripts/kind.sh): the default where `docker info` answers
#
#   scripts/cluster.sh up|down|load|deploy|status|logs|failover|undeploy|e2e|which
#
# CLUSTER_PROVIDER=local|kind overrides the choice. `up`/`down` start and stop the cluster of the
# chosen kind; `e2e` on the local node is scripts/e2e.sh (starts the node when it is not running,
# stops it afterwards), on kind it is `scripts/kind.sh e2e`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

provider="${CLUSTER_PROVIDER:-auto}"
if [ "$provider" = auto ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    provider=kind
  else
    provider=local
  fi
fi

step="${1:-}"
case "$provider" in
  kind)
    exec "$root/scripts/kind.sh" "$@"
    ;;
  local)
    case "$step" in
      up | down | load) exec "$root/scripts/node.sh" "$step" ;;
      e2e) exec "$root/scripts/e2e.sh" ;;
      which) echo "local node (scripts/node.sh)" ;;
      deploy | status | logs | failover | undeploy)
        KUBECONFIG=$("$root/scripts/node.sh" kubeconfig)
        # kubectl's discovery cache goes with the node, not into ~/.kube.
        KUBECACHEDIR="$(dirname "$KUBECONFIG")/kubectl-cache"
        export KUBECONFIG KUBECACHEDIR
        CLUSTER_PROVIDER=local KUBE_CONTEXT=leaderelection-node exec "$root/scripts/kind.sh" "$step"
        ;;
      *)
        sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
        exit 2
        ;;
    esac
    ;;
  *)
    echo "cluster: CLUSTER_PROVIDER must be local, kind or auto, not '$provider'" >&2
    exit 2
    ;;
esac
