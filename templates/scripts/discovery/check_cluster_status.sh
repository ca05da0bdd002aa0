#!/usr/bin/env bash
# Usage: check_cluster_status.sh [--json] [--timeout S]
# Summary: Print 'standalone' or 'cluster-N' for this server.
#
# N is the number of members of the running cluster as seen from this node:
#   - one node configured                      -> standalone
#   - Galera runs here in a Primary component  -> N = wsrep_cluster_size
#   - otherwise, from discovery                -> N = active nodes (those with this node's cluster id
#                                                 when this node has one)
# N of 1 (only this node) prints standalone.
#
# Options:
#   --json        {"status": "cluster-3", "mode": "cluster", "size": 3, "source": "galera", ...}
#   --timeout S   discovery probe deadline (default: discovery.probe_timeout)
#
# Exit codes: 0 status printed, 1 could not tell (error), 2 usage.
# shellcheck source=../lib/discovery.sh
source "$HPC_LIB_DIR/discovery.sh"

JSON=0
TIMEOUT="$DISCOVERY_PROBE_TIMEOUT"

# galera_size: wsrep_cluster_size when this node is in a Primary component, else nothing.
galera_size() {
  local dir
  dir="$(tmp::dir)"
  discovery::fact_galera "$dir" "$TIMEOUT"
  jq -r 'if type == "object" and .cluster_status == "Primary" then (.cluster_size // empty) else empty end' \
    "$dir/galera.json" 2>/dev/null || true
}

# discovered_size: active nodes sharing this node's cluster id (all active nodes when it has none).
discovered_size() {
  local report
  report="$("$HPC_TOOLKIT_DIR/discovery/auto_discovery.sh" --json --timeout "$TIMEOUT")" || return 1
  jq -r --arg id "$(discovery::cluster_id)" \
    '[.nodes[] | select(.status == "active") | select($id == "" or .cluster_id == $id)] | length' <<< "$report"
}

emit() {
  local size=$1 source=$2 status mode
  if (( size > 1 )); then status="cluster-$size" mode=cluster; else status=standalone mode=standalone; fi
  if (( JSON )); then
    jq -cn --arg status "$status" --arg mode "$mode" --argjson size "$size" --arg source "$source" \
      --arg id "$(discovery::cluster_id)" --argjson configured "$NODE_COUNT" \
      '{status: $status, mode: $mode, size: $size, source: $source, configured_nodes: $configured,
        cluster_id: (if $id == "" then null else $id end)}'
  else
    printf '%s\n' "$status"
  fi
}

main() {
  cli::report_args "$@"
  log::phase status
  if (( NODE_COUNT == 1 )); then
    emit 1 config
    return 0
  fi
  if SELF_INDEX="$(node::self_index)"; then
    SELF_IP=${NODE_IPS[SELF_INDEX]}
  fi
  local size
  size="$(galera_size)"
  if [[ $size =~ ^[0-9]+$ ]]; then
    emit "$size" galera
    return 0
  fi
  if ! size="$(discovered_size)" || [[ ! $size =~ ^[0-9]+$ ]]; then
    die "could not tell: discovery failed (run discovery/auto_discovery.sh to see why)"
  fi
  emit "$size" discovery
}

main "$@"
