#!/usr/bin/env bats
# Smoke: redis-server runs inside a node and serves the node's address.

load helpers

setup_file() {
  lab_setup 2
}

teardown_file() {
  lab_teardown
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

@test "redis-server inside n2 answers on n2's address from n1 and the client" {
  lab_exec n2 runuser -u redis -- redis-server /etc/redis/redis.conf --bind 10.213.0.12 127.0.0.1 \
    --requirepass labpw --daemonize yes --logfile /var/log/redis/lab.log --dir /var/lib/redis
  wait_until 10 lab_port_open client 10.213.0.12 6379
  run lab_exec n2 ss -Hltn 'sport = :6379'
  assert_output --partial "10.213.0.12:6379"
  run lab_client redis-cli -h 10.213.0.12 -a labpw --no-auth-warning set lab-key from-client
  assert_output OK
  run lab_exec n1 redis-cli -h node2 -a labpw --no-auth-warning get lab-key
  assert_output from-client
  run lab_exec n2 pgrep -u redis -x redis-server
  assert_success
  run lab_exec n1 pgrep -x redis-server
  assert_failure
}
