# shellcheck shell=bash
# lib/slurm_node.sh - Slurm on this node (setup/phase3_slurm_setup.sh): the cluster's munge key, the
# directories, the members file and slurm.conf on the shared storage (and the /etc link to it), and
# starting or restarting slurmctld/slurmd when what they read changed. Needs lib/gluster.sh and
# lib/slurm.sh; reads MODE (a join finds the munge key made by the first node).

# What this run changed, so the daemons are restarted only when needed.
CONF_CHANGED=0
MUNGE_CHANGED=0
FORCE_RESTART=0

# The whole point of several controllers: each must read the state the others saved. A state directory
# on a local disk would let a backup start with no jobs, so refuse instead.
slurm::require_state_on_shared() {
  run::is_dry && return 0
  if ! gluster::is_mounted; then
    die "[ERROR SharedStorage]: the shared storage is not mounted at $STORAGE_MOUNT_POINT (fix: setup/phase0_storage_setup.sh first)" "$EXIT_PREFLIGHT"
  fi
  if ! gluster::on_shared "$SLURM_STATE_LOCATION"; then
    die "[ERROR StateSaveLocation]: $SLURM_STATE_LOCATION is not on the shared mount $STORAGE_MOUNT_POINT; a backup controller would start without the saved jobs (fix: slurm.state_location under storage.mount_point)" "$EXIT_PREFLIGHT"
  fi
}

# One key for the whole cluster, created once and kept root-only on the shared storage.
slurm::ensure_munge() {
  log::phase munge
  local shared local_key tmp
  shared="$(slurm::munge_key)"
  local_key="$(path::of /etc/munge/munge.key)"
  if [[ ! -f $shared ]]; then
    if [[ $MODE == join ]]; then
      # A dry run mounted no shared storage, so the key cannot be there yet: not an error.
      if run::is_dry; then log::info "the munge key is copied from $shared once the shared storage is mounted"; return 0; fi
      die "there is no munge key at $STORAGE_MOUNT_POINT/config/munge.key; bootstrap Slurm first" "$EXIT_PREFLIGHT"
    fi
    log::info "creating the cluster's munge key"
    if run::is_dry; then
      printf '[dryrun] would create %s (1024 random bytes, mode 0400, root)\n' "$shared"
    else
      tmp="$(mktemp "$(dirname "$shared")/.munge.key.XXXXXX")"
      dd if=/dev/urandom of="$tmp" bs=1024 count=1 status=none
      chmod 0400 "$tmp"
      mv -f -- "$tmp" "$shared"
    fi
  fi
  if ! cmp -s "$shared" "$local_key"; then
    log::info "installing the cluster's munge key"
    run::cmd install -m 0400 -o munge -g munge "$shared" "$local_key"
    MUNGE_CHANGED=1
  fi
  if (( MUNGE_CHANGED )) && svc::is_running munge; then
    svc::restart munge >/dev/null
  elif ! svc::is_running munge; then
    svc::start munge >/dev/null
  fi
  run::is_dry || run::wait_until 30 "munged to answer" slurm::munge_works
}

slurm::munge_works() {
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1
}

slurm::ensure_dirs() {
  log::phase directories
  local state
  state="$(path::of "$SLURM_STATE_LOCATION")"
  run::mkdir "$state" 0700 slurm:slurm
  if ! run::is_dry && ! slurm::state_dir_ok; then
    run::cmd chown slurm:slurm "$state"
    run::cmd chmod 0700 "$state"
  fi
  run::mkdir "$(slurm::conf_dir)" 0755
  run::mkdir "$(path::of "$SLURM_SPOOL_LOCATION")" 0755 slurm:slurm
  run::mkdir "$(path::of "$SLURM_LOG_LOCATION")" 0750 slurm:slurm
  run::mkdir "$(path::of /run/slurm)" 0755 slurm:slurm
}

