# shellcheck shell=bash
# lib/backup_restore_services.sh - restore steps [6] and [8]: stop the daemons that use the data, start them again.
# Steps of backup/restore.sh: they read its globals (SNAP_ID, SNAP_DIR, ITEMS, SKIP, STOPPED) and its
# has_item/skipped. Sourced by restore.sh only, after lib/backup.sh.


# The daemons that use the restored data, in stopping order: web first, the VIP last.
stop_candidates() {
  local w
  for w in "${WEB_SERVICE_NAMES[@]}"; do printf '%s\n' "$w"; done
  printf '%s\n' slurmctld slurmd slurmdbd keepalived
}

running_candidates() {
  local s
  while IFS= read -r s; do
    if is_running "$s"; then printf '%s\n' "$s"; fi
  done < <(stop_candidates)
}

# Without systemd, some Debian init scripts answer "status" with 0 for a daemon that is not running
# (keepalived; slurmctld without slurm.conf): ask for the process itself when it is a known daemon.
is_running() {
  case "$(svc::init_system)" in
    systemd) svc::is_running "$1" ;;
    *)
      case "$1" in
        slurmctld|slurmd|slurmdbd|keepalived) pgrep -x "$1" >/dev/null 2>&1 ;;
        *) svc::is_running "$1" 2>/dev/null ;;
      esac
      ;;
  esac
}

stop_services() {
  local s
  mapfile -t STOPPED < <(running_candidates)
  for s in "${STOPPED[@]+"${STOPPED[@]}"}"; do
    log::info "stopping $s"
    svc::stop "$s" || return 1
    # init scripts return before the daemon is gone (keepalived takes a second or two), and a start
    # while the old process still holds its pid file fails
    run::wait_until 60 "$s to stop" is_stopped "$s" || return 1
  done
}

is_stopped() {
  ! is_running "$1"
}

# On a cluster member (it has a cluster id), start through the orchestrator when it is built; exit 3
# (not built) or a node that was never set up by the toolkit: start again what was stopped.
start_services() {
  local smc="$HPC_TOOLKIT_DIR/start_multi_complete.sh" rc=0 i
  if [[ -x $smc && -n "$(backup::cluster_id)" ]]; then
    log::info "starting the cluster services: start_multi_complete.sh --force --yes"
    "$smc" --force --yes || rc=$?
    (( rc == 0 )) && return 0
    (( rc == EXIT_NOT_IMPLEMENTED )) || return "$rc"
    log::info "start_multi_complete.sh is not built in this toolkit: starting the services stopped before"
  fi
  for (( i=${#STOPPED[@]}-1; i>=0; i-- )); do
    log::info "starting ${STOPPED[i]}"
    svc::start "${STOPPED[i]}" || return 1
  done
}

verify_after() {
  local info="$HPC_TOOLKIT_DIR/utils/cluster_info.sh" rc=0 s
  for s in "${STOPPED[@]+"${STOPPED[@]}"}"; do
    if ! run::wait_until 60 "$s to run" is_running "$s"; then
      log::warn "$s was running before the restore and is not now; check its log"
    fi
  done
  if [[ -x $info && -n "$(backup::cluster_id)" ]]; then
    "$info" >&2 || rc=$?
    if (( rc == EXIT_NOT_IMPLEMENTED )); then
      log::info "cluster_info.sh is not built in this toolkit; services checked one by one above"
    elif (( rc != 0 )); then
      log::warn "cluster_info.sh reports a problem (exit $rc); see above"
    fi
  fi
}
