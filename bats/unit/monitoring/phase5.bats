#!/usr/bin/env bats
# setup/phase5_monitoring_setup.sh without daemons: flags, --dry-run (every file, no secret value, no
# change), membership changes passed to every member, and the exporter's MariaDB user.

setup_file() {
  load "${HPC_REPO_ROOT}/bats/helpers/toolkit.bash"
  export MON_TK="$BATS_FILE_TMPDIR/gen/cluster"
  toolkit_generate "$(toolkit_fixture lab/monitoring-3.yaml)" "$BATS_FILE_TMPDIR/gen"
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
  export ROOT_PREFIX="$BATS_TEST_TMPDIR/root"
  export HPC_NODE_IP=10.213.0.11 HPC_INIT=sysv NO_COLOR=1 HPC_SECRETS_ANY_OWNER=1
  export STUB_LOG="$BATS_TEST_TMPDIR/calls.log"
  mkdir -p "$ROOT_PREFIX"/etc/hpc-cluster "$ROOT_PREFIX"/run/lock "$BATS_TEST_TMPDIR/bin"
  (umask 077; printf 'DB_SLURM_PASSWORD=a\nDB_AUTH_PASSWORD=b\nREDIS_PASSWORD=redis-pw-3\nMON_EXPORTER_PASSWORD=exp-pw-4\n' > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env")
  : > "$STUB_LOG"
  stub ssh 'exit 0'
  stub mariadb 'cat >> "$STUB_LOG.sql"; exit 0'
  export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
  # the Debian init scripts, recording their calls; nothing runs yet
  mkdir -p "$ROOT_PREFIX/etc/init.d"
  for s in prometheus prometheus-node-exporter prometheus-mysqld-exporter prometheus-redis-exporter prometheus-alertmanager; do
    printf '#!/usr/bin/env bash\necho "init.d/%s $*" >> "$STUB_LOG"\n[[ $1 != status ]] || exit 3\n' "$s" > "$ROOT_PREFIX/etc/init.d/$s"
    chmod +x "$ROOT_PREFIX/etc/init.d/$s"
  done
  P5="$MON_TK/setup/phase5_monitoring_setup.sh"
}

stub() {
  # shellcheck disable=SC2016 # the stub expands "$*" when it runs
  printf '#!/usr/bin/env bash\nprintf "%%s %%s\\n" %q "$*" >> "$STUB_LOG"\n%s\n' "$1" "$2" > "$BATS_TEST_TMPDIR/bin/$1"
  chmod +x "$BATS_TEST_TMPDIR/bin/$1"
}

@test "the phase script needs one action and knows its flags" {
  run "$P5"
  assert_failure 2
  run "$P5" --bootstrap --join
  assert_failure 2
  run "$P5" --frobnicate
  assert_failure 2
  run "$P5" --add-node 10.9.9.9
  assert_failure 2
  assert_output --partial "not in cluster_config.yaml"
}

@test "--bootstrap --dry-run shows every file and command, no secret value, and changes nothing" {
  run "$P5" --bootstrap --dry-run
  assert_success
  assert_output --partial "[dryrun] would write $ROOT_PREFIX/etc/default/prometheus-node-exporter"
  assert_output --partial "--collector.filesystem.mount-points-exclude=^/(dev|proc|run|sys|media|"
  assert_output --partial "[dryrun] would write $ROOT_PREFIX/etc/prometheus/hpc/mysqld-exporter.cnf"
  assert_output --partial "[dryrun] would write $ROOT_PREFIX/etc/prometheus/prometheus.yml"
  assert_output --partial "--cluster.listen-address=10.213.0.11:9094"
  refute_output --partial "exp-pw-4"
  refute_output --partial "redis-pw-3"
  assert_output --partial "[dryrun] would run: $ROOT_PREFIX/etc/init.d/prometheus-alertmanager start"
  [[ ! -e $ROOT_PREFIX/etc/default && ! -e $ROOT_PREFIX/etc/prometheus ]]
  run grep -c "start$" "$STUB_LOG"
  assert_output 0
  [[ ! -e $STUB_LOG.sql ]]
}

@test "the exporter's MariaDB user gets only PROCESS, REPLICATION CLIENT and SLAVE MONITOR; its password goes through stdin" {
  stub mariadb 'if [[ $* == *"SELECT 1"* ]]; then exit 0; fi; cat >> "$STUB_LOG.sql"'
  stub apt-get 'exit 1'
  # stop after the user: the daemons are not there (preflight passes: the packages are on this host)
  stub id 'exit 0'
  stub curl 'exit 0'
  run "$P5" --bootstrap
  run cat "$STUB_LOG.sql"
  assert_output --partial "CREATE USER IF NOT EXISTS 'hpc_exporter'@'localhost' IDENTIFIED BY 'exp-pw-4'"
  assert_output --partial "GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO 'hpc_exporter'@'localhost'"
  run grep -c "exp-pw-4" "$STUB_LOG"
  assert_output 0
}

@test "--add-node / --remove-node reach every member with --refresh, --dry-run passed on" {
  mkdir -p "$ROOT_PREFIX/var/lib/hpc-cluster"
  printf '10.213.0.11\n10.213.0.12\n' > "$ROOT_PREFIX/var/lib/hpc-cluster/monitoring_members"
  run "$P5" --add-node 10.213.0.13 --dry-run
  assert_success
  run grep -c -- "setup/phase5_monitoring_setup.sh --refresh --include 10.213.0.13 --dry-run" "$STUB_LOG"
  assert_output 1
  run "$P5" --remove-node 10.213.0.12 --dry-run
  assert_success
  run grep -c -- "phase5_monitoring_setup.sh --leave" "$STUB_LOG"
  assert_output 1
}

@test "--members prints the member list in priority order; --status --json says who runs what" {
  mkdir -p "$ROOT_PREFIX/var/lib/hpc-cluster"
  printf '10.213.0.13\n10.213.0.11\n' > "$ROOT_PREFIX/var/lib/hpc-cluster/monitoring_members"
  run "$P5" --members
  assert_success
  assert_output $'10.213.0.11\n10.213.0.13'
  run "$P5" --status --json
  assert_success
  assert_equal "$(jq -r '.prometheus_here, (.members | length)' <<< "$output" | tr '\n' ' ')" "true 2 "
}
