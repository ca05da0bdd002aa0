# shellcheck shell=bash
# lib/backup_status.sh - the outcome of backup runs for monitoring (STATE_DIR/backup_status.json and
# node_exporter textfile metrics). Sourced by lib/backup.sh.

# backup::status_write RESULT ID SECONDS BYTES: the last run's outcome for monitoring: a JSON file in
# STATE_DIR and, when node_exporter's textfile directory exists, Prometheus metrics.
backup::status_write() {
  local result=$1 id=$2 secs=$3 bytes=$4 now state prom ok_ts=0
  run::is_dry && return 0
  now="$(date +%s)"
  state="$(path::of "$STATE_DIR")/backup_status.json"
  mkdir -p "$(dirname "$state")"
  if [[ $result == ok ]]; then
    ok_ts=$now
  elif [[ -f $state ]]; then
    ok_ts="$(jq -r '.last_success_epoch // 0' "$state" 2>/dev/null || printf 0)"
  fi
  jq -n --arg r "$result" --arg id "$id" --argjson t "$now" --argjson ok "$ok_ts" \
    --argjson s "${secs:-0}" --argjson b "${bytes:-0}" \
    '{result: $r, backup_id: $id, finished_epoch: $t, last_success_epoch: $ok, seconds: $s, new_bytes: $b}' \
    > "$state.tmp" && mv -f "$state.tmp" "$state"
  prom="$(path::of /var/lib/prometheus/node-exporter)"
  if [[ -d $prom ]]; then
    {
      printf '# HELP hpc_backup_last_success_timestamp_seconds When the last successful backup finished.\n'
      printf '# TYPE hpc_backup_last_success_timestamp_seconds gauge\n'
      printf 'hpc_backup_last_success_timestamp_seconds %s\n' "$ok_ts"
      printf '# HELP hpc_backup_last_ok 1 when the last backup run succeeded.\n'
      printf '# TYPE hpc_backup_last_ok gauge\n'
      printf 'hpc_backup_last_ok %s\n' "$([[ $result == ok ]] && echo 1 || echo 0)"
      printf '# TYPE hpc_backup_last_duration_seconds gauge\nhpc_backup_last_duration_seconds %s\n' "${secs:-0}"
      printf '# TYPE hpc_backup_last_new_bytes gauge\nhpc_backup_last_new_bytes %s\n' "${bytes:-0}"
    } > "$prom/hpc_backup.prom.tmp" && chmod 0644 "$prom/hpc_backup.prom.tmp" && mv -f "$prom/hpc_backup.prom.tmp" "$prom/hpc_backup.prom"
  fi
  # monitoring's hook (last failure time, snapshot size): lib/monitoring.sh, a no-op when monitoring is off
  [[ ! -r $HPC_LIB_DIR/monitoring.sh ]] || (source "$HPC_LIB_DIR/monitoring.sh" && monitoring::backup_result "$result" "${BACKUP_TAKEN_BYTES:-$bytes}") || true
}

# backup::metrics_hook: called after every backup run and replication, once the status files are
# written (STATE_DIR/backup_status.json, STATE_DIR/backup_replication.json). The monitoring service
# hooks its exporter here; what it writes now: one gauge per copy target (1 = the last snapshot's
# copy there succeeded) in node_exporter's textfile directory when it exists.
backup::metrics_hook() {
  local prom f
  run::is_dry && return 0
  prom="$(path::of /var/lib/prometheus/node-exporter)"
  f="$(path::of "$STATE_DIR")/backup_replication.json"
  [[ -d $prom && -f $f ]] || return 0
  {
    printf '# HELP hpc_backup_copy_ok 1 when the last snapshot was copied to this target (peer IP or offsite).\n'
    printf '# TYPE hpc_backup_copy_ok gauge\n'
    jq -r '.copies[] | "hpc_backup_copy_ok{target=\"\(.target)\"} \(if .status == "ok" then 1 else 0 end)"' "$f"
    printf '# TYPE hpc_backup_copy_timestamp_seconds gauge\nhpc_backup_copy_timestamp_seconds %s\n' "$(jq -r .epoch "$f")"
  } > "$prom/hpc_backup_replication.prom.tmp" && chmod 0644 "$prom/hpc_backup_replication.prom.tmp" && mv -f "$prom/hpc_backup_replication.prom.tmp" "$prom/hpc_backup_replication.prom"
}
