#!/usr/bin/env bats
# Lab: the portal behind the VIP on 3 nodes with real GlusterFS, Redis Cluster, keepalived and
# Debian's nginx: the shared environment file and its .env links, nginx -t, frontends from the shared
# volume, uploads seen by every node, API calls spread over the nodes, sticky WebSocket-marked calls,
# redis_client(), a session that survives a VIP move, and a rolling update (utils/rolling_update.sh) of a
# changed config under requests through the VIP. The backends are stand-ins (web_helpers.bash).
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"
load "web_helpers.bash"

setup_file() {
  local n
  lab_setup 3 >/dev/null
  toolkit_deploy "$WEB_FIXTURE" n1 n2 n3
  for n in n1 n2 n3; do web_standin_install "$n"; done
  step n1 setup/phase0_storage_setup.sh --bootstrap --yes
  for n in n2 n3; do step "$n" setup/phase0_storage_setup.sh --join --peer 10.213.0.11 --yes; done
  step n1 setup/phase2_redis_setup.sh --bootstrap --yes
  for n in n2 n3; do step "$n" setup/phase2_redis_setup.sh --join --peer 10.213.0.11 --yes; done
  # The backends first: keepalived's check counts each web service (down = a non-critical failure).
  for n in n1 n2 n3; do web_standin_start "$n"; done
  step n1 setup/phase4_keepalived_setup.sh --bootstrap --yes
  for n in n2 n3; do step "$n" setup/phase4_keepalived_setup.sh --join --peer 10.213.0.11 --yes; done
}

teardown_file() { lab_teardown; }

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

@test "phase6 sets up every node: env files, .env links, nginx -t, nginx answers; the absent start script is said" {
  local n
  for n in n1 n2 n3; do
    run web_tk "$n" setup/phase6_web_setup.sh --join --peer 10.213.0.11 --yes
    assert_success
    assert_output --partial "nginx -t passed; nginx started"
    assert_output --partial "start_complete.sh is ABSENT"
    run lab_exec "$n" nginx -t
    assert_success
  done
  run web_tk n2 setup/phase6_web_setup.sh --status
  assert_output "web: nginx running, answers; .env links 2/2; start script absent"
  # Debian's 768 connections would refuse clients under load (bench/web: 1000 concurrent).
  run lab_exec n3 sh -c 'nginx -T 2>/dev/null | grep -E "^\s*(worker_connections|worker_rlimit_nofile) "'
  assert_line --regexp '^\s*worker_connections 4096;'
  assert_line --regexp '^worker_rlimit_nofile 8192;'
}

@test "a rerun changes nothing and reloads nothing (same nginx master)" {
  local before after
  before="$(lab_exec n2 cat /run/nginx.pid)"
  run web_tk n2 setup/phase6_web_setup.sh --join --yes
  assert_success
  assert_output --partial "nginx runs with this configuration; nothing to do"
  assert_output --partial "is up to date"
  after="$(lab_exec n2 cat /run/nginx.pid)"
  [[ $before == "$after" ]]
}

@test "the upstream lists are identical on every node (only the node's own /health differs)" {
  local n sums=()
  for n in n1 n2 n3; do
    sums+=("$(lab_exec "$n" sh -c "sed '/proxy_pass http:\/\/10\.213\.0\.1[123]:8430/d' /etc/nginx/conf.d/hpc-cluster.conf | sha256sum")")
  done
  printf '%s\n' "${sums[@]}"
  [[ -n ${sums[0]} && ${sums[0]} == "${sums[1]}" && ${sums[1]} == "${sums[2]}" ]]
  run lab_exec n1 grep -c "server 10.213.0.1[123]:4430 max_fails=1 fail_timeout=5s;" /etc/nginx/conf.d/hpc-cluster.conf
  assert_output 3
}

