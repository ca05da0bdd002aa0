#!/usr/bin/env bash
# Usage: bench/gluster/run.sh [--mb N] [--files N]
# Summary: GlusterFS throughput as a node's programs see it: dd write (fsync at the end) and read of one
#          large file, and the creation of many small files, on the toolkit's replica-3 volume
#          (/mnt/gluster, set up by setup/phase0_storage_setup.sh on 3 nodes) next to the node's local
#          disk (/data, the file system the bricks live on), on n1, in the same run.
#
#   --mb N     size of the large file in MiB (default 256)
#   --files N  small files (4 KiB each) to create (default 1000)
#
# Reads are warm: the bricks' file system and the local file keep the data in the page cache (a cold
# read would need drop_caches, which would empty the whole shared machine's cache). Not part of npm
# test. Needs root (the lab).
set -Eeuo pipefail
trap 'printf "bench/gluster: failed (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export HPC_REPO_ROOT=$REPO
export LAB_PREFIX=gluster-bench
MB=256
FILES=1000

while (( $# )); do
  case "$1" in
    --mb) MB=${2:?--mb needs a number}; shift ;;
    --files) FILES=${2:?--files needs a number}; shift ;;
    -h|--help) sed -n '2,/^set -Eeuo/{/^set -Eeuo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) printf 'unknown argument: %s\n' "$1" >&2; exit 2 ;;
  esac
  shift
done

# The lab helpers are written for bats; these stand-ins are all they need outside it.
BATS_FILE_TMPDIR="$(mktemp -d /tmp/gluster-bench.XXXXXX)"
# shellcheck source=bats/lab/helpers.bash
source "$REPO/bats/lab/helpers.bash"
# shellcheck source=bats/helpers/toolkit.bash
source "$REPO/bats/helpers/toolkit.bash"

cleanup() {
  lab down >/dev/null 2>&1 || true
  rm -rf -- "$BATS_FILE_TMPDIR"
}
trap cleanup EXIT

say() { printf '==> %s\n' "$*" >&2; }

T=/opt/hpc-dashboard/cluster/setup/phase0_storage_setup.sh

# measure LABEL DIR: one table row for DIR on n1 (MB/s from dd's own figure; small files per second).
measure() {
  local label=$1 dir=$2
  # shellcheck disable=SC2016 # expanded inside the node
  lab_exec n1 bash -c '
    set -e
    d=$1/bench.$$; mkdir -p "$d"
    rate() { LC_ALL=C dd "$@" bs=1M 2>&1 | awk "/copied/ { print \$(NF - 1), \$NF }"; }
    w=$(rate if=/dev/zero of="$d/big" count="$2" conv=fsync)
    r=$(rate if="$d/big" of=/dev/null)
    t0=$EPOCHREALTIME
    mkdir "$d/small"; head -c 4096 /dev/urandom > "$d/seed"
    for ((i = 0; i < $3; i++)); do cp "$d/seed" "$d/small/f$i"; done
    sync
    t1=$EPOCHREALTIME
    rm -rf "$d"
    printf "%s|%s|%s\n" "$w" "$r" "$(awk -v n="$3" -v a="$t0" -v b="$t1" "BEGIN { printf \"%.0f files/s\", n / (b - a) }")"
  ' bench "$dir" "$MB" "$FILES" | awk -F'|' -v label="$label" '{ printf "%-34s write=%-12s read(warm)=%-12s small=%s\n", label, $1, $2, $3 }'
}

main() {
  local config="$BATS_FILE_TMPDIR/storage-3.yaml" n
  grep -v '10.213.0.14' "$REPO/test/fixtures/lab/storage-lab4.yaml" > "$config"
  say "lab up (prefix $LAB_PREFIX)"
  lab_setup 3 >/dev/null
  lab ssh-mesh >/dev/null
  toolkit_generate "$config" "$BATS_FILE_TMPDIR/gen"
  lab_push "$BATS_FILE_TMPDIR/gen/cluster" >/dev/null
  lab_exec n1 "$T" --bootstrap --yes >/dev/null
  for n in n2 n3; do lab_exec "$n" "$T" --join --peer "$(lab_ip n1)" --yes >/dev/null; done
  [[ "$(lab_exec n1 gluster --mode=script volume info shared_data | grep -c '^Brick[0-9]*:')" == 3 ]]
  {
    printf 'GlusterFS %s, replica 3 on 3 nodes (bricks on one shared disk), client on n1; %s MiB file, %s small files\n' \
      "$(glusterfs --version | sed -n '1s/^glusterfs //p')" "$MB" "$FILES"
    printf 'load average at the start: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    measure "GlusterFS /mnt/gluster (FUSE)" /mnt/gluster
    measure "local disk /data" /data
    printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  } | tee "$BATS_FILE_TMPDIR/result.txt"
}

main "$@"
