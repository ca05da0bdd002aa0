#!/usr/bin/env bash
# Usage: backup.sh [--full | --incremental] [--only-configs | --only-databases | --only-state] [--scheduled] [--dry-run] [--json]
# Summary: Take a verified snapshot of configs, databases and cluster state on this node's local disk.
#
# Writes ${STORAGE_BACKUP_PATH}/snapshots/YYYYMMDD_HHMMSS/ (configs/ databases/ state/ systemd/
# metadata.json with the sha256 of every file). --incremental (the default when a usable snapshot
# exists) hard-links every unchanged file to the previous snapshot, so it costs no new space; --full
# copies everything afresh. Each service's data comes from backup/backup_<svc>.sh (see "Backup
# contract" in docs/toolkit-conventions.md); a service whose script is missing or not built is skipped
# and recorded as such in metadata.json. A run that fails or is interrupted leaves nothing usable.
# The new snapshot is then verified and copied to every other member's store (and backup.offsite):
# BACKUP_PATH/replicas/<this hostname>/<id>/, hard links to the previous copy there, only changed
# files sent (lib/backup_replicate.sh). A backup no other server could take a copy of fails (exit 1).
#
# Options:
#   --full | --incremental   copy everything / hard-link unchanged files (default: incremental)
#   --only-configs           config trees and systemd units only
#   --only-databases         MariaDB and Redis only
#   --only-state             Slurm state, shared storage files (when configured) and this node's state
#   --scheduled              (the installed schedule) take the snapshot only when this node is the
#                            highest-priority member that is up with the schedule installed; on the
#                            others do nothing (exit 0): that member's snapshot is copied here
#   --dry-run                print what would be copied and run; change nothing
#   --json                   print the snapshot's metadata (without the file list) on stdout
#
# Exit codes: 0 ok, 1 error, 2 usage, 4 another backup or restore runs, 5 not enough disk space.
# shellcheck source=../lib/backup.sh
source "$HPC_LIB_DIR/backup.sh"

TYPE=incremental
JSON=0
SCHEDULED=0
BACKUP_SELECTED=(configs databases redis_rdb slurm_state shared_storage state)

# shellcheck disable=SC2034 # DRY_RUN and ASSUME_YES are read by lib/run.sh and lib/ui.sh
parse_args() {
  while (( $# )); do
    case "$1" in
      --full) TYPE=full ;;
      --incremental) TYPE=incremental ;;
      --only-configs|--only-databases|--only-state) cli::only "$1" ;;
      --scheduled) SCHEDULED=1 ;;
      --dry-run) DRY_RUN=1 ;;
      --json) JSON=1 ;;
      -h|--help) lib::help; exit 0 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  if (( ${#CLI_ONLY[@]} )); then BACKUP_SELECTED=("${CLI_ONLY[@]}"); fi
  return 0
}

summary() {
  local dir=$1
  log::ok "snapshot $BACKUP_TAKEN_ID done in ${BACKUP_TAKEN_SECONDS}s: $(backup::human "$BACKUP_TAKEN_BYTES") in $(jq '.files | length' "$dir/metadata.json") files, $(backup::human "$BACKUP_TAKEN_NEW_BYTES") new on disk ($TYPE)"
  jq -r '.services | to_entries[] | "    \(.key): \(.value.status)\(if .value.reason then " (\(.value.reason))" else "" end)"' \
    "$dir/metadata.json" >&2
  log::info "restore it with: backup/restore.sh --id $BACKUP_TAKEN_ID"
}

# replicate ID: verify the new snapshot, then copy it to the other members and off-site.
replicate() {
  local id=$1 bad copies
  [[ -n "$(backup::targets)" ]] || { log::info "no other member and no backup.offsite: snapshot $id is on this node only"; return 0; }
  log::phase replicate
  if ! bad="$(backup::verify "$BACKUP_TAKEN_DIR")"; then
    printf '    %s\n' "$bad" | head -n 20 >&2
    die "snapshot $id does not verify just after it was taken: not copied anywhere"
  fi
  copies="$(backup::replicate "$id")" || {
    backup::replicate_status_write "$id" "$copies"
    die "snapshot $id could not be copied to any other server: it exists on this node only (check SSH to the peers)"
  }
  backup::replicate_status_write "$id" "$copies"
}

main() {
  parse_args "$@"
  log::phase preflight
  command -v jq >/dev/null || die "[ERROR Jq]: jq is needed (fix: apt-get install jq)" "$EXIT_PREFLIGHT"
  command -v rsync >/dev/null || die "[ERROR Rsync]: rsync is needed (fix: apt-get install rsync)" "$EXIT_PREFLIGHT"
  node::identify
  if (( SCHEDULED )); then
    backup::scheduled_taker
    if (( ! BACKUP_TAKER_SELF )); then
      log::ok "scheduled backup: $BACKUP_TAKER_HOST ($BACKUP_TAKER_IP) is up and takes the cluster's snapshot; its copy arrives here by replication. Nothing to do on this node."
      return 0
    fi
    log::info "scheduled backup: this node is the highest-priority member up with the schedule; it takes the cluster's snapshot"
  fi
  lock::acquire backup
  log::phase backup
  BACKUP_RECORD_STATUS=1 # a failure inside backup::take is recorded for monitoring by its EXIT trap
  backup::take "$TYPE"
  run::is_dry && return 0
  backup::status_write ok "$BACKUP_TAKEN_ID" "$BACKUP_TAKEN_SECONDS" "$BACKUP_TAKEN_NEW_BYTES"
  summary "$BACKUP_TAKEN_DIR"
  replicate "$BACKUP_TAKEN_ID"
  if (( JSON )); then
    jq -c 'del(.files) + {path: $p}' --arg p "$BACKUP_TAKEN_DIR" "$BACKUP_TAKEN_DIR/metadata.json"
  fi
}

main "$@"
