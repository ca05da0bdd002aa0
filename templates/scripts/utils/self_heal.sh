#!/usr/bin/env bash
# Usage: self_heal.sh [--install | --uninstall | --status] [--timeout S] [--majority-after S] [--dry-run]
# Summary: After a boot, bring this member back into every service with no command (run by hpc-cluster-heal.service).
#
# Without an option (what the boot unit runs):
#   [1] a node that was never a member (no cluster id) has nothing to heal: exit 0;
#   [2] start_multi_complete.sh in auto mode, over and over until it succeeds: it joins when a peer
#       reports a live Primary component (Galera by IST when the gap allows, Redis with its own node id,
#       the GlusterFS mount before anything that needs it, Slurm, keepalived with nopreempt), and it never
#       bootstraps a former member - the same evidence rules as a run by hand;
#   [3] when no peer runs a Primary (every member lost power, or all but one: that one waits without
#       quorum and runs no heal), only the highest-priority booted member that answers SSH acts: it
#       runs galera_auto_recover.sh, which waits until every member has reported (wait-for-all) and
#       restarts the cluster from the most advanced one (highest seqno, then priority);
#       after --majority-after seconds a majority of the members is enough (the others are named as
#       missing; their writes after the others' are lost). The decision is logged in
#       /var/log/hpc-cluster/galera_recovery.log and /var/log/hpc-cluster/self_heal.log. The others wait
#       and join in [2].
#   --install / --uninstall   write and enable (or disable and remove) hpc-cluster-heal.service
#                             (systemd); without systemd run this script from the container's entrypoint
#   --status                  exit 0 when the unit is enabled
#   --timeout S               give up after S seconds (default 1800)
#   --majority-after S        wait-for-all for S seconds, then a majority is enough (default 120)
#
# Exit codes: 0 ok, 1 error or timeout, 2 usage, 4 another run holds the lock.
# shellcheck source=../lib/orchestrate.sh
source "$HPC_LIB_DIR/orchestrate.sh"

HEAL_UNIT=hpc-cluster-heal.service
ACTION=run TIMEOUT=1800 MAJORITY_AFTER=120

parse_args() {
  while (( $# )); do
    case "$1" in
      --install) ACTION=install ;;
      --uninstall) ACTION=uninstall ;;
      --status) ACTION=status ;;
      --timeout) [[ ${2:-} =~ ^[0-9]+$ ]] || lib::usage_error "--timeout needs seconds"; TIMEOUT=$2; shift ;;
      --majority-after) [[ ${2:-} =~ ^[0-9]+$ ]] || lib::usage_error "--majority-after needs seconds"; MAJORITY_AFTER=$2; shift ;;
      --dry-run) export DRY_RUN=1 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
}

# ---- the boot unit ------------------------------------------------------------------------------------
install_unit() {
  local unit_dir TOOLKIT_DIR MOUNT_UNIT
  [[ "$(svc::init_system)" == systemd ]] \
    || die "no systemd here: run $HPC_TOOLKIT_DIR/utils/self_heal.sh from the entrypoint instead (see docs)" "$EXIT_REFUSED"
  # shellcheck disable=SC2034 # read by tpl::render
  TOOLKIT_DIR=$HPC_TOOLKIT_DIR
  # shellcheck disable=SC2034
  MOUNT_UNIT="$(systemd-escape -p --suffix=mount "$STORAGE_MOUNT_POINT")"
  unit_dir="$(path::of /etc/systemd/system)"
  run::write_file "$unit_dir/$HEAL_UNIT" 0644 < <(tpl::render "$(tpl::path "$HEAL_UNIT")" TOOLKIT_DIR MOUNT_UNIT)
  if (( RUN_CHANGED )); then run::cmd systemctl daemon-reload; fi
  if ! systemctl is-enabled --quiet "$HEAL_UNIT" 2>/dev/null; then run::cmd systemctl enable "$HEAL_UNIT"; fi
  run::commit_files
  log::ok "$HEAL_UNIT enabled: this node rejoins the cluster by itself after a boot"
}

uninstall_unit() {
  [[ "$(svc::init_system)" == systemd ]] || { log::info "no systemd here: nothing installed"; return 0; }
  run::cmd systemctl disable "$HEAL_UNIT" || true
  run::cmd rm -f -- "$(path::of "/etc/systemd/system/$HEAL_UNIT")"
  run::cmd systemctl daemon-reload
}

# ---- whole-cluster power loss ---------------------------------------------------------------------
# answering: the members whose SSH answers now (this node included), highest priority first.
answering() {
  local ip
  for ip in "${NODE_IPS[@]}"; do
    if remote::answers "$ip" 10; then printf '%s\n' "$ip"; fi
  done
}

