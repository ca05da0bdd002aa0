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
# --force is the same as --yes.
# Exit codes: 0 ok, 1 error, 2 usage, 3 not implemented for that service yet, 6 refused for safety.
# shellcheck source=../lib/orchestrate.sh
source "$HPC_LIB_DIR/orchestrate.sh"

main() { orch::member_change add "$@"; }

main "$@"
