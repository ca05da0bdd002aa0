# shellcheck shell=bash
# lib/phase.sh - the skeleton every setup/phaseN_*.sh script shares: its command line, one lock,
# rollback on failure, and the call of the script's mode::NAME function. A phase script holds only
# its service's steps:
#
#   PHASE_LOCK=redis                                  # the lock its changing modes take
#   PHASE_MODES=(bootstrap join standalone status add-node remove-node leave witness)
#   mode::bootstrap() { ... }  mode::add_node() { ... }   # one per mode, dashes as underscores
#                                                     # (no mode::standalone: --standalone is --bootstrap)
#   phase::init() { node::require_self; }            # optional: after parsing, before the mode
#   main() { phase::main "$@"; }                      # the one entry call at the bottom
#   main "$@"
#
# Shared flags (a script lists the modes it supports in PHASE_MODES; others are a usage error):
#   --bootstrap --join --standalone --status --add-node IP --remove-node IP --leave --refresh
#   --peer IP  --include IP / --exclude IP (with --refresh; alone they imply it)  --dry-run
#   --yes (--force)  --json  --help
# One name for the remote half of a membership change: --leave, run on the node being removed
# (--stop-local and --stop are kept as aliases). --refresh --include/--exclude IP is the half run on
# every other member (update its member list).
# The script's own modes go in PHASE_MODES too (--witness, --reconfigure, ...); other flags of its own
# are handled by a phase::own_arg ARGS... function that returns 0 and sets PHASE_SHIFT when it knows
# "$1". PHASE_READONLY_MODES (default: status) run without the lock, and their exit status is the
# script's. PHASE_JOIN_NEEDS_PEER=1 makes --peer mandatory with --join. PHASE_LOCK_WAIT=S (set in
# phase::init, e.g. for --refresh) waits up to S seconds for a run that holds the lock instead of exit 4.
#
# After parsing: MODE, PEER, TARGET (--add-node/--remove-node IP), MEMBER_CHANGE (include|exclude)
# and MEMBER_IP, JSON (0/1), DRY_RUN, ASSUME_YES, DRY_ARGS (--dry-run or nothing, to pass on to peers).
#
# Rollback: lib::on_exit rolls back every file the run replaced, and calls the run::on_rollback steps
# (stop a daemon the run started), whenever the script exits non-zero; a mode that must keep some
# changes on failure (other members already read them) calls run::commit_files at that point.

MODE="" PEER="" TARGET="" MEMBER_CHANGE="" MEMBER_IP="" JSON=0 DRY_ARGS=()
PHASE_SHIFT=0
PHASE_LOCK_WAIT=0
PHASE_JOIN_NEEDS_PEER=${PHASE_JOIN_NEEDS_PEER:-0}
PHASE_READONLY_MODES=(status)

# phase::_has WORD LIST...: WORD is one of LIST.
phase::_has() {
  local w=$1 x
  shift
  for x in "$@"; do [[ $x == "$w" ]] && return 0; done
  return 1
}

# phase::_modes_text: "--bootstrap, --join, ..." for the usage messages.
phase::_modes_text() {
  local m out=""
  for m in "${PHASE_MODES[@]}"; do out+="${out:+, }--$m"; done
  printf '%s\n' "$out"
}

phase::_set_mode() {
  phase::_has "$1" "${PHASE_MODES[@]}" || lib::usage_error "--$1 is not a mode of this script (choose one of $(phase::_modes_text))"
  [[ -z $MODE || $MODE == "$1" ]] || lib::usage_error "only one mode at a time (--$MODE and --$1)"
  MODE=$1
}

# phase::_ip_arg FLAG VALUE: VALUE is present and not another flag.
phase::_ip_arg() {
  [[ -n ${2:-} && ${2:-} != --* ]] || lib::usage_error "$1 needs a node address"
}

