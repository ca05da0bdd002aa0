#!/usr/bin/env bash
# Usage: vip_notify.sh TYPE NAME STATE [PRIORITY]
# Summary: keepalived's notify script: record a VRRP transition and move the Slurm controller with the VIP.
#
# keepalived calls it as `vip_notify.sh INSTANCE VI_HPC MASTER 100` on every transition
# (STATE is MASTER, BACKUP, FAULT or STOP). It
#   - appends a timestamped line to /var/log/hpc-cluster/vip_transitions.log (monitoring reads it),
#   - records the state in STATE_DIR/vip_state,
#   - on MASTER, asks the slurmctld on this node to take control (`scontrol takeover`) when it runs
#     here as a backup controller and no controller ahead of it answers `scontrol ping`, so the
#     scheduler follows the VIP after a node loss without waiting SlurmctldTimeout. A takeover makes
#     the controllers ahead of this one shut down (Slurm's protocol), so it is never asked while one of
#     them is UP: a VRRP flap (a loaded machine, a late advert) must not stop a healthy primary.
#     Slurm has no "demote": on BACKUP/FAULT/STOP the local slurmctld simply stays a backup.
# Safe to run twice and concurrently (two nodes were seen MASTER for ~25 ms): runs are serialized,
# and a takeover of a controller that is already in control changes nothing.
#
# Exit codes: 0 ok, 2 usage.
# shellcheck source=../lib/keepalived.sh
source "$HPC_LIB_DIR/keepalived.sh"
# shellcheck source=../lib/monitoring.sh
source "$HPC_LIB_DIR/monitoring.sh"

# slurm_conf: Debian's path; SLURM_CONF overrides as it does for the Slurm commands themselves.
slurm_conf() {
  printf '%s\n' "${SLURM_CONF:-$(path::of /etc/slurm/slurm.conf)}"
}

# slurm_backup_index: this host's position among the SlurmctldHost lines (0 = primary), or fail.
slurm_backup_index() {
  local conf line host i=0 me re='^[[:space:]]*SlurmctldHost[[:space:]]*=[[:space:]]*([^[:space:](]+)'
  conf="$(slurm_conf)"
  [[ -r $conf ]] || return 1
  me="$(hostname -s 2>/dev/null || hostname)"
  while IFS= read -r line; do
    [[ $line =~ $re ]] || continue
    host=${BASH_REMATCH[1]}
    if [[ $host == "$me" || $host == "${SELF_HOSTNAME:-}" ]]; then printf '%s\n' "$i"; return 0; fi
    i=$(( i + 1 ))
  done < "$conf"
  return 1
}

# record_transition STATE PRIORITY: one line per transition, with milliseconds.
record_transition() {
  local state=$1 prio=$2 log statefile
  log="$(vip::transitions_log)"
  statefile="$(vip::state_file)"
  mkdir -p "$(dirname "$log")" "$(dirname "$statefile")"
  printf '%s %s %s %s priority=%s vip=%s\n' "$(date '+%Y-%m-%dT%H:%M:%S.%3N%z')" \
    "${SELF_HOSTNAME:-$(hostname)}" "${SELF_IP:-?}" "$state" "${prio:--}" "$VIP_ADDRESS" >> "$log"
  printf '%s\n' "$state" > "$statefile.tmp.$$"
  mv -f "$statefile.tmp.$$" "$statefile"
}

# controller_ahead_up INDEX: print the host of a controller listed before INDEX (0 = primary) that
# answers `scontrol ping` UP; fail when none does.
controller_ahead_up() {
  local line re='^Slurmctld\((primary|backup([0-9]*))\) at ([^ ]+) is UP' i
  while IFS= read -r line; do
    [[ $line =~ $re ]] || continue
    if [[ ${BASH_REMATCH[1]} == primary ]]; then i=0; else i=${BASH_REMATCH[2]:-1}; fi
    if (( i < $1 )); then printf '%s\n' "${BASH_REMATCH[3]}"; return 0; fi
  done < <(timeout 15 scontrol ping 2>/dev/null || true)
  return 1
}

# promote_slurmctld: take over Slurm control here if slurmctld runs on this node as a backup.
promote_slurmctld() {
  local index ahead
  pgrep -x slurmctld >/dev/null 2>&1 || { log::to_file INFO "no slurmctld on this node; nothing to promote"; return 0; }
  if ! index="$(slurm_backup_index)"; then
    log::to_file INFO "this host is not a SlurmctldHost in $(slurm_conf); nothing to promote"
    return 0
  fi
  if (( index == 0 )); then
    # The primary controller takes control by itself whenever it runs.
    log::to_file INFO "slurmctld here is the primary controller; nothing to promote"
    return 0
  fi
  if ahead="$(controller_ahead_up "$index")"; then
    log::to_file INFO "slurmctld here is backup $index and $ahead (ahead of it) is UP: no takeover (it would stop $ahead)"
    return 0
  fi
  if timeout 15 scontrol takeover "$index" >/dev/null 2>&1; then
    log::info "slurmctld here (backup $index) took over control with the VIP"
  else
    log::warn "scontrol takeover $index failed; the backup takes over after SlurmctldTimeout (${SLURM_CONTROLLER_TIMEOUT}s)"
  fi
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  (( $# >= 3 )) || lib::usage_error "expected TYPE NAME STATE [PRIORITY] (as keepalived passes them)"
  local state=$3 prio=${4:-} lockfile i
  case "$state" in
    MASTER|BACKUP|FAULT|STOP) ;;
    *) lib::usage_error "unknown state: $state (expected MASTER, BACKUP, FAULT or STOP)" ;;
  esac
  log::phase "$state"
  # Best effort: a transition is recorded even if this host's address cannot be matched.
  SELF_IP="" SELF_HOSTNAME=""
  if i="$(node::self_index)"; then SELF_IP=${NODE_IPS[i]} SELF_HOSTNAME=${NODE_HOSTNAMES[i]}; fi
  # Serialize: keepalived may fire a new transition while the previous notify still runs.
  lockfile="$(lock::dir)/hpc-cluster-vip-notify.lock"
  exec {notify_fd}<>"$lockfile"
  flock -w 30 "$notify_fd" || log::warn "another vip_notify.sh run held the lock for 30 s; going on"
  record_transition "$state" "$prio"
  monitoring::vip_transition "$state"
  log::to_file INFO "VRRP $1 $2 is now $state (priority ${prio:--})"
  if [[ $state == MASTER ]]; then promote_slurmctld; fi
}

main "$@"
