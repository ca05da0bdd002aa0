# shellcheck shell=bash
# lib/toolkit.sh - which toolkit this node runs: its version (package.json's, TOOLKIT_VERSION in
# lib/config.sh) and a hash of its generated lib/config.sh. Every node reports both (discovery's
# "toolkit" object, the database probe); a join refuses a peer whose toolkit differs, because two
# nodes generated from different configs disagree about the cluster (members, ports, names).

# toolkit::config_hash: the sha256 of this node's lib/config.sh (computed once per run).
toolkit::config_hash() {
  local sum _
  if [[ -z ${TOOLKIT_CONFIG_HASH:-} ]]; then
    read -r sum _ < <(sha256sum "$HPC_LIB_DIR/config.sh" 2>/dev/null) || true
    TOOLKIT_CONFIG_HASH=${sum:-unknown}
  fi
  printf '%s\n' "$TOOLKIT_CONFIG_HASH"
}

# toolkit::json: {"version": "...", "config_hash": "..."} of this node.
toolkit::json() {
  printf '{"version":%s,"config_hash":%s}' "$(json::str "$TOOLKIT_VERSION")" "$(json::str "$(toolkit::config_hash)")"
}

# toolkit::differs VERSION HASH: the peer's toolkit (as it reported it) is not this node's. Unknown
# (empty) values never differ: an old peer that reports nothing is only warned about.
toolkit::differs() {
  [[ -n $1 && $1 != "$TOOLKIT_VERSION" ]] && return 0
  [[ -n $2 && $2 != "$(toolkit::config_hash)" ]]
}

# toolkit::mismatch_message WHO VERSION HASH: why WHO's toolkit cannot work with this one, and the fix.
toolkit::mismatch_message() {
  printf '%s runs hpc-cluster-kit %s with config hash %s, this node runs %s with config hash %s (sha256 of lib/config.sh): the nodes were set up from different toolkits or configs. Regenerate once and copy the same dist-scripts/cluster/ to %s on every node, then rerun\n' \
    "$1" "${2:-?}" "${3:-?}" "$TOOLKIT_VERSION" "$(toolkit::config_hash)" "$HPC_TOOLKIT_DIR"
}
