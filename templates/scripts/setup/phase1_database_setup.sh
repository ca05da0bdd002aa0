#!/usr/bin/env bash
# Usage: phase1_database_setup.sh (--bootstrap | --join [--peer IP] | --standalone | --status [--json]
#                                  | --add-node IP | --remove-node IP) [--dry-run] [--yes]
# Summary: Set up MariaDB Galera on this node: bootstrap a new cluster, join a running one, or grow/shrink it.
#
#   --bootstrap        start a new cluster here (refused when any peer already runs a Primary component)
#   --join [--peer IP] join the running cluster (IP: a live member; another live member is found if not)
#   --standalone       a one-node cluster (others can join it later without downtime)
#   --status [--json]  one status line (or this node's state as JSON); changes nothing
#   --add-node IP      run on a live member: add the configured node IP to the database cluster
#   --remove-node IP   run on a survivor: stop IP's database and drop it from every member's address list
#   --dry-run          print every file and command instead of changing anything
#   --yes              no confirmation prompt
# Internal (used by peers over SSH): --position, --recover-bootstrap, --exclude IP, --include IP, --leave.
#
# Exit codes: 0 ok, 1 error, 2 usage, 4 another run holds the lock, 6 refused for safety.
# shellcheck source=../lib/orchestrate.sh
source "$HPC_LIB_DIR/orchestrate.sh"
# shellcheck source=../lib/galera.sh
source "$HPC_LIB_DIR/galera.sh"

MODE="" PEER="" TARGET="" JSON=0
STARTED_SERVER=0
DRY_ARGS=()   # passed on to the same script on peers

parse_args() {
  while (( $# )); do
    case "$1" in
      --bootstrap|--standalone|--status|--position|--recover-bootstrap|--leave) MODE=${1#--} ;;
      --join) MODE="join" ;;
      --peer) [[ $# -ge 2 ]] || lib::usage_error "--peer needs an IP"; PEER=$2; shift ;;
      --add-node|--remove-node|--exclude|--include)
        [[ $# -ge 2 ]] || lib::usage_error "$1 needs an IP"; MODE=${1#--}; TARGET=$2; shift ;;
      --json) JSON=1 ;;
      --dry-run) export DRY_RUN=1 ;;
      --yes|--force) ASSUME_YES=1 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  if run::is_dry; then DRY_ARGS=(--dry-run); fi
  [[ -n $MODE ]] || lib::usage_error "choose one of --bootstrap, --join, --standalone, --status, --add-node, --remove-node"
  if [[ -n $TARGET ]] && ! node::index_of "$TARGET" >/dev/null; then
    die "$TARGET is not a configured node: add it to cluster_config.yaml, regenerate the toolkit and copy it to every node first" "$EXIT_USAGE"
  fi
}

# On any failure after we changed something: put the files back and stop what we started.
on_failure() {
  local code=$?
  trap - ERR
  log::error "database phase failed (exit $code); the server's last log lines:"
  galera::error_log_tail 15
  rollback
  log::error "see the full log at ${HPC_LOG_FILE:-<no log file>} and /var/log/mysql/error.log"
  exit "$code"
}

rollback() {
  if (( STARTED_SERVER )) && ! run::is_dry; then
    log::warn "stopping the MariaDB server this run started"
    galera::stop || true
  fi
  run::rollback_files
}

# fail MESSAGE [CODE]: roll back, then die.
fail() {
  log::error "$1"
  galera::error_log_tail 15
  rollback
  exit "${2:-$EXIT_ERROR}"
}

print_non_primary_procedure() {
  cat >&2 <<EOF
This node runs MariaDB but is NOT in a Primary component (split brain or lost quorum): it refuses writes.
Manual procedure:
  1. On every database node run: mariadb -e "SHOW STATUS LIKE 'wsrep_%'" and note wsrep_cluster_status,
     wsrep_cluster_size and wsrep_last_committed.
  2. If another part of the cluster is Primary, fix the network: this node rejoins on its own (IST).
  3. If NO node is Primary, run utils/galera_auto_recover.sh on one node: it picks the most advanced
     node (highest seqno) and restarts the cluster from it. Never bootstrap two nodes.
EOF
}

