#!/usr/bin/env bash
# Usage: vip_switchover.sh [--to IP] [--timeout SECONDS] [--dry-run] [--yes]
# Summary: Move the VIP away from the node that holds it (to IP, or to the best other node).
#
# Runs on any node (peers are reached over SSH). The holder - and with --to every node except IP -
# is marked "released" (STATE_DIR/vip_release), so its health check fails and keepalived puts it in
# FAULT, which hands the VIP to the highest-priority fit node. Once the VIP has moved the marks are
# removed: those nodes return as BACKUP and, with nopreempt, leave the VIP where it now is.
# Refuses unless exactly one node holds the VIP, and refuses a target that is not fit itself.
#
#   --to IP        the node that should hold the VIP afterwards
#   --timeout S    how long to wait for the move (default 30)
#   --dry-run      print what would be done
#   --yes          do not ask for confirmation
#
# --force is the same as --yes.
# Exit codes: 0 moved, 1 did not move in time (nothing left changed), 2 usage, 4 locked,
#             5 the VIP is not held by exactly one node, 6 refused (target unfit, single node).
# shellcheck source=../lib/keepalived.sh
source "$HPC_LIB_DIR/keepalived.sh"

TARGET=""
TIMEOUT=30
RELEASED=()
OLD_HOLDER=""

# shellcheck disable=SC2034 # DRY_RUN and ASSUME_YES are read by lib/run.sh and lib/ui.sh
parse_args() {
  while (( $# )); do
    case "$1" in
      --to) [[ -n ${2:-} ]] || lib::usage_error "--to needs an IP"; TARGET=$2; shift ;;
      --timeout) [[ ${2:-} =~ ^[0-9]+$ ]] || lib::usage_error "--timeout needs a number of seconds"; TIMEOUT=$2; shift ;;
      --dry-run) DRY_RUN=1 ;;
      --yes|--force) ASSUME_YES=1 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  if [[ -n $TARGET ]] && ! node::index_of "$TARGET" >/dev/null; then
    lib::usage_error "$TARGET is not a configured node (${NODE_IPS[*]})"
  fi
}

# release IP / unrelease IP: set or clear the release mark on a node.
release() {
  if [[ $1 == "$SELF_IP" ]]; then
    run::mkdir "$(dirname "$(vip::release_file)")"
    run::cmd touch "$(vip::release_file)"
  else
    # shellcheck disable=SC2016 # expanded by the remote shell
    run::cmd remote::run "$1" sh -c 'mkdir -p "$(dirname "$1")" && touch "$1"' sh "$STATE_DIR/vip_release"
  fi
  RELEASED+=("$1")
}

unrelease_all() {
  local ip
  for ip in "${RELEASED[@]+"${RELEASED[@]}"}"; do
    if [[ $ip == "$SELF_IP" ]]; then
      run::cmd rm -f "$(vip::release_file)"
    elif ! run::cmd remote::run "$ip" rm -f "$STATE_DIR/vip_release"; then
      log::error "could not clear the release mark on $ip: run there: rm -f $STATE_DIR/vip_release"
    fi
  done
  RELEASED=()
}

moved() {
  vip::read_holders
  (( ${#HOLDERS[@]} == 1 )) || return 1
  [[ ${HOLDERS[0]} != "$OLD_HOLDER" ]] || return 1
  [[ -z $TARGET || ${HOLDERS[0]} == "$TARGET" ]]
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  local ip start new
  node::require_self
  lock::acquire vip-switchover
  (( NODE_COUNT > 1 )) || die "a one-node cluster has nowhere to move the VIP to" "$EXIT_REFUSED"

  log::phase preflight
  vip::read_holders
  if (( ${#HOLDERS[@]} != 1 )); then
    die "the VIP $VIP_ADDRESS is held by ${#HOLDERS[@]} nodes (${HOLDERS[*]:-none}${UNKNOWN[*]:+; could not ask ${UNKNOWN[*]}}); fix that first (setup/phase4_keepalived_setup.sh --status --cluster)" "$EXIT_PREFLIGHT"
  fi
  OLD_HOLDER=${HOLDERS[0]}
  if [[ $TARGET == "$OLD_HOLDER" ]]; then log::ok "$TARGET already holds the VIP; nothing to do"; return 0; fi
  if [[ -n $TARGET ]] && ! remote::toolkit "$TARGET" utils/check_all_services.sh >/dev/null 2>&1; then
    die "$TARGET is not fit to hold the VIP (see: utils/check_all_services.sh on $TARGET)" "$EXIT_REFUSED"
  fi
  ui::confirm "Move the VIP $VIP_ADDRESS away from $OLD_HOLDER ($(node::hostname_of "$OLD_HOLDER"))${TARGET:+ to $TARGET}?" \
    || die "cancelled" "$EXIT_REFUSED"

  log::phase switchover
  start=$EPOCHREALTIME
  # Whatever happens from here on, the release marks go away again.
  trap 'unrelease_all; lib::on_exit' EXIT
  release "$OLD_HOLDER"
  if [[ -n $TARGET ]]; then
    for ip in "${NODE_IPS[@]}"; do
      [[ $ip == "$TARGET" || $ip == "$OLD_HOLDER" ]] || release "$ip"
    done
  fi
  if run::is_dry; then unrelease_all; return 0; fi
  if ! run::wait_until "$TIMEOUT" "the VIP to leave $OLD_HOLDER" moved; then
    unrelease_all
    die "the VIP did not move within ${TIMEOUT}s; the release marks are cleared again (check utils/check_all_services.sh on the other nodes)"
  fi
  new=${HOLDERS[0]}
  unrelease_all
  trap 'lib::on_exit' EXIT
  log::ok "the VIP $VIP_ADDRESS moved from $OLD_HOLDER to $new ($(node::hostname_of "$new")) in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
}

main "$@"