@test "every service folder's .env resolves to the shared file, the same on every node" {
  local n d
  for n in n1 n2 n3; do
    for d in "${WEB_DIRS[@]}"; do
      run lab_exec "$n" readlink -f "$d/.env"
      assert_output /mnt/gluster/config/global.env
    done
    run lab_exec "$n" grep -c PASSWORD /mnt/gluster/config/global.env
    assert_output 0
    run lab_exec "$n" stat -c '%a %U' /etc/hpc-cluster/web-secrets.env
    assert_output "600 root"
  done
  [[ "$(lab_exec n1 sha256sum /mnt/gluster/config/global.env)" == "$(lab_exec n3 sha256sum /mnt/gluster/config/global.env)" ]]
}

@test "through the VIP: a frontend file written on n2's shared mount is served (SPA fallback too)" {
  web_vip_ready
  lab_exec n2 sh -c 'mkdir -p /mnt/gluster/frontend_builds/auth_frontend && echo "auth frontend v1" > /mnt/gluster/frontend_builds/auth_frontend/index.html && echo "app.js" > /mnt/gluster/frontend_builds/auth_frontend/app.js'
  run web_vip_get /auth/app.js
  assert_success
  assert_output "app.js"
  run web_vip_get /auth/some/route
  assert_output "auth frontend v1"
}

@test "an upload through the VIP lands under <mount_point>/uploads and is the same file on every node" {
  local sum n
  web_vip_ready
  # shellcheck disable=SC2016 # runs in the client namespace
  run lab_client sh -c 'f=$(mktemp) && head -c 3000000 /dev/urandom > "$f" && sha256sum < "$f" | cut -d" " -f1 \
    && curl -fsS -m 30 --data-binary @"$f" "http://$1/api/auth/upload?name=lab-upload.bin"; rc=$?; rm -f "$f"; exit $rc' sh "$WEB_VIP"
  assert_success
  assert_line --index 1 --regexp '^node[123] stored 3000000$'
  sum=${lines[0]}
  for n in n1 n2 n3; do
    run lab_exec "$n" sh -c 'sha256sum < /mnt/gluster/uploads/lab-upload.bin | cut -d" " -f1'
    assert_output "$sum"
  done
}

@test "through the VIP: API calls reach several nodes" {
  local seen=()
  web_vip_ready
  for _ in 1 2 3 4 5 6 7 8 9; do seen+=("$(web_vip_get /api/auth/whoami | awk '{ print $1 }')"); done
  run bash -c 'printf "%s\n" "$@" | sort -u | wc -l' x "${seen[@]}"
  (( output >= 2 ))
}

