# shellcheck shell=bash
# lib/gluster.sh - read the state of the GlusterFS trusted pool and of the shared volume.
# Sourced by setup/phase0_storage_setup.sh (and anything that reports storage health).
# Every function here only reads; changes go through run::cmd in the scripts, so --dry-run holds.
# Pipelines into grep use ">/dev/null", never "grep -q": under pipefail an early exit of grep -q
# kills the writer with SIGPIPE and turns a match into a failure.
# Queries use `gluster --mode=script` (never prompts) and the volume named by STORAGE_VOLUME_NAME.

# gluster::q ARGS...: a read-only gluster query (script mode, no prompts).
gluster::q() {
  gluster --mode=script "$@"
}

# gluster::brick_of IP: the brick spec of a node ("IP:/data/glusterfs/shared").
gluster::brick_of() {
  printf '%s:%s\n' "$1" "$STORAGE_BRICK_PATH"
}

# gluster::volume_exists: the volume is defined in the pool this glusterd belongs to.
gluster::volume_exists() {
  gluster::q volume info "$STORAGE_VOLUME_NAME" >/dev/null 2>&1
}

# gluster::volume_started: the volume exists and its status is Started.
gluster::volume_started() {
  gluster::q volume info "$STORAGE_VOLUME_NAME" 2>/dev/null | grep -x 'Status: Started' >/dev/null
}

# gluster::bricks: every brick of the volume, one "host:/path" per line, in volume order.
gluster::bricks() {
  { gluster::q volume info "$STORAGE_VOLUME_NAME" 2>/dev/null || true; } \
    | sed -n 's/^Brick[0-9][0-9]*: \([^ ]*\).*$/\1/p'
}

# gluster::brick_count: how many bricks the volume has (0 when it does not exist).
gluster::brick_count() {
  gluster::bricks | grep -c . || true
}

# gluster::replica_count: the replica count (1 for a plain one-brick volume, 0 when there is none).
gluster::replica_count() {
  local n
  n="$({ gluster::q volume info "$STORAGE_VOLUME_NAME" --xml 2>/dev/null || true; } \
    | sed -n 's/.*<replicaCount>\([0-9][0-9]*\)<\/replicaCount>.*/\1/p' | sed -n 1p)"
  printf '%s\n' "${n:-0}"
}

# gluster::has_brick IP: the volume holds IP's brick.
gluster::has_brick() {
  gluster::bricks | grep -xF "$(gluster::brick_of "$1")" >/dev/null
}

# gluster::peer_known IP: IP is in this node's trusted pool (any state).
gluster::peer_known() {
  gluster::q peer status 2>/dev/null | grep -xF "Hostname: $1" >/dev/null
}

# gluster::peer_connected IP: IP is in the pool and connected.
gluster::peer_connected() {
  gluster::q peer status 2>/dev/null \
    | awk -v ip="$1" '/^Hostname: /{ h = $2 } /^State: /{ if (h == ip && $0 ~ /Peer in Cluster \(Connected\)/) ok = 1 } END { exit !ok }'
}

# gluster::peers_connected: how many other pool members are connected.
gluster::peers_connected() {
  gluster::q peer status 2>/dev/null | grep -c 'Peer in Cluster (Connected)' || true
}

# gluster::heal_pending: the number of entries still to heal over all bricks; prints "unknown" and
# fails when a brick cannot be asked (not connected), because "0 pending" must be proven, not assumed.
gluster::heal_pending() {
  local out
  out="$(gluster::q volume heal "$STORAGE_VOLUME_NAME" info summary 2>&1)" || { printf 'unknown\n'; return 1; }
  awk '
    /^Status: / { bricks++; if ($0 != "Status: Connected") bad = 1 }
    /^Total Number of entries: / { total += $NF; seen++ }
    END {
      if (bad || bricks == 0 || seen != bricks) { print "unknown"; exit 1 }
      print total
    }' <<< "$out"
}

# gluster::is_mounted: the shared volume (or NFS export) is mounted at STORAGE_MOUNT_POINT.
gluster::is_mounted() {
  local fstype
  fstype="$(findmnt -n -o FSTYPE --mountpoint "$(path::of "$STORAGE_MOUNT_POINT")" 2>/dev/null || true)"
  case "$STORAGE_TYPE" in
    nfs) [[ $fstype == nfs* ]] ;;
    *) [[ $fstype == fuse.glusterfs ]] ;;
  esac
}

# gluster::on_shared PATH: PATH lies on the mounted shared storage (used by Slurm's preflight).
gluster::on_shared() {
  local target path
  gluster::is_mounted || return 1
  # The path may not exist yet: ask about its nearest existing ancestor.
  path="$(path::of "$1")"
  while [[ ! -e $path && $path == */* ]]; do path="${path%/*}"; done
  target="$(findmnt -n -o TARGET --target "${path:-/}" 2>/dev/null || true)"
  [[ $target == "$(path::of "$STORAGE_MOUNT_POINT")" ]]
}

# gluster::brick_entries: files and directories on this node's brick (GlusterFS' own .glusterfs
# index excluded) - compared between bricks to prove a new replica holds everything.
gluster::brick_entries() {
  local brick
  brick="$(path::of "$STORAGE_BRICK_PATH")"
  [[ -d $brick ]] || { printf '0\n'; return 0; }
  find "$brick" -path "$brick/.glusterfs" -prune -o -print 2>/dev/null | wc -l
}

# gluster::tuning: the volume options of the plan (section 0.3): caches, network timeouts and
# self-heal, one "key value" per line. ping-timeout 10 (default 42): a write stalls for that long when a
# replica vanishes. The self-heal keys apply only to replicated volumes (replica >= 2).
gluster::tuning() {
  local replica=$1
  printf '%s\n' \
    'performance.cache-size 128MB' \
    'performance.io-thread-count 16' \
    'performance.write-behind-window-size 4MB' \
    'network.ping-timeout 10' \
    'network.frame-timeout 600'
  if (( replica >= 2 )); then
    printf '%s\n' \
      'cluster.self-heal-daemon on' \
      'cluster.data-self-heal on' \
      'cluster.metadata-self-heal on' \
      'cluster.entry-self-heal on'
  fi
}

# gluster::option_value KEY: the value the volume has for KEY now.
gluster::option_value() {
  { gluster::q volume get "$STORAGE_VOLUME_NAME" "$1" 2>/dev/null || true; } | awk -v k="$1" '$1 == k { print $2 }'
}

# gluster::run ARGS...: a gluster command that changes something (dry-run aware); its chatter goes to
# the log file, errors to stderr.
gluster::run() {
  if run::is_dry; then
    run::cmd gluster --mode=script "$@"
  else
    run::cmd gluster --mode=script "$@" >> "${HPC_LOG_FILE:-/dev/null}"
  fi
}
