#!/usr/bin/env bats
# Monitoring on 3 namespaced nodes with the real daemons, after the usual one-command bootstrap/join:
# Prometheus (n1, n2) and Alertmanager (every node, one gossip cluster) reached through the VIP, every
# exporter up, every dashboard query answered, and alerts delivered once each to a webhook in the
# lab client: a stopped MariaDB, a failed backup, a power loss of the first Prometheus node.

load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"
load monitoring_helpers

export LAB_PREFIX="${LAB_PREFIX:-mo}"

setup_file() {
  lab_setup 3 >/dev/null 2>&1
  LAB_SECRETS=$MON_SECRETS toolkit_deploy "$(toolkit_fixture lab/monitoring-3.yaml)" n1 n2 n3
  export HOOK_LOG="$BATS_FILE_TMPDIR/webhook.log"
  webhook_start "$HOOK_LOG"
  monitoring_cluster > "$BATS_FILE_TMPDIR/setup.log" 2>&1 || { tail -n 40 "$BATS_FILE_TMPDIR/setup.log" >&3; return 1; }
}

teardown_file() {
  webhook_stop "$HOOK_LOG"
  lab_teardown >/dev/null 2>&1 || true
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

@test "start_multi_complete ran monitoring after the VIP on every node" {
  run grep -c '^==> \[services/monitoring\] monitoring: done' "$BATS_FILE_TMPDIR/setup.log"
  assert_output 3
  for n in n1 n2 n3; do
    run lab_exec "$n" "$TK/setup/phase5_monitoring_setup.sh" --status --json
    assert_success
    [[ $(jq -r '.members | length' <<< "$output") == 3 ]]
  done
  # the exporter's password is in a 0600 file, never on a command line
  run lab_exec n2 stat -c '%a %U' /etc/prometheus/hpc/mysqld-exporter.cnf
  assert_output "600 prometheus"
  run lab_exec n2 ps -eo args
  refute_output --partial "orter-4"
  refute_output --partial "redis-secret-3"
}

@test "Prometheus on the VIP sees node, mysqld and redis targets up on every node" {
  for job in node mysqld redis alertmanager; do
    wait_until 60 targets_up "$VIP" "$job" 3
  done
  wait_until 30 targets_up "$VIP" prometheus 2
  run promq "$VIP" 'sum(redis_up) + sum(mysql_up)'
  assert_output --partial '"6"'
  run lab_client curl -fsS -m 5 "http://$VIP:9093/api/v2/status"
  assert_success
  [[ $(jq '.cluster.peers | length' <<< "$output") == 3 ]]
}

@test "every Grafana panel query returns data from the lab Prometheus" {
  local d expr missing=()
  for n in n1 n2 n3; do lab_exec "$n" "$TK/setup/phase5_monitoring_setup.sh" --collect; done
  # a real backup run feeds the backup panels (backup's hpc_backup.prom, monitoring's outcome file)
  lab_exec n1 "$TK/backup/backup.sh" --only-configs >/dev/null 2>&1
  for n in n1 n2 n3; do lab_exec "$n" "$TK/setup/phase5_monitoring_setup.sh" --collect; done
  sleep_until_scraped() { [[ $(promq "$VIP" 'count(hpc_backup_last_ok)' | jq -r '.[0].value[1] // 0') == 1 ]]; }
  wait_until 30 sleep_until_scraped
  wait_until 30 eval '[[ $(promq "$VIP" "count(hpc_gluster_brick_online)" | jq -r ".[0].value[1] // 0") -ge 3 ]]'
  for d in "$BATS_FILE_TMPDIR"/tk/cluster/configs/monitoring/grafana/*.json; do
    while IFS= read -r expr; do
      [[ $(promq "$VIP" "$expr" | jq 'length') -gt 0 ]] || missing+=("$(basename "$d"): $expr")
    done < <(jq -r '.panels[].targets[].expr' "$d")
  done
  (( ${#missing[@]} == 0 )) || { printf 'no data: %s\n' "${missing[@]}" >&3; false; }
}

@test "MariaDB stopped on n3 reaches the webhook as one Galera alert naming node3 within 60 s" {
  local t0 t
  t0=$(date +%s)
  lab_exec n3 /etc/init.d/mariadb stop >/dev/null 2>&1
  wait_until 60 has_notification "$HOOK_LOG" firing GaleraNodeDisconnected node3
  t=$(first_notification "$HOOK_LOG" firing GaleraNodeDisconnected node3)
  echo "# GaleraNodeDisconnected delivered $(( ${t%.*} - t0 )) s after the stop" >&3
  # two Prometheus servers, three Alertmanagers: still one notification
  sleep 20
  assert_equal "$(notifications "$HOOK_LOG" firing GaleraNodeDisconnected node3)" 1
  lab_exec n3 /etc/init.d/mariadb start >/dev/null 2>&1
  wait_until 90 eval '[[ $(lab_exec n3 mariadb -N -B -e "SHOW STATUS LIKE '"'"'wsrep_local_state_comment'"'"'" | cut -f2) == Synced ]]'
  # the restart went through Joiner/Joined/Synced: galera.cnf's wsrep_notify_cmd counted them, and
  # Prometheus reads them from node3's textfile collector
  wait_until 30 eval '[[ $(promq "$VIP" "hpc_galera_state_changes_total{node=\"node3\"}" | jq -r ".[0].value[1] // 0") -ge 2 ]]'
}

@test "a failed backup run (the dump fails: disk full) reaches the webhook as BackupFailed" {
  # a real backup/backup.sh run whose mariadb-dump fails as it does on a full disk
  lab_exec n2 sh -c 'mkdir -p /root/failbin && printf "#!/bin/sh\necho \"mariadb-dump: Got errno 28 on write\" >&2\nexit 2\n" > /root/failbin/mariadb-dump && chmod +x /root/failbin/mariadb-dump'
  run lab_exec n2 env PATH=/root/failbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$TK/backup/backup.sh" --only-databases
  lab_exec n2 rm -rf /root/failbin
  assert_failure
  run lab_exec n2 grep -x 'hpc_backup_last_ok 0' /var/lib/prometheus/node-exporter/hpc_backup.prom
  assert_success
  run lab_exec n2 grep -E '^hpc_backup_last_failure_timestamp_seconds [0-9]{10}$' /var/lib/prometheus/node-exporter/hpc_backup_outcome.prom
  assert_success
  wait_until 60 has_notification "$HOOK_LOG" firing BackupFailed node2
}

@test "power loss of n1 (the first Prometheus) reaches the webhook once, naming node1, within 60 s; the VIP moves and monitoring still answers on it" {
  local t0 t
  t0=$(date +%s.%N)
  lab crash n1
  wait_until 60 has_notification "$HOOK_LOG" firing NodeDown node1
  t=$(first_notification "$HOOK_LOG" firing NodeDown node1)
  echo "# NodeDown delivered $(awk -v a="$t" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') s after the power loss" >&3
  wait_until 30 has_notification "$HOOK_LOG" firing VipFailover
  wait_until 30 targets_up "$VIP" node 2
  run lab_client curl -fsS -m 5 "http://$VIP:9093/-/ready"
  assert_success
  sleep 20
  assert_equal "$(notifications "$HOOK_LOG" firing NodeDown node1)" 1
  # node1's exporters are down too: Prometheus fires MonitoringTargetDown for them, and the node-down
  # alert keeps it from being sent (inhibition on the node label)
  wait_until 60 eval '[[ $(promq "$VIP" "ALERTS{alertname=\"MonitoringTargetDown\",node=\"node1\",alertstate=\"firing\"}" | jq length) -gt 0 ]]'
  sleep 10
  assert_equal "$(notifications "$HOOK_LOG" firing MonitoringTargetDown node1)" 0
}