# ---- --status --------------------------------------------------------------------------------------
do_status() {
  if (( JSON )); then galera::probe_json; return 0; fi
  if ! galera::alive; then
    printf 'database: MariaDB not running on %s\n' "$SELF_HOSTNAME"
    return 0
  fi
  printf 'database: %s, %s, cluster size %s, ready %s\n' "$(galera::status wsrep_cluster_status)" \
    "$(galera::status wsrep_local_state_comment)" "$(galera::status wsrep_cluster_size)" "$(galera::status wsrep_ready)"
  if [[ "$(galera::status wsrep_cluster_status)" != Primary ]]; then print_non_primary_procedure; fi
}

# --position: "uuid:seqno" of this node's data (live: the last committed write-set).
do_position() {
  if galera::alive; then
    printf '%s:%s %s\n' "$(galera::status wsrep_cluster_state_uuid)" "$(galera::status wsrep_last_committed)" \
      "$(galera::status wsrep_cluster_status)"
  else
    printf '%s stopped\n' "$(galera::recover_position)"
  fi
}

# already_member_report: a healthy member reruns: check the config is current and change nothing else.
already_member() {
  galera::is_synced_primary "" || return 1
  log::phase database
  galera::write_config
  if (( GALERA_CNF_CHANGED )); then
    log::warn "galera.cnf was out of date and is rewritten; it takes effect at the next restart (no restart now)"
  fi
  log::ok "already a Synced member of a Primary component of $(galera::status wsrep_cluster_size) node(s); nothing to do"
  return 0
}

# refuse_if_peer_primary: before any bootstrap, ask every reachable peer (field lesson: conflicting prims).
refuse_if_peer_primary() {
  local evidence peer
  evidence="$(orch::evidence)"
  peer="$(orch::primary_peer "$evidence")"
  [[ -z $peer ]] && return 0
  die "refusing to bootstrap: $peer already runs a Primary component of the cluster. Join it instead: $HPC_TOOL.sh --join --peer $peer" "$EXIT_REFUSED"
}

# ---- --bootstrap / --standalone / --recover-bootstrap -----------------------------------------------
do_bootstrap() {
  log::phase database
  if already_member; then galera::ensure_databases; galera::ensure_arbitrator; return 0; fi
  if galera::alive; then
    print_non_primary_procedure
    die "MariaDB already runs here but is not a Synced Primary member; not bootstrapping over it" "$EXIT_REFUSED"
  fi
  [[ $MODE == standalone ]] || refuse_if_peer_primary
  if [[ "$(galera::grastate safe_to_bootstrap)" == 0 && $MODE != recover-bootstrap ]]; then
    die "this node's data is not marked safe to bootstrap (it was not the last to stop, or it crashed): bootstrapping it could lose writes. Use utils/galera_auto_recover.sh, which picks the most advanced node" "$EXIT_REFUSED"
  fi
  trap on_failure ERR
  galera::write_config
  if [[ $MODE == recover-bootstrap ]]; then galera::set_safe_to_bootstrap; fi
  log::info "bootstrapping a new Primary component on $SELF_HOSTNAME ($SELF_IP); --wsrep-new-cluster is passed once, not stored"
  STARTED_SERVER=1
  galera::start bootstrap
  galera::wait_synced 180 || fail "the bootstrap did not reach Synced/Primary within 180 s"
  galera::ensure_databases
  galera::ensure_arbitrator
  run::commit_files
  trap - ERR
  log::ok "MariaDB Galera bootstrapped on $SELF_HOSTNAME: Primary, Synced, cluster size 1"
}

# ---- --join ----------------------------------------------------------------------------------------
# pick_peer: the given --peer if it reports a Primary component, else the first peer that does.
pick_peer() {
  local evidence
  evidence="$(orch::evidence)"
  if [[ -n $PEER ]]; then
    if [[ "$(evidence::get "$evidence" "$PEER" cluster_status)" == Primary ]]; then printf '%s\n' "$PEER"; return 0; fi
    log::warn "$PEER does not report a Primary component; looking for another live member"
  fi
  orch::primary_peer "$evidence"
}

