#!/usr/bin/env bats
# Smoke: keepalived runs inside nodes, adds the VIP inside the master node; the client reaches the
# VIP; when the master loses power the VIP moves.

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

# start_keepalived nK PRIORITY : VRRP for VIP 10.213.0.100 on eth0, plus an echo service on port 7000
start_keepalived() {
  lab_exec "$1" sh -c 'cat >/etc/keepalived/keepalived.conf <<CONF
global_defs {
  router_id $(hostname)
}
vrrp_instance VI_LAB {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority $1
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass labpass
  }
  virtual_ipaddress {
    10.213.0.100/24 dev eth0
  }
}
CONF
setsid keepalived --dont-fork --log-console --log-detail --no-syslog -f /etc/keepalived/keepalived.conf \
  -p /run/keepalived/keepalived.pid -r /run/keepalived/vrrp.pid </dev/null >/var/log/keepalived.log 2>&1 &
setsid socat TCP-LISTEN:7000,reuseaddr,fork SYSTEM:hostname </dev/null >/dev/null 2>&1 &' sh "$2"
}

vip_answers() {  # vip_answers HOSTNAME : the client reaches HOSTNAME through the VIP
  [[ $(lab_client timeout 3 socat -T1 - TCP:10.213.0.100:7000,connect-timeout=1 </dev/null) == "$1" ]]
}

@test "keepalived puts the VIP inside the master node; the client reaches it; it moves on power loss" {
  start_keepalived n1 150
  wait_until 20 vip_answers node1
  start_keepalived n2 100
  run lab_exec n1 ip -4 -o addr show dev eth0
  assert_output --partial "10.213.0.100/24"
  run lab_exec n2 ip -4 -o addr show dev eth0
  refute_output --partial "10.213.0.100"
  run ip -4 -o addr show
  refute_output --partial "10.213.0.100"
  run lab_exec n1 pgrep -x keepalived
  assert_success
  lab crash n1
  wait_until 20 vip_answers node2
  run lab_exec n2 ip -4 -o addr show dev eth0
  assert_output --partial "10.213.0.100/24"
}
