#!/usr/bin/env bash
# Usage: join_cluster.sh [--peer IP] [--only SERVICES] [--dry-run] [--force] [--yes]
# Summary: Join this server to the running cluster (N -> N+1).
#
# The plan's join in 8 steps: [1] read the config, [2] ask every configured peer what it runs,
# [3] find the live cluster (none -> refuse: bootstrap the first node with start_multi_complete.sh),
# [4] pre-join checks (already a member? same cluster id? the same toolkit and config as the peer -
# else exit 6: copy the same dist-scripts/cluster/ to every node), [5]-[7] join, verify and start the VIP
# service by service (start_multi_complete.sh --join), [8] print "N-way -> N+1-way".
# Rerunning it on a member changes nothing and says so.
#
# Exit codes: 0 ok, 1 error, 2 usage, 4 another run holds the lock, 5 preflight failed, 6 refused for safety.
# shellcheck source=../lib/orchestrate.sh
source "$HPC_LIB_DIR/orchestrate.sh"

PEER="" PASS=()

parse_args() {
  while (( $# )); do
    case "$1" in
      --peer) [[ $# -ge 2 ]] || lib::usage_error "--peer needs an IP"; PEER=$2; shift ;;
      --only) [[ $# -ge 2 ]] || lib::usage_error "--only needs a list"; PASS+=(--only "$2"); shift ;;
      --dry-run) export DRY_RUN=1; PASS+=(--dry-run) ;;
      --force|--yes) PASS+=("$1") ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
}

# cluster_size_of IP: the database cluster size IP reports (empty when it does not answer).
cluster_size_of() {
  remote::run "$1" mariadb --protocol=socket -uroot -N -B -e "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'" 2>/dev/null | awk '{ print $2 }'
}

main() {
  local evidence local_cid peer_cid before after mismatch rc=0
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  log::phase config
  node::require_self
  log::info "[1] config: cluster $CLUSTER_NAME, $NODE_COUNT configured node(s); this is $SELF_HOSTNAME ($SELF_IP)"
  log::phase discovery
  evidence="$(orch::evidence)"
  log::info "[2] peers: $(evidence::summary "$evidence")"
  PEER="$(orch::primary_peer "$evidence" "$PEER")"
  log::phase state
  if [[ -z $PEER ]]; then
    if galera::is_synced_primary ""; then PEER=$SELF_IP
    else
      die "[3] no configured peer runs a live cluster: there is nothing to join. Create it on the first node with start_multi_complete.sh --bootstrap (or, after a full outage, utils/galera_auto_recover.sh)" "$EXIT_ERROR"
    fi
  fi
  log::info "[3] live cluster found through $PEER"
  log::phase pre-join
  local_cid="$(cluster_id::get || true)"
  if [[ $PEER != "$SELF_IP" ]] && ! mismatch="$(evidence::toolkit_check "$evidence" "$PEER")"; then
    die "[4] refusing to join: $mismatch" "$EXIT_REFUSED"
  fi
  peer_cid="$(evidence::get "$evidence" "$PEER" cluster_id)"
  if [[ -n $local_cid && -n $peer_cid && $local_cid != "$peer_cid" ]]; then
    die "[4] cluster id mismatch: this node belongs to cluster $local_cid, $PEER to $peer_cid - refusing to join another cluster (remove $(cluster_id::file) only if this node really moves)" "$EXIT_REFUSED"
  fi
  before="$(cluster_size_of "$PEER")"
  if galera::is_synced_primary ""; then
    log::info "[4] already a member of the ${before:-?}-way cluster: checking each service, changing only what is missing"
  else
    log::info "[4] pre-join checks passed (cluster id ${peer_cid:-none recorded})"
  fi
  log::phase join
  "$HPC_TOOLKIT_DIR/start_multi_complete.sh" --join ${PEER:+--peer "$PEER"} "${PASS[@]+"${PASS[@]}"}" || rc=$?
  (( rc == 0 )) || exit "$rc"
  log::phase result
  after="$(cluster_size_of "$SELF_IP")"
  if run::is_dry; then
    log::ok "[8] dry run: nothing changed"
  elif [[ $before == "$after" ]]; then
    log::ok "[8] already part of the ${after}-way cluster; nothing changed"
  else
    log::ok "[8] ${before:-?}-way -> ${after:-?}-way redundancy complete"
  fi
}

main "$@"
