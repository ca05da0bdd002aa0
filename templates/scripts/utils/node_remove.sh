#!/usr/bin/env bash
# Usage: node_remove.sh --service SERVICE NODE_IP [--dry-run] [--yes]
# Summary: Remove a node from one service of the running cluster and every trace of it on the survivors.
#
# SERVICE: a service of the registry with a phase script (start_multi_complete.sh --list-services:
# storage, database, redis, slurm, vip); the old names (mariadb, galera, glusterfs, cache, scheduler,
# keepalived, ...) still work. An unknown name is a usage error that lists the valid ones.
# Runs the service's phase script with --remove-node NODE_IP on a survivor (this node when it is one);
# refuses to remove the last node or to leave the survivors without quorum.
# Afterwards remove the node from cluster_config.yaml and regenerate, so it is not added back.
#
# --force is the same as --yes.
# Exit codes: 0 ok, 1 error, 2 usage, 3 not implemented for that service yet, 6 refused for safety.
# shellcheck source=../lib/orchestrate.sh
source "$HPC_LIB_DIR/orchestrate.sh"

main() { orch::member_change remove "$@"; }

main "$@"
