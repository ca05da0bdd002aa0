#!/usr/bin/env bash
# Usage: bench/backup/run.sh [ROWS] [RUNS]
# Summary: Backup/restore figures on a one-node lab with the real MariaDB, next to a baseline measured in
#          the same run on the same data: full backup seconds and bytes vs raw `mariadb-dump | gzip` +
#          `tar` of the same config trees and shared volume files; an unchanged incremental as a fraction of the full; and
#          `restore.sh --latest --force` seconds (the RTO of a one-node restore).
# Goals (issues 9, 19): full <= 1.25 x baseline, unchanged incremental <= 10 % of full, restore <= 5 min.
# Needs root and the lab (bats/lab/lab); uses lab prefix ${LAB_PREFIX:-bkb-<hash of this checkout>}
# (never a lab suite's: a shared prefix lets one run tear down the other) and removes it at the end.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROWS=${1:-1000000}
RUNS=${2:-3}
SHARED_FILES=${SHARED_FILES:-300}
export LAB_PREFIX=${LAB_PREFIX:-bkb-$(pwd | cksum | awk '{ printf "%04x", $1 % 65536 }')}
LAB=bats/lab/lab
TK=/opt/hpc-dashboard/cluster
OUT="$(mktemp -d /tmp/bench-backup.XXXXXX)"
trap '"$LAB" down >/dev/null 2>&1 || true; rm -rf "$OUT"' EXIT

node() { "$LAB" exec n1 "$@"; }

# seconds CMD...: wall time of CMD inside the node, in seconds with 2 decimals; a failed CMD stops the
# bench with its output (a figure of a failed backup means nothing).
seconds() {
  local t0 t1
  t0=${EPOCHREALTIME/./}
  if ! node "$@" >"$OUT/cmd.log" 2>&1; then
    echo "bench: failed: $*" >&2; tail -n 20 "$OUT/cmd.log" >&2; exit 1
  fi
  t1=${EPOCHREALTIME/./}
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

"$LAB" down >/dev/null 2>&1 || true
"$LAB" up 1 >/dev/null
npx tsx generator/cli/main.ts generate -c test/fixtures/lab/backup-1.yaml -o "$OUT/gen" >/dev/null
"$LAB" push "$OUT/gen/cluster" >/dev/null
# MariaDB, the secrets file, and a one-brick GlusterFS volume at /mnt/gluster holding the portal's shared
# files (shared_storage is a default backup item: a snapshot without them is not the product's).
# shellcheck disable=SC2016 # expanded in the node
node bash -c '
set -e
install -d -m 0700 /etc/hpc-cluster
printf "DB_AUTH_PASSWORD=bench-auth-pw\nREDIS_PASSWORD=bench-redis-pw\nBACKUP_HMAC_KEY=bench-hmac-key\n" > /etc/hpc-cluster/secrets.env
chmod 0600 /etc/hpc-cluster/secrets.env
mkdir -p /var/log/mysql && chown mysql:adm /var/log/mysql
printf "[mysqld_safe]\nskip-syslog\nlog-error=/var/log/mysql/error.log\n[mysqld]\nlog-error=/var/log/mysql/error.log\ninnodb_buffer_pool_size=128M\nperformance_schema=OFF\n" > /etc/mysql/mariadb.conf.d/99-lab.cnf
/etc/init.d/mariadb start >/dev/null
mkdir -p /var/log/glusterfs /data/glusterfs/shared /mnt/gluster
glusterd -p /run/glusterd.pid --log-file=/var/log/glusterfs/glusterd.log'
for _ in $(seq 150); do node gluster --mode=script volume info >/dev/null 2>&1 && break; sleep 0.2; done
echo "seeding $SHARED_FILES shared files..." >&2
# shellcheck disable=SC2016 # expanded in the node
node bash -c '
set -e
gluster --mode=script volume create shared_data node1:/data/glusterfs/shared force >/dev/null
gluster --mode=script volume start shared_data >/dev/null
mount -t glusterfs node1:/shared_data /mnt/gluster
mkdir -p /mnt/gluster/uploads /mnt/gluster/frontend/dist /mnt/gluster/config
for i in $(seq "$1"); do head -c $((RANDOM * 4)) /dev/urandom > /mnt/gluster/uploads/file$i.bin; done
for i in $(seq 200); do printf "export const page%d = %d;\n" "$i" "$i" > /mnt/gluster/frontend/dist/page$i.js; done
echo "PORTAL_ENV=bench" > /mnt/gluster/config/portal.env' _ "$SHARED_FILES"
echo "seeding $ROWS rows..." >&2
node mariadb -e "CREATE DATABASE app; USE app;
CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(64), pw CHAR(32), n BIGINT) ENGINE=InnoDB;
INSERT INTO t SELECT seq, CONCAT('user', seq), MD5(seq), seq * 7 FROM seq_1_to_$ROWS;"

