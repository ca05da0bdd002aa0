#!/usr/bin/env bats
# Lab: the client helpers of clients/python/hpc_cluster.py (Debian's python3-redis and python3-pymysql)
# against real backends a failover hits: Redis Sentinel (master n1, replica n2, the third sentinel on
# the witness n3) and Galera (n1, n2, garbd on n3). redis_client() keeps working when the master node
# crashes; db_run() retries a transaction through certification conflicts and through its node leaving
# the Primary component (the master's crash comes last: it takes n1 away). Fixture: test/fixtures/lab/web-backends.yaml. Tests run in order, one lab.
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"
load "web_helpers.bash"
load "../galera/galera_helpers.bash"

DIR=/opt/hpc-dashboard/dashboard/auth_portal_4430
MASTER=lab-webb-redis

setup_file() {
  local n
  lab_setup 3 >/dev/null
  toolkit_deploy "$(toolkit_fixture lab/web-backends.yaml)" n1 n2 n3
  for n in n1 n2; do
    lab_exec "$n" sh -c 'mkdir -p /mnt/gluster "$1" && { mountpoint -q /mnt/gluster || mount -t tmpfs tmpfs /mnt/gluster; }' sh "$DIR"
  done
  step n1 start_multi_complete.sh --only database --yes
  step n2 start_multi_complete.sh --only database --yes
  step n1 setup/phase2_redis_setup.sh --bootstrap --yes
  step n2 setup/phase2_redis_setup.sh --join --yes
  step n3 setup/phase2_redis_setup.sh --witness --yes
  # The environment files (global.env, web-secrets.env) and the .env link, as the portal finds them.
  for n in n1 n2; do step "$n" setup/phase6_web_setup.sh --join --yes; done
  wait_until 90 synced n1 3
  wait_until 90 synced n2 3
}

teardown_file() { lab_teardown; }

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

# py nK CODE: python3 CODE in the service folder on nK, with hpc_cluster importable.
py() {
  lab_exec "$1" sh -c 'cd "$1" && exec /usr/bin/python3 -c "import sys; sys.path.insert(0, \"/opt/hpc-dashboard/cluster/clients/python\")
import hpc_cluster
$2"' sh "$DIR" "$2"
}

# py_bg nK OUT CODE: the same, detached, output in OUT on nK.
py_bg() {
  lab_exec "$1" sh -c 'cd "$1" && setsid /usr/bin/python3 -c "import sys; sys.path.insert(0, \"/opt/hpc-dashboard/cluster/clients/python\")
import hpc_cluster
$3" > "$2" 2>&1 < /dev/null &' sh "$DIR" "$2" "$3"
}

# rcli nK ARGS...: redis-cli on nK, the password read there from the secrets file.
rcli() {
  local n=$1
  shift
  # shellcheck disable=SC2016 # expanded inside the node
  lab_exec "$n" sh -c 'REDISCLI_AUTH="$(sed -n "s/^REDIS_PASSWORD=//p" /etc/hpc-cluster/secrets.env)" exec redis-cli --no-auth-warning "$@"' sh "$@"
}

sentinel_master() { rcli "$1" -h "$(lab_ip "$1")" -p 26379 SENTINEL GET-MASTER-ADDR-BY-NAME "$MASTER" | head -n 1; }

# sentinels_count_replica: the sentinels that survive n1's crash (n2, n3) know the replica.
sentinels_count_replica() {
  local n
  for n in n2 n3; do
    rcli "$n" -h "$(lab_ip "$n")" -p 26379 SENTINEL MASTER "$MASTER" | grep -A1 '^num-slaves$' | tail -n 1 | grep -q '^[1-9]' || return 1
  done
}

replica_linked() { rcli n2 -h 10.213.0.12 INFO replication | grep -q master_link_status:up; }

@test "redis_client() with redis.type sentinel: a Sentinel-managed master client round-trips a key" {
  run py n2 'r = hpc_cluster.redis_client()
print(type(r.connection_pool).__name__, r.set("lab:webb:k", "v1"), r.get("lab:webb:k"))
print(r.connection_pool.get_master_address()[0])'
  assert_success
  assert_output $'SentinelConnectionPool True v1\n10.213.0.11'
}

@test "db_run(): concurrent increments of one row on both Galera nodes all land (certification conflicts retried)" {
  lab_exec n1 mariadb -e "CREATE TABLE IF NOT EXISTS auth_portal.counter (id INT PRIMARY KEY, v INT NOT NULL); REPLACE INTO auth_portal.counter VALUES (1, 0)"
  wait_until 30 eval '[[ "$(sql n2 "SELECT v FROM auth_portal.counter WHERE id = 1")" == 0 ]]'
  # 150 increments on each node at once; tries beyond 150 are retries after a conflict.
  local code='import os, time
tries = {"n": 0}
def inc(cur):
    tries["n"] += 1
    cur.execute("UPDATE counter SET v = v + 1 WHERE id = 1")
while not os.path.exists("/tmp/go"): time.sleep(0.01)
for _ in range(150):
    hpc_cluster.db_run(inc, "auth_portal", attempts=50)
print("VERDICT", tries["n"] - 150, flush=True)'
  py_bg n1 /tmp/inc.out "$code"
  py_bg n2 /tmp/inc.out "$code"
  sleep 1
  lab_exec n1 touch /tmp/go
  lab_exec n2 touch /tmp/go
  wait_until 120 lab_exec n1 grep -q '^VERDICT' /tmp/inc.out
  wait_until 120 lab_exec n2 grep -q '^VERDICT' /tmp/inc.out
  local r1 r2
  r1="$(lab_exec n1 sed -n 's/^VERDICT //p' /tmp/inc.out)"
  r2="$(lab_exec n2 sed -n 's/^VERDICT //p' /tmp/inc.out)"
  echo "# retries after certification conflicts: n1 $r1, n2 $r2" >&3
  run sql n1 "SELECT v FROM auth_portal.counter WHERE id = 1"
  assert_output 300
  # The conflicts did happen (two nodes updating one row at once), and each was retried.
  (( r1 + r2 >= 1 ))
}

