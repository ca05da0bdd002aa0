# shellcheck shell=bash
# lib/gluster_volume.sh - the GlusterFS side of setup/phase0_storage_setup.sh: glusterd, the replica
# volume (create, tune, the brick checks) and the heal a new replica waits for. Needs lib/gluster.sh
# lib/gluster_tls.sh and lib/gluster_witness.sh.

# Seconds a new replica's heal may take (STORAGE_HEAL_TIMEOUT, default 900).
STORAGE_HEAL_WAIT="${STORAGE_HEAL_TIMEOUT:-900}"

# storage::stop_unused_glusterd: the rollback step of a run that started glusterd: stop it again when
# it serves no volume, so a failed first attempt leaves the node as it was.
storage::stop_unused_glusterd() {
  gluster::volume_exists && return 0
  log::warn "stopping glusterd, started by this failed run"
  svc::stop glusterd || true
}

storage::ensure_glusterd() {
  log::phase glusterd
  if svc::is_running glusterd; then
    log::info "glusterd is running"
  else
    log::info "starting glusterd"
    svc::start glusterd
    run::on_rollback storage::stop_unused_glusterd
    svc::enable glusterd
    run::is_dry || run::wait_until 60 "glusterd to answer" gluster::q pool list >/dev/null
  fi
  run::mkdir "$(path::of "$STORAGE_BRICK_PATH")" 0755
}

# A brick directory that already holds GlusterFS metadata belongs to some volume; reusing it would mix
# two volumes' data. Refuse and say how to clear it.
storage::check_brick_reusable() {
  local brick
  brick="$(path::of "$STORAGE_BRICK_PATH")"
  if [[ -d $brick/.glusterfs ]] && ! gluster::has_brick "$SELF_IP"; then
    die "[ERROR BrickInUse]: $STORAGE_BRICK_PATH already holds GlusterFS data of an earlier volume (fix: move it away, e.g. mv $STORAGE_BRICK_PATH ${STORAGE_BRICK_PATH}.old, then rerun)" "$EXIT_REFUSED"
  fi
}

# Bootstrap only when no reachable peer already serves the volume: two volumes of the same name
# would be two clusters. An unreachable peer cannot be asked; say so instead of guessing.
storage::refuse_if_peer_has_volume() {
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

storage::create_volume() {
  log::phase volume
  if gluster::volume_exists; then
    if gluster::has_brick "$SELF_IP"; then
      log::info "volume $STORAGE_VOLUME_NAME exists with this node's brick"
    else
      die "volume $STORAGE_VOLUME_NAME exists but has no brick on $SELF_IP; this node belongs to another member's pool (fix: --join --peer IP)" "$EXIT_REFUSED"
    fi
  else
    storage::check_brick_reusable
    log::info "creating volume $STORAGE_VOLUME_NAME with brick $(gluster::brick_of "$SELF_IP")"
    # force: the brick may sit on the root file system; reuse of an old brick is checked above.
    gluster::run volume create "$STORAGE_VOLUME_NAME" "$(gluster::brick_of "$SELF_IP")" force
    storage::tls_new_volume
  fi
  storage::tls_check_volume
  if ! gluster::volume_started; then
    gluster::run volume start "$STORAGE_VOLUME_NAME"
  fi
  storage::tune_volume
}

# storage::tune_volume: set each option of the plan that differs from the wanted value (idempotent).
storage::tune_volume() {
  local options
  mapfile -t options < <(gluster::tuning "$(gluster::replica_count)")
  storage::set_options "${options[@]}"
  storage::allow_members
  storage::ensure_witness
}

# storage::set_options "KEY VALUE"...: set each option the volume does not have yet.
storage::set_options() {
  local kv
  for kv in "$@"; do
    if [[ "$(gluster::option_value "${kv%% *}")" != "${kv#* }" ]]; then
      gluster::run volume set "$STORAGE_VOLUME_NAME" "${kv%% *}" "${kv#* }"
    fi
  done
}

# storage::member_indexes: the indexes (in config order) of the configured nodes in this node's trusted
# pool, this node included: the only hosts whose clients the bricks accept.
storage::member_indexes() {
  local i
  # shellcheck disable=SC2153 # NODE_IPS comes from config.sh
  for i in "${!NODE_IPS[@]}"; do
    if [[ ${NODE_IPS[i]} == "$SELF_IP" ]] || gluster::peer_known "${NODE_IPS[i]}"; then printf '%s\n' "$i"; fi
  done
}

# storage::member_ips: their addresses, comma separated (auth.allow).
storage::member_ips() {
  local i out=""
  for i in $(storage::member_indexes); do out+="${NODE_IPS[i]},"; done
  printf '%s\n' "${out%,}"
}

# storage::allow_members: auth.allow = the members, kept in step on every join and removal. Mounting
# the volume is root on every node (it holds the munge key and slurm.conf), so any other host on the
# network is refused by every brick. glusterd still hands out the volume file; the bricks refuse.
storage::allow_members() {
  local want
  want="$(storage::member_ips)"
  [[ -n $want ]] || return 0
  if [[ "$(gluster::option_value auth.allow)" != "$want" ]]; then
    log::info "volume $STORAGE_VOLUME_NAME: only members mount it (auth.allow $want)"
    gluster::run volume set "$STORAGE_VOLUME_NAME" auth.allow "$want"
  fi
  storage::allow_member_names
}


# storage::heal_and_wait IP: trigger a full heal and wait until nothing is pending and IP's brick has as many
# entries as ours, reporting progress; the join is not done before that.
storage::heal_and_wait() {
  local ip=$1 deadline next_report pending theirs ours
  log::phase heal
  run::is_dry && { gluster::run volume heal "$STORAGE_VOLUME_NAME" full; return 0; }
  (( "$(gluster::replica_count)" >= 2 )) || return 0
  run::wait_until 60 "the self-heal daemon to start" \
    gluster::run volume heal "$STORAGE_VOLUME_NAME" full >/dev/null 2>&1
  deadline=$(( SECONDS + STORAGE_HEAL_WAIT ))
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
      die "heal not complete after ${STORAGE_HEAL_WAIT}s ($pending pending, $ip's brick has $theirs of $ours entries); it goes on in the background: watch 'gluster volume heal $STORAGE_VOLUME_NAME info summary' (or raise STORAGE_HEAL_TIMEOUT)"
    fi
    if (( SECONDS >= next_report )); then
      log::info "healing: $pending entries pending, $ip's brick has $theirs of $ours entries"
      next_report=$(( SECONDS + 10 ))
    fi
    sleep 1
  done
}
