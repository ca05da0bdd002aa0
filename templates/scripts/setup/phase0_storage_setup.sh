#!/usr/bin/env bash
# Usage: phase0_storage_setup.sh (--bootstrap | --join --peer IP | --standalone | --status [--json]
#                                 | --add-node IP | --remove-node IP) [--dry-run] [--yes]
# Summary: Set up the shared storage (GlusterFS replica volume or NFS mount) on this node.
#
#   --bootstrap        first node of a new cluster: create the volume with this node's brick, mount it,
#                      create the shared layout (frontend_builds/ slurm/ uploads/ config/) and cluster id
#   --join --peer IP   ask the live member IP to add this node (peer probe + add-brick replica N+1 + full
#                      heal), then mount; done only when heal info shows nothing pending
#   --standalone       one-node deployment (same as --bootstrap: a one-brick volume that can grow later)
#   --status           one status line (--json: an object like discovery's "glusterfs" entry)
#   --add-node IP      on a live member: add IP to the pool and its brick to the volume, heal, wait
#   --remove-node IP   on a survivor: remove-brick replica N-1 and peer detach IP (asks first; --yes)
#   --dry-run          print every command and file, change nothing
#
# Environment: STORAGE_HEAL_TIMEOUT (seconds to wait for heal, default 900).
# --force is the same as --yes.
# Exit codes: 0 ok, 1 error, 2 usage, 4 locked, 5 preflight failed, 6 refused for safety.
# shellcheck source=../lib/phase.sh
source "$HPC_LIB_DIR/phase.sh"
# shellcheck source=../lib/gluster.sh
source "$HPC_LIB_DIR/gluster.sh"
# shellcheck source=../lib/tls.sh
source "$HPC_LIB_DIR/tls.sh"
# shellcheck source=../lib/gluster_tls.sh
source "$HPC_LIB_DIR/gluster_tls.sh"
# shellcheck source=../lib/gluster_witness.sh
source "$HPC_LIB_DIR/gluster_witness.sh"
# shellcheck source=../lib/gluster_volume.sh
source "$HPC_LIB_DIR/gluster_volume.sh"
# shellcheck source=../lib/gluster_mount.sh
source "$HPC_LIB_DIR/gluster_mount.sh"

PHASE_LOCK=storage
PHASE_MODES=(bootstrap join standalone status add-node remove-node)
PHASE_JOIN_NEEDS_PEER=1

# --- preflight ------------------------------------------------------------------------------------

