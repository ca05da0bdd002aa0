#!/usr/bin/env bash
# Usage: bench/backup/replicate.sh [MB] [RUNS]
# Summary: Bytes sent to a peer when backup.sh copies a snapshot (lib/backup_replicate.sh: rsync -aH
#          --link-dest to the previous copy there), next to a plain `rsync -aH` of the same snapshot to
#          the same peer in the same run. Two lab nodes, configs-only snapshots holding MB of files.
# Goal (issue 19): the copy of an unchanged incremental <= 5 % of the full copy's bytes.
# Needs root and the lab (bats/lab/lab); uses lab prefix ${LAB_PREFIX:-bkr-<hash of this checkout>}
# (unique per checkout, so two worktrees never share a lab) and removes it at the end.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
MB=${1:-64}
RUNS=${2:-3}
export LAB_PREFIX=${LAB_PREFIX:-bkr-$(pwd | cksum | awk '{ printf "%04x", $1 % 65536 }')}
LAB=bats/lab/lab
TK=/opt/hpc-dashboard/cluster
OUT="$(mktemp -d /tmp/bench-replicate.XXXXXX)"
trap '"$LAB" down >/dev/null 2>&1 || true; rm -rf "$OUT"' EXIT

n1() { "$LAB" exec n1 "$@"; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# sent_to_peer: bytes the last backup.sh sent to 10.213.0.12 (STATE_DIR/backup_replication.json)
sent_to_peer() { n1 jq '.copies[] | select(.target == "10.213.0.12") | .bytes_sent' /var/lib/hpc-cluster/backup_replication.json; }

"$LAB" down >/dev/null 2>&1 || true
"$LAB" up 2 >/dev/null
"$LAB" ssh-mesh >/dev/null
npx tsx generator/cli/main.ts generate -c bench/backup/replicate-2.yaml -o "$OUT/gen" >/dev/null
"$LAB" push "$OUT/gen/cluster" >/dev/null
for n in n1 n2; do
  "$LAB" exec "$n" sh -c 'mkdir -p /etc/hpc-cluster /data && umask 077 && printf "REDIS_PASSWORD=x\nBACKUP_HMAC_KEY=bench-key\n" > /etc/hpc-cluster/secrets.env'
done
# the snapshot's bulk: MB of files in a config tree (64 files of MB/64 each)
n1 bash -c "mkdir -p /etc/hpc-cluster/bulk && for i in \$(seq 1 64); do head -c \$(( $MB * 1024 * 16 )) /dev/urandom > /etc/hpc-cluster/bulk/f\$i; done"

full=() inc=() plain=()
for (( r=1; r<=RUNS; r++ )); do
  echo "run $r/$RUNS" >&2
  # no earlier copy on the peer, so the full's copy sends everything
  "$LAB" exec n2 rm -rf /data/system_backup/replicas /data/plain-$(( r - 1 ))
  n1 "$TK/backup/backup.sh" --full --only-configs >/dev/null 2>&1
  full+=("$(sent_to_peer)")
  n1 "$TK/backup/backup.sh" --incremental --only-configs >/dev/null 2>&1
  inc+=("$(sent_to_peer)")
  id="$(n1 bash -c 'ls /data/system_backup/snapshots | tail -n 1')"
  plain+=("$(n1 bash -c "rsync -aH --stats /data/system_backup/snapshots/$id/ root@10.213.0.12:/data/plain-$r/ | awk -F: '/^Total bytes sent/ { gsub(/[ ,]/, \"\", \$2); print \$2 }'")")
done
f="$(median "${full[@]}")"; i="$(median "${inc[@]}")"; p="$(median "${plain[@]}")"
printf '\nreplication benchmark: %s MB snapshot, median of %s runs, two lab nodes, %s\n' "$MB" "$RUNS" "$(date -u '+%F %H:%M UTC')"
printf '%-58s %14s\n' "" "bytes sent"
printf '%-58s %14s\n' "plain rsync -aH of the incremental to the peer (baseline)" "$p"
printf '%-58s %14s\n' "backup.sh --full: copy to the peer" "$f"
printf '%-58s %14s   (%.2f %% of the full copy; goal <= 5 %%)\n' "backup.sh --incremental (unchanged): copy to the peer" "$i" \
  "$(awk -v a="$i" -v b="$f" 'BEGIN { print 100 * a / b }')"
printf 'raw runs: full %s | incremental %s | plain %s\n' "${full[*]}" "${inc[*]}" "${plain[*]}"
