#!/usr/bin/env bats
# Galera orchestration against real MariaDB 10.11 + Galera 4 on 4 namespaced nodes (n4 joins late).
# The tests run in order and build on each other, as an admin would: dry run, bootstrap, join, rerun,
# lock, partition, add/remove under a writer, full crash and recovery.

load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"
load galera_helpers

export LAB_PREFIX="${LAB_PREFIX:-gal}"

setup_file() {
  lab_setup 4 >/dev/null 2>&1
  gal_prepare "$(toolkit_fixture lab/galera-4.yaml)" n1 n2 n3 n4
}

teardown_file() {
  lab_teardown >/dev/null 2>&1 || true
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

@test "--dry-run prints the galera.cnf and the commands, and leaves /etc and the datadir byte-identical" {
  local before after
  before="$(snapshot n1)"
  run lab_exec n1 "$TK/start_multi_complete.sh" --only database --yes --dry-run
  assert_success
  assert_output --partial "[dryrun] would write /etc/mysql/mariadb.conf.d/60-galera.cnf"
  assert_output --partial 'wsrep_cluster_address="gcomm://10.213.0.11:4567,10.213.0.12:4567,10.213.0.13:4567,10.213.0.14:4567"'
  assert_output --partial "[dryrun] would run: /etc/init.d/mariadb bootstrap"
  assert_output --partial "IDENTIFIED BY <secret:DB_SLURM_PASSWORD>"
  refute_output --partial "slurm-secret-1"
  after="$(snapshot n1)"
  [[ $before == "$after" ]]
  run lab_exec n1 pgrep -x mariadbd
  assert_failure
}

@test "auto mode bootstraps n1 when every peer answers that it never ran the cluster: standalone" {
  run lab_exec n1 "$TK/start_multi_complete.sh" --only database --yes
  assert_success
  assert_output --partial "auto mode: bootstrap"
  assert_output --partial "standalone: bootstrap done on node1"
  synced n1 1
  # the bootstrap flag was passed once, never written down; the cluster id was
  run lab_exec n1 sh -c 'grep -rh -e new-cluster -e "gcomm://\"" /etc/mysql | grep -v "^#"'
  assert_failure
  run lab_exec n1 cat /var/lib/hpc-cluster/cluster_id
  assert_output --regexp '^[0-9a-f-]{36}$'
  # databases and users from the config, passwords from the secrets file
  run lab_exec n1 env MYSQL_PWD="auth-se'cret" mariadb -h 10.213.0.11 -u auth_user -N -B -e "SELECT DATABASE()" auth_portal
  assert_output auth_portal
  # the error log goes to a file (no syslog on the node)
  lab_exec n1 test -s /var/log/mysql/error.log
}

@test "a second concurrent run is refused at once with exit 4" {
  # a live run: it holds the lock and its pid is in the lock file (a dead pid there means a killed run's
  # leftovers hold it, and the next run waits for them: lock::acquire)
  lab_exec n1 sh -c 'sh -c "echo \$\$ > \$0; exec flock \$0 sleep 20" /run/hpc-cluster/hpc-cluster-cluster-setup.lock >/dev/null 2>&1 &'
  wait_until 10 lab_exec n1 sh -c '! flock -n /run/hpc-cluster/hpc-cluster-cluster-setup.lock true'
  run lab_exec n1 "$TK/start_multi_complete.sh" --only database --yes
  assert_equal "$status" 4
  assert_output --partial "another 'cluster-setup' run is in progress"
  lab_exec n1 pkill -f "sleep 20" || true
}

@test "n2 joins by auto mode and n3 by join_cluster.sh: cluster-3, rows written anywhere are read everywhere" {
  run lab_exec n2 "$TK/start_multi_complete.sh" --only database --yes
  assert_success
  assert_output --partial "auto mode: join (10.213.0.11 reports a live Primary component)"
  run lab_exec n3 "$TK/discovery/join_cluster.sh" --only database --yes
  assert_success
  assert_output --partial "2-way -> 3-way redundancy complete"
  assert_output --partial "cluster-3"
  synced n3 3
  [[ "$(lab_exec n3 cat /var/lib/hpc-cluster/cluster_id)" == "$(lab_exec n1 cat /var/lib/hpc-cluster/cluster_id)" ]]
  sql n1 "CREATE TABLE auth_portal.t (id INT PRIMARY KEY AUTO_INCREMENT, node VARCHAR(16))"
  sql n1 "INSERT INTO auth_portal.t (node) VALUES ('n1')"
  sql n2 "INSERT INTO auth_portal.t (node) VALUES ('n2')"
  sql n3 "INSERT INTO auth_portal.t (node) VALUES ('n3')"
  for n in n1 n2 n3; do
    run sql "$n" "SELECT GROUP_CONCAT(node ORDER BY node) FROM auth_portal.t"
    assert_output "n1,n2,n3"
  done
}

@test "rerunning the join on a member changes nothing and says so" {
  local before after pid
  before="$(snapshot n3 | grep -v /var/lib/mysql)"
  pid="$(lab_exec n3 pgrep -x mariadbd)"
  run lab_exec n3 "$TK/discovery/join_cluster.sh" --only database --yes
  assert_success
  assert_output --partial "already a Synced member"
  assert_output --partial "already part of the 3-way cluster; nothing changed"
  after="$(snapshot n3 | grep -v /var/lib/mysql)"
  [[ $before == "$after" ]]
  assert_equal "$(lab_exec n3 pgrep -x mariadbd)" "$pid"
}

@test "a cut n3 goes non-Primary, refuses writes and refuses to bootstrap; after heal it rejoins" {
  lab cut n3
  wait_until 60 non_primary n3
  run sql n3 "INSERT INTO auth_portal.t (node) VALUES ('cut')"
  assert_failure
  assert_output --partial "WSREP has not yet prepared node for application use"
  run lab_exec n3 "$TK/start_multi_complete.sh" --only database --yes
  assert_equal "$status" 6
  assert_output --partial "never bootstraps again on its own"
  non_primary n3
  # the majority side keeps working
  sql n1 "INSERT INTO auth_portal.t (node) VALUES ('maj')"
  lab heal n3
  wait_until 90 synced n3 3
  run sql n3 "SELECT COUNT(*) FROM auth_portal.t WHERE node='maj'"
  assert_output 1
}

@test "n4 is added and removed while a writer on n1 sees no error" {
  lab_exec n1 sh -c 'rm -f /tmp/writer.err; touch /tmp/writer.run; (i=0; while [ -f /tmp/writer.run ]; do
      i=$((i+1)); mariadb -e "INSERT INTO auth_portal.t (node) VALUES (\"w\")" 2>>/tmp/writer.err || echo "failed $i" >>/tmp/writer.err
      sleep 0.05; done) >/dev/null 2>&1 &'
  run lab_exec n1 "$TK/utils/node_add.sh" --service mariadb 10.213.0.14 --yes
  assert_success
  assert_output --partial "10.213.0.14 added: cluster size 3 -> 4"
  synced n4 4
  run lab_exec n1 "$TK/utils/node_remove.sh" --service mariadb 10.213.0.14 --yes
  assert_success
  assert_output --partial "10.213.0.14 removed: cluster size 4 -> 3"
  lab_exec n1 rm -f /tmp/writer.run
  sleep 0.5
  run lab_exec n1 cat /tmp/writer.err
  assert_output ""
  synced n1 3
  for n in n1 n2 n3; do
    # Out of the cluster address (wsrep_allowlist keeps every configured node: it may join again).
    run lab_exec "$n" grep -c '^wsrep_cluster_address=.*10\.213\.0\.14' /etc/mysql/mariadb.conf.d/60-galera.cnf
    assert_output 0
  done
  run lab_exec n4 pgrep -x mariadbd
  assert_failure
}

