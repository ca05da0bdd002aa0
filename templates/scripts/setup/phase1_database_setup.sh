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
#   --leave            on the node being removed (run by --remove-node): stop MariaDB, set its config aside
#   --refresh [--exclude IP | --include IP]  update this node's member list and galera.cnf (run on every
#                      member by --add-node/--remove-node; --exclude/--include alone still imply it)
# Internal (used by peers over SSH): --position, --recover-bootstrap.
#
# --force is the same as --yes; --stop-local and --stop are old names of --leave.
# Exit codes: 0 ok, 1 error, 2 usage, 4 another run holds the lock, 6 refused for safety.
# shellcheck source=../lib/phase.sh
source "$HPC_LIB_DIR/phase.sh"
# shellcheck source=../lib/orchestrate.sh
source "$HPC_LIB_DIR/orchestrate.sh"   # and lib/galera.sh

PHASE_LOCK=database
PHASE_MODES=(bootstrap join standalone status add-node remove-node leave refresh position recover-bootstrap)
PHASE_READONLY_MODES=(status position)

# On a failure after this run started the server: show why, and stop it (the files are put back
# by the rollback every failed run does).
db::stop_started_server() {
  log::error "the server's last log lines (full log: /var/log/mysql/error.log):"
  galera::error_log_tail 15
  log::warn "stopping the MariaDB server this run started"
  galera::stop || true
}

# fail MESSAGE [CODE]: die; the exit rolls back what this run changed.
fail() {
  die "$1" "${2:-$EXIT_ERROR}"
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
mode::status() {
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
mode::position() {
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
mode::bootstrap() {
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
  galera::write_config
  if [[ $MODE == recover-bootstrap ]]; then galera::set_safe_to_bootstrap; fi
  log::info "bootstrapping a new Primary component on $SELF_HOSTNAME ($SELF_IP); --wsrep-new-cluster is passed once, not stored"
  run::on_rollback db::stop_started_server
  galera::start bootstrap
  galera::wait_synced 180 || fail "the bootstrap did not reach Synced/Primary within 180 s"
  galera::ensure_databases
  galera::ensure_arbitrator
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

mode::join() {
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
  galera::write_config "$peer"
  log::info "joining the ${peer_size:-?}-node cluster through $peer (state transfer: IST if the donor still has our missing writes, else $DB_SST_METHOD SST)"
  run::on_rollback db::stop_started_server
  galera::start join
  if run::is_dry; then
    # Nothing started, so there is no status to read: say what the real run would wait for.
    galera::ensure_arbitrator
    log::info "dry run: would wait up to ${GALERA_SYNC_TIMEOUT}s for Synced (cluster size ${peer_size:-?} -> $(( ${peer_size:-0} + 1 )))"
    return 0
  fi
  galera::wait_synced "$GALERA_SYNC_TIMEOUT" || fail "did not reach Synced within ${GALERA_SYNC_TIMEOUT}s after starting the join"
  size="$(galera::status wsrep_cluster_size)"
  if ! run::is_dry && [[ $peer_size =~ ^[0-9]+$ ]] && (( size < peer_size + 1 )); then
    fail "joined, but the cluster has $size node(s), expected $(( peer_size + 1 ))"
  fi
  galera::ensure_arbitrator
  log::ok "joined: Synced, wsrep_ready ON, cluster size ${peer_size:-?} -> ${size:-?}"
}

# ---- membership changes ----------------------------------------------------------------------------
# --refresh [--exclude/--include IP]: update this node's member list and galera.cnf (the running
# server keeps its connections: gcomm learns members from the cluster itself; the file matters at the
# next start).
mode::refresh() {
  local file content
  file="$(galera::excluded_file)"
  run::mkdir "$(dirname "$file")" 0755
  if [[ -n $MEMBER_CHANGE ]]; then
    content="$( { [[ -f $file ]] && grep -vxF -- "$MEMBER_IP" "$file"; [[ $MEMBER_CHANGE == exclude ]] && printf '%s\n' "$MEMBER_IP"; } | sort -u || true)"
  else
    content="$(cat "$file" 2>/dev/null || true)"
  fi
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

# update_members include|exclude: run --refresh --include/--exclude TARGET on every other configured node.
update_members() {
  # This node in a subshell: its own mode and member change stay as they are.
  if [[ $SELF_IP != "$TARGET" ]]; then (MEMBER_CHANGE=$1 MEMBER_IP=$TARGET mode::refresh); fi
  phase::on_members setup/phase1_database_setup.sh --refresh "--$1" "$TARGET" < <(printf '%s\n' "${NODE_IPS[@]}" | grep -vxF -- "$TARGET") || true
}

# membership_settled in_view|out_of_view: wait until this node's Primary view has (lacks) TARGET, then
# start or stop garbd for the new member count. By address, not by size: the size counts garbd.
membership_settled() {
  run::wait_until 60 "$TARGET ${1//_/ } of this node's view" "galera::$1" "$TARGET" \
    || die "$TARGET is not ${1//_/ } of this node's view after 60 s (cluster size $(galera::status wsrep_cluster_size))"
  galera::ensure_arbitrator
}

mode::add_node() {
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
  membership_settled in_view
  log::ok "$TARGET added: cluster size $size -> $(galera::status wsrep_cluster_size)"
}

mode::remove_node() {
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
  membership_settled out_of_view
  log::ok "$TARGET removed: cluster size $size -> $(galera::status wsrep_cluster_size); every member's address list updated"
}

# --leave (on the node being removed): clean shutdown, and the Galera config set aside so the server
# never rejoins by itself at the next boot.
mode::leave() {
  local stamp f
  log::phase database
  galera::stop
  stamp="$(date -u '+%Y%m%dT%H%M%SZ')"
  for f in "$GALERA_CNF" "$GALERA_SST_CNF"; do
    [[ -f $f ]] && run::cmd mv -f -- "$f" "$f.removed-$stamp"
  done
  log::ok "left the database cluster: MariaDB stopped, galera config kept as *.removed-$stamp"
}

mode::recover_bootstrap() { mode::bootstrap; }

phase::init() {
  node::require_self
  if ! phase::_has "$MODE" "${PHASE_READONLY_MODES[@]}"; then
    [[ $DB_TYPE == mariadb-galera ]] || lib::not_implemented "database type $DB_TYPE"
  fi
}

main() { phase::main "$@"; }

main "$@"