# shellcheck disable=SC2034 # DRY_RUN and ASSUME_YES are read by lib/run.sh and lib/ui.sh
phase::parse_args() {
  while (( $# )); do
    case "$1" in
      --stop-local|--stop) phase::_set_mode leave ;;   # the old names of --leave
      --add-node|--remove-node)
        phase::_ip_arg "$1" "${2:-}"
        phase::_set_mode "${1#--}"
        TARGET=$2
        shift
        ;;
      --include|--exclude)
        phase::_ip_arg "$1" "${2:-}"
        [[ -z $MEMBER_CHANGE ]] || lib::usage_error "one of --include and --exclude at a time"
        MEMBER_CHANGE=${1#--}
        MEMBER_IP=$2
        shift
        ;;
      --peer) phase::_ip_arg "$1" "${2:-}"; PEER=$2; shift ;;
      --dry-run) DRY_RUN=1 ;;
      --yes|--force) ASSUME_YES=1 ;;
      --json) JSON=1 ;;
      --[a-z]*)
        if declare -F phase::own_arg >/dev/null && phase::own_arg "$@"; then
          shift "$PHASE_SHIFT"
          continue
        fi
        phase::_has "${1#--}" "${PHASE_MODES[@]}" || lib::usage_error "unknown argument: $1"
        phase::_set_mode "${1#--}"
        ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  if [[ -n $MEMBER_CHANGE && -z $MODE ]]; then phase::_set_mode refresh; fi
  [[ -n $MODE ]] || lib::usage_error "say what to do: one of $(phase::_modes_text)"
  if [[ -n $MEMBER_CHANGE && $MODE != refresh ]]; then lib::usage_error "--$MEMBER_CHANGE goes with --refresh"; fi
  if [[ $MODE == join && $PHASE_JOIN_NEEDS_PEER == 1 && -z $PEER ]]; then
    lib::usage_error "--join needs --peer IP (a live member)"
  fi
  if [[ -n $TARGET ]] && ! node::index_of "$TARGET" >/dev/null; then
    lib::usage_error "$TARGET is not a configured node (not in cluster_config.yaml: ${NODE_IPS[*]}); add it there, regenerate the toolkit and copy it to every node first"
  fi
  if [[ -n $PEER ]] && ! node::index_of "$PEER" >/dev/null; then
    lib::usage_error "--peer $PEER is not a configured node (not in cluster_config.yaml: ${NODE_IPS[*]})"
  fi
  if run::is_dry; then DRY_ARGS=(--dry-run); fi
  return 0
}

# phase::main ARGS...: --help, parse, phase::init, then the mode: a read-only mode as it is (its exit
# status is the script's), any other under the lock, committed when it returns.
phase::main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  phase::parse_args "$@"
  if declare -F phase::init >/dev/null; then phase::init; fi
  local fn="mode::${MODE//-/_}" rc=0
  # A one-node deployment is a bootstrap with no one to join, unless the script says otherwise.
  if [[ $MODE == standalone ]] && ! declare -F "$fn" >/dev/null; then fn=mode::bootstrap; fi
  if phase::_has "$MODE" "${PHASE_READONLY_MODES[@]}"; then
    "$fn" || rc=$?
    exit "$rc"
  fi
  lock::acquire "$PHASE_LOCK" "$PHASE_LOCK_WAIT"
  "$fn"
  run::commit_files
}

# phase::on_members SCRIPT ARGS... < IPS: run the toolkit SCRIPT with ARGS (plus DRY_ARGS) on every node
# of the list on stdin (one IP a line; this node and empty lines are skipped). A node that fails or
# cannot be reached is reported with the command to run there later; returns 1 when any did.
phase::on_members() {
  local script=$1 ip failed=0 ips=()
  shift
  mapfile -t ips
  for ip in "${ips[@]}"; do
    [[ -n $ip && $ip != "${SELF_IP:-}" ]] || continue
    # </dev/null: ssh must not read what the caller reads.
    if ! remote::toolkit "$ip" "$script" "$@" "${DRY_ARGS[@]+"${DRY_ARGS[@]}"}" < /dev/null; then
      log::warn "could not update $ip (down?); run there when it is back: $script $(run::quote "$@")"
      failed=1
    fi
  done
  return "$failed"
}
