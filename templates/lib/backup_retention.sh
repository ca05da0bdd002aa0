# shellcheck shell=bash
# lib/backup_retention.sh - which snapshots the retention policy keeps (a pure function of the ids
# and the clock, unit-tested rule by rule). Sourced by lib/backup.sh.

# backup::prune_plan NOW_EPOCH ID...: "keep ID REASON" or "delete ID" for each id (ids oldest first).
# Policy (plan 6.3): everything younger than BACKUP_KEEP_DAILY days; the newest snapshot of each ISO week
# younger than BACKUP_KEEP_WEEKLY weeks (the Sunday one of a daily series); the first snapshot of each
# of the last BACKUP_KEEP_MONTHLY calendar months (the 1st of the month); nothing older. On top of that,
# BACKUP_RETENTION_DAYS (backup.retention_days, empty = no cap) deletes whatever is older than that many
# days even when a rule above would keep it ("delete ID retention_days"). The newest snapshot is always
# kept, however old: a cap must never leave a cluster with no restore point at all.
backup::prune_plan() {
  local now=$1 i id epoch age week month now_month cap=${BACKUP_RETENTION_DAYS:-}
  shift
  [[ -z $cap || $cap =~ ^[0-9]+$ ]] || die "BACKUP_RETENTION_DAYS '$cap' is not a number of days (backup.retention_days)" "$EXIT_USAGE"
  local ids=("$@")
  (( ${#ids[@]} )) || return 0
  local epochs=()
  mapfile -t epochs < <(for id in "${ids[@]}"; do
    printf '%s-%s-%s %s:%s:%s\n' "${id:0:4}" "${id:4:2}" "${id:6:2}" "${id:9:2}" "${id:11:2}" "${id:13:2}"
  done | date -f - '+%s')
  local ny nm
  printf -v ny '%(%Y)T' "$now"
  printf -v nm '%(%m)T' "$now"
  now_month=$(( 10#$ny * 12 + 10#$nm - 1 ))
  local -A week_newest=() month_first=()
  for i in "${!ids[@]}"; do
    epoch=${epochs[i]}
    printf -v week '%(%G-%V)T' "$epoch"
    week_newest[$week]=${ids[i]}           # ids are oldest first, so the last one wins
    printf -v month '%(%Y-%m)T' "$epoch"
    [[ -n "${month_first[$month]:-}" ]] || month_first[$month]=${ids[i]}
  done
  local last=$(( ${#ids[@]} - 1 ))
  for i in "${!ids[@]}"; do
    id=${ids[i]}
    epoch=${epochs[i]}
    age=$(( now - epoch ))
    printf -v week '%(%G-%V)T' "$epoch"
    printf -v month '%(%Y-%m)T' "$epoch"
    local m=$(( 10#${month:0:4} * 12 + 10#${month:5:2} - 1 ))
    if [[ -n $cap ]] && (( i != last && age > cap * 86400 )); then
      printf 'delete %s retention_days\n' "$id"
    elif (( age < BACKUP_KEEP_DAILY * 86400 )); then
      printf 'keep %s daily\n' "$id"
    elif (( age < BACKUP_KEEP_WEEKLY * 7 * 86400 )) && [[ ${week_newest[$week]} == "$id" ]]; then
      printf 'keep %s weekly\n' "$id"
    elif (( now_month - m < BACKUP_KEEP_MONTHLY )) && [[ ${month_first[$month]} == "$id" ]]; then
      printf 'keep %s monthly\n' "$id"
    elif (( i == last )); then
      printf 'keep %s newest\n' "$id"
    else
      printf 'delete %s\n' "$id"
    fi
  done
}