CONF_DIRS="/etc/nginx /etc/redis /etc/mysql /etc/slurm /etc/munge /etc/keepalived /etc/glusterfs /etc/hpc-cluster /etc/cron.d /etc/systemd/system"
base=() plain=() full=() inc=() rest=()
for (( r=1; r<=RUNS; r++ )); do
  echo "run $r/$RUNS" >&2
  plain+=("$(seconds bash -c "rm -rf /data/plain && mkdir -p /data/plain && mariadb-dump --single-transaction --quick --all-databases --routines --events > /data/plain/all.sql && tar cf /data/plain/configs.tar --ignore-failed-read $CONF_DIRS 2>/dev/null; tar cf /data/plain/shared.tar -C /mnt/gluster .; sync")")
  base+=("$(seconds bash -c "mkdir -p /data/raw && mariadb-dump --single-transaction --quick --all-databases --routines --events | gzip -n -1 > /data/raw/all.sql.gz && tar cf /data/raw/configs.tar --ignore-failed-read $CONF_DIRS 2>/dev/null; tar cf /data/raw/shared.tar -C /mnt/gluster .; sync")")
  full+=("$(seconds bash -c "$TK/backup/backup.sh --full; sync")")
  inc+=("$(seconds bash -c "$TK/backup/backup.sh --incremental; sync")")
done
base_bytes="$(node bash -c 'du -sb /data/raw | cut -f1')"
plain_bytes="$(node bash -c 'du -sb /data/plain | cut -f1; rm -rf /data/plain')"
ids="$(node bash -c 'ls /data/system_backup/snapshots | tail -n 2')"
full_id="$(head -n 1 <<< "$ids")"
inc_id="$(tail -n 1 <<< "$ids")"
full_bytes="$(node jq .backup_size "/data/system_backup/snapshots/$full_id/metadata.json")"
inc_disk="$(node bash -c "cd /data/system_backup/snapshots && du -sb $full_id $inc_id | tail -n 1 | cut -f1")"
inc_new="$(node jq .new_bytes "/data/system_backup/snapshots/$inc_id/metadata.json")"
node mariadb -e 'DELETE FROM app.t WHERE id % 2 = 0'
for (( r=1; r<=RUNS; r++ )); do
  rest+=("$(seconds "$TK/backup/restore.sh" --id "$inc_id" --force)")
done
count="$(node mariadb -N -e 'SELECT COUNT(*) FROM app.t')"
[[ $count == "$ROWS" ]] || { echo "restore check failed: $count rows, expected $ROWS" >&2; exit 1; }

p="$(median "${plain[@]}")"; b="$(median "${base[@]}")"; f="$(median "${full[@]}")"; i="$(median "${inc[@]}")"; s="$(median "${rest[@]}")"
printf '\nbackup benchmark: %s rows, median of %s runs, one lab node, %s\n' "$ROWS" "$RUNS" "$(date -u '+%F %H:%M UTC')"
printf '%-44s %10s %14s\n' "" seconds bytes
printf '%-44s %10s %14s\n' "baseline: mariadb-dump > file + tar (no gzip)" "$p" "$plain_bytes"
printf '%-44s %10s %14s\n' "baseline: mariadb-dump | gzip -1 + tar" "$b" "$base_bytes"
printf '%-44s %10s %14s   (%.2fx | %.2fx of the baseline times, %.2fx | %.2fx their bytes; goal <= 1.25x)\n' "backup.sh --full" "$f" "$full_bytes" \
  "$(awk -v a="$f" -v b="$p" 'BEGIN { print a / b }')" "$(awk -v a="$f" -v b="$b" 'BEGIN { print a / b }')" \
  "$(awk -v a="$full_bytes" -v b="$plain_bytes" 'BEGIN { print a / b }')" "$(awk -v a="$full_bytes" -v b="$base_bytes" 'BEGIN { print a / b }')"
printf '%-44s %10s %14s   (%.1f %% of full on disk, %s bytes of new file content; goal <= 10 %%)\n' \
  "backup.sh --incremental (unchanged data)" "$i" "$inc_disk" "$(awk -v a="$inc_disk" -v b="$full_bytes" 'BEGIN { print 100 * a / b }')" "$inc_new"
printf '%-44s %10s %14s   (RTO; goal <= 300 s; includes verify + pre-restore snapshot)\n' "restore.sh --id <incremental> --force" "$s" ""
printf 'raw runs: no-gzip %s | gzip %s | full %s | incremental %s | restore %s\n' "${plain[*]}" "${base[*]}" "${full[*]}" "${inc[*]}" "${rest[*]}"