# leader EVIDENCE UP...: the member that leads the recovery: the first (highest-priority) answering one
# that booted. A member whose database still runs, non-Primary, kept its power (3 of 4 lost: the
# survivor waits without quorum) and runs no heal of its own, so waiting for it would wait forever; the
# booted leader's galera_auto_recover.sh promotes it in place when it is the most advanced.
leader() {
  local ev=$1 ip
  shift
  for ip in "$@"; do
    [[ $ip != "$SELF_IP" && "$(evidence::get "$ev" "$ip" cluster_status)" == non-Primary ]] && continue
    printf '%s\n' "$ip"
    return 0
  done
}

# recover_outage ELAPSED EVIDENCE: no peer runs a Primary. The leader (above) restarts the database
# cluster (galera_auto_recover.sh decides which node starts it); every other node waits.
recover_outage() {
  local elapsed=$1 ev=$2 ip up=() missing=() args=(--yes) rc=0 lead
  mapfile -t up < <(answering)
  lead="$(leader "$ev" "${up[@]}")"
  if [[ $lead != "$SELF_IP" ]]; then
    log::info "no Primary yet; ${lead:-another member} (higher priority, answering, booted) leads the recovery; waiting"
    return 0
  fi
  for ip in "${NODE_IPS[@]}"; do
    [[ " ${up[*]} " == *" $ip "* ]] || missing+=("$ip")
  done
  if (( ${#missing[@]} )); then
    if (( elapsed < MAJORITY_AFTER )); then
      log::info "whole-cluster outage: ${#up[@]}/$NODE_COUNT members answer; waiting for all (a majority is enough after ${MAJORITY_AFTER}s, ${elapsed}s so far)"
      return 0
    fi
    if (( ${#up[@]} < QUORUM_SIZE )); then
      log::warn "whole-cluster outage: only ${#up[@]}/$NODE_COUNT members answer after ${elapsed}s (a majority is $QUORUM_SIZE); waiting"
      return 0
    fi
    log::warn "whole-cluster outage: after ${elapsed}s a majority answers (${up[*]}); recovering without ${missing[*]}"
    args+=(--force-with-missing "$(IFS=,; printf '%s' "${missing[*]}")")
  else
    log::info "whole-cluster outage: every member answers; recovering from the most advanced one"
  fi
  log::info "this node ($SELF_HOSTNAME, priority $SELF_PRIORITY) leads the recovery: utils/galera_auto_recover.sh ${args[*]}"
  "$HPC_TOOLKIT_DIR/utils/galera_auto_recover.sh" "${args[@]}" || rc=$?
  if (( rc == 0 )); then
    log::ok "the database cluster runs again (the chosen node and why: /var/log/hpc-cluster/galera_recovery.log)"
  else
    log::warn "galera_auto_recover.sh exited $rc; trying again"
  fi
}

# ---- the boot run -----------------------------------------------------------------------------------
heal() {
  local start rc elapsed ev
  node::require_self
  if [[ -z "$(cluster_id::get 2>/dev/null || true)" ]]; then
    log::info "this node was never a member of a cluster: nothing to heal"
    return 0
  fi
  run::is_dry && { printf '[dryrun] would run: start_multi_complete.sh --yes (until it succeeds)\n'; return 0; }
  start=$SECONDS
  while :; do
    elapsed=$((SECONDS - start))
    (( elapsed < TIMEOUT )) || die "not back in the cluster after ${TIMEOUT}s; see /var/log/cluster_setup.log"
    rc=0
    "$HPC_TOOLKIT_DIR/start_multi_complete.sh" --yes >/dev/null 2>&1 || rc=$?
    case "$rc" in
      0) log::ok "back in the cluster after ${elapsed}s (start_multi_complete.sh, auto mode)"; return 0 ;;
      4) log::info "another toolkit run holds the lock; waiting" ;;
      6)
        # the evidence auto mode uses: does a peer run a Primary, and which peers still run non-Primary
        ev="$(orch::evidence 2>/dev/null)" || ev=""
        if [[ -n "$(orch::primary_peer "$ev")" ]]; then
          log::info "start_multi_complete.sh refused (exit 6) although a peer runs a Primary; retrying"
        else
          recover_outage "$elapsed" "$ev"
        fi
        ;;
      *) log::warn "start_multi_complete.sh exited $rc (see /var/log/cluster_setup.log); retrying" ;;
    esac
    sleep 5
  done
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  case "$ACTION" in
    install) install_unit ;;
    uninstall) uninstall_unit ;;
    status) systemctl is-enabled --quiet "$HEAL_UNIT" 2>/dev/null; exit ;;
    run)
      HPC_LOG_FILE="$(path::of /var/log/hpc-cluster/self_heal.log)"
      export HPC_LOG_FILE
      log::init
      lock::acquire self-heal
      log::phase heal
      heal
      ;;
  esac
}

main "$@"
