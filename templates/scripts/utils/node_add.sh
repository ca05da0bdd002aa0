#!/usr/bin/env bash
# Usage: node_add.sh --service SERVICE NODE_IP [--dry-run] [--yes]
# Summary: Add a configured node to one service of the running cluster, without downtime.
#
# SERVICE: a service of the registry with a phase script (start_multi_complete.sh --list-services:
# storage, database, redis, slurm, vip); the old names (mariadb, galera, glusterfs, cache, scheduler,
# keepalived, ...) still work. An unknown name is a usage error that lists the valid ones.
# Runs the service's phase script with --add-node NODE_IP on a live member (this node when it is one).
# The node must already be in cluster_config.yaml and have this toolkit (regenerate and copy it first).
#
# Exit codes: 0 ok, 1 error, 2 usage, 3 not implemented for that service yet, 6 refused for safety.
# shellcheck source=../lib/orchestrate.sh
source "$HPC_LIB_DIR/orchestrate.sh"
# shellcheck source=../lib/galera.sh
source "$HPC_LIB_DIR/galera.sh"

SERVICE="" TARGET="" PASS=()

parse_args() {
  orch::parse_member_args "$@"
  node::index_of "$TARGET" >/dev/null \
    || die "$TARGET is not in cluster_config.yaml: add it there, regenerate the toolkit and copy it to every node first" "$EXIT_USAGE"
}

main() {
  local script member
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  node::require_self
  script="$(orch::phase_script "$SERVICE")"
  [[ $TARGET != "$SELF_IP" ]] || die "run node_add.sh on a live member, not on the node being added ($TARGET)" "$EXIT_USAGE"
  member="$(orch::live_member "$SERVICE")"
  log::info "adding $TARGET to $SERVICE through $member ($script --add-node)"
  remote::toolkit "$member" "$script" --add-node "$TARGET" "${PASS[@]+"${PASS[@]}"}"
}

main "$@"
