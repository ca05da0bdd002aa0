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
# Exit codes: 0 ok, 1 error, 2 usage, 4 locked, 5 preflight failed, 6 refused for safety.
# shellcheck source=../lib/gluster.sh
source "$HPC_LIB_DIR/gluster.sh"

MODE=""
PEER_IP=""
TARGET_IP=""
JSON=0
STARTED_GLUSTERD=0
HEAL_TIMEOUT="${STORAGE_HEAL_TIMEOUT:-900}"
# The shared layout of the plan (section 0.4), created once by the first node.
SHARED_DIRS=(frontend_builds slurm slurm/state slurm/logs slurm/spool slurm/config uploads config)
# The local backup store (section 0.5): on each node's own disk, never on the shared volume.
BACKUP_DIRS=(configs configs/nginx configs/systemd configs/cluster databases databases/mariadb
  databases/redis state state/slurm state/glusterfs snapshots)

# shellcheck disable=SC2034 # DRY_RUN and ASSUME_YES are read by lib/run.sh and lib/ui.sh
parse_args() {
  while (( $# )); do
    case "$1" in
      --bootstrap) set_mode bootstrap ;;
      --join) set_mode join ;;
      --standalone) set_mode standalone ;;
      --status) set_mode status ;;
      --add-node) set_mode add-node; TARGET_IP=${2:-}; shift ;;
      --remove-node) set_mode remove-node; TARGET_IP=${2:-}; shift ;;
      --peer) PEER_IP=${2:-}; shift ;;
      --dry-run) DRY_RUN=1 ;;
      --yes|--force) ASSUME_YES=1 ;;
      --json) JSON=1 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  [[ -n $MODE ]] || lib::usage_error "say what to do: --bootstrap, --join --peer IP, --standalone, --status, --add-node IP or --remove-node IP"
  node::check_mode_args "$MODE" "$PEER_IP" "$TARGET_IP"
}

set_mode() {
  [[ -z $MODE ]] || lib::usage_error "choose one of --bootstrap, --join, --standalone, --status, --add-node, --remove-node"
  MODE=$1
}

# On failure: put back the files this run replaced (fstab) and stop a glusterd this run started
# when it serves no volume, so a failed first attempt leaves the node as it was.
on_exit() {
  local rc=$?
  if (( rc != 0 )) && ! run::is_dry; then
    run::rollback_files
    if (( STARTED_GLUSTERD )) && ! gluster::volume_exists; then
      log::warn "stopping glusterd, started by this failed run"
      svc::stop glusterd || true
    fi
  fi
  lib::on_exit
}

# --- preflight ------------------------------------------------------------------------------------

preflight() {
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

# --- glusterd and the volume ----------------------------------------------------------------------

ensure_glusterd() {
  log::phase glusterd
  if svc::is_running glusterd; then
    log::info "glusterd is running"
  else
    log::info "starting glusterd"
    svc::start glusterd
    STARTED_GLUSTERD=1
    svc::enable glusterd
    run::is_dry || run::wait_until 60 "glusterd to answer" gluster::q pool list >/dev/null
  fi
  run::mkdir "$(path::of "$STORAGE_BRICK_PATH")" 0755
}

# A brick directory that already holds GlusterFS metadata belongs to some volume; reusing it would mix
# two volumes' data. Refuse and say how to clear it.
check_brick_reusable() {
  local brick
  brick="$(path::of "$STORAGE_BRICK_PATH")"
  if [[ -d $brick/.glusterfs ]] && ! gluster::has_brick "$SELF_IP"; then
    die "[ERROR BrickInUse]: $STORAGE_BRICK_PATH already holds GlusterFS data of an earlier volume (fix: move it away, e.g. mv $STORAGE_BRICK_PATH ${STORAGE_BRICK_PATH}.old, then rerun)" "$EXIT_REFUSED"
  fi
}

# Bootstrap only when no reachable peer already serves the volume: two volumes of the same name
# would be two clusters. An unreachable peer cannot be asked; say so instead of guessing.
refuse_if_peer_has_volume() {
  local ip out
  while IFS= read -r ip; do
    [[ -n $ip ]] || continue
    if out="$(remote::run "$ip" gluster --mode=script volume info "$STORAGE_VOLUME_NAME" 2>&1 < /dev/null)"; then
      die "$ip already serves volume $STORAGE_VOLUME_NAME: this node must join it, not bootstrap a second one (fix: phase0_storage_setup.sh --join --peer $ip)" "$EXIT_REFUSED"
    fi
    case "$out" in
      *"does not exist"*|*"Connection failed"*|*"not found"*) ;;
      *) log::warn "could not ask $ip whether it serves $STORAGE_VOLUME_NAME (${out:0:120})" ;;
    esac
  done < <(node::peer_ips)
}

