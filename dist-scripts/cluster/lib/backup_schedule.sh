# shellcheck shell=bash
# lib/backup_schedule.sh - which member takes the scheduled snapshots. The schedule is installed on
# every member (backup_scheduler.sh --install), but a snapshot holds the whole cluster's data (every
# database, every Redis master, the shared volume), so N members dumping it at the same minute would
# load the cluster N times and store N near-identical snapshots N times over. One member takes it: the
# highest-priority member (NODE_IPS order) that is up and has the schedule installed; replication then
# puts a copy on every other member. When that node is down, the next one takes over by itself at the
# next run; nothing to configure. backup.sh run by hand (without --scheduled) always takes a snapshot.
# Sourced by lib/backup.sh.

readonly BACKUP_CRON_FILE=/etc/cron.d/hpc-cluster-backup
readonly BACKUP_TIMER_FILE=/etc/systemd/system/hpc-cluster-backup-full.timer

# backup::peer_schedules IP: the member at IP answers over SSH and has the backup schedule installed
# (reachable is not enough: a member without the schedule would never take the snapshot).
backup::peer_schedules() {
  # shellcheck disable=SC2016 # expanded by the remote shell
  backup::ssh "$DISCOVERY_SSH_USER@$1" sh -c 'test -f "$1" || test -f "$2"' _ "$BACKUP_CRON_FILE" "$BACKUP_TIMER_FILE" 2>/dev/null
}

# backup::scheduled_taker: set BACKUP_TAKER_IP / _HOST to the member that takes the scheduled snapshots
# and BACKUP_TAKER_SELF=1 when it is this node: the first member, highest priority first, that is this
# node or answers with the schedule installed. Only the members above this node are asked, so the
# highest-priority node decides without any SSH. A host outside the config (a witness) takes its own.
# shellcheck disable=SC2034 # BACKUP_TAKER_* are read by backup.sh and backup_scheduler.sh
backup::scheduled_taker() {
  local i ip
  BACKUP_TAKER_IP=${SELF_IP:-}
  BACKUP_TAKER_HOST=${SELF_HOSTNAME:-$(hostname -s)}
  BACKUP_TAKER_SELF=1
  [[ -n ${SELF_IP:-} ]] || return 0
  for i in "${!NODE_IPS[@]}"; do
    ip=${NODE_IPS[i]}
    [[ $ip == "$SELF_IP" ]] && return 0
    if backup::peer_schedules "$ip"; then
      BACKUP_TAKER_IP=$ip
      BACKUP_TAKER_HOST=${NODE_HOSTNAMES[i]}
      BACKUP_TAKER_SELF=0
      return 0
    fi
  done
}
