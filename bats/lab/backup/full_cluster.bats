#!/usr/bin/env bats
# The issue's end-to-end test on a cluster built by start_multi_complete.sh (3 nodes, every service):
# rows in MariaDB, keys in Redis, a file on the shared GlusterFS volume and a queued (held) Slurm job;
# backup -> delete the rows, FLUSHALL, remove the file, cancel the job -> restore.sh --latest --force
# -> everything back, on every node.
bats_require_minimum_version 1.5.0

setup_file() {
  load backup_helpers
  bkp_prefix
  lab_setup 3 >/dev/null 2>&1
  bkp_full_prepare "$(toolkit_fixture lab/backup-full.yaml)" n1 n2 n3
  lab_exec n1 "$TK/start_multi_complete.sh" --bootstrap --yes >"$BATS_FILE_TMPDIR/n1.log" 2>&1 || { tail -n 40 "$BATS_FILE_TMPDIR/n1.log" >&3; false; }
  lab_exec n2 "$TK/start_multi_complete.sh" --join --yes >"$BATS_FILE_TMPDIR/n2.log" 2>&1 || { tail -n 40 "$BATS_FILE_TMPDIR/n2.log" >&3; false; }
  lab_exec n3 "$TK/start_multi_complete.sh" --join --yes >"$BATS_FILE_TMPDIR/n3.log" 2>&1 || { tail -n 40 "$BATS_FILE_TMPDIR/n3.log" >&3; false; }
}

teardown_file() {
  load backup_helpers
  bkp_prefix
  lab_teardown >/dev/null 2>&1 || true
}

setup() {
  load backup_helpers
  bkp_prefix
  bats_load_library bats-support
  bats_load_library bats-assert
}

rows_on() {
  lab_exec "$1" mariadb -N -B -e 'SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM auth_portal.users'
}

keys_total() {
  local k total=0 n
  for k in 1 2 3; do
    n="$(bkp_rcli "n$k" dbsize)"
    total=$(( total + n ))
  done
  printf '%s\n' "$total"
}

# keys_are N: the masters hold N keys in all; else say what each node holds (a node not answering,
# or not serving every slot, shows here instead of as a bare count mismatch).
keys_are() {
  local total k
  total="$(keys_total 2>/dev/null)" || total="?"
  [[ $total == "$1" ]] && return 0
  echo "expected $1 keys in all, found $total" >&2
  for k in 1 2 3; do
    echo "n$k: dbsize $(bkp_rcli "n$k" dbsize 2>&1 | head -n 1), $(bkp_rcli "n$k" cluster info 2>&1 | grep -E 'cluster_state|slots_assigned' | tr -d '\r' | paste -sd' ' -)" >&2
  done
  return 1
}

job_pending() {
  [[ "$(lab_exec n1 squeue -h -j "$1" -o %T 2>/dev/null)" == PENDING ]]
}

@test "full cluster: rows, keys, a shared file and a queued job come back after restore --latest --force" {
  wait_until 60 bkp_synced n3 3
  lab_exec n1 mariadb auth_portal -e "CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(64)) ENGINE=InnoDB;
    INSERT INTO auth_portal.users SELECT seq, CONCAT('user', seq) FROM seq_1_to_10000;"
  # every SET answered OK (a write refused while the cluster settles would show as a missing key later)
  run lab_exec n1 bash -c 'for i in $(seq 1 2000); do printf "SET key:%s value-%s\n" $i $i; done \
    | REDISCLI_AUTH=redis-secret-3 redis-cli -c -h 10.213.0.11 | grep -v -e "^OK\$" -e "^-> Redirected" || true'
  assert_success
  assert_output ""
  keys_are 2000
  lab_exec n1 bash -c 'mkdir -p /mnt/gluster/home/alice && head -c 200000 /dev/urandom > /mnt/gluster/home/alice/data.bin && sha256sum /mnt/gluster/home/alice/data.bin' > "$BATS_TEST_TMPDIR/sum"
  local job
  job="$(lab_exec n1 sbatch --parsable --hold --wrap 'sleep 1')"
  wait_until 30 job_pending "$job"
  # the job must be in the saved state before the backup (slurmctld saves it within seconds)
  wait_until 30 lab_exec n1 bash -c "grep -qa 'sleep 1' /mnt/gluster/slurm/state/job_state 2>/dev/null || ls /mnt/gluster/slurm/state/hash.*/job.$job >/dev/null 2>&1"

  run lab_exec n1 "$TK/backup/backup.sh" --full
  assert_success
  refute_output --partial skipped

  lab_exec n2 mariadb -e 'DELETE FROM auth_portal.users WHERE id > 10'
  local k
  for k in 1 2 3; do bkp_rcli "n$k" flushall >/dev/null; done
  lab_exec n3 rm /mnt/gluster/home/alice/data.bin
  lab_exec n1 scancel "$job"
  keys_are 0

  local cid
  cid="$(lab_exec n1 cat /var/lib/hpc-cluster/cluster_id)"
  run lab_exec n1 "$TK/backup/restore.sh" --latest --force
  assert_success
  assert_output --partial "restoring in place; this node keeps cluster id $cid"
  echo "# $(grep -o 'restored snapshot .* in [0-9]*s' <<< "$output")" >&3
  for k in 1 2 3; do [ "$(lab_exec "n$k" cat /var/lib/hpc-cluster/cluster_id)" = "$cid" ]; done
  for k in 1 2 3; do [ "$(rows_on "n$k")" = 10000 ]; done
  keys_are 2000
  for k in 1 2 3; do
    run lab_exec "n$k" sha256sum /mnt/gluster/home/alice/data.bin
    assert_output "$(cat "$BATS_TEST_TMPDIR/sum")"
  done
  wait_until 60 job_pending "$job"
  wait_until 60 bkp_synced n1 3
}

