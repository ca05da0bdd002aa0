# shellcheck shell=bash
# lib/node.sh - which configured node this is, and its peers.
# NODE_IPS/NODE_HOSTNAMES come from config.sh, highest priority first.

# node::local_ips: every IPv4 address on this host (HPC_LOCAL_IPS overrides, for tests).
node::local_ips() {
  if [[ -n "${HPC_LOCAL_IPS:-}" ]]; then
    tr -s ' ' '\n' <<< "$HPC_LOCAL_IPS"
    return 0
  fi
  ip -o -4 addr show 2>/dev/null | awk '{ split($4, a, "/"); print a[1] }'
}

# node::self_index: the index of this host in NODE_IPS (HPC_NODE_IP forces one); fails if none.
node::self_index() {
  local i addr
  if [[ -n "${HPC_NODE_IP:-}" ]]; then
    node::index_of "$HPC_NODE_IP"
    return
  fi
  while IFS= read -r addr; do
    for i in "${!NODE_IPS[@]}"; do
      if [[ ${NODE_IPS[i]} == "$addr" ]]; then printf '%s\n' "$i"; return 0; fi
    done
  done < <(node::local_ips)
  return 1
}

# node::identify: SELF_INDEX, SELF_IP and SELF_HOSTNAME of this host when it is configured; on a host
# outside the config (a witness taking a backup) only SELF_HOSTNAME, its own short name.
node::identify() {
  if SELF_INDEX="$(node::self_index)"; then
    SELF_HOSTNAME=${NODE_HOSTNAMES[SELF_INDEX]}
    SELF_IP=${NODE_IPS[SELF_INDEX]}
  else
    SELF_HOSTNAME="$(hostname -s)"
  fi
}

# node::index_of IP: the index of IP in NODE_IPS.
node::index_of() {
  local i
  for i in "${!NODE_IPS[@]}"; do
    if [[ ${NODE_IPS[i]} == "$1" ]]; then printf '%s\n' "$i"; return 0; fi
  done
  return 1
}

# node::require_self: set SELF_INDEX, SELF_IP, SELF_HOSTNAME, SELF_PRIORITY or exit 2.
node::require_self() {
  if ! SELF_INDEX="$(node::self_index)"; then
    die "this host has none of the configured node addresses (${NODE_IPS[*]}); run on a cluster node or set HPC_NODE_IP" "$EXIT_USAGE"
  fi
  # shellcheck disable=SC2034 # read by the scripts
  SELF_IP=${NODE_IPS[SELF_INDEX]}
  # shellcheck disable=SC2034
  SELF_HOSTNAME=${NODE_HOSTNAMES[SELF_INDEX]}
  # shellcheck disable=SC2034
  SELF_PRIORITY=${NODE_PRIORITIES[SELF_INDEX]}
}

# node::peer_ips: every configured node address except this node's.
node::peer_ips() {
  local ip
  for ip in "${NODE_IPS[@]}"; do
    [[ $ip == "${SELF_IP:-}" ]] || printf '%s\n' "$ip"
  done
}

# node::hostname_of IP
node::hostname_of() {
  local i
  i="$(node::index_of "$1")" || return 1
  printf '%s\n' "${NODE_HOSTNAMES[i]}"
}
