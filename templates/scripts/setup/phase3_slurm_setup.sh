#!/usr/bin/env bash
# Usage: phase3_slurm_setup.sh (--bootstrap | --join --peer IP | --standalone | --status [--json]
#                               | --add-node IP | --remove-node IP | --reconfigure) [--dry-run] [--yes]
# Summary: Set up munge, slurmctld, slurmd and slurmdbd on this node (every member is a controller).
#
#   --bootstrap        first node: create the munge key and slurm.conf on the shared storage, start the
#                      daemons, register the cluster in slurmdbd
#   --join --peer IP   ask the live member IP to add this node (controller + compute node), then start here
#   --standalone       one-node deployment (same as --bootstrap)
#   --status           one status line (--json: {"ping": "UP", "controllers": [...], ...})
#   --add-node IP      on a live member: add IP to slurm.conf and restart every member's daemons
#   --remove-node IP   on a survivor: take IP out of slurm.conf, stop its daemons, restart the others
#   --reconfigure      re-read the shared slurm.conf here (restart this node's daemons); used by the above
#   --stop-local       stop slurmctld, slurmd and slurmdbd here (used by --remove-node and restore_slurm.sh)
#   --dry-run          print every command and file, change nothing
#
# Slurm needs a restart (not `scontrol reconfigure`) when controllers or nodes change; jobs survive it
# because their state is saved on the shared storage and slurmd keeps running steps.
# Exit codes: 0 ok, 1 error, 2 usage, 4 locked, 5 preflight failed, 6 refused for safety.
# shellcheck source=../lib/gluster.sh
source "$HPC_LIB_DIR/gluster.sh"
# shellcheck source=../lib/slurm.sh
source "$HPC_LIB_DIR/slurm.sh"

MODE=""
PEER_IP=""
TARGET_IP=""
JSON=0
CONF_CHANGED=0
FORCE_RESTART=0
DBD_STARTED_AT=0
MUNGE_CHANGED=0
DBD_CHANGED=0
readonly SLURM_ACCT_DB=slurm_acct_db

# shellcheck disable=SC2034 # DRY_RUN and ASSUME_YES are read by lib/run.sh and lib/ui.sh
parse_args() {
  while (( $# )); do
    case "$1" in
      --bootstrap) set_mode bootstrap ;;
      --join) set_mode join ;;
      --standalone) set_mode standalone ;;
      --status) set_mode status ;;
      --reconfigure) set_mode reconfigure ;;
      --stop-local) set_mode stop-local ;;
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
  [[ -n $MODE ]] || lib::usage_error "say what to do: --bootstrap, --join --peer IP, --standalone, --status, --add-node IP, --remove-node IP or --reconfigure"
  node::check_mode_args "$MODE" "$PEER_IP" "$TARGET_IP"
}

set_mode() {
  [[ -z $MODE ]] || lib::usage_error "choose one action (--bootstrap, --join, --standalone, --status, --add-node, --remove-node, --reconfigure)"
  MODE=$1
}

on_exit() {
  local rc=$?
  if (( rc != 0 )) && ! run::is_dry; then run::rollback_files; fi
  lib::on_exit
}

# --- preflight ------------------------------------------------------------------------------------

