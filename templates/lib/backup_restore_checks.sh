# shellcheck shell=bash
# lib/backup_restore_checks.sh - restore step [3]: verify a snapshot before anything is stopped or changed.
# Steps of backup/restore.sh: they read its globals (SNAP_ID, SNAP_DIR, ITEMS, SKIP, STOPPED) and its
# has_item/skipped. Sourced by restore.sh only, after lib/backup.sh.

verify_snapshot() {
  local bad started=$SECONDS
  log::info "verifying the sha256 of $(jq '.files | length' "$SNAP_DIR/metadata.json") files"
  if ! bad="$(backup::verify "$SNAP_DIR")"; then
    log::error "damaged files in $SNAP_DIR:"
    printf '    %s\n' "$bad" | head -n 20 >&2
    die "snapshot $SNAP_ID is damaged (checksum mismatch or missing files): refusing to restore it. Nothing was stopped or changed; choose another snapshot (restore.sh --list)." "$EXIT_REFUSED"
  fi
  log::ok "all checksums match ($(( SECONDS - started ))s)"
  verify_restorable
  verify_versions
  verify_identity
}

# Every service whose data is in the snapshot needs its restore script here (or an explicit skip);
# shared files go back only into the mounted shared volume.
verify_restorable() {
  local svc item status
  if has_item shared_storage && ! backup::shared_mounted; then
    die "snapshot $SNAP_ID holds shared storage files but $STORAGE_MOUNT_POINT is not mounted here: nothing was changed (fix: mount it, or restore the rest with --only-configs / --only-databases)" "$EXIT_PREFLIGHT"
  fi
  while read -r svc item _; do
    if ! has_item "$item" || skipped "$svc"; then continue; fi
    status="$(jq -r --arg s "$svc" '.services[$s].status // ""' "$SNAP_DIR/metadata.json")"
    [[ $status == ok ]] || continue
    if [[ ! -x "$(backup::service_script "$svc" restore)" ]]; then
      die "snapshot $SNAP_ID holds $svc data but this toolkit has no $(backup::service_script "$svc" restore): nothing was changed. Restore the rest with --skip-service $svc." "$EXIT_REFUSED"
    fi
  done < <(backup::service_items)
}

# A dump or RDB written by another major.minor may not load here: refuse unless told otherwise.
verify_versions() {
  local svc item pkg was current
  current="$(backup::versions_json)"
  for svc in mariadb:databases redis:redis_rdb slurm:slurm_state; do
    item=${svc#*:}
    svc=${svc%%:*}
    has_item "$item" || continue
    [[ "$(jq -r --arg s "$svc" '.services[$s].status // ""' "$SNAP_DIR/metadata.json")" == ok ]] || continue
    was="$(jq -r --arg s "$svc" '.software_versions[$s] // ""' "$SNAP_DIR/metadata.json")"
    pkg="$(jq -r --arg s "$svc" '.[$s] // ""' <<< "$current")"
    [[ -n $was && -n $pkg ]] || continue
    if [[ "$(backup::major_minor "$was")" != "$(backup::major_minor "$pkg")" ]]; then
      if (( IGNORE_VERSIONS )); then
        log::warn "$svc $was in the snapshot, $pkg here (--ignore-versions)"
      else
        die "$svc was $was when the snapshot was taken and is $pkg here: its data may not load. Nothing was changed (override: --ignore-versions)." "$EXIT_REFUSED"
      fi
    fi
  done
}

verify_identity() {
  local snap_cid here
  snap_cid="$(jq -r '.cluster_id // ""' "$SNAP_DIR/metadata.json")"
  here="$(backup::cluster_id)"
  if [[ -n $here && -n $snap_cid && $here != "$snap_cid" ]]; then
    if (( ! ALLOW_OTHER )); then
      die "snapshot $SNAP_ID belongs to cluster $snap_cid, this node to cluster $here: refusing to mix them. Nothing was changed (override: --allow-other-cluster; this node keeps id $here)." "$EXIT_REFUSED"
    fi
    log::warn "restoring data of cluster $snap_cid into cluster $here (--allow-other-cluster); this node keeps id $here"
  elif [[ -n $here ]]; then
    log::info "cluster identity: restoring in place; this node keeps cluster id $here"
  else
    log::info "cluster identity: this node has none; none is restored, so the first start bootstraps a new cluster (its own id)"
  fi
}
