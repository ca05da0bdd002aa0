#!/usr/bin/env bats
# Lab: only members get in (issue 17). Two nodes run GlusterFS, Galera and Redis Cluster set up by the
# toolkit; the lab client at .200 stands for any other host on the network: mounting the volume,
# joining the Galera group with garbd and Redis without the password all fail while the members work.
# Also: /health stays bounded with idle connections open, and no lock or log is open to local users.
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"

SEC_FIXTURE="${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/test/fixtures/lab/security-2.yaml"
SEC_TK=/opt/hpc-dashboard/cluster

# step nK SCRIPT ARGS...: a toolkit script during setup, output to a log printed when it fails.
step() {
  local log="$BATS_FILE_TMPDIR/setup.log" n=$1 script=$2
  shift 2
  printf '### %s %s %s\n' "$n" "$script" "$*" >> "$log"
  lab_exec "$n" "$SEC_TK/$script" "$@" >> "$log" 2>&1 || { tail -n 40 "$log" >&2; return 1; }
}

setup_file() {
  lab_setup 3 >/dev/null   # n3: the witness (garbd), no toolkit
  toolkit_deploy "$SEC_FIXTURE" n1 n2
  step n1 setup/phase0_storage_setup.sh --bootstrap --yes
  step n2 setup/phase0_storage_setup.sh --join --peer 10.213.0.11 --yes
  step n1 setup/phase1_database_setup.sh --bootstrap --yes
  step n2 setup/phase1_database_setup.sh --join --peer 10.213.0.11 --yes
  step n1 setup/phase2_redis_setup.sh --bootstrap --yes
  step n2 setup/phase2_redis_setup.sh --join --peer 10.213.0.11 --yes
  step n1 utils/health_check.sh --http --daemon
}

teardown_file() { lab_teardown; }

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

wsrep() { # NODE VARIABLE: a wsrep status value on NODE
  lab_exec "$1" mariadb -N -B -e "SHOW GLOBAL STATUS LIKE '$2'" | awk '{ print $2 }'
}

@test "GlusterFS: auth.allow lists the members; the client cannot mount the volume, the members can" {
  run lab_exec n1 gluster volume get shared_data auth.allow
  assert_output --partial "10.213.0.11,10.213.0.12"
  lab_exec n1 sh -c 'echo members-only > /mnt/gluster/secret-probe'
  run lab_exec n2 cat /mnt/gluster/secret-probe
  assert_output members-only
  # In a private mount namespace of the client; whatever the mount does, the glusterfs client goes with
  # the umount, and the namespace with the shell.
  run lab_client unshare --mount --propagation private sh -c '
    mkdir -p /tmp/sec-mnt
    if timeout 20 mount -t glusterfs 10.213.0.11:/shared_data /tmp/sec-mnt 2>&1; then
      timeout 10 cat /tmp/sec-mnt/secret-probe; rc=$?
      umount -l /tmp/sec-mnt 2>/dev/null
      exit $rc
    fi
    exit 1'
  assert_failure
  refute_output --partial members-only
}

@test "Galera: wsrep_allowlist names the members; garbd from the client never joins the group" {
  run lab_exec n1 mariadb -N -B -e "SELECT @@wsrep_allowlist"
  assert_output "10.213.0.11,10.213.0.12,10.213.0.13"
  assert_equal "$(wsrep n1 wsrep_cluster_size)" 3   # the members and the witness's garbd
  # garbd runs in the background of the client for 15 s; the cluster size is watched meanwhile.
  lab_client sh -c 'timeout 15 garbd --address gcomm://10.213.0.11:4567,10.213.0.12:4567 --group lab_security > /tmp/sec-garbd.log 2>&1 &'
  local max=0 size
  for _ in $(seq 20); do
    size=$(wsrep n1 wsrep_cluster_size)
    (( size > max )) && max=$size
    sleep 0.5
  done
  assert_equal "$max" 3
  assert_equal "$(wsrep n1 wsrep_local_state_comment)" Synced
  assert_equal "$(wsrep n2 wsrep_local_state_comment)" Synced
  wait_until 20 lab_client sh -c '! pgrep -x garbd'
}

