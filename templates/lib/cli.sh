# shellcheck shell=bash
# lib/cli.sh - the command-line pieces that scripts outside setup/ share (the setup scripts have their
# whole command line in lib/phase.sh). Sourced by lib/common.sh.
#
#   cli::seconds FLAG VALUE   a flag's value in whole seconds
#   cli::report_args ARGS...  the command line of the discovery reports: --help, --json, --timeout S
#   cli::only FLAG            --only-configs / --only-databases / --only-state of backup.sh and restore.sh

CLI_SHIFT=1
CLI_ONLY=()

# cli::seconds FLAG VALUE: VALUE is a whole number of seconds above 0, else a usage error.
cli::seconds() {
  [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || lib::usage_error "$1 needs a whole number of seconds"
}

# cli::report_args ARGS...: the command line of auto_discovery.sh, check_cluster_status.sh and
# cluster_info.sh: -h/--help prints the help and exits, --json sets JSON=1, --timeout S sets TIMEOUT.
# Any other word goes to the script's cli::own_arg ARGS..., which returns 0 when it knows "$1" (and
# sets CLI_SHIFT=2 when it took a value as well); a word nobody knows is a usage error.
# shellcheck disable=SC2034 # JSON and TIMEOUT are read by the scripts
cli::report_args() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  while (( $# )); do
    CLI_SHIFT=1
    case "$1" in
      --json) JSON=1 ;;
      --timeout) cli::seconds "$1" "${2:-}"; TIMEOUT=$2; CLI_SHIFT=2 ;;
      *)
        if ! declare -F cli::own_arg >/dev/null || ! cli::own_arg "$@"; then
          lib::usage_error "unknown argument: $1"
        fi
        ;;
    esac
    shift "$CLI_SHIFT"
  done
}

# cli::only FLAG: one of --only-configs, --only-databases, --only-state (a second is a usage error):
# CLI_ONLY = the snapshot items of that part, the ones backup.sh takes and restore.sh puts back.
cli::only() {
  (( ${#CLI_ONLY[@]} == 0 )) || lib::usage_error "choose one of --only-configs, --only-databases, --only-state"
  case "$1" in
    --only-configs) CLI_ONLY=(configs) ;;
    --only-databases) CLI_ONLY=(databases redis_rdb) ;;
    --only-state) CLI_ONLY=(slurm_state shared_storage state) ;;
    *) lib::usage_error "unknown argument: $1" ;;
  esac
}
