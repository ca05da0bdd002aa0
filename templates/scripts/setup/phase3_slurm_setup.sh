#!/usr/bin/env bash
# Usage: phase3_slurm_setup.sh (--bootstrap | --join --peer IP | --standalone | --status [--json]
#                               | --add-node IP | --remove-node IP | --reconfigure | --leave) [--dry-run] [--yes]
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
#   --leave            stop slurmctld, slurmd and slurmdbd here (run by --remove-node on the node it removes,
#                      and by restore_slurm.sh; --stop-local is the old name, still accepted)
#   --dry-run          print every command and file, change nothing
#
# Slurm needs a restart (not `scontrol reconfigure`) when controllers or nodes change; jobs survive it
# because their state is saved on the shared storage and slurmd keeps running steps.
# --force is the same as --yes; --stop is another old name of --leave.
# Exit codes: 0 ok, 1 error, 2 usage, 4 locked, 5 preflight failed, 6 refused for safety.
# shellcheck source=../lib/phase.sh
source "$HPC_LIB_DIR/phase.sh"
# shellcheck source=../lib/gluster.sh
source "$HPC_LIB_DIR/gluster.sh"
# shellcheck source=../lib/slurm.sh
source "$HPC_LIB_DIR/slurm.sh"
# shellcheck source=../lib/slurm_node.sh
source "$HPC_LIB_DIR/slurm_node.sh"
# shellcheck source=../lib/slurm_dbd.sh
source "$HPC_LIB_DIR/slurm_dbd.sh"

PHASE_LOCK=slurm
PHASE_MODES=(bootstrap join standalone status add-node remove-node reconfigure leave)
PHASE_JOIN_NEEDS_PEER=1

# --- preflight ------------------------------------------------------------------------------------

phase::preflight() {
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
  slurm::require_state_on_shared
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

# prepare_here: what --bootstrap and --join do before the membership step (checks, dirs, munge).
prepare_here() {
  phase::preflight
  slurm::ensure_dirs
  slurm::ensure_munge
}

# start_here: ... and after it: slurm.conf, slurmdbd, the daemons, the accounting registration.
start_here() {
  slurm::ensure_shared_conf
  slurm::ensure_conf_link
  slurm::ensure_slurmdbd
  slurm::start_daemons
  slurm::ensure_cluster_registered
}

mode::bootstrap() {
  local others
  prepare_here
  log::phase members
  if ! slurm::is_member "$SELF_IP"; then
    others="$(slurm::members | tr '\n' ' ')"
    if [[ -n $others ]]; then
      die "Slurm already has members (${others% }); this node must join them (fix: --join --peer ${others%% *})" "$EXIT_REFUSED"
    fi
    slurm::write_members "$SELF_IP $(nproc)"
  fi
  start_here
  log::phase verify
  log::ok "Slurm is running: $(slurm::ping | tr '\n' ' ')"
}

mode::join() {
  prepare_here
  log::phase members
  if slurm::is_member "$SELF_IP"; then
    log::info "this node is already a Slurm member"
  elif run::is_dry; then
    printf '[dryrun] would run on %s: setup/phase3_slurm_setup.sh --add-node %s --yes\n' "$PEER" "$SELF_IP"
  else
    log::info "asking $PEER to add this node as controller and compute node"
    remote::toolkit "$PEER" setup/phase3_slurm_setup.sh --add-node "$SELF_IP" --yes < /dev/null
  fi
  start_here
  log::phase verify
  log::ok "joined Slurm: $(slurm::ping | tr '\n' ' ')"
}

mode::add_node() {
  local ip=$TARGET cpus
  [[ $ip != "$SELF_IP" ]] || lib::usage_error "--add-node names this node; run --join on the new node instead"
  slurm::require_state_on_shared
  slurm::is_member "$SELF_IP" || die "this node is not a Slurm member; run --add-node on a member" "$EXIT_PREFLIGHT"
  log::phase members
  if slurm::is_member "$ip"; then
    log::info "$ip is already a Slurm member; nothing to change"
    return 0
  fi
  cpus="$(remote::run "$ip" nproc 2>/dev/null < /dev/null || true)"
  [[ $cpus =~ ^[1-9][0-9]*$ ]] || { log::warn "could not ask $ip for its CPU count; using 1"; cpus=1; }
  log::info "adding $(node::hostname_of "$ip") ($ip, $cpus CPUs) as controller and compute node"
  slurm::write_members "$(slurm::members_with "$ip" "$cpus")"
  slurm::ensure_shared_conf
  # From here other members apply the new files: a later failure must not roll them back under them.
  run::commit_files
  log::phase reconfigure
  run_on_members "$ip" --reconfigure --yes
  log::ok "$ip is in slurm.conf; it starts its daemons when its --join continues"
}

mode::remove_node() {
  local ip=$TARGET host jobs
  [[ $ip != "$SELF_IP" ]] || lib::usage_error "--remove-node must run on a survivor, not on $ip itself"
  slurm::require_state_on_shared
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
  slurm::write_members "$(slurm::members_without "$ip")"
  [[ -n "$(slurm::members)" ]] || die "refusing to remove the last Slurm member" "$EXIT_REFUSED"
  slurm::ensure_shared_conf
  # From here other members apply the new files: a later failure must not roll them back under them.
  run::commit_files
  log::phase stop
  if run::is_dry; then
    printf '[dryrun] would run on %s: setup/phase3_slurm_setup.sh --leave\n' "$ip"
  elif ! remote::toolkit "$ip" setup/phase3_slurm_setup.sh --leave < /dev/null; then
    log::warn "could not stop Slurm on $ip (unreachable?); stop slurmctld/slurmd/slurmdbd there before it returns"
  fi
  log::phase reconfigure
  run_on_members "$ip" --reconfigure --yes
  log::ok "$host removed from Slurm: $(slurm::members | tr '\n' ' ')"
}

mode::reconfigure() {
  phase::preflight
  slurm::is_member "$SELF_IP" || die "this node is not a Slurm member" "$EXIT_PREFLIGHT"
  slurm::ensure_dirs
  slurm::ensure_munge
  reconfigure_here
  log::phase verify
  log::ok "$SELF_HOSTNAME runs the current slurm.conf"
}

# reconfigure_here: restart this node's daemons on the current shared slurm.conf.
reconfigure_here() {
  FORCE_RESTART=1
  slurm::ensure_conf_link
  slurm::ensure_slurmdbd
  slurm::start_daemons
  FORCE_RESTART=0
}

mode::leave() {
  log::phase stop
  local name
  for name in slurmctld slurmd slurmdbd; do
    if slurm::running "$name"; then slurm::stop_daemon "$name"; fi
  done
  log::ok "Slurm daemons stopped on $SELF_HOSTNAME"
}

mode::status() {
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

phase::init() { node::require_self; }

main() { phase::main "$@"; }

main "$@"