@test "Redis: without the password the client is refused; a member with it is served" {
  run lab_client redis-cli -h 10.213.0.11 -p 6379 PING
  assert_output --partial NOAUTH
  run lab_client env REDISCLI_AUTH=not-the-password redis-cli --no-auth-warning -h 10.213.0.11 -p 6379 PING
  refute_output PONG
  run lab_exec n2 env REDISCLI_AUTH=redis-secret-3 redis-cli --no-auth-warning -h 10.213.0.11 -p 6379 PING
  assert_output PONG
}

@test "/health answers within 3 s while 20 idle connections are open" {
  # 20 connections that send nothing, held for 12 s.
  lab_client sh -c 'python3 -c "
import socket, time
s = [socket.create_connection((\"10.213.0.11\", 8430)) for _ in range(20)]
time.sleep(12)
" > /dev/null 2>&1 &'
  sleep 1
  run lab_client curl -s -m 3 -o /dev/null -w '%{http_code}' http://10.213.0.11:8430/health
  assert_success
  [[ $output == 200 || $output == 503 ]]
  # A second request within the cache window is answered from the same report.
  run lab_client curl -s -m 3 -o /dev/null -w '%{http_code}' http://10.213.0.11:8430/health
  assert_success
}

@test "no lock is world-writable and no toolkit log is readable by other local users" {
  run lab_exec n1 stat -c '%a %U' /run/hpc-cluster /var/log/hpc-cluster
  assert_line --index 0 "700 root"
  assert_line --index 1 "750 root"
  run lab_exec n1 sh -c 'find /run/hpc-cluster /var/log/hpc-cluster -perm -o+w -print; ls /run/lock | grep hpc-cluster || true'
  assert_output ""
  run lab_exec n1 sh -c 'ls /var/log/hpc-cluster/*.log | wc -l'
  (( output > 0 ))
  # As an ordinary local user: not one log can be read, no lock can be opened.
  run lab_exec n1 setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c \
    'for f in /var/log/hpc-cluster/*.log /run/hpc-cluster/*; do cat "$f" > /dev/null 2>&1 && echo "read $f"; done; true'
  assert_output ""
}

# remote_true FROM IP: the toolkit's own SSH call (remote::run) from FROM to IP.
remote_true() {
  lab_exec "$1" bash -c 'source /opt/hpc-dashboard/cluster/lib/common.sh && SELF_IP=none remote::run "$1" true' _ "$2"
}

@test "SSH: every member's host keys are on the members-only volume and the toolkit trusts only them" {
  run lab_exec n1 sh -c 'cut -d" " -f1 /mnt/gluster/config/ssh_known_hosts | sort -u'
  assert_output $'10.213.0.11\n10.213.0.12'
  run lab_exec n2 sh -c 'cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub'
  local key=$output
  run lab_exec n1 grep -c "^10.213.0.12 ssh-ed25519 $key" /mnt/gluster/config/ssh_known_hosts
  assert_output 1
  run remote_true n1 10.213.0.12
  assert_success
}

@test "SSH: a host answering on a member's address with another host key is refused" {
  # n2 gets new host keys (as an impostor on its address would have); the old ones are put back after.
  lab_exec n2 sh -c 'mkdir -p /root/hk-saved && cp -a /etc/ssh/ssh_host_* /root/hk-saved/ && rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && pkill -HUP -x sshd'
  sleep 1
  run remote_true n1 10.213.0.12
  lab_exec n2 sh -c 'cp -a /root/hk-saved/ssh_host_* /etc/ssh/ && pkill -HUP -x sshd'
  assert_failure
  sleep 1
  run remote_true n1 10.213.0.12
  assert_success
}

# cert_of FROM HOST:PORT: "subject|issuer" of the certificate a TLS server presents to FROM (client or
# nK), from s_client's chain listing (" 0 s:CN = node1" / "   i:CN = ..."). s_client has no certificate,
# so the server may end the handshake after it has shown its own; the PEM s_client prints is then cut
# short, the listing is not.
cert_of() {
  local from=(lab_client)
  [[ $1 == client ]] || from=(lab_exec "$1")
  "${from[@]}" sh -c "timeout 10 openssl s_client -connect $2 </dev/null 2>/dev/null" \
    | awk '/^ 0 s:/ { sub(/^ 0 s:/, ""); s = $0; next } s != "" && i == "" && /^ +i:/ { sub(/^ +i:/, ""); i = $0 } END { print s "|" i }'
}

@test "TLS: the cluster CA and every key are root-only (the database's key readable by mysql too)" {
  for n in n1 n2; do
    run lab_exec "$n" stat -c '%a %U:%G %n' /etc/hpc-cluster/tls /etc/hpc-cluster/tls/ca.key /etc/hpc-cluster/tls/node.key \
      /etc/ssl/glusterfs.key /etc/mysql/hpc-tls/node.key
    assert_output "700 root:root /etc/hpc-cluster/tls
600 root:root /etc/hpc-cluster/tls/ca.key
600 root:root /etc/hpc-cluster/tls/node.key
600 root:root /etc/ssl/glusterfs.key
640 root:mysql /etc/mysql/hpc-tls/node.key"
  done
  # One CA: node2 joined with the copy of node1's, never a second one.
  run lab_exec n1 sha256sum /etc/hpc-cluster/tls/ca.crt
  local ca1=${output%% *}
  run lab_exec n2 sha256sum /etc/hpc-cluster/tls/ca.crt
  assert_equal "${output%% *}" "$ca1"
  run lab_exec n2 openssl verify -CAfile /etc/hpc-cluster/tls/ca.crt /etc/hpc-cluster/tls/node.crt
  assert_success
}

@test "TLS: the bricks speak TLS with the members' certificates and accept only the members' names" {
  run lab_exec n1 gluster volume get shared_data all
  assert_line --regexp '^client\.ssl +on'
  assert_line --regexp '^server\.ssl +on'
  assert_line --regexp '^auth\.ssl-allow +node1,node2'
  local port
  port="$(lab_exec n1 gluster volume status shared_data 10.213.0.11:/data/glusterfs/shared --xml | sed -n 's:.*<port>\([0-9]*\)</port>.*:\1:p' | head -n 1)"
  [[ $port =~ ^[0-9]+$ ]]
  run cert_of client "10.213.0.11:$port"
  assert_output "CN = node1|CN = hpc-cluster-kit CA lab-security"
  # The mounts on both members work through it (written on n1, read on n2).
  lab_exec n1 sh -c 'echo over-tls > /mnt/gluster/tls-probe'
  run lab_exec n2 cat /mnt/gluster/tls-probe
  assert_output over-tls
}

@test "TLS: Galera replication speaks TLS, and node2's join copied the state through stunnel" {
  run lab_exec n1 mariadb -N -B -e "SHOW VARIABLES LIKE 'wsrep_provider_options'"
  assert_output --partial 'socket.ssl = YES'
  # From n2: wsrep_allowlist closes the client's connections before any handshake.
  run cert_of n2 10.213.0.11:4567
  assert_output "CN = node1|CN = hpc-cluster-kit CA lab-security"
  run lab_exec n2 grep -c 'Using stunnel for SSL encryption' /var/log/mysql/error.log
  assert_success
}

@test "TLS: garbd on the witness speaks TLS with its own certificate; the CA key stays on the members" {
  run lab_exec n3 pgrep -x garbd
  assert_success
  assert_equal "$(wsrep n1 wsrep_cluster_size)" 3
  run lab_exec n3 openssl x509 -in /etc/hpc-cluster/tls/node.crt -noout -subject -nameopt RFC2253
  assert_output "subject=CN=witness"
  run lab_exec n3 stat -c '%a' /etc/hpc-cluster/tls /etc/hpc-cluster/tls/node.key
  assert_output $'700\n600'
  run lab_exec n3 test -e /etc/hpc-cluster/tls/ca.key
  assert_failure
}

@test "GlusterFS: the witness is a brick-less vote of the pool (server quorum), like garbd in Galera" {
  run lab_exec n1 gluster --mode=script peer status
  assert_output --partial "Hostname: 10.213.0.13"
  run lab_exec n1 gluster volume get shared_data all
  assert_line --regexp '^cluster\.server-quorum-type +server'
  assert_line --regexp '^cluster\.quorum-type +auto'
  run lab_exec n1 gluster volume info shared_data
  refute_output --partial "10.213.0.13:"
}
