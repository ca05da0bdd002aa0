# shellcheck shell=bash
# lib/gluster_mount.sh - the shared storage as every node sees it (setup/phase0_storage_setup.sh): the
# mount and its fstab line (GlusterFS or NFS), the shared layout, the local backup store and the
# cluster id. Needs lib/gluster.sh; reads MODE (join: the cluster id must exist already).

# The shared layout of the plan (section 0.4), created once by the first node.
SHARED_DIRS=(frontend_builds slurm slurm/state slurm/logs slurm/spool slurm/config uploads config)
# The local backup store (section 0.5): on each node's own disk, never on the shared volume.
BACKUP_DIRS=(configs configs/nginx configs/systemd configs/cluster databases databases/mariadb
  databases/redis state state/slurm state/glusterfs snapshots)

storage::mount_source() {
  if [[ $STORAGE_TYPE == nfs ]]; then
    printf '%s\n' "$STORAGE_NFS_EXPORT"
  else
    # localhost: every node runs glusterd and serves the volume file itself.
    printf 'localhost:/%s\n' "$STORAGE_VOLUME_NAME"
  fi
}

storage::fstab_line() {
  if [[ $STORAGE_TYPE == nfs ]]; then
    printf '%s %s nfs defaults,_netdev 0 0\n' "$(storage::mount_source)" "$STORAGE_MOUNT_POINT"
  else
    printf '%s %s glusterfs defaults,_netdev 0 0\n' "$(storage::mount_source)" "$STORAGE_MOUNT_POINT"
  fi
}

# storage::ensure_fstab: exactly one line for the mount point, ours (an older line for it is replaced).
storage::ensure_fstab() {
  local fstab want content
  fstab="$(path::of /etc/fstab)"
  want="$(storage::fstab_line)"
  content=""
  if [[ -f $fstab ]]; then
    content="$(awk -v mp="$STORAGE_MOUNT_POINT" '$0 ~ /^[[:space:]]*#/ || $2 != mp' "$fstab")"
  fi
  # Here-strings, not pipes: run::write_file must run in this shell to record the file for rollback.
  [[ -z $content ]] || content+=$'\n'
  run::write_file "$fstab" 0644 <<< "$content$want"
}

storage::mount() {
  log::phase mount
  local mp
  mp="$(path::of "$STORAGE_MOUNT_POINT")"
  run::mkdir "$mp" 0755
  storage::ensure_fstab
  if gluster::is_mounted; then
    log::info "$(storage::mount_source) is mounted at $STORAGE_MOUNT_POINT"
    return 0
  fi
  if mountpoint -q "$mp" 2>/dev/null; then
    die "$STORAGE_MOUNT_POINT is already a mount point of something else (fix: umount $STORAGE_MOUNT_POINT)" "$EXIT_PREFLIGHT"
  fi
  log::info "mounting $(storage::mount_source) at $STORAGE_MOUNT_POINT"
  if [[ $STORAGE_TYPE == nfs ]]; then
    svc::detached run::cmd mount -t nfs "$(storage::mount_source)" "$mp"
  else
    svc::detached run::cmd mount -t glusterfs "$(storage::mount_source)" "$mp"
  fi
  run::is_dry || run::wait_until 30 "$STORAGE_MOUNT_POINT to be mounted" gluster::is_mounted
}

# The cluster id: ${STATE_DIR}/cluster_id is written at bootstrap/join by the orchestrator. When this
# phase runs first, the first node creates it (uuid + newline) and copies it to config/cluster_id.
storage::ensure_cluster_id() {
  log::phase cluster-id
  local local_file shared_file local_id="" shared_id=""
  local_file="$(path::of "$STATE_DIR/cluster_id")"
  shared_file="$(path::of "$STORAGE_MOUNT_POINT/config/cluster_id")"
  [[ -f $local_file ]] && local_id="$(tr -d '[:space:]' < "$local_file")"
  [[ -f $shared_file ]] && shared_id="$(tr -d '[:space:]' < "$shared_file")"
  if [[ -n $local_id && -n $shared_id && $local_id != "$shared_id" ]]; then
    die "this node belongs to cluster $local_id but the shared storage holds cluster $shared_id; refusing to mix two clusters (fix: check which cluster this node should be in; remove $STATE_DIR/cluster_id only if it is stale)" "$EXIT_REFUSED"
  fi
  if [[ -z $shared_id && -z $local_id ]]; then
    if [[ $MODE == join ]]; then
      # A dry run mounted nothing, so there is nothing to read yet: not an error.
      if run::is_dry; then log::info "the cluster id is read from the shared storage once it is mounted"; return 0; fi
      die "the shared storage has no config/cluster_id yet; bootstrap the cluster first" "$EXIT_PREFLIGHT"
    fi
    if run::is_dry; then local_id="<new uuid>"; else local_id="$(uuidgen)"; fi
    log::info "new cluster id $local_id"
  fi
  [[ -f $shared_file ]] || run::write_file "$shared_file" 0644 <<< "${shared_id:-$local_id}"
  [[ -f $local_file ]] || run::write_file "$local_file" 0644 <<< "${local_id:-$shared_id}"
  return 0
}

storage::shared_layout() {
  log::phase layout
  local d
  for d in "${SHARED_DIRS[@]}"; do
    [[ $d == config ]] && continue
    run::mkdir "$(path::of "$STORAGE_MOUNT_POINT/$d")" 0755
  done
  run::mkdir "$(path::of "$STORAGE_MOUNT_POINT/config")" 0700
  # Root-only: the munge key lives here.
  if [[ "$(stat -c '%a' "$(path::of "$STORAGE_MOUNT_POINT/config")" 2>/dev/null)" != 700 ]]; then
    run::cmd chmod 0700 "$(path::of "$STORAGE_MOUNT_POINT/config")"
  fi
  remote::publish_host_keys
}

storage::backup_layout() {
  log::phase backup-store
  local d base
  base="$(path::of "$STORAGE_BACKUP_PATH")"
  # The backup store must stay on local disk: a backup on the volume it backs up is no backup.
  if ! run::is_dry && [[ -d $base ]] && gluster::on_shared "$STORAGE_BACKUP_PATH"; then
    die "$STORAGE_BACKUP_PATH is on the shared storage; it must be on this node's local disk (fix: storage.backup_path)" "$EXIT_PREFLIGHT"
  fi
  run::mkdir "$base" 0750
  for d in "${BACKUP_DIRS[@]}"; do
    run::mkdir "$base/$d" 0750
  done
}
