#!/usr/bin/env bash
# Usage: restore.sh [--latest | --id ID | --list] [--only-configs | --only-databases | --only-state] [--dry-run] [--force] [--json]
#        restore.sh --test [--latest | --id ID]
# Summary: Restore a verified snapshot on this node, with an automatic pre-restore snapshot and rollback.
#
# Steps: [1] list usable snapshots (metadata.json completed) and their copies [2] choose (--latest,
# --id, or asked on a terminal) in this node's store, its replicas of other nodes' snapshots, then on
# every peer and backup.offsite (a copy there is fetched first: a rebuilt server finds its snapshots there; a snapshot
# taken on another node restores only the cluster-wide items, not that node's configs and state)
# [3] verify metadata.hmac, that every entry is listed and safe, every sha256, the software versions
# and the cluster identity - before anything is stopped or changed; a damaged, tampered or incomplete
# snapshot is refused [4] confirm ("All current data will
# be deleted", --force skips) [5] take a pre-restore snapshot of the current state [6] stop the services
# that use the data (web services, Slurm, keepalived) [7] restore configs, databases (through the
# backup/restore_<svc>.sh scripts) and state [8] start the services (start_multi_complete.sh --force on
# a cluster member when it is built, else the ones stopped) and verify (cluster_info.sh). If a step of [7] or [8] fails, the
# pre-restore snapshot is put back the same way and the services started again.
# MariaDB stays up: the dump is loaded through it, so Galera replicates it to every node.
# Cluster identity: this node's cluster id is never replaced (in place it is the same; on a fresh node
# none is written, so the first start bootstraps a new cluster). A snapshot of another cluster is
# refused unless --allow-other-cluster. The log is /var/log/restore_YYYYMMDD_HHMMSS.log.
#
# Options:
#   --list                 list the snapshots (usable and not) with their copies (here, peers by IP, offsite)
#                          and exit; with --json as JSON
#   --test                 test restore: verify the checksums and load the MariaDB dump into a scratch
#                          server (row counts printed); nothing live is stopped or changed
#   --latest | --id ID     which snapshot to restore (--latest never picks a pre-restore snapshot)
#   --only-configs | --only-databases | --only-state   restore only that part (state: Slurm state,
#                          shared storage files when backed up, this node's state)
#   --dry-run              verify, then print what would be stopped, replaced and started; change nothing
#   --force | --yes        do not ask for confirmation
#   --allow-other-cluster  restore a snapshot whose cluster id differs from this node's
#   --ignore-versions      restore although the MariaDB/Redis/Slurm version differs from the snapshot's
#   --skip-service SVC     leave SVC's data (mariadb, redis, slurm) as it is (repeatable)
#   --apply DIR --items A,B  (internal) the restore step alone, run by restore.sh for restore and rollback
#
# Exit codes: 0 ok, 1 error (rolled back), 2 usage, 4 another backup or restore runs,
#             5 preflight failed, 6 refused (damaged/incomplete snapshot, other cluster, versions, not confirmed).
# shellcheck source=../lib/backup_restore_checks.sh
source "$HPC_LIB_DIR/backup_restore_checks.sh"
# shellcheck source=../lib/backup_restore_services.sh
source "$HPC_LIB_DIR/backup_restore_services.sh"
# shellcheck source=../lib/backup_restore_apply.sh
source "$HPC_LIB_DIR/backup_restore_apply.sh"
# shellcheck source=../lib/backup.sh
source "$HPC_LIB_DIR/backup.sh"

ACTION=restore
SNAP_ID=""
LATEST=0
JSON=0
ALLOW_OTHER=0
IGNORE_VERSIONS=0
APPLY_DIR=""
ITEMS=(configs databases redis_rdb slurm_state shared_storage state)
STOPPED=()
SKIP=()

