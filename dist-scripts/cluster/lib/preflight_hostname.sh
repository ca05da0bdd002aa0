# shellcheck shell=bash disable=SC2034 # PF_MSG and PF_FIX are read by orch::preflight (lib/orchestrate.sh)
# lib/preflight_hostname.sh - the Hostname and NodeNames preflight checks (kubeadm style, see
# orch::preflight in lib/orchestrate.sh): this host must carry the name cluster_config.yaml gives its
# address, and every configured node name must resolve to its configured address, before anything is
# changed. Slurm compares its own short hostname with slurm.conf (slurmdbd otherwise dies half-way
# through a bootstrap with "This host not configured to run SlurmDBD") and reaches slurmdbd by name.
#
# SET_HOSTNAME=1 (start_multi_complete.sh --set-hostname) makes both checks pass and queue the fix;
# hostname::apply then makes it once every check passed: the hostname (hostnamectl with systemd, else
# `hostname` + /etc/hostname) and the missing /etc/hosts lines (one managed block). Every change is
# logged; under --dry-run it is only printed.
SET_HOSTNAME="${SET_HOSTNAME:-0}"
HOSTNAME_PENDING="" HOSTS_PENDING=()
HOSTS_BEGIN="# BEGIN hpc-cluster nodes (start_multi_complete.sh --set-hostname)"
HOSTS_END="# END hpc-cluster nodes"

# hostname::current: this host's short name (what Slurm compares: the name up to the first dot).
hostname::current() {
  local h
  h="$(hostname 2>/dev/null || uname -n)"
  printf '%s\n' "${h%%.*}"
}

hostname::has_systemd() {
  [[ -d "$(path::of /run/systemd/system)" ]] && command -v hostnamectl >/dev/null 2>&1
}

# hostname::fix NAME: the command that sets NAME now and at boot on this host.
hostname::fix() {
  if hostname::has_systemd; then
    printf 'hostnamectl set-hostname %s\n' "$1"
  else
    printf 'echo %s > /etc/hostname && hostname %s\n' "$1" "$1"
  fi
}

# hostname::set NAME: set the hostname (dry-run aware). /etc/hostname is written directly, not through
# the rollback journal: a failed later phase must not put back a file the live hostname contradicts.
hostname::set() {
  local name=$1 old file
  old="$(hostname::current)"
  if hostname::has_systemd; then
    run::cmd hostnamectl set-hostname "$name"
  else
    file="$(path::of /etc/hostname)"
    if run::is_dry; then
      printf '[dryrun] would write %s: %s\n' "$file" "$name"
    else
      printf '%s\n' "$name" > "$file.hpc-new" && chmod 0644 "$file.hpc-new" && mv -f "$file.hpc-new" "$file"
    fi
    run::cmd hostname "$name"
  fi
  log::warn "hostname changed from '$old' to '$name' (--set-hostname; was: $(hostname::fix "$name"))"
}

# hostname::resolve NAME: the first IPv4 address NAME resolves to (files, then DNS); empty if none.
hostname::resolve() {
  local out
  out="$(getent ahostsv4 "$1" 2>/dev/null || true)"
  printf '%s\n' "${out%%[[:space:]]*}"
}

# hostname::add_hosts_lines "IP NAME"...: add the lines to the managed block of /etc/hosts.
hostname::add_hosts_lines() {
  local file content kept=() line in=0
  file="$(path::of /etc/hosts)"
  if [[ -f $file ]]; then
    while IFS= read -r line; do
      if [[ $line == "$HOSTS_BEGIN" ]]; then in=1; continue; fi
      if [[ $line == "$HOSTS_END" ]]; then in=0; continue; fi
      if (( in )); then [[ -z $line ]] || set -- "$@" "$line"; else kept+=("$line"); fi
    done < "$file"
  fi
  content="$(printf '%s\n' ${kept[@]+"${kept[@]}"} "$HOSTS_BEGIN" "$@" "$HOSTS_END")"
  if run::is_dry; then
    printf '[dryrun] would add to %s: %s\n' "$file" "$*"
  else
    printf '%s\n' "$content" > "$file.hpc-new" && chmod 0644 "$file.hpc-new" && mv -f "$file.hpc-new" "$file"
  fi
  log::warn "added to $file (--set-hostname): $*"
}

# preflight::Hostname: this host's name is the configured one for its address.
preflight::Hostname() {
  local idx want have
  idx="$(node::self_index)" || return 0   # NodeInConfig reports a host that is no configured node
  want=${NODE_HOSTNAMES[idx]}
  have="$(hostname::current)"
  [[ $have == "$want" ]] && return 0
  if [[ $SET_HOSTNAME == 1 ]]; then
    HOSTNAME_PENDING=$want
    log::info "hostname '$have' will be set to '$want' (--set-hostname)"
    return 0
  fi
  PF_MSG="this host is called '$have' but cluster_config.yaml names ${NODE_IPS[idx]} '$want' (Slurm, Galera and the other nodes use the configured name; slurmdbd would refuse to start)"
  PF_FIX="$(hostname::fix "$want"), or rerun with --set-hostname"
  return 1
}

# preflight::NodeNames: every configured node name resolves to its configured address.
preflight::NodeNames() {
  local i name ip got missing=() wrong=()
  for i in "${!NODE_IPS[@]}"; do
    name=${NODE_HOSTNAMES[i]} ip=${NODE_IPS[i]}
    got="$(hostname::resolve "$name")"
    if [[ -z $got ]]; then missing+=("$ip $name")
    elif [[ $got != "$ip" ]]; then wrong+=("$name resolves to $got, not $ip")
    fi
  done
  if (( ${#wrong[@]} )); then
    PF_MSG="$(printf '%s; ' "${wrong[@]}")"
    PF_MSG=${PF_MSG%; }
    PF_FIX="correct /etc/hosts or DNS so each node name of cluster_config.yaml resolves to its address"
    return 1
  fi
  (( ${#missing[@]} )) || return 0
  if [[ $SET_HOSTNAME == 1 ]]; then
    HOSTS_PENDING=("${missing[@]}")
    log::info "node names to add to /etc/hosts (--set-hostname): ${missing[*]}"
    return 0
  fi
  PF_MSG="$(printf '%s, ' "${missing[@]}")"
  PF_MSG="node names that do not resolve: ${PF_MSG%, } (Slurm reaches slurmdbd and the controllers by name)"
  PF_FIX="add these lines to /etc/hosts (or DNS), or rerun with --set-hostname"
  return 1
}

# hostname::apply: make the fixes --set-hostname queued (call after orch::preflight passed).
hostname::apply() {
  if [[ -n $HOSTNAME_PENDING ]]; then hostname::set "$HOSTNAME_PENDING"; fi
  if (( ${#HOSTS_PENDING[@]} )); then hostname::add_hosts_lines "${HOSTS_PENDING[@]}"; fi
  HOSTNAME_PENDING="" HOSTS_PENDING=()
}
