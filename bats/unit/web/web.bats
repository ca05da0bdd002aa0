#!/usr/bin/env bats
# setup/phase6_web_setup.sh and lib/web.sh with PATH stubs in a temp root: the environment files and
# their links, nginx -t before any reload (and rollback when it fails), reload not restart, the
# portal's start script, the nginx health check.
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"
bats_load_library bats-support
bats_load_library bats-assert

P=setup/phase6_web_setup.sh

setup_file() {
  toolkit_generate "$(toolkit_fixture lab/web-3.yaml)" "$BATS_FILE_TMPDIR/gen" 2>/dev/null
  sed '/^  web:/,/^  web_services:/{/^  web_services:/!d}' "$(toolkit_fixture lab/web-3.yaml)" \
    | sed '/^  web_services:/,$d' > "$BATS_FILE_TMPDIR/noweb.yaml"
  toolkit_generate "$BATS_FILE_TMPDIR/noweb.yaml" "$BATS_FILE_TMPDIR/noweb" 2>/dev/null
}

setup() {
  TK="$BATS_FILE_TMPDIR/gen/cluster"
  export ROOT_PREFIX="$BATS_TEST_TMPDIR/root"
  export HPC_NODE_IP=10.213.0.11 HPC_INIT=sysv NO_COLOR=1 HPC_SECRETS_ANY_OWNER=1
  export STUB_LOG="$BATS_TEST_TMPDIR/calls.log"
  local r=$ROOT_PREFIX
  mkdir -p "$r"/etc/hpc-cluster "$r"/run/lock "$r"/proc "$r"/mnt/gluster/config "$r"/etc/nginx/conf.d \
    "$r"/etc/nginx/sites-enabled "$r"/etc/init.d "$r"/opt/hpc-dashboard/dashboard/auth_portal_4430 "$BATS_TEST_TMPDIR/bin"
  (umask 077; printf 'REDIS_PASSWORD=r3dis pw#1\nDB_AUTH_PASSWORD=db-pw-2\n' > "$r/etc/hpc-cluster/secrets.env")
  printf 'node1:/shared_data /mnt/gluster fuse.glusterfs rw 0 0\n' > "$r/proc/mounts"
  ln -s /etc/nginx/sites-available/default "$r/etc/nginx/sites-enabled/default"
  : > "$STUB_LOG"
  stub nginx 'case "$*" in -v) echo "nginx version: nginx/1.22.1" >&2;; -t*) [[ -z ${NGINX_BAD:-} ]] || { echo "nginx: [emerg] bad" >&2; exit 1; };; esac'
  stub curl 'printf 200'
  stub pidof '[[ -e $ROOT_PREFIX/nginx.running ]]'
  stub ip 'echo "2: eth0    inet 10.213.0.11/24 scope global eth0"'
  # The init script records the action; start makes pidof see nginx.
  printf '#!/usr/bin/env bash\nprintf "init.d/nginx %%s\\n" "$*" >> "$STUB_LOG"\n[[ $1 == start ]] && touch "$ROOT_PREFIX/nginx.running"\nexit 0\n' \
    > "$r/etc/init.d/nginx"
  chmod +x "$r/etc/init.d/nginx"
  export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

stub() {
  # shellcheck disable=SC2016 # the stub expands "$*" when it runs
  printf '#!/usr/bin/env bash\nprintf "%%s %%s\\n" %q "$*" >> "$STUB_LOG"\n%s\n' "$1" "$2" > "$BATS_TEST_TMPDIR/bin/$1"
  chmod +x "$BATS_TEST_TMPDIR/bin/$1"
}

calls() { cat "$STUB_LOG"; }

@test "--dry-run --bootstrap prints the env files (secrets masked) and the site, and changes nothing" {
  run "$TK/$P" --bootstrap --dry-run
  assert_success
  assert_output --partial "would write $ROOT_PREFIX/mnt/gluster/config/global.env"
  assert_output --partial "| REDIS_NODES=10.213.0.11:6379,10.213.0.12:6379,10.213.0.13:6379"
  assert_output --partial "would write $ROOT_PREFIX/etc/hpc-cluster/web-secrets.env (mode 0600, owner root:root)"
  assert_output --partial "(content holds secrets; not shown)"
  assert_output --partial "|     server 10.213.0.12:4430 max_fails=1 fail_timeout=5s;"
  assert_output --partial "|         proxy_pass http://10.213.0.11:8430/health;"
  refute_output --partial "r3dis"
  refute_output --partial "db-pw-2"
  [[ ! -e $ROOT_PREFIX/mnt/gluster/config/global.env && ! -e $ROOT_PREFIX/etc/nginx/conf.d/hpc-cluster.conf ]]
  [[ -L $ROOT_PREFIX/etc/nginx/sites-enabled/default ]]
  refute_output --partial "init.d"
}

@test "--bootstrap writes both env files, links .env, tests nginx before starting it, and marks it" {
  run "$TK/$P" --bootstrap
  assert_success
  local r=$ROOT_PREFIX
  cmp "$TK/configs/global.env" "$r/mnt/gluster/config/global.env"
  [[ "$(stat -c %a "$r/etc/hpc-cluster/web-secrets.env")" == 600 ]]
  run cat "$r/etc/hpc-cluster/web-secrets.env"
  assert_output --partial "REDIS_PASSWORD='r3dis pw#1'"
  assert_output --partial "DB_PASSWORD='db-pw-2'"
  assert_output --partial "DB_AUTH_PORTAL_PASSWORD='db-pw-2'"
  [[ "$(readlink "$r/opt/hpc-dashboard/dashboard/auth_portal_4430/.env")" == "$r/mnt/gluster/config/global.env" ]]
  [[ ! -e $r/etc/nginx/sites-enabled/default && ! -L $r/etc/nginx/sites-enabled/default ]]
  grep -F 'proxy_pass http://10.213.0.11:8430/health;' "$r/etc/nginx/conf.d/hpc-cluster.conf"
  [[ -e $r/var/lib/hpc-cluster/services/nginx ]]
  run calls
  # nginx -t came before the start.
  [[ "$(grep -n -e '^nginx -t' -e '^init.d/nginx start' "$STUB_LOG" | cut -d: -f1 | paste -sd' ')" =~ ^[0-9]+\ [0-9]+$ ]]
  [[ "$(grep -n '^nginx -t' "$STUB_LOG" | head -n1 | cut -d: -f1)" -lt "$(grep -n '^init.d/nginx start' "$STUB_LOG" | cut -d: -f1)" ]]
}

@test "a missing service folder is reported, not created; the portal's start script is reported ABSENT" {
  run "$TK/$P" --bootstrap
  assert_success
  assert_output --partial "no such folder here (portal not installed on this node?), no .env link: /opt/hpc-dashboard/dashboard/ws_5011"
  assert_output --partial "start script /opt/hpc-dashboard/dashboard/start_complete.sh is ABSENT"
  [[ ! -e $ROOT_PREFIX/opt/hpc-dashboard/dashboard/ws_5011 ]]
}

@test "a rerun changes nothing and reloads nothing; a changed site is reloaded (never restarted)" {
  "$TK/$P" --bootstrap >/dev/null 2>&1
  : > "$STUB_LOG"
  run "$TK/$P" --join --peer 10.213.0.12
  assert_success
  assert_output --partial "nginx runs with this configuration; nothing to do"
  run calls
  refute_output --partial "init.d/nginx"
  printf '# edited by hand\n' >> "$ROOT_PREFIX/etc/nginx/conf.d/hpc-cluster.conf"
  run "$TK/$P" --refresh
  assert_success
  run calls
  assert_output --partial "init.d/nginx reload"
  refute_output --partial "init.d/nginx restart"
  refute_output --partial "init.d/nginx start"
}

@test "nginx -t rejecting the configuration rolls the files back and reloads nothing" {
  printf 'old site\n' > "$ROOT_PREFIX/etc/nginx/conf.d/hpc-cluster.conf"
  NGINX_BAD=1 run "$TK/$P" --bootstrap
  assert_failure 1
  assert_output --partial "nginx -t rejects the configuration"
  assert_output --partial "nginx: [emerg] bad"
  [[ "$(cat "$ROOT_PREFIX/etc/nginx/conf.d/hpc-cluster.conf")" == "old site" ]]
  [[ -L $ROOT_PREFIX/etc/nginx/sites-enabled/default ]]
  [[ ! -e $ROOT_PREFIX/mnt/gluster/config/global.env ]]
  run calls
  refute_output --partial "init.d/nginx"
}

@test "the service's own .env is kept as .env.pre-cluster; a secret both parsers would misread is refused" {
  local d=$ROOT_PREFIX/opt/hpc-dashboard/dashboard/auth_portal_4430
  printf 'OLD=1\n' > "$d/.env"
  run "$TK/$P" --bootstrap
  assert_success
  [[ "$(cat "$d/.env.pre-cluster")" == OLD=1 && -L $d/.env ]]
  (umask 077; printf "REDIS_PASSWORD=it's\nDB_AUTH_PASSWORD=x\n" > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env")
  run "$TK/$P" --refresh
  assert_failure 2
  assert_output --partial "the secret for REDIS_PASSWORD contains a quote"
  refute_output --partial "it's"
  # python-dotenv expands ${...} even in single quotes; systemd does not.
  (umask 077; printf 'REDIS_PASSWORD=a${HOME}b\nDB_AUTH_PASSWORD=x\n' > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env")
  run "$TK/$P" --refresh
  assert_failure 2
  assert_output --partial "contains a quote, a backslash, a line break or '\${'"
}

@test "the portal's start script runs once per boot, detached, with its output in the portal log" {
  local s=$ROOT_PREFIX/opt/hpc-dashboard/dashboard/start_complete.sh
  printf '#!/bin/bash\necho started >> "%s/started.count"\necho portal up\n' "$ROOT_PREFIX" > "$s"
  run "$TK/$P" --bootstrap
  assert_success
  assert_output --partial "ran /opt/hpc-dashboard/dashboard/start_complete.sh"
  run "$TK/$P" --bootstrap
  assert_output --partial "already ran since this node booted"
  [[ "$(wc -l < "$ROOT_PREFIX/started.count")" == 1 ]]
  grep -Fx "portal up" "$ROOT_PREFIX/var/log/hpc-cluster/portal.log"
}

@test "the nginx health check is critical with cluster.web, fails when nginx is down once set up" {
  run bash -c 'source "$1/lib/common.sh"; source "$1/lib/health.sh"; health::check_nginx; health::is_critical nginx && echo critical' x "$TK"
  assert_output $'not_configured\tnginx is not set up on this node\ncritical'
  mkdir -p "$ROOT_PREFIX/var/lib/hpc-cluster/services" && touch "$ROOT_PREFIX/var/lib/hpc-cluster/services/nginx"
  run bash -c 'source "$1/lib/common.sh"; source "$1/lib/health.sh"; health::check_nginx' x "$TK"
  assert_output $'fail\tnginx is not running'
  touch "$ROOT_PREFIX/nginx.running"
  run bash -c 'source "$1/lib/common.sh"; source "$1/lib/health.sh"; health::check_nginx' x "$TK"
  assert_output $'ok\tnginx answers on port 80'
  run bash -c 'source "$1/lib/common.sh"; source "$1/lib/health.sh"; health::is_critical nginx || echo "not critical"' x "$BATS_FILE_TMPDIR/noweb/cluster"
  assert_output "not critical"
}

@test "keepalived's check tracks nginx with cluster.web: nginx down makes the node unfit" {
  mkdir -p "$ROOT_PREFIX/var/lib/hpc-cluster/services" && touch "$ROOT_PREFIX/var/lib/hpc-cluster/services/nginx"
  stub ssh 'exit 255'
  run "$TK/utils/check_all_services.sh" --json
  assert_failure 1
  assert_output --partial '"critical_failed":["nginx"'
}

@test "without cluster.web there is nothing to do, and it says so" {
  run "$BATS_FILE_TMPDIR/noweb/cluster/$P" --bootstrap
  assert_success
  assert_output --partial "the web tier is not configured (no cluster.web"
  run "$BATS_FILE_TMPDIR/noweb/cluster/$P" --status
  assert_output "web: not configured (no cluster.web)"
}

@test "nginx.conf: worker_connections and worker_rlimit_nofile set once, the rest of Debian's file kept; rolled back with the site" {
  local f=$ROOT_PREFIX/etc/nginx/nginx.conf
  printf 'user www-data;\nworker_processes auto;\npid /run/nginx.pid;\n\nevents {\n\tworker_connections 768;\n\t# multi_accept on;\n}\n\nhttp {\n\tsendfile on;\n}\n' > "$f"
  cp "$f" "$BATS_TEST_TMPDIR/debian.conf"
  run "$TK/$P" --bootstrap
  assert_success
  assert_output --partial "worker_connections 4096, worker_rlimit_nofile 8192"
  run grep -c -e '^worker_rlimit_nofile 8192;' -e '^	worker_connections 4096;' "$f"
  assert_output 2
  run diff "$BATS_TEST_TMPDIR/debian.conf" "$f"
  assert_output --partial "< 	worker_connections 768;"
  refute_output --partial "sendfile"
  cp "$f" "$BATS_TEST_TMPDIR/tuned.conf"
  run "$TK/$P" --refresh
  cmp "$BATS_TEST_TMPDIR/tuned.conf" "$f"
  cp "$BATS_TEST_TMPDIR/debian.conf" "$f"
  NGINX_BAD=1 run "$TK/$P" --refresh
  assert_failure 1
  cmp "$BATS_TEST_TMPDIR/debian.conf" "$f"
}

@test "the shared phase command line: --help names the modes, --stop is --leave, an unknown mode is a usage error" {
  run "$TK/$P" --help
  assert_success
  assert_output --partial "--leave           stop nginx here"
  assert_output --partial "--remove-node IP"
  run "$TK/$P" --witness
  assert_failure 2
  assert_output --partial "unknown argument: --witness"
  run "$TK/$P" --remove-node 10.213.0.11
  assert_failure 2
  assert_output --partial "run --remove-node on a surviving node"
  run "$TK/$P" --stop
  assert_success
  assert_output --partial "nginx is not running"
}