@test "db_run() and db_connect() on a node cut off from the Primary component: retried until it is back" {
  lab_exec n1 mariadb -e "CREATE TABLE IF NOT EXISTS auth_portal.ticks (id INT PRIMARY KEY)"
  # A writer on n2: ids 1..150, one a 100 ms, each in db_run (idempotent: INSERT IGNORE).
  py_bg n2 /tmp/ticks.out 'import time
def tick(i):
    return lambda cur: cur.execute("INSERT IGNORE INTO ticks VALUES (%s)", (i,))
def said(e, attempt):
    print("retry", attempt, e.args[0] if e.args else "-", type(e).__name__, flush=True)
for i in range(1, 151):
    hpc_cluster.db_run(tick(i), "auth_portal", attempts=2000, delay=0.25, on_retry=said)
    time.sleep(0.1)
print("VERDICT done", flush=True)'
  wait_until 30 eval '[[ "$(sql n1 "SELECT COUNT(*) FROM auth_portal.ticks")" -ge 10 ]]'
  lab cut n2
  wait_until 60 non_primary n2
  # A fresh client on the cut node: db_connect waits for wsrep_ready instead of handing out a
  # connection whose first query fails with 1047.
  py_bg n2 /tmp/fresh.out 'c = hpc_cluster.db_connect("auth_portal", attempts=2000, delay=0.25)
cur = c.cursor(); cur.execute("SELECT COUNT(*) >= 0 FROM ticks"); print("VERDICT fresh", cur.fetchone()[0], flush=True)'
  local stalled
  stalled="$(sql n1 "SELECT COUNT(*) FROM auth_portal.ticks")"
  sleep 5
  # Nothing got through while cut off (the writes wait, they are not lost).
  assert_equal "$(sql n1 "SELECT COUNT(*) FROM auth_portal.ticks")" "$stalled"
  run lab_exec n2 cat /tmp/fresh.out
  refute_output --partial VERDICT
  lab heal n2
  wait_until 90 synced n2 3
  wait_until 120 lab_exec n2 grep -q '^VERDICT done' /tmp/ticks.out || { lab_exec n2 sort /tmp/ticks.out | uniq -c; false; }
  wait_until 30 lab_exec n2 grep -qx 'VERDICT fresh 1' /tmp/fresh.out || { lab_exec n2 cat /tmp/fresh.out; false; }
  run sql n1 "SELECT COUNT(*), MIN(id), MAX(id) FROM auth_portal.ticks"
  assert_output $'150\t1\t150'
  # The writer met the node outside the Primary component and waited it out.
  run lab_exec n2 sort /tmp/ticks.out
  echo "$output" | uniq -c
  assert_output --regexp 'retry [0-9]+ 1047 OperationalError'
}

@test "the master node crashes: a client started before keeps writing, on the promoted replica" {
  # After the partition test: the replica is linked again and every live sentinel counts it.
  wait_until 60 replica_linked
  wait_until 60 sentinels_count_replica
  # On n2 (the client must survive the crash): one SET a 100 ms, for up to 90 s, until 20 writes in a
  # row succeed on a master other than n1 after at least one write failed.
  py_bg n2 /tmp/sentinel.out 'import time
r = hpc_cluster.redis_client(socket_timeout=1, socket_connect_timeout=1)
ok = failed = streak = 0; end = time.time() + 90
while time.time() < end:
    try:
        r.set("lab:fo:%d" % ok, "v"); ok += 1
        if ok == 1: print("started", flush=True)
        host = r.connection_pool.get_master_address()[0]
        streak = streak + 1 if failed and host != "10.213.0.11" else 0
        if streak >= 20: break
    except Exception as e:
        failed += 1; print("retry:", type(e).__name__, flush=True); time.sleep(0.2)
    time.sleep(0.1)
print("VERDICT", ok, failed, streak, r.connection_pool.get_master_address()[0], r.get("lab:fo:0"), flush=True)'
  wait_until 30 lab_exec n2 grep -q '^started' /tmp/sentinel.out
  sleep 1
  lab crash n1
  wait_until 120 eval '[[ "$(sentinel_master n2)" == 10.213.0.12 ]]'
  wait_until 100 lab_exec n2 grep -q '^VERDICT' /tmp/sentinel.out
  run lab_exec n2 grep '^VERDICT' /tmp/sentinel.out
  echo "$output"
  local ok failed streak host first
  read -r _ ok failed streak host first <<< "$output"
  (( ok >= 30 && failed >= 1 && streak >= 20 ))
  assert_equal "$host" 10.213.0.12
  # A key written before the crash (acknowledged by the old master) was replicated and is still there.
  assert_equal "$first" v
}
