#!/usr/bin/env bash
# Usage: scripts/run-bats.sh [BATS_OPTION...] DIR|FILE...
# Runs bats (the npm copy: Debian's 1.8 lacks features we use) over every *.bats below the arguments,
# one file after another, with bats-support/bats-assert on the library path.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export BATS_LIB_PATH="$PWD/node_modules"
export HPC_REPO_ROOT="$PWD"
opts=()
paths=()
while (($#)); do
  case $1 in
    --formatter | --filter | --jobs | -f | -F | -j) opts+=("$1" "$2"); shift 2 ;;
    -*) opts+=("$1"); shift ;;
    *) paths+=("$1"); shift ;;
  esac
done
mapfile -t files < <(for a in "${paths[@]}"; do if [[ -d $a ]]; then find "$a" -name '*.bats'; else printf '%s\n' "$a"; fi; done | sort)
if (( ${#files[@]} == 0 )); then
  echo "run-bats: no *.bats files under ${paths[*]}" >&2
  exit 0
fi
exec node_modules/bats/bin/bats --timing "${opts[@]}" "${files[@]}"
