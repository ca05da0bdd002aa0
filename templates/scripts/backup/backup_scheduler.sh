#!/usr/bin/env bash
# Usage: backup_scheduler.sh [--install | --remove | --prune [--dry-run] [--now EPOCH] | --status] [--json]
# Summary: Install the backup schedule and prune old snapshots by the retention policy.
#
#   --install   a daily full backup at backup.schedule (then --prune), plus an incremental backup at
#               backup.incremental_schedule when set: /etc/cron.d/hpc-cluster-backup, or systemd timers
#               when systemd runs and cron is not installed. Idempotent. Refused when backup.enabled is false.
#               Install it on every member: each run is backup.sh --scheduled, so only one member takes
#               the cluster's snapshot (the highest-priority one that is up with the schedule installed;
#               lib/backup_schedule.sh) and replication copies it to the others.
#   --remove    remove that schedule
#   --prune     delete the snapshots the retention policy does not keep: every snapshot younger than
#               retention_policy.daily days, the newest of each ISO week younger than .weekly weeks, the
#               first of each of the last .monthly months, and always the newest one; backup.retention_days,
#               when set, caps that: nothing older than that many days is kept (but the newest). With
#               --dry-run it only prints the plan. Interrupted (.partial) snapshots are removed too.
#   --status    the schedule, which member takes the scheduled snapshots, the last backup's outcome (also in ${STATE_DIR}/backup_status.json and,
#               for Prometheus, node_exporter's textfile directory); --json for JSON
#
# Exit codes: 0 ok, 1 error, 2 usage, 4 a backup or restore is running, 6 refused (backups disabled).
# shellcheck source=../lib/backup.sh
source "$HPC_LIB_DIR/backup.sh"

readonly CRON_FILE=$BACKUP_CRON_FILE # lib/backup_schedule.sh: peers look for it too
readonly UNIT_DIR=/etc/systemd/system
readonly UNIT_NAMES=(hpc-cluster-backup-full hpc-cluster-backup-incremental)

ACTION=""
JSON=0
NOW=""

# shellcheck disable=SC2034 # DRY_RUN and ASSUME_YES are read by lib/run.sh and lib/ui.sh
parse_args() {
  while (( $# )); do
    case "$1" in
      --install|--remove|--prune|--status)
        [[ -z $ACTION ]] || lib::usage_error "choose one of --install, --remove, --prune, --status"
        ACTION=${1#--}
        ;;
      --dry-run) DRY_RUN=1 ;;
      --json) JSON=1 ;;
      --now) [[ ${2:-} =~ ^[0-9]+$ ]] || lib::usage_error "--now needs a Unix time"; NOW=$2; shift ;;
      -h|--help) lib::help; exit 0 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  [[ -n $ACTION ]] || lib::usage_error "say what to do: --install, --remove, --prune or --status"
}

# cron, unless only systemd can run the schedule (systemd present and no cron daemon installed).
scheduler_kind() {
  if [[ "$(svc::init_system)" == systemd ]] && ! command -v cron >/dev/null 2>&1; then
    printf 'systemd\n'
  else
    printf 'cron\n'
  fi
}

cron_content() {
  local toolkit=$HPC_TOOLKIT_DIR log
  log="/var/log/hpc-cluster/backup-cron.log"
  printf '# hpc-cluster-kit backups (backup_scheduler.sh --install); edit backup: in cluster_config.yaml, not this file.\n'
  printf 'SHELL=/bin/bash\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n'
  printf '%s root %s/backup/backup.sh --full --scheduled >>%s 2>&1 && %s/backup/backup_scheduler.sh --prune >>%s 2>&1\n' \
    "$BACKUP_SCHEDULE" "$toolkit" "$log" "$toolkit" "$log"
  if [[ -n $BACKUP_INCREMENTAL_SCHEDULE ]]; then
    printf '%s root %s/backup/backup.sh --incremental --scheduled >>%s 2>&1\n' "$BACKUP_INCREMENTAL_SCHEDULE" "$toolkit" "$log"
  fi
}

# cron_to_oncalendar "M H * * *": the systemd calendar form of the simple schedules we generate
# (numbers or * in the minute and hour fields, * elsewhere); anything else needs cron.
cron_to_oncalendar() {
  local m h dom mon dow
  read -r m h dom mon dow <<< "$1"
  if [[ $dom == '*' && $mon == '*' && $dow == '*' && $m =~ ^[0-9]+$ && ( $h =~ ^[0-9]+$ || $h == '*' ) ]]; then
    if [[ $h == '*' ]]; then printf '*-*-* *:%02d:00\n' "$m"; else printf '*-*-* %02d:%02d:00\n' "$h" "$m"; fi
    return 0
  fi
  die "schedule '$1' has no simple systemd calendar form; install cron (apt-get install cron) and rerun" "$EXIT_USAGE"
}