create_volume() {
  log::phase volume
  if gluster::volume_exists; then
    if gluster::has_brick "$SELF_IP"; then
      log::info "volume $STORAGE_VOLUME_NAME exists with this node's brick"
    else
      die "volume $STORAGE_VOLUME_NAME exists but has no brick on $SELF_IP; this node belongs to another member's pool (fix: --join --peer IP)" "$EXIT_REFUSED"
    fi
  else
    check_brick_reusable
    log::info "creating volume $STORAGE_VOLUME_NAME with brick $(gluster::brick_of "$SELF_IP")"
    # force: the brick may sit on the root file system; reuse of an old brick is checked above.
    gluster::run volume create "$STORAGE_VOLUME_NAME" "$(gluster::brick_of "$SELF_IP")" force
  fi
  if ! gluster::volume_started; then
    gluster::run volume start "$STORAGE_VOLUME_NAME"
  fi
  tune_volume
}

# tune_volume: set each option of the plan that differs from the wanted value (idempotent).
tune_volume() {
  local replica key value
  replica="$(gluster::replica_count)"
  while read -r key value; do
    if [[ "$(gluster::option_value "$key")" != "$value" ]]; then
      gluster::run volume set "$STORAGE_VOLUME_NAME" "$key" "$value"
    fi
  done < <(gluster::tuning "$replica")
}

# --- mount, fstab, layout -------------------------------------------------------------------------

mount_source() {
  if [[ $STORAGE_TYPE == nfs ]]; then
    printf '%s\n' "$STORAGE_NFS_EXPORT"
  else
    # localhost: every node runs glusterd and serves the volume file itself.
    printf 'localhost:/%s\n' "$STORAGE_VOLUME_NAME"
  fi
}

fstab_line() {
  if [[ $STORAGE_TYPE == nfs ]]; then
    printf '%s %s nfs defaults,_netdev 0 0\n' "$(mount_source)" "$STORAGE_MOUNT_POINT"
  else
    printf '%s %s glusterfs defaults,_netdev 0 0\n' "$(mount_source)" "$STORAGE_MOUNT_POINT"
  fi
}

# ensure_fstab: exactly one line for the mount point, ours (an older line for it is replaced).
ensure_fstab() {
  local fstab want content
  fstab="$(path::of /etc/fstab)"
  want="$(fstab_line)"
  content=""
  if [[ -f $fstab ]]; then
    content="$(awk -v mp="$STORAGE_MOUNT_POINT" '$0 ~ /^[[:space:]]*#/ || $2 != mp' "$fstab")"
  fi
  # Here-strings, not pipes: run::write_file must run in this shell to record the file for rollback.
  [[ -z $content ]] || content+=$'\n'
  run::write_file "$fstab" 0644 <<< "$content$want"
}

mount_storage() {
  log::phase mount
  local mp
  mp="$(path::of "$STORAGE_MOUNT_POINT")"
  run::mkdir "$mp" 0755
  ensure_fstab
  if gluster::is_mounted; then
    log::info "$(mount_source) is mounted at $STORAGE_MOUNT_POINT"
    return 0
  fi
  if mountpoint -q "$mp" 2>/dev/null; then
    die "$STORAGE_MOUNT_POINT is already a mount point of something else (fix: umount $STORAGE_MOUNT_POINT)" "$EXIT_PREFLIGHT"
  fi
  log::info "mounting $(mount_source) at $STORAGE_MOUNT_POINT"
  if [[ $STORAGE_TYPE == nfs ]]; then
    svc::detached run::cmd mount -t nfs "$(mount_source)" "$mp"
  else
    svc::detached run::cmd mount -t glusterfs "$(mount_source)" "$mp"
  fi
  run::is_dry || run::wait_until 30 "$STORAGE_MOUNT_POINT to be mounted" gluster::is_mounted
}