# shellcheck disable=SC2034 # DRY_RUN and ASSUME_YES are read by lib/run.sh and lib/ui.sh
parse_args() {
  while (( $# )); do
    case "$1" in
      --list) ACTION=list ;;
      --test) ACTION="test" ;;
      --latest) LATEST=1 ;;
      --id) [[ $# -ge 2 ]] || lib::usage_error "--id needs a snapshot id"; SNAP_ID=$2; shift ;;
      --only-configs|--only-databases|--only-state) cli::only "$1" ;;
      --dry-run) DRY_RUN=1 ;;
      --force|--yes) ASSUME_YES=1 ;;
      --json) JSON=1 ;;
      --allow-other-cluster) ALLOW_OTHER=1 ;;
      --ignore-versions) IGNORE_VERSIONS=1 ;;
      --skip-service)
        [[ ${2:-} =~ ^(mariadb|redis|slurm)$ ]] || lib::usage_error "--skip-service needs mariadb, redis or slurm"
        SKIP+=("$2")
        shift
        ;;
      --apply) [[ $# -ge 2 ]] || lib::usage_error "--apply needs a directory"; ACTION=apply; APPLY_DIR=$2; shift ;;
      --items) [[ $# -ge 2 ]] || lib::usage_error "--items needs a list"; IFS=, read -r -a ITEMS <<< "$2"; shift ;;
      -h|--help) lib::help; exit 0 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  if (( ${#CLI_ONLY[@]} )); then ITEMS=("${CLI_ONLY[@]}"); fi
  if [[ -n $SNAP_ID ]] && (( LATEST )); then lib::usage_error "choose --latest or --id, not both"; fi
  if [[ -n $SNAP_ID ]] && ! backup::is_id "$SNAP_ID"; then lib::usage_error "not a snapshot id: $SNAP_ID (expected YYYYMMDD_HHMMSS)"; fi
  return 0
}

has_item() {
  local i
  for i in "${ITEMS[@]}"; do [[ $i == "$1" ]] && return 0; done
  return 1
}

skipped() {
  local s
  for s in "${SKIP[@]+"${SKIP[@]}"}"; do [[ $s == "$1" ]] && return 0; done
  return 1
}

# ---------------------------------------------------------------------------------------------------
# [1] list

list_snapshots() {
  local id dir snaps rows=() where copies
  snaps="$(backup::snapshots_dir)"
  # every reachable copy, once: "ID TYPE WHERE DIR" (WHERE: local or a peer's IP)
  LOCATED="$(backup::locate)"
  if (( JSON )); then
    while IFS= read -r id; do
      dir="$snaps/$id"
      copies="$(copies_json "$id")"
      if backup::is_usable "$dir"; then
        rows+=("$(jq -c --argjson c "$copies" '{backup_id, timestamp, hostname, cluster_id, backup_type, backup_size, new_bytes, items,
                          services: (.services | map_values(.status)), usable: true, copies: $c}' "$dir/metadata.json")")
      elif [[ -d $dir ]]; then
        rows+=("$(jq -nc --arg id "$id" --argjson c "$copies" '{backup_id: $id, usable: false, copies: $c}')")
      else
        rows+=("$(jq -nc --arg id "$id" --argjson c "$copies" '{backup_id: $id, usable: true, local: false, copies: $c}')")
      fi
    done < <(all_ids)
    local IFS=,
    printf '[%s]\n' "${rows[*]}"
    return 0
  fi
  printf '%-17s %-12s %-10s %-10s %-9s %-28s %s\n' ID TYPE HOST SIZE NEW COPIES SERVICES
  while IFS= read -r id; do
    dir="$snaps/$id"
    where="$(copies_text "$id")"
    if backup::is_usable "$dir"; then
      jq -r --arg size "$(backup::human "$(jq '.backup_size' "$dir/metadata.json")")" \
        --arg new "$(backup::human "$(jq '.new_bytes' "$dir/metadata.json")")" --arg where "$where" \
        '[.backup_id, .backup_type, .hostname, $size, $new, $where,
          (.services | to_entries | map("\(.key):\(.value.status)") | join(" "))] | @tsv' "$dir/metadata.json" \
        | awk -F'\t' '{ printf "%-17s %-12s %-10s %-10s %-9s %-28s %s\n", $1, $2, $3, $4, $5, $6, $7 }'
    elif [[ -d $dir ]]; then
      printf '%-17s %s\n' "$id" "(incomplete or interrupted: not usable)"
    else
      printf '%-17s %-12s %-10s %-10s %-9s %-28s %s\n' "$id" "$(awk -v id="$id" '$1 == id { print $2; exit }' <<< "$LOCATED")" \
        "$(copy_origin "$id")" - - "$where" "(not on this node's own store)"
    fi
  done < <(all_ids)
}

# all_ids: this node's snapshot directories (usable or not) and every located copy, oldest first.
all_ids() {
  { backup::list_all; awk 'NF { print $1 }' <<< "$LOCATED"; } | LC_ALL=C sort -u
}

# copies_text ID: where the copies of ID are ("here" for this node's store, peers by IP).
copies_text() {
  awk -v id="$1" '$1 == id { print ($3 == "local" ? "here" : $3) }' <<< "$LOCATED" | LC_ALL=C sort -u | paste -sd, -
}

copies_json() {
  awk -v id="$1" '$1 == id { print ($3 == "local" ? "here" : $3) "\t" $4 }' <<< "$LOCATED" \
    | jq -Rsc 'split("\n") | map(select(length > 0) | split("\t") | {where: .[0], path: .[1]})'
}

# copy_origin ID: the origin hostname of a replica (its directory is replicas/<origin>/ID).
copy_origin() {
  awk -v id="$1" '$1 == id && $4 ~ /\/replicas\// { n = split($4, p, "/"); print p[n - 1]; exit }' <<< "$LOCATED"
}

# ---------------------------------------------------------------------------------------------------
# [2] choose: this node's own store first, then its replicas of other nodes, then every peer's copies
# (a rebuilt server finds its snapshots there; a copy on a peer is fetched into replicas/ first).

# pick_copy ID: "WHERE DIR" of the best copy of ID (local first).
pick_copy() {
  awk -v id="$1" '$1 == id { print ($3 == "local" ? 0 : 1), $3, $4 }' <<< "$LOCATED" | sort -n | head -n 1 | cut -d' ' -f2-
}

choose_snapshot() {
  local snaps usable where dir
  snaps="$(backup::snapshots_dir)"
  LOCATED="$(backup::locate)"
  if (( LATEST )); then
    SNAP_ID="$(awk '$2 == "regular" { print $1 }' <<< "$LOCATED" | LC_ALL=C sort | tail -n 1)"
    [[ -n $SNAP_ID ]] || die "no usable snapshot in $snaps, this node's replicas or on any reachable peer (take one with backup/backup.sh; pre-restore snapshots are restored by --id)" "$EXIT_REFUSED"
  elif [[ -z $SNAP_ID ]]; then
    [[ -t 0 ]] || lib::usage_error "say which snapshot: --latest or --id ID (list them with --list)"
    list_snapshots >&2
    read -r -p "Snapshot id to restore: " SNAP_ID
    backup::is_id "$SNAP_ID" || die "not a snapshot id: $SNAP_ID" "$EXIT_USAGE"
  fi
  SNAP_DIR="$snaps/$SNAP_ID"
  if [[ ! -d $SNAP_DIR ]]; then
    read -r where dir <<< "$(pick_copy "$SNAP_ID")"
    [[ -n $where ]] || die "no snapshot $SNAP_ID in $snaps, this node's replicas or on any reachable peer (see restore.sh --list)" "$EXIT_USAGE"
    if [[ $where == local ]]; then SNAP_DIR=$dir; else SNAP_DIR="$(backup::fetch "$where" "$dir")"; fi
    log::info "snapshot $SNAP_ID: using the copy ${where/local/on this node} ($dir)"
  fi
  if ! backup::is_usable "$SNAP_DIR"; then
    die "snapshot $SNAP_ID is incomplete (the backup did not finish): it cannot be restored. Nothing was stopped or changed." "$EXIT_REFUSED"
  fi
  usable="$(jq -r '.items | join(",")' "$SNAP_DIR/metadata.json")"
  local kept=() i origin
  origin="$(jq -r '.hostname' "$SNAP_DIR/metadata.json")"
  for i in "${ITEMS[@]}"; do
    [[ ,$usable, == *,"$i",* ]] || continue
    if [[ $origin != "$SELF_HOSTNAME" && ( $i == configs || $i == state ) ]]; then
      log::warn "snapshot $SNAP_ID was taken on $origin: its $i (node-specific) stay in the snapshot; the cluster-wide data is restored"
      continue
    fi
    kept+=("$i")
  done
  (( ${#kept[@]} )) || die "snapshot $SNAP_ID holds none of: ${ITEMS[*]} that can be restored here (it has: $usable)" "$EXIT_REFUSED"
  ITEMS=("${kept[@]}")
  log::info "snapshot $SNAP_ID ($(jq -r '"\(.backup_type), \(.timestamp), from \(.hostname)"' "$SNAP_DIR/metadata.json")): restoring ${ITEMS[*]}"
}

# ---------------------------------------------------------------------------------------------------

print_plan() {
  local s
  printf '[dryrun] snapshot %s verified; the restore would:\n' "$SNAP_ID"
  printf '[dryrun] ask: All current data will be deleted. Continue? (Y/N)\n'
  printf '[dryrun] take a pre-restore snapshot of %s\n' "${ITEMS[*]}"
  while IFS= read -r s; do printf '[dryrun] would stop %s\n' "$s"; done < <(running_candidates)
  run_apply "$SNAP_DIR"
  if [[ -x $HPC_TOOLKIT_DIR/start_multi_complete.sh && -n "$(backup::cluster_id)" ]]; then
    printf '[dryrun] would run: %s --force --yes (or start what was stopped when it is not built)\n' "$HPC_TOOLKIT_DIR/start_multi_complete.sh"
  fi
  while IFS= read -r s; do printf '[dryrun] would start %s\n' "$s"; done < <(running_candidates)
}

rollback() {
  local why=$1
  log::phase rollback
  log::error "$why: putting back the pre-restore snapshot $PRE_ID"
  if ! run_apply "$PRE_DIR"; then
    die "ROLLBACK FAILED: the node is neither restored nor back as before. The pre-restore snapshot is $PRE_DIR; restore it by hand: restore.sh --id $PRE_ID --force. Log: $HPC_LOG_FILE"
  fi
  start_services || log::error "some services did not start after the rollback; see $HPC_LOG_FILE"
  die "restore of $SNAP_ID failed ($why); rolled back to the state before (pre-restore snapshot $PRE_ID). Log: $HPC_LOG_FILE"
}

restore() {
  log::phase choose
  choose_snapshot
  log::phase verify
  verify_snapshot
  if run::is_dry; then
    print_plan
    return 0
  fi
  log::phase confirm
  ui::confirm "All current data will be deleted. Continue?"
  HPC_LOG_FILE="$(path::of "/var/log/restore_$(date '+%Y%m%d_%H%M%S').log")"
  touch "$HPC_LOG_FILE"
  log::info "restoring $SNAP_ID; this log: $HPC_LOG_FILE"
  local started=$SECONDS

  log::phase pre-restore
  # shellcheck disable=SC2034 # read by backup::take
  BACKUP_SELECTED=("${ITEMS[@]}")
  backup::take pre-restore
  PRE_ID=$BACKUP_TAKEN_ID
  PRE_DIR=$BACKUP_TAKEN_DIR
  log::ok "pre-restore snapshot $PRE_ID taken (restore.sh --id $PRE_ID puts this state back)"

  log::phase stop
  stop_services || rollback "a service did not stop"
  log::phase restore
  run_apply "$SNAP_DIR" || rollback "the restore step failed"
  log::phase start
  start_services || rollback "the services did not start"
  log::phase verify
  verify_after
  log::ok "restored snapshot $SNAP_ID in $(( SECONDS - started ))s (pre-restore state kept as $PRE_ID). Log: $HPC_LOG_FILE"
}

# A backup never restored is not a backup: prove this one loads, touching nothing live.
test_restore() {
  log::phase choose
  choose_snapshot
  log::phase verify
  verify_snapshot
  log::phase test
  if [[ "$(jq -r '.services.mariadb.status // ""' "$SNAP_DIR/metadata.json")" != ok ]]; then
    log::ok "snapshot $SNAP_ID verified (it holds no MariaDB dump to load)"
    return 0
  fi
  "$HPC_TOOLKIT_DIR/backup/restore_mariadb.sh" --src "$SNAP_DIR/databases/mariadb" --test
  log::ok "snapshot $SNAP_ID: checksums verified and its database loads"
}

main() {
  parse_args "$@"
  node::identify
  case "$ACTION" in
    list) list_snapshots ;;
    test) test_restore ;;
    apply) apply ;;
    restore)
      lock::acquire backup
      restore
      ;;
  esac
}

main "$@"