do_join() {
  local peer peer_size size
  log::phase database
  if already_member; then galera::ensure_arbitrator; return 0; fi
  peer="$(pick_peer)"
  [[ -n $peer ]] || die "no configured peer reports a live Primary component to join (run --status on the peers; for a full outage use utils/galera_auto_recover.sh)" "$EXIT_ERROR"
  peer_size="$(remote::run "$peer" mariadb --protocol=socket -uroot -N -B -e "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'" | awk '{ print $2 }')"
  if galera::alive; then
    log::warn "MariaDB runs here but is not Synced in a Primary component; restarting it to join $peer"
    run::cmd svc::stop mariadb >/dev/null 2>&1 || true
  fi
  trap on_failure ERR
  galera::write_config
  log::info "joining the ${peer_size:-?}-node cluster through $peer (state transfer: IST if the donor still has our missing writes, else $DB_SST_METHOD SST)"
  STARTED_SERVER=1
  galera::start join
  if run::is_dry; then
    # Nothing started, so there is no status to read: say what the real run would wait for.
    galera::ensure_arbitrator
    trap - ERR
    log::info "dry run: would wait up to ${GALERA_SYNC_TIMEOUT}s for Synced (cluster size ${peer_size:-?} -> $(( ${peer_size:-0} + 1 )))"
    return 0
  fi
  galera::wait_synced "$GALERA_SYNC_TIMEOUT" || fail "did not reach Synced within ${GALERA_SYNC_TIMEOUT}s after starting the join"
  size="$(galera::status wsrep_cluster_size)"
  if ! run::is_dry && [[ $peer_size =~ ^[0-9]+$ ]] && (( size < peer_size + 1 )); then
    fail "joined, but the cluster has $size node(s), expected $(( peer_size + 1 ))"
  fi
  galera::ensure_arbitrator
  run::commit_files
  trap - ERR
  log::ok "joined: Synced, wsrep_ready ON, cluster size ${peer_size:-?} -> ${size:-?}"
}

# ---- membership changes ----------------------------------------------------------------------------
# --exclude/--include IP: update this node's member list and galera.cnf (the running server keeps its
# connections: gcomm learns members from the cluster itself; the file matters at the next start).
do_exclude_include() {
  local file content
  file="$(galera::excluded_file)"
  run::mkdir "$(dirname "$file")" 0755
  content="$( { [[ -f $file ]] && grep -vxF -- "$TARGET" "$file"; [[ $MODE == exclude ]] && printf '%s\n' "$TARGET"; } | sort -u || true)"
  if [[ -n $content ]]; then content+=$'\n'; fi
  run::write_file "$file" 0644 < <(printf '%s' "$content")
  galera::write_config
  run::commit_files
  if (( GALERA_CNF_CHANGED )); then log::info "wsrep_cluster_address is now gcomm://$(galera::cluster_address)"; fi
}

# require_live_member: this node must be Synced in a Primary component to change membership.
require_live_member() {
  galera::is_synced_primary "" || die "run this on a live member: this node is not Synced in a Primary component" "$EXIT_REFUSED"
}

# update_members include|exclude: run --include/--exclude TARGET on every other configured node.
update_members() {
  local ip
  while IFS= read -r ip; do
    [[ $ip == "$TARGET" ]] && continue
    if [[ $ip == "$SELF_IP" ]]; then
      (MODE=$1 do_exclude_include)
    else
      # </dev/null: ssh would otherwise read the rest of the node list this loop reads.
      remote::toolkit "$ip" setup/phase1_database_setup.sh "--$1" "$TARGET" "${DRY_ARGS[@]+"${DRY_ARGS[@]}"}" </dev/null \
        || log::warn "$ip could not be updated (down?): rerun '$HPC_TOOL.sh --$1 $TARGET' there when it is back"
    fi
  done < <(printf '%s\n' "${NODE_IPS[@]}")
}