preflight() {
  log::phase preflight
  local missing=() cmd
  for cmd in munged munge unmunge slurmctld slurmd scontrol sinfo sacctmgr; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  if (( ${#missing[@]} )); then
    die "[ERROR Packages]: missing ${missing[*]} (fix: apt-get install munge slurmctld slurmd slurmdbd slurm-client)" "$EXIT_PREFLIGHT"
  fi
  id slurm >/dev/null 2>&1 || die "[ERROR SlurmUser]: no user slurm (fix: reinstall slurm-wlm-basic-plugins)" "$EXIT_PREFLIGHT"
  id munge >/dev/null 2>&1 || die "[ERROR MungeUser]: no user munge (fix: reinstall munge)" "$EXIT_PREFLIGHT"
  require_state_on_shared
}

# The whole point of several controllers: each must read the state the others saved. A state directory
# on a local disk would let a backup start with no jobs, so refuse instead.
require_state_on_shared() {
  run::is_dry && return 0
  if ! gluster::is_mounted; then
    die "[ERROR SharedStorage]: the shared storage is not mounted at $STORAGE_MOUNT_POINT (fix: setup/phase0_storage_setup.sh first)" "$EXIT_PREFLIGHT"
  fi
  if ! gluster::on_shared "$SLURM_STATE_LOCATION"; then
    die "[ERROR StateSaveLocation]: $SLURM_STATE_LOCATION is not on the shared mount $STORAGE_MOUNT_POINT; a backup controller would start without the saved jobs (fix: slurm.state_location under storage.mount_point)" "$EXIT_PREFLIGHT"
  fi
}

# --- munge ----------------------------------------------------------------------------------------

# One key for the whole cluster, created once and kept root-only on the shared storage.
ensure_munge() {
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
  run::is_dry || run::wait_until 30 "munged to answer" munge_works
}

munge_works() {
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1
}

# --- directories, membership, slurm.conf -----------------------------------------------------------

ensure_dirs() {
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
  run::mkdir "$(path::of /var/log/slurm)" 0750 slurm:slurm
  run::mkdir "$(path::of /run/slurm)" 0755 slurm:slurm
}

# write_members CONTENT...: replace the members file (atomic, on the shared storage).
write_members() {
  local IFS=$'\n'
  # Here-strings, not pipes: run::write_file must run in this shell (RUN_CHANGED, rollback).
  run::write_file "$(slurm::members_file)" 0644 <<< "$*"
}

ensure_shared_conf() {
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
ensure_conf_link() {
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

# --- slurmdbd -------------------------------------------------------------------------------------

# acct_index: the index of the slurm_acct_db entry in database.databases (fails when there is none).
acct_index() {
  local i
  # shellcheck disable=SC2153 # DB_NAMES comes from lib/config.sh
  for i in "${!DB_NAMES[@]}"; do
    if [[ ${DB_NAMES[i]} == "$SLURM_ACCT_DB" ]]; then printf '%s\n' "$i"; return 0; fi
  done
  return 1
}

is_dbd_host() {
  slurm::dbd_hosts | grep -xF "$SELF_IP" >/dev/null
}

# The database and its user; normally made by the database phase, created here when missing and the
# local MariaDB lets root in through its socket. The password travels on stdin, never on a command line.
ensure_acct_database() {
  local idx=$1 user pw
  # shellcheck disable=SC2153 # DB_USERS comes from lib/config.sh
  user=${DB_USERS[idx]}
  command -v mariadb >/dev/null 2>&1 || return 1
  if ! mariadb -e 'SELECT 1' >/dev/null 2>&1; then
    log::info "cannot log in to the local MariaDB as root; assuming the database phase created $SLURM_ACCT_DB"
    return 0
  fi
  run::is_dry && { printf '[dryrun] would create database %s and user %s if missing\n' "$SLURM_ACCT_DB" "$user"; return 0; }
  pw="$(secrets::get "${DB_PASSWORD_SECRETS[idx]}")"
  pw=${pw//\\/\\\\}
  pw=${pw//\'/\\\'}
  mariadb <<SQL
CREATE DATABASE IF NOT EXISTS \`$SLURM_ACCT_DB\`;
CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL ON \`$SLURM_ACCT_DB\`.* TO '$user'@'localhost';
GRANT ALL ON \`$SLURM_ACCT_DB\`.* TO '$user'@'127.0.0.1';
SQL
}

# shellcheck disable=SC2034 # NODE_NAME..ACCT_PASSWORD are the @TOKENS@ of configs/slurmdbd.conf
ensure_slurmdbd() {
  log::phase slurmdbd
  local idx hosts=() conf content
  local NODE_NAME DBD_HOST DBD_BACKUP_LINE ACCT_DB ACCT_USER ACCT_PASSWORD
  if ! is_dbd_host; then
    if slurm::running slurmdbd; then
      log::info "this node no longer runs slurmdbd (the first two members do); stopping it"
      stop_daemon slurmdbd
    fi
    return 0
  fi
  if ! idx="$(acct_index)"; then
    log::warn "database.databases has no $SLURM_ACCT_DB entry: Slurm runs without accounting"
    return 0
  fi
  command -v slurmdbd >/dev/null 2>&1 || die "[ERROR Packages]: slurmdbd is missing (fix: apt-get install slurmdbd)" "$EXIT_PREFLIGHT"
  if ! ensure_acct_database "$idx"; then
    log::warn "no MariaDB client here: cannot check $SLURM_ACCT_DB"
  fi
  mapfile -t hosts < <(slurm::dbd_hosts)
  NODE_NAME=$SELF_HOSTNAME
  DBD_HOST="$(node::hostname_of "${hosts[0]}")"
  DBD_BACKUP_LINE=""
  if (( ${#hosts[@]} > 1 )); then DBD_BACKUP_LINE="DbdBackupHost=$(node::hostname_of "${hosts[1]}")"; fi
  ACCT_DB=$SLURM_ACCT_DB
  ACCT_USER=${DB_USERS[idx]}
  ACCT_PASSWORD="$(secrets::get "${DB_PASSWORD_SECRETS[idx]}")"
  if [[ $ACCT_PASSWORD =~ [[:space:]#] ]]; then
    die "the $SLURM_ACCT_DB password (${DB_PASSWORD_SECRETS[idx]}) holds a space or '#', which slurmdbd.conf cannot carry; choose another" "$EXIT_USAGE"
  fi
  conf="$(path::of /etc/slurm/slurmdbd.conf)"
  content="$(tpl::render "$(tpl::path slurmdbd.conf)" NODE_NAME DBD_HOST DBD_BACKUP_LINE ACCT_DB ACCT_USER ACCT_PASSWORD)"
  SECRET_CONTENT=1 run::write_file "$conf" 0600 slurm:slurm <<< "$content"
  DBD_CHANGED=$RUN_CHANGED
  if slurm::running slurmdbd; then
    if (( DBD_CHANGED || MUNGE_CHANGED )); then restart_daemon slurmdbd; fi
  else
    svc::start slurmdbd >/dev/null
  fi
  run::is_dry && return 0
  DBD_STARTED_AT=$SECONDS
  if [[ ${hosts[0]} == "$SELF_IP" ]]; then
    # The active slurmdbd is needed for accounting: it must listen.
    run::wait_until 60 "slurmdbd to accept connections or exit" dbd_settled || true
    port_open 127.0.0.1 "$SLURM_SLURMDBD_PORT" \
      || die "slurmdbd did not start (see /var/log/slurm/slurmdbd.log); is $SLURM_ACCT_DB reachable at 127.0.0.1:$DB_PORT for ${DB_USERS[idx]}?"
  else
    # The standby runs "in background mode" and listens only once the active one is gone.
    run::wait_until 30 "the standby slurmdbd to settle" dbd_settled || true
    if ! slurm::running slurmdbd; then
      log::warn "the standby slurmdbd did not start here (see /var/log/slurm/slurmdbd.log); accounting depends on $DBD_HOST alone"
    fi
  fi
}

# dbd_settled: slurmdbd listens; or it ran for 3 s (a standby); or it has not been running for 5 s
# after its start (it died: its log says why, and waiting longer would not help).
dbd_settled() {
  port_open 127.0.0.1 "$SLURM_SLURMDBD_PORT" && return 0
  if slurm::running slurmdbd; then
    [[ $(slurm::dbd_hosts | tail -n 1) == "$SELF_IP" ]] && (( SECONDS - DBD_STARTED_AT >= 3 ))
  else
    (( SECONDS - DBD_STARTED_AT >= 5 ))
  fi
}

port_open() {
  # shellcheck disable=SC2016 # $1/$2 expand in the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# --- daemons --------------------------------------------------------------------------------------

# restart_daemon NAME: stop, wait until the process is gone, start. Debian's slurmdbd init script
# restarts with "stop; sleep 1; start" without waiting: a slurmdbd slower to exit made the start a no-op
# ("already running") and then nothing ran.
restart_daemon() {
  if [[ "$(svc::init_system)" == systemd ]]; then
    svc::restart "$1" >/dev/null
    return
  fi
  stop_daemon "$1"
  svc::start "$1" >/dev/null
}

stop_daemon() {
  svc::stop "$1" >/dev/null
  run::is_dry || run::wait_until 30 "$1 to exit" daemon_gone "$1"
}

daemon_gone() {
  ! pgrep -x "$1" >/dev/null 2>&1
}

start_or_restart() {
  local name=$1
  if slurm::running "$name"; then
    if (( CONF_CHANGED || MUNGE_CHANGED || FORCE_RESTART )); then
      log::info "restarting $name (configuration changed)"
      restart_daemon "$name"
    else
      log::info "$name is running"
    fi
  else
    log::info "starting $name"
    svc::start "$name" >/dev/null
  fi
}

start_daemons() {
  log::phase daemons
  require_state_on_shared
  start_or_restart slurmctld
  start_or_restart slurmd
  run::is_dry && return 0
  run::wait_until 90 "a Slurm controller to answer scontrol ping" slurm::controller_up
  run::wait_until 120 "$SELF_HOSTNAME to register with the controller" slurm::node_ready "$SELF_HOSTNAME"
}

# The cluster must be known to slurmdbd for `sacctmgr show cluster` (and accounting) to work.
ensure_cluster_registered() {
  log::phase accounting
  acct_index >/dev/null || return 0
  [[ -n "$(slurm::dbd_hosts)" ]] || return 0
  run::is_dry && { printf '[dryrun] would run: sacctmgr -i add cluster %s (if missing)\n' "$SLURM_CLUSTER_NAME"; return 0; }
  if ! run::wait_until 60 "slurmdbd to answer sacctmgr" sacctmgr_answers; then
    log::warn "slurmdbd does not answer: accounting is unavailable until it does (see /var/log/slurm/slurmdbd.log)"
    return 0
  fi
  if cluster_registered; then
    log::info "cluster $SLURM_CLUSTER_NAME is registered in slurmdbd"
  else
    run::cmd sacctmgr -i add cluster "$SLURM_CLUSTER_NAME" >/dev/null
    run::wait_until 30 "cluster $SLURM_CLUSTER_NAME in sacctmgr" cluster_registered
    log::info "registered cluster $SLURM_CLUSTER_NAME in slurmdbd"
  fi
}

sacctmgr_answers() { timeout 15 sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }
cluster_registered() {
  timeout 15 sacctmgr -n -P show cluster format=cluster 2>/dev/null | grep -xF "$SLURM_CLUSTER_NAME" >/dev/null
}

# run_on_members EXCLUDE ARGS...: run this script with ARGS on every member except EXCLUDE, lowest
# priority first and the primary last, so a backup is never left alone with an old configuration.
run_on_members() {
  local exclude=$1 ip members=()
  shift
  mapfile -t members < <(slurm::members | tac)
  for ip in "${members[@]}"; do
    [[ $ip == "$exclude" ]] && continue
    if [[ $ip == "$SELF_IP" ]]; then
      # This run holds the node's slurm lock: reconfigure here in-process.
      reconfigure_here
    elif run::is_dry; then
      printf '[dryrun] would run on %s: setup/phase3_slurm_setup.sh %s\n' "$ip" "$(run::quote "$@")"
    elif ! remote::toolkit "$ip" setup/phase3_slurm_setup.sh "$@" < /dev/null; then
      log::warn "$ip did not apply the new slurm.conf; rerun there: setup/phase3_slurm_setup.sh --reconfigure"
    fi
  done
}

# --- modes ----------------------------------------------------------------------------------------

do_bootstrap() {
  local others
  preflight
  ensure_dirs
  ensure_munge
  log::phase members
  if ! slurm::is_member "$SELF_IP"; then
    others="$(slurm::members | tr '\n' ' ')"
    if [[ -n $others ]]; then
      die "Slurm already has members (${others% }); this node must join them (fix: --join --peer ${others%% *})" "$EXIT_REFUSED"
    fi
    write_members "$SELF_IP $(nproc)"
  fi
  ensure_shared_conf
  ensure_conf_link
  ensure_slurmdbd
  start_daemons
  ensure_cluster_registered
  log::phase verify
  log::ok "Slurm is running: $(slurm::ping | tr '\n' ' ')"
}

do_join() {
  preflight
  ensure_dirs
  ensure_munge
  log::phase members
  if slurm::is_member "$SELF_IP"; then
    log::info "this node is already a Slurm member"
  elif run::is_dry; then
    printf '[dryrun] would run on %s: setup/phase3_slurm_setup.sh --add-node %s --yes\n' "$PEER_IP" "$SELF_IP"
  else
    log::info "asking $PEER_IP to add this node as controller and compute node"
    remote::toolkit "$PEER_IP" setup/phase3_slurm_setup.sh --add-node "$SELF_IP" --yes < /dev/null
  fi
  ensure_shared_conf
  ensure_conf_link
  ensure_slurmdbd
  start_daemons
  ensure_cluster_registered
  log::phase verify
  log::ok "joined Slurm: $(slurm::ping | tr '\n' ' ')"
}

do_add_node() {
  local ip=$TARGET_IP cpus
  [[ $ip != "$SELF_IP" ]] || lib::usage_error "--add-node names this node; run --join on the new node instead"
  require_state_on_shared
  slurm::is_member "$SELF_IP" || die "this node is not a Slurm member; run --add-node on a member" "$EXIT_PREFLIGHT"
  log::phase members
  if slurm::is_member "$ip"; then
    log::info "$ip is already a Slurm member; nothing to change"
    return 0
  fi
  cpus="$(remote::run "$ip" nproc 2>/dev/null < /dev/null || true)"
  [[ $cpus =~ ^[1-9][0-9]*$ ]] || { log::warn "could not ask $ip for its CPU count; using 1"; cpus=1; }
  log::info "adding $(node::hostname_of "$ip") ($ip, $cpus CPUs) as controller and compute node"
  write_members "$(slurm::members_with "$ip" "$cpus")"
  ensure_shared_conf
  # From here other members apply the new files: a later failure must not roll them back under them.
  run::commit_files
  log::phase reconfigure
  run_on_members "$ip" --reconfigure --yes
  log::ok "$ip is in slurm.conf; it starts its daemons when its --join continues"
}

do_remove_node() {
  local ip=$TARGET_IP host jobs
  [[ $ip != "$SELF_IP" ]] || lib::usage_error "--remove-node must run on a survivor, not on $ip itself"
  require_state_on_shared
  log::phase members
  if ! slurm::is_member "$ip"; then
    log::info "$ip is not a Slurm member; nothing to change"
    return 0
  fi
  host="$(node::hostname_of "$ip")"
  jobs="$(timeout 20 squeue -h -w "$host" 2>/dev/null | grep -c . || true)"
  if (( jobs > 0 )); then
    log::warn "$host runs $jobs job(s); they are requeued or lost when it leaves"
  fi
  ui::confirm "Remove $host ($ip) from Slurm (controller and compute node)?"
  write_members "$(slurm::members_without "$ip")"
  [[ -n "$(slurm::members)" ]] || die "refusing to remove the last Slurm member" "$EXIT_REFUSED"
  ensure_shared_conf
  # From here other members apply the new files: a later failure must not roll them back under them.
  run::commit_files
  log::phase stop
  if run::is_dry; then
    printf '[dryrun] would run on %s: setup/phase3_slurm_setup.sh --stop-local\n' "$ip"
  elif ! remote::toolkit "$ip" setup/phase3_slurm_setup.sh --stop-local < /dev/null; then
    log::warn "could not stop Slurm on $ip (unreachable?); stop slurmctld/slurmd/slurmdbd there before it returns"
  fi
  log::phase reconfigure
  run_on_members "$ip" --reconfigure --yes
  log::ok "$host removed from Slurm: $(slurm::members | tr '\n' ' ')"
}

do_reconfigure() {
  preflight
  slurm::is_member "$SELF_IP" || die "this node is not a Slurm member" "$EXIT_PREFLIGHT"
  ensure_dirs
  ensure_munge
  reconfigure_here
  log::phase verify
  log::ok "$SELF_HOSTNAME runs the current slurm.conf"
}

# reconfigure_here: restart this node's daemons on the current shared slurm.conf.
reconfigure_here() {
  FORCE_RESTART=1
  ensure_conf_link
  ensure_slurmdbd
  start_daemons
  FORCE_RESTART=0
}

do_stop_local() {
  log::phase stop
  local name
  for name in slurmctld slurmd slurmdbd; do
    if slurm::running "$name"; then stop_daemon "$name"; fi
  done
  log::ok "Slurm daemons stopped on $SELF_HOSTNAME"
}

do_status() {
  local ctld=0 slurmd=0 dbd=0 ping="DOWN" healthy=0 state="" line role host st first=1 controllers=""
  slurm::running slurmctld && ctld=1
  slurm::running slurmd && slurmd=1
  slurm::running slurmdbd && dbd=1
  slurm::controller_up && ping="UP"
  state="$(slurm::node_state "$SELF_HOSTNAME" || true)"
  if [[ $ping == UP ]] && (( slurmd )); then healthy=1; fi
  if (( JSON )); then
    while read -r role host st; do
      [[ -n $role ]] || continue
      (( first )) || controllers+=","
      first=0
      controllers+="{\"role\":$(json::str "$role"),\"host\":$(json::str "$host"),\"state\":$(json::str "$st")}"
    done < <(slurm::ping)
    printf '{"ping":%s,"controllers":[%s],"slurmctld":%s,"slurmd":%s,"slurmdbd":%s,"node_state":%s,"healthy":%s}\n' \
      "$(json::str "$ping")" "$controllers" "$(json::bool "$ctld")" "$(json::bool "$slurmd")" \
      "$(json::bool "$dbd")" "$(json::str "$state")" "$(json::bool "$healthy")"
  else
    line="$(slurm::ping | awk '{ printf "%s%s %s %s", sep, $1, $2, $3; sep = ", " }')"
    printf 'slurm: controllers %s; slurmctld %s, slurmd %s, slurmdbd %s here; node %s\n' \
      "${line:-none answering}" "$( (( ctld )) && echo running || echo stopped)" \
      "$( (( slurmd )) && echo running || echo stopped)" "$( (( dbd )) && echo running || echo stopped)" \
      "${state:-unknown}"
  fi
  (( healthy ))
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  node::require_self
  if [[ $MODE == status ]]; then
    # Exit 0 when a controller answers and slurmd runs here, 1 otherwise.
    if do_status; then exit 0; else exit 1; fi
  fi
  lock::acquire slurm
  trap on_exit EXIT
  case "$MODE" in
    bootstrap|standalone) do_bootstrap ;;
    join) do_join ;;
    add-node) do_add_node ;;
    remove-node) do_remove_node ;;
    reconfigure) do_reconfigure ;;
    stop-local) do_stop_local ;;
  esac
  run::commit_files
}

main "$@"
