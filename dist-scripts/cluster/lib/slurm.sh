# shellcheck shell=bash
# lib/slurm.sh - Slurm membership kept on the shared storage, and what slurm.conf says about it.
# Sourced by setup/phase3_slurm_setup.sh and backup/{backup,restore}_slurm.sh.
#
# The members file (${STORAGE_MOUNT_POINT}/slurm/config/members) lists the nodes set up for Slurm, one
# "IP CPUS" line each. Every member is both a controller (SlurmctldHost, highest priority first) and a
# compute node; slurm.conf is rendered from it, so the shared file always matches the members.

slurm::conf_dir()     { path::of "$STORAGE_MOUNT_POINT/slurm/config"; }
slurm::shared_conf()  { printf '%s/slurm.conf\n' "$(slurm::conf_dir)"; }
slurm::members_file() { printf '%s/members\n' "$(slurm::conf_dir)"; }
slurm::munge_key()    { path::of "$STORAGE_MOUNT_POINT/config/munge.key"; }

# slurm::members: member IPs in configured priority order (the order of NODE_IPS).
slurm::members() {
  local file ip
  file="$(slurm::members_file)"
  [[ -f $file ]] || return 0
  for ip in "${NODE_IPS[@]}"; do
    if awk -v ip="$ip" '$1 == ip { found = 1 } END { exit !found }' "$file"; then
      printf '%s\n' "$ip"
    fi
  done
}

# slurm::is_member IP
slurm::is_member() {
  slurm::members | grep -xF "$1" >/dev/null
}

# slurm::cpus_of IP: the CPU count recorded for IP (1 when unknown).
slurm::cpus_of() {
  local n
  n="$(awk -v ip="$1" '$1 == ip { print $2; exit }' "$(slurm::members_file)" 2>/dev/null || true)"
  [[ $n =~ ^[1-9][0-9]*$ ]] || n=1
  printf '%s\n' "$n"
}

# slurm::members_with IP CPUS / slurm::members_without IP: the members file content after the change
# (sorted by priority, so the file is stable whatever the order of joins).
slurm::members_with() {
  local ip
  for ip in "${NODE_IPS[@]}"; do
    if [[ $ip == "$1" ]]; then
      printf '%s %s\n' "$ip" "$2"
    elif slurm::is_member "$ip"; then
      printf '%s %s\n' "$ip" "$(slurm::cpus_of "$ip")"
    fi
  done
}
slurm::members_without() {
  local ip
  while IFS= read -r ip; do
    [[ $ip == "$1" ]] || printf '%s %s\n' "$ip" "$(slurm::cpus_of "$ip")"
  done < <(slurm::members)
}

# slurm::controller_lines: one SlurmctldHost line per member, primary first.
slurm::controller_lines() {
  local ip
  while IFS= read -r ip; do
    printf 'SlurmctldHost=%s(%s)\n' "$(node::hostname_of "$ip")" "$ip"
  done < <(slurm::members)
}

# slurm::node_lines: one NodeName line per member.
slurm::node_lines() {
  local ip
  while IFS= read -r ip; do
    printf 'NodeName=%s NodeAddr=%s CPUs=%s State=UNKNOWN\n' "$(node::hostname_of "$ip")" "$ip" "$(slurm::cpus_of "$ip")"
  done < <(slurm::members)
}

# slurm::dbd_hosts: the members running slurmdbd (the first two: active and standby).
slurm::dbd_hosts() {
  local members=()
  mapfile -t members < <(slurm::members)
  printf '%s\n' "${members[@]:0:2}" | grep .
}

# slurm::has_accounting: the config has a slurm_acct_db database (so slurmdbd runs).
slurm::has_accounting() {
  local name
  for name in "${DB_NAMES[@]}"; do
    [[ $name == slurm_acct_db ]] && return 0
  done
  return 1
}

slurm::accounting_lines() {
  local hosts=()
  mapfile -t hosts < <(slurm::dbd_hosts)
  if ! slurm::has_accounting || (( ${#hosts[@]} == 0 )); then
    printf 'AccountingStorageType=accounting_storage/none\n'
    return 0
  fi
  printf 'AccountingStorageType=accounting_storage/slurmdbd\n'
  printf 'AccountingStorageHost=%s\n' "$(node::hostname_of "${hosts[0]}")"
  if (( ${#hosts[@]} > 1 )); then
    printf 'AccountingStorageBackupHost=%s\n' "$(node::hostname_of "${hosts[1]}")"
  fi
  printf 'AccountingStoragePort=%s\n' "$SLURM_SLURMDBD_PORT"
}

# slurm::render_conf: slurm.conf for the current members, on stdout.
# shellcheck disable=SC2034 # the @TOKENS@ of configs/slurm.conf, read by tpl::render
slurm::render_conf() {
  local SLURMCTLD_HOSTS NODE_LINES ACCOUNTING
  SLURMCTLD_HOSTS="$(slurm::controller_lines)"
  NODE_LINES="$(slurm::node_lines)"
  ACCOUNTING="$(slurm::accounting_lines)"
  tpl::render "$(tpl::path slurm.conf)" SLURMCTLD_HOSTS NODE_LINES ACCOUNTING
}

# slurm::ping: `scontrol ping` as "ROLE HOST STATE" lines (e.g. "primary node1 UP").
slurm::ping() {
  timeout 20 scontrol ping 2>/dev/null \
    | sed -n 's/^Slurmctld(\([a-z0-9]*\)) at \([^ ]*\) is \([A-Z]*\).*/\1 \2 \3/p'
}

# slurm::controller_up: some controller (primary or backup) answers.
slurm::controller_up() {
  slurm::ping | awk '$3 == "UP" { up = 1 } END { exit !up }'
}

# slurm::node_state HOST: the node's state as slurmctld sees it (idle, mixed, down*, ...).
slurm::node_state() {
  timeout 20 sinfo -h -N -n "$1" -o '%T' 2>/dev/null | sed -n 1p
}

# slurm::node_ready HOST: registered and usable.
slurm::node_ready() {
  case "$(slurm::node_state "$1")" in
    idle*|mixed*|allocated*|completing*) return 0 ;;
    *) return 1 ;;
  esac
}

# slurm::state_dir_ok: StateSaveLocation exists, is owned by slurm with mode 0700.
slurm::state_dir_ok() {
  local dir
  dir="$(path::of "$SLURM_STATE_LOCATION")"
  [[ -d $dir && "$(stat -c '%U %a' "$dir")" == "slurm 700" ]]
}

# slurm::running NAME: slurmctld, slurmd or slurmdbd runs here. Not the Debian init script's status:
# it answers 0 ("slurm.conf was not found") when there is no configuration at all.
slurm::running() {
  if [[ "$(svc::init_system)" == systemd ]]; then
    svc::is_running "$1"
    return
  fi
  svc::pid::alive "/run/slurm/$1.pid" "$1"
}