phase::preflight() {
  log::phase preflight
  local missing=() cmd
  if [[ $STORAGE_TYPE == nfs ]]; then
    [[ -n $STORAGE_NFS_EXPORT ]] || die "[ERROR NfsExport]: storage.type is nfs but storage.nfs_export is empty (fix: set it in cluster_config.yaml)" "$EXIT_PREFLIGHT"
    command -v mount.nfs >/dev/null 2>&1 || missing+=(mount.nfs)
  else
    for cmd in glusterd gluster mount.glusterfs; do
      command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
  fi
  for cmd in findmnt mountpoint; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  if (( ${#missing[@]} )); then
    die "[ERROR Packages]: missing ${missing[*]} (fix: apt-get install glusterfs-server glusterfs-client nfs-common)" "$EXIT_PREFLIGHT"
  fi
  if [[ $STORAGE_TYPE != nfs && ! -e "$(path::of /dev/fuse)" ]]; then
    die "[ERROR Fuse]: /dev/fuse is missing, the volume cannot be mounted (fix: modprobe fuse)" "$EXIT_PREFLIGHT"
  fi
}

# --- modes ----------------------------------------------------------------------------------------

mode::bootstrap() {
  phase::preflight
  if [[ $STORAGE_TYPE == nfs ]]; then
    storage::mount
  else
    # A node whose glusterd already defines the volume is a member: a rerun, not a new cluster.
    if [[ $MODE != standalone && ! -d "$(path::of "/var/lib/glusterd/vols/$STORAGE_VOLUME_NAME")" ]]; then
      log::phase safety
      storage::refuse_if_peer_has_volume
    fi
    storage::ensure_glusterd
    log::phase tls
    tls::ensure
    storage::tls_files
    storage::create_volume
    storage::mount
  fi
  storage::shared_layout
  storage::ensure_cluster_id
  storage::backup_layout
  if [[ $STORAGE_TYPE != nfs && "$(gluster::replica_count)" == 2 && $STORAGE_ARBITER != true ]]; then
    log::warn "replica 2 without an arbiter is prone to split-brain"
  fi
  log::phase verify
  log::ok "shared storage ready at $STORAGE_MOUNT_POINT"
}

mode::join() {
  phase::preflight
  if [[ $STORAGE_TYPE != nfs ]]; then
    storage::ensure_glusterd
    # Before the brick and the mount start: both present this node's certificate.
    log::phase tls
    tls::ensure "$PEER"
    storage::tls_files
    log::phase join
    if gluster::volume_exists && gluster::has_brick "$SELF_IP"; then
      log::info "this node already has a brick in $STORAGE_VOLUME_NAME; nothing to add"
    else
      storage::check_brick_reusable
      log::info "asking $PEER to add this node to the pool and the volume"
      # A node cannot add itself to the trusted pool: a member must probe it.
      local args=(--add-node "$SELF_IP" --yes)
      run::is_dry && args+=(--dry-run)
      if run::is_dry; then
        printf '[dryrun] would run on %s: setup/phase0_storage_setup.sh %s\n' "$PEER" "$(run::quote "${args[@]}")"
      else
        remote::toolkit "$PEER" setup/phase0_storage_setup.sh "${args[@]}" < /dev/null
        run::wait_until 60 "the volume to be known on this node" gluster::volume_exists
      fi
    fi
  fi
  storage::mount
  storage::shared_layout
  storage::ensure_cluster_id
  storage::backup_layout
  log::phase verify
  log::ok "joined the shared storage at $STORAGE_MOUNT_POINT"
}

# add_node: on a live member, bring IP into the pool and its brick into the volume.
mode::add_node() {
  local ip=$TARGET replica bricks
  [[ $ip != "$SELF_IP" ]] || lib::usage_error "--add-node names this node; run --join on the new node instead"
  if [[ $STORAGE_TYPE == nfs ]]; then
    log::info "storage is NFS: each node mounts the export itself; nothing to do for $ip"
    return 0
  fi
  svc::is_running glusterd || die "glusterd is not running on this node; run --add-node on a live member" "$EXIT_PREFLIGHT"
  gluster::volume_exists || die "volume $STORAGE_VOLUME_NAME does not exist here; bootstrap first" "$EXIT_PREFLIGHT"
  log::phase probe
  if gluster::peer_known "$ip"; then
    log::info "$ip is already in the trusted pool"
  else
    log::info "probing $ip"
    gluster::run peer probe "$ip"
  fi
  run::is_dry || run::wait_until 60 "$ip to be a connected pool member" gluster::peer_connected "$ip"
  # Before its brick or its mount connects: the bricks accept only members' clients.
  storage::allow_members

  log::phase add-brick
  replica="$(gluster::replica_count)"
  bricks="$(gluster::brick_count)"
  if gluster::has_brick "$ip"; then
    log::info "$(gluster::brick_of "$ip") is already in $STORAGE_VOLUME_NAME (replica $replica); nothing to add"
  elif [[ $STORAGE_REPLICA_COUNT != auto ]] && (( replica >= STORAGE_REPLICA_COUNT )); then
    log::info "replica count $replica reaches the configured $STORAGE_REPLICA_COUNT: $ip uses the volume as a client only"
    return 0
  else
    if (( bricks != replica )); then
      die "volume $STORAGE_VOLUME_NAME has $bricks bricks at replica $replica (distributed); growing it by one replica is only done for a pure replica volume" "$EXIT_REFUSED"
    fi
    log::info "adding $(gluster::brick_of "$ip"): replica $replica -> $(( replica + 1 ))"
    # force: the brick may sit on the root file system (the joining node checked it is unused).
    gluster::run volume add-brick "$STORAGE_VOLUME_NAME" replica "$(( replica + 1 ))" "$(gluster::brick_of "$ip")" force
    replica=$(( replica + 1 ))
  fi
  storage::tune_volume
  if (( replica == 2 )) && [[ $STORAGE_ARBITER != true ]]; then
    log::warn "replica 2 without an arbiter is prone to split-brain; add a third node or an arbiter"
  fi
  storage::heal_and_wait "$ip"
  log::phase verify
  log::ok "$ip holds a full replica of $STORAGE_VOLUME_NAME ($(gluster::brick_count) bricks)"
}

mode::remove_node() {
  local ip=$TARGET replica bricks
  [[ $ip != "$SELF_IP" ]] || lib::usage_error "--remove-node must run on a survivor, not on $ip itself"
  if [[ $STORAGE_TYPE == nfs ]]; then
    log::info "storage is NFS: nothing to remove for $ip"
    return 0
  fi
  svc::is_running glusterd || die "glusterd is not running on this node; run --remove-node on a live member" "$EXIT_PREFLIGHT"
  log::phase remove-brick
  replica="$(gluster::replica_count)"
  bricks="$(gluster::brick_count)"
  if gluster::has_brick "$ip"; then
    (( bricks > 1 )) || die "$(gluster::brick_of "$ip") is the volume's only brick; refusing to remove it" "$EXIT_REFUSED"
    (( bricks == replica )) || die "volume $STORAGE_VOLUME_NAME is distributed ($bricks bricks, replica $replica); remove the brick by hand" "$EXIT_REFUSED"
    ui::confirm "Remove $(gluster::brick_of "$ip") from $STORAGE_VOLUME_NAME (replica $replica -> $(( replica - 1 )))?"
    gluster::run volume remove-brick "$STORAGE_VOLUME_NAME" replica "$(( replica - 1 ))" "$(gluster::brick_of "$ip")" force
  else
    log::info "$ip has no brick in $STORAGE_VOLUME_NAME"
  fi
  log::phase detach
  if gluster::peer_known "$ip"; then
    ui::confirm "Detach $ip from the trusted pool?"
    if ! gluster::run peer detach "$ip"; then
      log::warn "$ip did not answer; detaching it by force"
      gluster::run peer detach "$ip" force
    fi
  else
    log::info "$ip is not in the trusted pool"
  fi
  if ! run::is_dry && { gluster::has_brick "$ip" || gluster::peer_known "$ip"; }; then
    die "$ip is still listed in the volume or the pool after removal"
  fi
  storage::allow_members
  storage::ensure_witness
  if (( "$(gluster::replica_count)" == 2 )) && [[ $STORAGE_ARBITER != true ]]; then
    log::warn "replica 2 without an arbiter is prone to split-brain"
  fi
  log::phase verify
  log::ok "$ip removed: $STORAGE_VOLUME_NAME has $(gluster::brick_count) bricks"
}

mode::status() {
  local glusterd=0 started=0 bricks=0 replica=0 peers=0 mounted=0 pending=unknown healthy=0
  if [[ $STORAGE_TYPE == nfs ]]; then
    gluster::is_mounted && mounted=1
    healthy=$mounted
    if (( JSON )); then
      printf '{"type":"nfs","export":%s,"mounted":%s,"healthy":%s}\n' \
        "$(json::str "$STORAGE_NFS_EXPORT")" "$(json::bool "$mounted")" "$(json::bool "$healthy")"
    else
      printf 'storage: nfs %s %s at %s\n' "$STORAGE_NFS_EXPORT" "$( (( mounted )) && echo mounted || echo 'NOT mounted')" "$STORAGE_MOUNT_POINT"
    fi
    (( healthy ))
    return
  fi
  if svc::is_running glusterd; then
    glusterd=1
    gluster::volume_started && started=1
    bricks="$(gluster::brick_count)"
    replica="$(gluster::replica_count)"
    peers="$(gluster::peers_connected)"
    if (( started )); then pending="$(gluster::heal_pending || true)"; fi
  fi
  gluster::is_mounted && mounted=1
  if (( glusterd && started && mounted )) && [[ $pending == 0 ]]; then healthy=1; fi
  if (( JSON )); then
    printf '{"type":"glusterfs","glusterd":%s,"volume":%s,"volume_started":%s,"bricks":%s,"replica":%s,"peers_connected":%s,"mounted":%s,"heal_pending":%s,"healthy":%s}\n' \
      "$(json::bool "$glusterd")" "$(json::str "$STORAGE_VOLUME_NAME")" "$(json::bool "$started")" \
      "$(json::num "$bricks")" "$(json::num "$replica")" "$(json::num "$peers")" "$(json::bool "$mounted")" \
      "$(json::num "$pending")" "$(json::bool "$healthy")"
  else
    printf 'storage: glusterd %s, volume %s %s, %s bricks (replica %s), %s peers connected, %s, heal pending %s\n' \
      "$( (( glusterd )) && echo running || echo 'NOT running')" "$STORAGE_VOLUME_NAME" \
      "$( (( started )) && echo started || echo 'NOT started')" "$bricks" "$replica" "$peers" \
      "$( (( mounted )) && echo "mounted at $STORAGE_MOUNT_POINT" || echo 'NOT mounted')" "$pending"
  fi
  (( healthy ))
}

phase::init() { node::require_self; }

main() { phase::main "$@"; }

main "$@"
