#!/usr/bin/env bash
# The test command behind `make test`: provisions the control plane, then runs unit and
# integration tests with Maven.
#
# KUBEAPITEST_OFFLINE=true   use local binaries, building them from Go modules when missing
# KUBEAPITEST_OFFLINE=false  let kube-api-test download its binaries (needs internet access)
# KUBEAPITEST_OFFLINE=auto   (default) true when the binaries are there or Go can build them,
#                            else false
set -euo pipefail
cd "$(dirname "$0")/.."

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
exec ${MVN:-mvn -B} verify -Dkubeapitest.offline="$mode" -Dkubeapitest.version="$version" \
  -Dkubeapitest.dir="${KUBEAPITEST_DIR:-$HOME/.kubeapitest}" "$@"
