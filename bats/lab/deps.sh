#!/usr/bin/env bash
# Usage: bats/lab/deps.sh [--check]
# Summary: Install every Debian package the lab and the lab tests need (list: bats/lab/deps.list).
#   Idempotent: when everything is installed apt is not touched at all. No daemon is started on the
#   host: a /usr/sbin/policy-rc.d that exits 101 is created if there is none (and kept).
#   --check  only report which packages are missing (exit 1 if any)
set -Eeuo pipefail

readonly DEPS_NAME=deps.sh
DEPS_LIST="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/deps.list"
readonly DEPS_LIST

log() { printf '==> [%s] %s\n' "$DEPS_NAME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$DEPS_NAME" "$*" >&2; exit 1; }

packages() {
  local pkg _
  while read -r pkg _; do
    [[ -z $pkg || $pkg == \#* ]] && continue
    printf '%s\n' "$pkg"
  done <"$DEPS_LIST"
}

missing_packages() {
  local pkg status
  while read -r pkg; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) || status=""
    [[ $status == installed ]] || printf '%s\n' "$pkg"
  done < <(packages)
}

ensure_policy_rc_d() {
  [[ -e /usr/sbin/policy-rc.d ]] && return 0
  log "creating /usr/sbin/policy-rc.d (exit 101): package scripts start no daemon on this host"
  printf '#!/bin/sh\n# created by bats/lab/deps.sh: daemons run inside lab nodes, never on the host\nexit 101\n' \
    >/usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
}

main() {
  local check=0 missing
  case ${1:-} in
    --check) check=1 ;;
    -h | --help) sed -n '2,/^set -Eeuo/{/^set -Eeuo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; return 0 ;;
    "") ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  [[ -r $DEPS_LIST ]] || die "$DEPS_LIST not found"
  ((check)) || [[ $(id -u) -eq 0 ]] || die "must run as root (it installs Debian packages); try --check"
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    log "all $(packages | wc -l) lab packages are installed; nothing to do"
    return 0
  fi
  if ((check)); then
    printf 'missing: %s\n' "${missing[*]}"
    return 1
  fi
  ensure_policy_rc_d
  export DEBIAN_FRONTEND=noninteractive
  log "apt-get update"
  apt-get update -q
  log "installing: ${missing[*]}"
  apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) || die "still missing after apt-get install: ${missing[*]}"
  log "done"
}

main "$@"