# slurm::write_members CONTENT...: replace the members file (atomic, on the shared storage).
slurm::write_members() {
  local IFS=$'\n'
  # Here-strings, not pipes: run::write_file must run in this shell (RUN_CHANGED, rollback).
  run::write_file "$(slurm::members_file)" 0644 <<< "$*"
}

slurm::ensure_shared_conf() {
  log::phase slurm-conf
  run::is_dry && [[ ! -f $(slurm::members_file) ]] && {
    printf '[dryrun] would write %s for members: %s\n' "$(slurm::shared_conf)" "$SELF_IP"
    return 0
  }
  local content
  content="$(slurm::render_conf)"
  run::write_file "$(slurm::shared_conf)" 0644 <<< "$content"
  (( RUN_CHANGED )) && CONF_CHANGED=1
  return 0
}

# /etc/slurm/slurm.conf is a link to the shared file, so every daemon reads the same configuration.
slurm::ensure_conf_link() {
  local link target
  link="$(path::of /etc/slurm/slurm.conf)"
  target="$STORAGE_MOUNT_POINT/slurm/config/slurm.conf"
  if [[ -L $link && "$(readlink "$link")" == "$target" ]]; then return 0; fi
  if [[ -e $link && ! -L $link ]]; then
    log::warn "keeping the previous /etc/slurm/slurm.conf as slurm.conf.hpc-prev"
    run::cmd mv -f -- "$link" "$link.hpc-prev"
  fi
  run::mkdir "$(dirname "$link")" 0755
  run::cmd ln -sfn "$target" "$link"
  CONF_CHANGED=1
}

# slurm::restart_daemon NAME: stop, wait until the process is gone, start. Debian's slurmdbd init script
# restarts with "stop; sleep 1; start" without waiting: a slurmdbd slower to exit made the start a no-op
# ("already running") and then nothing ran.
slurm::restart_daemon() {
  if [[ "$(svc::init_system)" == systemd ]]; then
    svc::restart "$1" >/dev/null
    return
  fi
  slurm::stop_daemon "$1"
  svc::start "$1" >/dev/null
}

# slurm::stop_daemon NAME: stop, and wait up to 30 s for the process to go. One that is still there is
# killed: a restore or a config change must not fail on it (seen: slurmdbd on a loaded node still running
# 30 s after its stop, twice in a row). Slurm keeps its state on disk for exactly this: a SIGKILL is what a
# power loss does, and slurmctld/slurmdbd start from that state.
slurm::stop_daemon() {
  svc::stop "$1" >/dev/null
  run::is_dry && return 0
  local grace=${SLURM_STOP_GRACE_S:-30} deadline   # SLURM_STOP_GRACE_S: the unit tests' short wait
  deadline=$(( SECONDS + grace ))
  until slurm::daemon_gone "$1"; do
    if (( SECONDS >= deadline )); then
      log::warn "$1 is still running ${grace}s after its stop: killing it (SIGKILL)"
      pkill -KILL -x "$1" 2>/dev/null || true
      run::wait_until 10 "$1 to exit after SIGKILL" slurm::daemon_gone "$1"
      return
    fi
    sleep 0.5
  done
}

slurm::daemon_gone() {
  ! pgrep -x "$1" >/dev/null 2>&1
}

slurm::start_or_restart() {
  local name=$1
  if slurm::running "$name"; then
    if (( CONF_CHANGED || MUNGE_CHANGED || FORCE_RESTART )); then
      log::info "restarting $name (configuration changed)"
      slurm::restart_daemon "$name"
    else
      log::info "$name is running"
    fi
  else
    log::info "starting $name"
    svc::start "$name" >/dev/null
  fi
}

slurm::start_daemons() {
  log::phase daemons
  slurm::require_state_on_shared
  slurm::start_or_restart slurmctld
  slurm::start_or_restart slurmd
  run::is_dry && return 0
  run::wait_until 90 "a Slurm controller to answer scontrol ping" slurm::controller_up
  run::wait_until 120 "$SELF_HOSTNAME to register with the controller" slurm::node_ready "$SELF_HOSTNAME"
}
