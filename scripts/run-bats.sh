#!/usr/bin/env bash
# Usage: scripts/run-bats.sh DIR|FILE...
# Runs bats (the npm copy: Debian's 1.8 lacks features we use) over every *.bats below the arguments,
# one file after another, with bats-support/bats-assert on the library path.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export BATS_LIB_PATH="$PWD/node_modules"
export HPC_REPO_ROOT="$PWD"
mapfile -t files < <(for a in "$@"; do if [[ -d $a ]]; then find "$a" -name '*.bats'; else printf '%s\n' "$a"; fi; done | sort)
if (( ${#files[@]} == 0 )); then
  echo "run-bats: no *.bats files under $*" >&2
  exit 0
fi
exec node_modules/bats/bin/bats --timing "${files[@]}"