# The cluster id: ${STATE_DIR}/cluster_id is written at bootstrap/join by the orchestrator. When this
# phase runs first, the first node creates it (uuid + newline) and copies it to config/cluster_id.
ensure_cluster_id() {
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

create_shared_layout() {
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
}

create_backup_layout() {
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

# --- modes ----------------------------------------------------------------------------------------

do_bootstrap() {
  preflight
  if [[ $STORAGE_TYPE == nfs ]]; then
    mount_storage
  else
    # A node whose glusterd already defines the volume is a member: a rerun, not a new cluster.
    if [[ $MODE != standalone && ! -d "$(path::of "/var/lib/glusterd/vols/$STORAGE_VOLUME_NAME")" ]]; then
      log::phase safety
      refuse_if_peer_has_volume
    fi
    ensure_glusterd
    create_volume
    mount_storage
  fi
  create_shared_layout
  ensure_cluster_id
  create_backup_layout
  if [[ $STORAGE_TYPE != nfs && "$(gluster::replica_count)" == 2 && $STORAGE_ARBITER != true ]]; then
    log::warn "replica 2 without an arbiter is prone to split-brain"
  fi
  log::phase verify
  log::ok "shared storage ready at $STORAGE_MOUNT_POINT"
}

do_join() {
  preflight
  if [[ $STORAGE_TYPE != nfs ]]; then
    ensure_glusterd
    log::phase join
    if gluster::volume_exists && gluster::has_brick "$SELF_IP"; then
      log::info "this node already has a brick in $STORAGE_VOLUME_NAME; nothing to add"
    else
      check_brick_reusable
      log::info "asking $PEER_IP to add this node to the pool and the volume"
      # A node cannot add itself to the trusted pool: a member must probe it.
      local args=(--add-node "$SELF_IP" --yes)
      run::is_dry && args+=(--dry-run)
      if run::is_dry; then
        printf '[dryrun] would run on %s: setup/phase0_storage_setup.sh %s\n' "$PEER_IP" "$(run::quote "${args[@]}")"
      else
        remote::toolkit "$PEER_IP" setup/phase0_storage_setup.sh "${args[@]}" < /dev/null
        run::wait_until 60 "the volume to be known on this node" gluster::volume_exists
      fi
    fi
  fi
  mount_storage
  create_shared_layout
  ensure_cluster_id
  create_backup_layout
  log::phase verify
  log::ok "joined the shared storage at $STORAGE_MOUNT_POINT"
}

# add_node: on a live member, bring IP into the pool and its brick into the volume.
do_add_node() {
  local ip=$TARGET_IP replica bricks
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
  tune_volume
  if (( replica == 2 )) && [[ $STORAGE_ARBITER != true ]]; then
    log::warn "replica 2 without an arbiter is prone to split-brain; add a third node or an arbiter"
  fi
  heal_and_wait "$ip"
  log::phase verify
  log::ok "$ip holds a full replica of $STORAGE_VOLUME_NAME ($(gluster::brick_count) bricks)"
}

# heal_and_wait IP: trigger a full heal and wait until nothing is pending and IP's brick has as many
# entries as ours, reporting progress; the join is not done before that.
heal_and_wait() {
  local ip=$1 deadline next_report pending theirs ours
  log::phase heal
  run::is_dry && { gluster::run volume heal "$STORAGE_VOLUME_NAME" full; return 0; }
  (( "$(gluster::replica_count)" >= 2 )) || return 0
  run::wait_until 60 "the self-heal daemon to start" \
    gluster::run volume heal "$STORAGE_VOLUME_NAME" full >/dev/null 2>&1
  deadline=$(( SECONDS + HEAL_TIMEOUT ))
  next_report=$SECONDS
  while :; do
    pending="$(gluster::heal_pending || true)"
    ours="$(gluster::brick_entries)"
    theirs="$(remote::run "$ip" find "$STORAGE_BRICK_PATH" -path "$STORAGE_BRICK_PATH/.glusterfs" -prune -o -print 2>/dev/null < /dev/null | wc -l || true)"
    if [[ $pending == 0 ]] && (( theirs >= ours )); then
      log::info "heal complete: 0 entries pending, $ip's brick has $theirs entries"
      return 0
    fi
    if (( SECONDS >= deadline )); then
      die "heal not complete after ${HEAL_TIMEOUT}s ($pending pending, $ip's brick has $theirs of $ours entries); it goes on in the background: watch 'gluster volume heal $STORAGE_VOLUME_NAME info summary' (or raise STORAGE_HEAL_TIMEOUT)"
    fi
    if (( SECONDS >= next_report )); then
      log::info "healing: $pending entries pending, $ip's brick has $theirs of $ours entries"
      next_report=$(( SECONDS + 10 ))
    fi
    sleep 1
  done
}

do_remove_node() {
  local ip=$TARGET_IP replica bricks
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
  if (( "$(gluster::replica_count)" == 2 )) && [[ $STORAGE_ARBITER != true ]]; then
    log::warn "replica 2 without an arbiter is prone to split-brain"
  fi
  log::phase verify
  log::ok "$ip removed: $STORAGE_VOLUME_NAME has $(gluster::brick_count) bricks"
}

do_status() {
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

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  if [[ $MODE == status ]]; then
    node::require_self
    # Exit 0 when healthy, 1 otherwise (the line or JSON says why).
    if do_status; then exit 0; else exit 1; fi
  fi
  lock::acquire storage
  node::require_self
  trap on_exit EXIT
  case "$MODE" in
    bootstrap|standalone) do_bootstrap ;;
    join) do_join ;;
    add-node) do_add_node ;;
    remove-node) do_remove_node ;;
  esac
  run::commit_files
}

main "$@"