do_add_node() {
  local size incoming
  log::phase database
  require_live_member
  size="$(galera::status wsrep_cluster_size)"
  incoming="$(galera::status wsrep_incoming_addresses)"
  if [[ ",$incoming," == *",$TARGET:"* ]]; then
    log::ok "$TARGET is already a member (cluster size $size); nothing to do"
    return 0
  fi
  log::info "adding $TARGET: updating every member's address list, then joining it through $SELF_IP"
  update_members include
  remote::toolkit "$TARGET" setup/phase1_database_setup.sh --join --peer "$SELF_IP" --yes "${DRY_ARGS[@]+"${DRY_ARGS[@]}"}" \
    || die "$TARGET failed to join (its own run rolled back; see /var/log/hpc-cluster/phase1_database_setup.log there)"
  run::is_dry && return 0
  run::wait_until 60 "cluster size $(( size + 1 ))" galera::is_synced_primary "$(( size + 1 ))" \
    || die "$TARGET joined but this node sees cluster size $(galera::status wsrep_cluster_size)"
  log::ok "$TARGET added: cluster size $size -> $(( size + 1 ))"
}

do_remove_node() {
  local size incoming in_cluster=0 remaining live_after quorum
  log::phase database
  [[ $TARGET != "$SELF_IP" ]] || die "run --remove-node from a surviving node, not from $TARGET itself" "$EXIT_USAGE"
  require_live_member
  size="$(galera::status wsrep_cluster_size)"
  incoming="$(galera::status wsrep_incoming_addresses)"
  [[ ",$incoming," == *",$TARGET:"* ]] && in_cluster=1
  remaining="$(galera::member_ips | grep -cvxF -- "$TARGET" || true)"
  live_after=$(( size - in_cluster ))
  quorum=$(( remaining / 2 + 1 ))
  if (( live_after < 1 )); then
    die "refusing to remove $TARGET: it is the last database node" "$EXIT_REFUSED"
  fi
  if (( live_after < quorum )); then
    die "refusing to remove $TARGET: $live_after live node(s) would remain of $remaining members (quorum $quorum); bring the missing members back first" "$EXIT_REFUSED"
  fi
  ui::confirm "Remove $TARGET from the database cluster (its MariaDB is stopped; cluster size $size -> $live_after)?"
  if (( in_cluster )) || remote::run "$TARGET" true 2>/dev/null; then
    remote::toolkit "$TARGET" setup/phase1_database_setup.sh --leave --yes "${DRY_ARGS[@]+"${DRY_ARGS[@]}"}" \
      || die "could not stop the database on $TARGET; nothing else was changed"
  fi
  update_members exclude
  run::is_dry && return 0
  run::wait_until 60 "cluster size $live_after" galera::is_synced_primary "$live_after" \
    || die "cluster size is $(galera::status wsrep_cluster_size), expected $live_after"
  log::ok "$TARGET removed: cluster size $size -> $live_after; every member's address list updated"
}

# --leave (on the node being removed): clean shutdown, and the Galera config set aside so the server
# never rejoins by itself at the next boot.
do_leave() {
  local stamp f
  log::phase database
  galera::stop
  stamp="$(date -u '+%Y%m%dT%H%M%SZ')"
  for f in "$GALERA_CNF" "$GALERA_SST_CNF"; do
    [[ -f $f ]] && run::cmd mv -f -- "$f" "$f.removed-$stamp"
  done
  log::ok "left the database cluster: MariaDB stopped, galera config kept as *.removed-$stamp"
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  node::require_self
  case "$MODE" in
    status) do_status; return ;;
    position) do_position; return ;;
  esac
  [[ $DB_TYPE == mariadb-galera ]] || lib::not_implemented "database type $DB_TYPE"
  lock::acquire database
  case "$MODE" in
    bootstrap|standalone|recover-bootstrap) do_bootstrap ;;
    join) do_join ;;
    add-node) do_add_node ;;
    remove-node) do_remove_node ;;
    exclude|include) do_exclude_include ;;
    leave) do_leave ;;
  esac
}

main "$@"
