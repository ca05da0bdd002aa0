#!/usr/bin/env bash
# Usage: auto_discovery.sh [--json] [--timeout S]
# Summary: Probe every configured node in parallel and report which are alive and what runs there.
#
# Every node is probed at the same time (SSH runs this script with --self-json there, and its /health
# port is asked over HTTP), so a run takes about one probe timeout however many nodes are configured.
# This node is probed locally. A node is
#   active    it answered with its facts,
#   inactive  nothing of it answered; "reason" says why: timeout, refused, no_route, auth_failed,
#   unknown   it was reached but its state could not be read (reason malformed or timeout) - never
#             to be taken as down.
# Each active node also reports its toolkit (version and the sha256 of its lib/config.sh): a node that
# runs another toolkit or config is listed under "toolkit_mismatch" and warned about in the table.
#
# Options:
#   --json        print the report as JSON (shape: docs/toolkit-conventions.md); messages stay on stderr
#   --timeout S   probe deadline in whole seconds (default: discovery.probe_timeout from the config)
#   --self-json   print only this node's own facts as JSON (what a peer's probe runs here over SSH)
#
# Exit codes: 0 report printed (whatever the nodes' state), 1 error, 2 usage.
# shellcheck source=../lib/discovery.sh
source "$HPC_LIB_DIR/discovery.sh"

JSON=0
SELF_ONLY=0
TIMEOUT="$DISCOVERY_PROBE_TIMEOUT"

# cli::own_arg ARGS...: this script's flag beside --json and --timeout (lib/cli.sh).
cli::own_arg() {
  [[ $1 == --self-json ]] || return 1
  SELF_ONLY=1
}

# print_table REPORT_JSON: the human view of the report.
print_table() {
  local report=$1 ip host status reason services load
  jq -r '"Cluster \(.total_nodes) configured: \(.active_nodes) active, \(.inactive_nodes) inactive, \(.unknown_nodes) unknown - \(.cluster_state) (\(.duration_ms / 1000) s, probe timeout \(.probe_timeout) s)"' <<< "$report"
  printf '%-16s %-14s %-9s %-12s %-34s %s\n' IP HOSTNAME STATUS REASON SERVICES LOAD
  while IFS=$'\t' read -r ip host status reason services load; do
    printf '%-16s %-14s %-9s %-12s %-34s %s\n' "$ip" "$host" "$status" "$reason" "$services" "$load"
  done < <(jq -r '.nodes[] | [.ip + (if .self then "*" else "" end), .hostname, .status, (.reason // "-"),
      ((.services | to_entries | map(select(.value == true) | .key) | join(",")) | if . == "" then "-" else . end),
      (.load // "-" | tostring)] | @tsv' <<< "$report")
  jq -r '"VIP \($vip): " + (if .vip_owner then "owned by \(.vip_owner)" else "not held by any active node" end)' \
    --arg vip "$VIP_ADDRESS" <<< "$report"
  jq -r '.nodes[] | select(.status != "active") | "  \(.hostname) (\(.ip)): \(.error // .reason)"' <<< "$report"
  jq -r 'if (.cluster_ids | length) > 1 then "WARNING: nodes report different cluster ids: \(.cluster_ids | join(", "))" else empty end' <<< "$report"
  jq -r '.toolkit as $t | .toolkit_mismatch[]? | "WARNING: \(.hostname) (\(.ip)) runs hpc-cluster-kit \(.version) with config hash \(.config_hash), this node \($t.version) with \($t.config_hash): copy the same dist-scripts/cluster/ to every node (a join through it is refused)"' <<< "$report"
}

main() {
  cli::report_args "$@"
  if (( SELF_ONLY )); then
    discovery::self_json "$TIMEOUT"
    exit 0
  fi
  log::phase discovery
  # Not being one of the configured nodes is fine here (an admin host may run discovery).
  if SELF_INDEX="$(node::self_index)"; then
    SELF_IP=${NODE_IPS[SELF_INDEX]}
  fi
  local report
  report="$(discovery::probe_all "$TIMEOUT")"
  if (( JSON )); then
    printf '%s\n' "$report"
  else
    print_table "$report"
  fi
}

main "$@"
