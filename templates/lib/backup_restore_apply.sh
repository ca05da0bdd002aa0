# shellcheck shell=bash
# lib/backup_restore_apply.sh - restore step [7]: put a snapshot's items back (restore.sh --apply, a child process).
# Steps of backup/restore.sh: they read its globals (SNAP_ID, SNAP_DIR, ITEMS, SKIP, STOPPED) and its
# has_item/skipped. Sourced by restore.sh only, after lib/backup.sh.

# [7] the restore step (run as a child process so that set -e holds inside it). rsync --ignore-times:
# a file changed since the backup may have kept its size and mtime second; copy every file.

apply_configs() {
  local dir=$1 p
  while IFS= read -r p; do
    [[ -d $dir/configs$p ]] || continue
    run::cmd mkdir -p -- "$(path::of "$p")"
    run::cmd rsync -a --numeric-ids --ignore-times --delete -- "$dir/configs$p/" "$(path::of "$p")/"
  done < <(backup::config_paths)
  if [[ -d $dir/systemd/etc/systemd/system ]]; then
    run::cmd mkdir -p -- "$(path::of /etc/systemd/system)"
    run::cmd rsync -a --numeric-ids --ignore-times --delete -- "$dir/systemd/etc/systemd/system/" "$(path::of /etc/systemd/system)/"
  fi
}

apply_services() {
  local dir=$1 svc item sub status script
  while read -r svc item sub; do
    has_item "$item" || continue
    if skipped "$svc"; then
      log::info "$svc: skipped (--skip-service); left as it is"
      continue
    fi
    status="$(jq -r --arg s "$svc" '.services[$s].status // "absent"' "$dir/metadata.json")"
    if [[ $status != ok ]]; then
      log::info "$svc: not in this snapshot ($status); left as it is"
      continue
    fi
    script="$(backup::service_script "$svc" restore)"
    [[ -x $script ]] || die "$svc is in the snapshot but $script is not in this toolkit: cannot restore it"
    log::info "restoring $svc from $dir/$sub"
    if run::is_dry; then
      "$script" --src "$dir/$sub" --dry-run --yes
    else
      "$script" --src "$dir/$sub" --yes
    fi
  done < <(backup::service_items)
}

# This node's state, except its identity (never replaced) and the backup status.
apply_state() {
  local dir=$1 sd
  [[ -d $dir/state/hpc-cluster ]] || return 0
  sd="$(path::of "$STATE_DIR")"
  run::cmd mkdir -p -- "$sd"
  run::cmd rsync -a --numeric-ids --ignore-times --exclude=/cluster_id --exclude=/backup_status.json -- "$dir/state/hpc-cluster/" "$sd/"
}

# The shared volume's files, as they were (files created since are removed); Slurm state and the
# cluster identity are left to restore_slurm.sh and to this node.
apply_shared() {
  local dir=$1 excludes=()
  [[ -d $dir/state/shared ]] || return 0
  mapfile -t excludes < <(backup::shared_excludes)
  run::cmd rsync -a --numeric-ids --ignore-times --delete "${excludes[@]}" -- "$dir/state/shared/" \
    "$(path::of "$STORAGE_MOUNT_POINT")/"
}

apply() {
  local dir=$APPLY_DIR
  log::phase restore
  backup::is_usable "$dir" || die "$dir is not a usable snapshot"
  if has_item configs; then log::info "configs and systemd units"; apply_configs "$dir"; fi
  apply_services "$dir"
  if has_item shared_storage; then log::info "shared storage files"; apply_shared "$dir"; fi
  if has_item state; then log::info "node state"; apply_state "$dir"; fi
}

# Run the restore step of DIR in a child process (its own set -e and ERR trap).
run_apply() {
  local args=(--apply "$1" --items "$(IFS=,; printf '%s' "${ITEMS[*]}")") s
  run::is_dry && args+=(--dry-run)
  for s in "${SKIP[@]+"${SKIP[@]}"}"; do args+=(--skip-service "$s"); done
  HPC_LOG_FILE=$HPC_LOG_FILE "$HPC_MAIN_SCRIPT" "${args[@]}"
}
