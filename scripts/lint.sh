#!/usr/bin/env bash
# Runs shellcheck over every shell script of the project.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "lint: shellcheck is not installed (Debian/Ubuntu: apt-get install shellcheck)" >&2
  exit 1
fi
mapfile -t files < <({ ls scripts/*.sh; echo .ci/run; } | sort -u)
shellcheck --severity=style "${files[@]}"
echo "lint: shellcheck clean on ${#files[@]} scripts"