@test "after all nodes crash, recovery bootstraps the most advanced node and no committed row is lost" {
  local expected
  # n1 (highest priority) falls behind: it crashes first, the others keep committing
  lab crash n1
  wait_until 60 synced n2 2
  sql n2 "INSERT INTO auth_portal.t (node) VALUES ('after-n1')"
  sql n3 "INSERT INTO auth_portal.t (node) VALUES ('after-n1b')"
  expected="$(sql n2 "SELECT COUNT(*) FROM auth_portal.t")"
  lab crash n3
  lab crash n2
  lab boot n1; lab boot n2; lab boot n3
  lab ssh-mesh >/dev/null 2>&1
  # a booted member never bootstraps on its own
  run lab_exec n1 "$TK/start_multi_complete.sh" --only database --yes
  assert_equal "$status" 6
  run lab_exec n1 "$TK/utils/galera_auto_recover.sh" --yes
  assert_success
  assert_output --partial "most advanced: node2 (10.213.0.12)"
  for n in n1 n2 n3; do
    synced "$n" 3
    run sql "$n" "SELECT COUNT(*) FROM auth_portal.t"
    assert_output "$expected"
  done
  run lab_exec n1 cat /var/log/hpc-cluster/galera_recovery.log
  assert_output --partial "decision: bootstrap node2"
}
