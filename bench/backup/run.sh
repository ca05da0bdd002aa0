#!/usr/bin/env bash
# Usage: bench/backup/run.sh [ROWS] [RUNS]
# Summary: Backup/restore figures on a one-node lab with the real MariaDB, next to a baseline measured in
#          the same run on the same data: full backup seconds and bytes vs raw `mariadb-dump | gzip` +
#          `tar` of the same config trees; an unchanged incremental as a fraction of the full; and
#          `restore.sh --latest --force` seconds (the RTO of a one-node restore).
# Goals (issue 9): full <= 1.25 x baseline, unchanged incremental <= 10 % of full, restore <= 5 min.
# Needs root and the lab (bats/lab/lab); uses lab prefix ${LAB_PREFIX:-bkb-<hash of this checkout>}
# (never a lab suite's: a shared prefix lets one run tear down the other) and removes it at the end.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROWS=${1:-1000000}
RUNS=${2:-3}
export LAB_PREFIX=${LAB_PREFIX:-bkb-$(pwd | cksum | awk '{ printf "%04x", $1 % 65536 }')}
LAB=bats/lab/lab
TK=/opt/hpc-dashboard/cluster
OUT="$(mktemp -d /tmp/bench-backup.XXXXXX)"
trap '"$LAB" down >/dev/null 2>&1 || true; rm -rf "$OUT"' EXIT

node() { "$LAB" exec n1 "$@"; }

# seconds CMD...: wall time of CMD inside the node, in seconds with 2 decimals.
seconds() {
  local t0 t1
  t0=${EPOCHREALTIME/./}
  node "$@" >/dev/null 2>&1
  t1=${EPOCHREALTIME/./}
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

"$LAB" down >/dev/null 2>&1 || true
"$LAB" up 1 >/dev/null
npx tsx generator/cli/main.ts generate -c test/fixtures/lab/backup-1.yaml -o "$OUT/gen" >/dev/null
"$LAB" push "$OUT/gen/cluster" >/dev/null
node bash -c '
set -e
mkdir -p /var/log/mysql && chown mysql:adm /var/log/mysql
printf "[mysqld_safe]\nskip-syslog\nlog-error=/var/log/mysql/error.log\n[mysqld]\nlog-error=/var/log/mysql/error.log\ninnodb_buffer_pool_size=128M\nperformance_schema=OFF\n" > /etc/mysql/mariadb.conf.d/99-lab.cnf
/etc/init.d/mariadb start >/dev/null'
echo "seeding $ROWS rows..." >&2
node mariadb -e "CREATE DATABASE app; USE app;
CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(64), pw CHAR(32), n BIGINT) ENGINE=InnoDB;
INSERT INTO t SELECT seq, CONCAT('user', seq), MD5(seq), seq * 7 FROM seq_1_to_$ROWS;"

CONF_DIRS="/etc/nginx /etc/redis /etc/mysql /etc/slurm /etc/munge /etc/keepalived /etc/glusterfs /etc/hpc-cluster /etc/cron.d /etc/systemd/system"
base=() full=() inc=() rest=()
for (( r=1; r<=RUNS; r++ )); do
  echo "run $r/$RUNS" >&2
  base+=("$(seconds bash -c "mkdir -p /data/raw && mariadb-dump --single-transaction --quick --all-databases --routines --events | gzip -n -1 > /data/raw/all.sql.gz && tar cf /data/raw/configs.tar --ignore-failed-read $CONF_DIRS 2>/dev/null; sync")")
  full+=("$(seconds bash -c "$TK/backup/backup.sh --full; sync")")
  inc+=("$(seconds bash -c "$TK/backup/backup.sh --incremental; sync")")
done
base_bytes="$(node bash -c 'du -sb /data/raw | cut -f1')"
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

b="$(median "${base[@]}")"; f="$(median "${full[@]}")"; i="$(median "${inc[@]}")"; s="$(median "${rest[@]}")"
printf '\nbackup benchmark: %s rows, median of %s runs, one lab node, %s\n' "$ROWS" "$RUNS" "$(date -u '+%F %H:%M UTC')"
printf '%-44s %10s %14s\n' "" seconds bytes
printf '%-44s %10s %14s\n' "baseline: mariadb-dump | gzip -1 + tar configs" "$b" "$base_bytes"
printf '%-44s %10s %14s   (%.2fx baseline time, %.2fx bytes; goal <= 1.25x)\n' "backup.sh --full" "$f" "$full_bytes" \
  "$(awk -v a="$f" -v b="$b" 'BEGIN { print a / b }')" "$(awk -v a="$full_bytes" -v b="$base_bytes" 'BEGIN { print a / b }')"
printf '%-44s %10s %14s   (%.1f %% of full on disk, %s bytes of new file content; goal <= 10 %%)\n' \
  "backup.sh --incremental (unchanged data)" "$i" "$inc_disk" "$(awk -v a="$inc_disk" -v b="$full_bytes" 'BEGIN { print 100 * a / b }')" "$inc_new"
printf '%-44s %10s %14s   (RTO; goal <= 300 s; includes verify + pre-restore snapshot)\n' "restore.sh --id <incremental> --force" "$s" ""
printf 'raw runs: baseline %s | full %s | incremental %s | restore %s\n' "${base[*]}" "${full[*]}" "${inc[*]}" "${rest[*]}"
