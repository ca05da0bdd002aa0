# shellcheck shell=bash
# lib/log.sh - "==> [phase] message" to stderr, and a timestamped copy in the log file.
HPC_PHASE="${HPC_PHASE:-main}"

log::init() {
  local dir
  HPC_LOG_FILE="${HPC_LOG_FILE:-$(path::of "/var/log/hpc-cluster/${HPC_TOOL}.log")}"
  dir="$(dirname "$HPC_LOG_FILE")"
  if ! mkdir -p "$dir" 2>/dev/null || ! touch "$HPC_LOG_FILE" 2>/dev/null; then
    HPC_LOG_FILE=""
    return 0
  fi
  # Logs name hosts, paths and commands: root reads them, other local users do not.
  chmod 0640 "$HPC_LOG_FILE" 2>/dev/null || true
  [[ $dir != "$(path::of /var/log/hpc-cluster)" ]] || chmod 0750 "$dir" 2>/dev/null || true
}

log::_color() {
  [[ -t 2 && -z "${NO_COLOR:-}" ]]
}

log::_emit() {
  local level=$1 color=$2 msg=$3 prefix
  prefix="==> [${HPC_PHASE}]"
  if log::_color && [[ -n $color ]]; then
    printf '\033[%sm%s\033[0m %s\n' "$color" "$prefix" "$msg" >&2
  else
    printf '%s %s\n' "$prefix" "$msg" >&2
  fi
  log::to_file "$level" "$msg"
}

# log::to_file LEVEL MESSAGE: only the log file (for command traces and details).
log::to_file() {
  [[ -n "${HPC_LOG_FILE:-}" ]] || return 0
  printf '%s [%s] [%s] %s %s\n' "$(date '+%Y-%m-%dT%H:%M:%S%z')" "$HPC_TOOL" "$HPC_PHASE" "$1" "$2" >> "$HPC_LOG_FILE" 2>/dev/null || true
}

log::info()  { log::_emit INFO "1;34" "$*"; }
log::ok()    { log::_emit OK "1;32" "$*"; }
log::warn()  { log::_emit WARN "1;33" "WARNING: $*"; }
log::error() { log::_emit ERROR "1;31" "ERROR: $*"; }

# log::phase NAME: the phase name shown on every following line and named by the ERR trap.
log::phase() {
  HPC_PHASE=$1
}

# die MESSAGE [EXIT_CODE]: the most important line last, then exit (default 1).
die() {
  # shellcheck disable=SC2034 # read by lib::on_exit (common.sh)
  HPC_FAILED=1
  log::error "$1"
  exit "${2:-1}"
}

log::init