# n1's disk, on the host: every place the lab keeps its /data (wiped as a dead disk would be).
n1_data_wipe() {
  local d base="${LAB_STATE_ROOT:-/tmp/hpc-lab}/$LAB_PREFIX/n1"
  for d in "$base/data" "$base/upper/data"; do
    if [[ -d $d ]]; then find "$d" -mindepth 1 -delete; fi
  done
}

shared_sums() {
  lab_exec "$1" sha256sum /mnt/gluster/uploads/photo.bin /mnt/gluster/frontend/index.html
}

@test "issue 19: n1 destroyed, restore --latest on n2 brings rows, keys and files back from n2's copy; newer keys go" {
  wait_until 60 bkp_synced n3 3
  lab_exec n1 bash -c 'mkdir -p /mnt/gluster/uploads /mnt/gluster/frontend && head -c 300000 /dev/urandom > /mnt/gluster/uploads/photo.bin && echo "<h1>portal</h1>" > /mnt/gluster/frontend/index.html'
  shared_sums n1 > "$BATS_TEST_TMPDIR/shared"
  keys_are 2000
  run lab_exec n1 "$TK/backup/backup.sh"
  assert_success
  assert_output --partial "copied to 10.213.0.12"
  assert_output --partial "copied to 10.213.0.13"
  assert_output --partial "copied to offsite:/srv/hpc-offsite/node1/"
  run lab_exec n1 "$TK/backup/backup_scheduler.sh" --status
  assert_success
  assert_line --regexp '^offsite: +root@10\.213\.0\.13:/srv/hpc-offsite \(ok\)$'
  local id
  id="$(bkp_latest)"
  # every copy and where it is: n1's own store, n3's replica, this node's, the off-site one
  run lab_exec n2 "$TK/backup/restore.sh" --list
  assert_success
  assert_line --regexp "^$id .*10.213.0.11,10.213.0.13,here,offsite "

  # tampering is refused before anything is stopped: a planted unlisted file, then an edited checksum
  local copy=/data/system_backup/replicas/node1/$id ctld
  ctld="$(lab_exec n2 pgrep -o -x slurmctld)"
  lab_exec n2 sh -c "echo evil > $copy/state/shared/planted.txt"
  run lab_exec n2 "$TK/backup/restore.sh" --id "$id" --force
  assert_failure 6
  assert_output --partial "not in metadata.json: state/shared/planted.txt"
  assert_output --partial "Nothing was stopped or changed"
  lab_exec n2 rm "$copy/state/shared/planted.txt"
  lab_exec n2 cp -p "$copy/metadata.json" /root/metadata.json.good
  lab_exec n2 sh -c 'jq ".files[\"state/shared/frontend/index.html\"] = (\"0\" * 64)" /root/metadata.json.good > "$1/metadata.json"' _ "$copy"
  run lab_exec n2 "$TK/backup/restore.sh" --id "$id" --force
  assert_failure 6
  assert_output --partial "metadata.json does not match metadata.hmac"
  lab_exec n2 cp -p /root/metadata.json.good "$copy/metadata.json"
  [ "$(lab_exec n2 pgrep -o -x slurmctld)" = "$ctld" ]

  # after the snapshot: keys written, then n1 is lost with its disk; rows and files lost too
  lab_exec n2 bash -c 'for i in $(seq 1 50); do printf "SET after:%s x\n" $i; done | REDISCLI_AUTH=redis-secret-3 redis-cli -c -h 10.213.0.12 >/dev/null'
  lab crash n1
  n1_data_wipe
  # DISASTER_RECOVERY.md's first step for a server gone for good: remove it from the services that
  # would otherwise wait for it (Redis: its slots served again, empty; Slurm: its daemons not stopped)
  run lab_exec n2 "$TK/utils/node_remove.sh" --service redis --yes 10.213.0.11
  echo "# node_remove redis: exit $status" >&3
  assert_success
  run lab_exec n2 "$TK/utils/node_remove.sh" --service scheduler --yes 10.213.0.11
  echo "# node_remove scheduler: exit $status" >&3
  assert_success
  lab_exec n2 mariadb -e 'DELETE FROM auth_portal.users WHERE id > 10'
  lab_exec n2 rm /mnt/gluster/uploads/photo.bin /mnt/gluster/frontend/index.html

  run lab_exec n2 "$TK/backup/restore.sh" --latest --force
  echo "# $(grep -o 'restored snapshot .* in [0-9]*s' <<< "$output")" >&3
  assert_success
  assert_output --partial "snapshot $id"
  for k in 2 3; do [ "$(rows_on "n$k")" = 10000 ]; done
  local keys=0 k n
  for k in 2 3; do n="$(bkp_rcli "n$k" dbsize)"; keys=$(( keys + n )); done
  [ "$keys" = 2000 ]
  for k in 2 3; do [ -z "$(bkp_rcli "n$k" --scan --pattern 'after:*')" ]; done
  for k in 2 3; do
    run shared_sums "n$k"
    assert_output "$(cat "$BATS_TEST_TMPDIR/shared")"
  done
}