install_systemd() {
  local name kind schedule cmd
  for name in "${UNIT_NAMES[@]}"; do
    kind=${name##*-}
    if [[ $kind == full ]]; then
      schedule=$BACKUP_SCHEDULE
      cmd="/bin/bash -c '$HPC_TOOLKIT_DIR/backup/backup.sh --full --scheduled && $HPC_TOOLKIT_DIR/backup/backup_scheduler.sh --prune'"
    else
      schedule=$BACKUP_INCREMENTAL_SCHEDULE
      [[ -n $schedule ]] || continue
      cmd="$HPC_TOOLKIT_DIR/backup/backup.sh --incremental --scheduled"
    fi
    printf '[Unit]\nDescription=hpc-cluster-kit %s backup\n\n[Service]\nType=oneshot\nExecStart=%s\n' "$kind" "$cmd" \
      | run::write_file "$(path::of "$UNIT_DIR/$name.service")" 0644
    printf '[Unit]\nDescription=hpc-cluster-kit %s backup schedule\n\n[Timer]\nOnCalendar=%s\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n' \
      "$kind" "$(cron_to_oncalendar "$schedule")" | run::write_file "$(path::of "$UNIT_DIR/$name.timer")" 0644
  done
  run::cmd systemctl daemon-reload
  for name in "${UNIT_NAMES[@]}"; do
    [[ -f "$(path::of "$UNIT_DIR/$name.timer")" ]] || run::is_dry || continue
    run::cmd systemctl enable --now "$name.timer"
  done
}

install() {
  [[ $BACKUP_ENABLED == true ]] || die "backup.enabled is false in cluster_config.yaml: no schedule installed" "$EXIT_REFUSED"
  run::mkdir "$(path::of /var/log/hpc-cluster)"
  if [[ "$(scheduler_kind)" == systemd ]]; then
    install_systemd
    log::ok "systemd timers installed: full at \"$BACKUP_SCHEDULE\"${BACKUP_INCREMENTAL_SCHEDULE:+, incremental at \"$BACKUP_INCREMENTAL_SCHEDULE\"}"
    return 0
  fi
  run::write_file "$(path::of "$CRON_FILE")" 0644 < <(cron_content)
  if (( RUN_CHANGED )); then
    log::ok "installed $(path::of "$CRON_FILE"): full at \"$BACKUP_SCHEDULE\"${BACKUP_INCREMENTAL_SCHEDULE:+, incremental at \"$BACKUP_INCREMENTAL_SCHEDULE\"}"
  else
    log::ok "$(path::of "$CRON_FILE") is already up to date"
  fi
  if ! pgrep -x cron >/dev/null 2>&1; then
    log::warn "the cron daemon is not running here: start it (svc::start cron / /etc/init.d/cron start) or no backup will run"
  fi
}

remove() {
  local name f
  f="$(path::of "$CRON_FILE")"
  if [[ -f $f ]]; then run::cmd rm -f -- "$f"; log::ok "removed $f"; fi
  for name in "${UNIT_NAMES[@]}"; do
    f="$(path::of "$UNIT_DIR/$name.timer")"
    [[ -f $f ]] || continue
    [[ "$(svc::init_system)" == systemd ]] && run::cmd systemctl disable --now "$name.timer"
    run::cmd rm -f -- "$f" "$(path::of "$UNIT_DIR/$name.service")"
    log::ok "removed the $name timer"
  done
}

prune() {
  local now=${NOW:-$(date +%s)} snaps ids=() verdict id reason kept=0 deleted=0 d
  snaps="$(backup::snapshots_dir)"
  lock::acquire backup
  mapfile -t ids < <(backup::list_usable)
  for d in "$snaps"/*.partial; do
    [[ -d $d ]] || continue
    run::cmd rm -rf -- "$d"
    deleted=$(( deleted + 1 ))
  done
  while read -r verdict id reason; do
    if [[ $verdict == keep ]]; then
      kept=$(( kept + 1 ))
      log::to_file INFO "keep $id ($reason)"
      run::is_dry && printf '[dryrun] keep %s (%s)\n' "$id" "$reason"
    else
      deleted=$(( deleted + 1 ))
      if run::is_dry; then printf '[dryrun] would delete %s%s\n' "$snaps/$id" "${reason:+ ($reason)}"; else rm -rf -- "${snaps:?}/$id"; log::to_file INFO "deleted $id"; fi
    fi
  done < <(backup::prune_plan "$now" "${ids[@]+"${ids[@]}"}")
  # the copies of this node's snapshots on the peers and off-site, by the same plan
  if SELF_INDEX="$(node::self_index)"; then
    SELF_HOSTNAME=${NODE_HOSTNAMES[SELF_INDEX]} SELF_IP=${NODE_IPS[SELF_INDEX]}
  fi
  backup::prune_copies "$now"
  log::ok "retention (daily ${BACKUP_KEEP_DAILY}d, weekly ${BACKUP_KEEP_WEEKLY}w, monthly ${BACKUP_KEEP_MONTHLY}m${BACKUP_RETENTION_DAYS:+, cap ${BACKUP_RETENTION_DAYS}d}): $kept kept, $deleted $(run::is_dry && echo 'would be ')deleted"
}

status() {
  local f cron state kind
  f="$(path::of "$CRON_FILE")"
  state="$(path::of "$STATE_DIR")/backup_status.json"
  if [[ -f $f ]]; then kind=cron
  elif [[ -f "$(path::of "$UNIT_DIR/${UNIT_NAMES[0]}.timer")" ]]; then kind=systemd
  else kind=none
  fi
  cron="$(backup::latest_usable)"
  local repl
  repl="$(path::of "$STATE_DIR")/backup_replication.json"
  if SELF_INDEX="$(node::self_index)"; then
    SELF_HOSTNAME=${NODE_HOSTNAMES[SELF_INDEX]} SELF_IP=${NODE_IPS[SELF_INDEX]}
  fi
  backup::scheduled_taker
  if (( JSON )); then
    jq -n --arg kind "$kind" --arg latest "$cron" --argjson n "$(backup::list_usable | wc -l)" \
      --argjson last "$(if [[ -f $state ]]; then cat "$state"; else echo null; fi)" \
      --argjson repl "$(if [[ -f $repl ]]; then cat "$repl"; else echo null; fi)" --arg offsite "$BACKUP_OFFSITE" \
      --arg tip "$BACKUP_TAKER_IP" --arg th "$BACKUP_TAKER_HOST" --argjson self "$(( BACKUP_TAKER_SELF ))" \
      '{schedule: (if $kind == "none" then null else $kind end), usable_snapshots: $n,
        scheduled_taker: {ip: $tip, hostname: $th, this_node: ($self == 1)},
        latest: (if $latest == "" then null else $latest end), last_run: $last, copies: $repl,
        offsite: (if $offsite == "" then null else {target: $offsite,
          status: ([($repl // {copies: []}).copies[] | select(.target == "offsite") | .status][0] // "never")} end)}'
    return 0
  fi
  printf 'schedule:          %s\n' "$([[ $kind == none ]] && echo 'not installed (backup_scheduler.sh --install)' || echo "$kind: full \"$BACKUP_SCHEDULE\"${BACKUP_INCREMENTAL_SCHEDULE:+, incremental \"$BACKUP_INCREMENTAL_SCHEDULE\"}")"
  if (( BACKUP_TAKER_SELF )); then
    printf 'scheduled by:      this node (the highest-priority member up with the schedule installed)\n'
  else
    printf 'scheduled by:      %s (%s), the highest-priority member up with the schedule; this node keeps copies\n' "$BACKUP_TAKER_HOST" "$BACKUP_TAKER_IP"
  fi
  printf 'usable snapshots:  %s (latest %s)\n' "$(backup::list_usable | wc -l)" "${cron:-none}"
  if [[ -f $state ]]; then
    jq -r '"last run:          \(.result) \(.backup_id) at \(.finished_epoch | todate), \(.seconds)s, \(.new_bytes) new bytes; last success \(if .last_success_epoch > 0 then (.last_success_epoch | todate) else "never" end)"' "$state"
  else
    printf 'last run:          none recorded\n'
  fi
  if [[ -f $repl ]]; then
    jq -r '"copies of \(.backup_id): \(.copies | map("\(.target) \(.status)") | join(", "))"' "$repl"
  else
    printf 'copies:            none recorded\n'
  fi
  if [[ -n $BACKUP_OFFSITE ]]; then
    printf 'offsite:           %s (%s)\n' "$BACKUP_OFFSITE" \
      "$( [[ -f $repl ]] && jq -r '[.copies[] | select(.target == "offsite") | .status][0] // "never"' "$repl" || echo never)"
  else
    printf 'offsite:           not configured (backup.offsite)\n'
  fi
}

main() {
  parse_args "$@"
  log::phase "$ACTION"
  case "$ACTION" in
    install) install ;;
    remove) remove ;;
    prune) prune ;;
    status) status ;;
  esac
}

main "$@"