@test "through the VIP: WebSocket-marked calls from one client stick to one node and carry the Upgrade headers" {
  local seen=() a
  web_vip_ready
  for _ in 1 2 3 4 5 6 7 8; do
    a="$(web_vip_get /ws/x | awk '{ print $1 }')" || continue   # a VIP hiccup under load is not the point here
    seen+=("$a")
  done
  (( ${#seen[@]} >= 5 ))
  run bash -c 'printf "%s\n" "$@" | sort -u | wc -l' x "${seen[@]}"
  assert_output 1
  run web_vip_get /ws/x -H "Upgrade: websocket" -H "Connection: Upgrade"
  assert_output --partial "upgrade=websocket connection=upgrade"
}

@test "redis_client() from the toolkit's hpc_cluster.py round-trips a key (RedisCluster, password from the secrets env)" {
  # shellcheck disable=SC2016 # runs in the node
  run lab_exec n3 sh -c 'cd /opt/hpc-dashboard/dashboard/auth_portal_4430 && /usr/bin/python3 -c "
import sys; sys.path.insert(0, \"/opt/hpc-dashboard/cluster/clients/python\")
import hpc_cluster
r = hpc_cluster.redis_client()
print(type(r).__name__, r.set(\"lab:web:k\", \"v42\"), r.get(\"lab:web:k\"))"'
  assert_success
  assert_output "RedisCluster True v42"
}

@test "with one Redis node down, redis_client() connects and the live masters' keys still round-trip" {
  local ok bad
  lab_exec n3 pkill -9 -x redis-server
  # shellcheck disable=SC2016 # runs in the node
  local py='import sys; sys.path.insert(0, "/opt/hpc-dashboard/cluster/clients/python")
import hpc_cluster
r = hpc_cluster.redis_client(cluster_error_retry_attempts=1, socket_connect_timeout=1)
ok = bad = 0
for i in range(30):
    try:
        r.set("lab:down:%d" % i, "v%d" % i); ok += r.get("lab:down:%d" % i) == "v%d" % i
    except Exception:
        bad += 1
print("VERDICT", ok, bad)'
  # The masters mark n3 failed after cluster-node-timeout (5 s); its slots are unserved, the others serve.
  wait_until 60 lab_exec n1 sh -c 'REDISCLI_AUTH=redis-secret-3 redis-cli -h 10.213.0.11 cluster nodes | grep 10.213.0.13 | grep -q fail'
  run lab_exec n1 sh -c 'cd /opt/hpc-dashboard/dashboard/auth_portal_4430 && timeout 40 /usr/bin/python3 -c "$1"' sh "$py"
  assert_success
  # redis-py 4.3 prints the errors it retries (and a warning at exit): pick the verdict line.
  read -r _ ok bad < <(grep '^VERDICT ' <<< "$output")
  echo "ok=$ok bad=$bad (keys of n3's slots fail while it is down)"
  (( ok >= 10 && bad >= 1 ))
  lab_exec n3 sh -c 'cd / && /opt/hpc-dashboard/cluster/setup/phase2_redis_setup.sh --join --peer 10.213.0.11 --yes' >/dev/null 2>&1
  wait_until 60 lab_exec n1 sh -c 'REDISCLI_AUTH=redis-secret-3 redis-cli -h 10.213.0.11 cluster info | grep -q "cluster_state:ok"'
}

@test "a session written through the VIP before a VIP move is read after it, from another node" {
  local before
  web_vip_ready
  before="$(web_vip_holder)"
  run web_vip_get "/api/auth/session/set?k=s1&v=alice"
  assert_success
  web_tk "$before" setup/phase6_web_setup.sh --stop
  # nginx down is a critical check: the VIP leaves the node.
  wait_until 30 eval '[[ -n "$(web_vip_holder)" && "$(web_vip_holder)" != "$before" ]]'
  wait_until 30 web_vip_get /api/auth/ready -o /dev/null
  run web_vip_get "/api/auth/session/get?k=s1"
  assert_success
  assert_output --regexp ' alice$'
  web_tk "$before" setup/phase6_web_setup.sh --join --yes >/dev/null 2>&1
}

@test "db_connect() reaches the local MariaDB with the secrets env password, and waits out a restart" {
  # A plain MariaDB on n2 (Galera's own behaviour is the galera suites' business): the user of web.database.
  printf '[mysqld_safe]\nskip-syslog\nlog-error=/var/log/mysql/error.log\n[mysqld]\nlog-error=/var/log/mysql/error.log\ninnodb_buffer_pool_size=32M\nperformance_schema=OFF\n' \
    | lab_exec n2 sh -c 'cat > /etc/mysql/mariadb.conf.d/99-web-lab.cnf && install -d -o mysql -g adm /var/log/mysql'
  lab_exec n2 /etc/init.d/mariadb start >/dev/null 2>&1
  lab_exec n2 mariadb -e "CREATE DATABASE IF NOT EXISTS auth_portal; CREATE USER IF NOT EXISTS 'auth_user'@'127.0.0.1' IDENTIFIED BY 'auth-secret-2'; GRANT ALL ON auth_portal.* TO 'auth_user'@'127.0.0.1'"
  local py='import sys; sys.path.insert(0, "/opt/hpc-dashboard/cluster/clients/python")
import hpc_cluster
c = hpc_cluster.db_connect("auth_portal", delay=0.5, attempts=60)
cur = c.cursor(); cur.execute("SELECT DATABASE(), CURRENT_USER()"); print(*cur.fetchone())'
  run lab_exec n2 sh -c 'cd /opt/hpc-dashboard/dashboard/auth_portal_4430 && /usr/bin/python3 -c "$1"' sh "$py"
  assert_success
  assert_output "auth_portal auth_user@127.0.0.1"
  # Down while the client starts: it retries (2003) until the server is back.
  lab_exec n2 /etc/init.d/mariadb stop >/dev/null 2>&1
  lab_exec n2 sh -c 'cd /opt/hpc-dashboard/dashboard/auth_portal_4430 && setsid /usr/bin/python3 -c "$1" > /tmp/dbc.out 2>&1 < /dev/null &' sh "$py"
  sleep 1 # the client must meet the server down (this is what is being tested, not a wait for it)
  lab_exec n2 /etc/init.d/mariadb start >/dev/null 2>&1
  wait_until 40 lab_exec n2 grep -qx "auth_portal auth_user@127.0.0.1" /tmp/dbc.out
  lab_exec n2 /etc/init.d/mariadb stop >/dev/null 2>&1
}

@test "a rolling update of a changed config reaches every node while requests through the VIP keep answering (at most 1 % fail)" {
  local cfg="$BATS_FILE_TMPDIR/web-rolling.yaml" new="$BATS_FILE_TMPDIR/tk-rolling" load="$BATS_FILE_TMPDIR/rolling-load"
  local n hash total failed seconds loader
  web_vip_ready
  # The change: nginx's worker_connections 4096 -> 4000 (phase6 --refresh re-renders nginx.conf, reloads).
  sed 's/^  web:$/  web:\n    worker_connections: 4000/' "$WEB_FIXTURE" > "$cfg"
  toolkit_generate "$cfg" "$new"
  hash="$(sha256sum < "$new/cluster/lib/config.sh" | cut -d' ' -f1)"
  tar -C "$new/cluster" -cf - . | lab_exec n1 sh -c 'rm -rf /root/tk-new && mkdir -p /root/tk-new && tar -C /root/tk-new -xf -'
  # Requests through the VIP from the lab client, one after another, until the update is done.
  mkdir -p "$load"
  # shellcheck disable=SC2016 # runs in the client namespace
  lab_client bash -c 'while [[ ! -e $1/stop ]]; do curl -s -o /dev/null --connect-timeout 1 -m 5 -w "%{http_code}\n" "http://$2/api/auth/whoami" >> "$1/codes"; done' \
    _ "$load" "$WEB_VIP" 3>&- &
  loader=$!
  wait_until 20 test -s "$load/codes"
  run web_tk n1 utils/rolling_update.sh --toolkit /root/tk-new --yes --json --timeout 120 3>&-
  touch "$load/stop"
  wait "$loader" || true
  assert_success
  seconds="$(jq -r .seconds <<< "${lines[-1]}")"
  total="$(wc -l < "$load/codes")"
  failed="$(grep -cvx 200 "$load/codes" || true)"
  printf '# rolling update of 3 nodes: %ss; %s of %s requests through the VIP failed (codes: %s)\n' \
    "$seconds" "$failed" "$total" "$(sort "$load/codes" | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }')" >&3
  for n in n1 n2 n3; do
    run lab_exec "$n" sha256sum /opt/hpc-dashboard/cluster/lib/config.sh
    assert_output --partial "$hash"
    run lab_exec "$n" sh -c 'nginx -T 2>/dev/null | grep -E "^\s*worker_connections "'
    assert_output --regexp 'worker_connections 4000;'
    run lab_exec "$n" test -e /etc/hpc-cluster/drain
    assert_failure
  done
  (( total >= 100 && failed * 100 <= total ))
}
