# Helpers for the VIP lab suites (bats/lab/vip) and bench/failover: a 3-node lab running the
# generated toolkit, with MariaDB (the tracked critical service), two fake web services (the tracked
# non-critical ones) and a "who am I" TCP service on port 7000 that tells which node answered the VIP.
#
# Usage: load "vip_helpers.bash" after bats/lab/helpers.bash (it uses lab, lab_exec, lab_client).

VIP_ADDR=10.213.0.100
VIP_PROBE_PORT=7000
VIP_FIXTURE="${HPC_REPO_ROOT}/test/fixtures/lab/vip-lab3.yaml"

# vip_generate CONFIG OUTDIR: the toolkit, with modes keepalived's script security accepts.
vip_generate() {
  toolkit_generate "$1" "$2"
  chmod -R go-w "$2/cluster"
}

# vip_node_prepare nK: secrets file, MariaDB started, the fake services listening.
vip_node_prepare() {
  local n=$1
  # shellcheck disable=SC2016 # expanded inside the node
  lab_exec "$n" sh -c 'mkdir -p -m 0700 /etc/hpc-cluster && umask 077 &&
    printf "REDIS_PASSWORD=labredis\nDB_SLURM_PASSWORD=x\nDB_AUTH_PASSWORD=x\n" > /etc/hpc-cluster/secrets.env'
  # MariaDB small, logging to a file (no syslog in a lab node).
  printf '[mysqld_safe]\nskip-syslog\nlog-error=/var/log/mysql/error.log\n[mysqld]\nlog-error=/var/log/mysql/error.log\ninnodb_buffer_pool_size=32M\nperformance_schema=OFF\n' \
    | lab_exec "$n" sh -c 'cat > /etc/mysql/mariadb.conf.d/99-vip-lab.cnf && install -d -o mysql -g adm /var/log/mysql'
  lab_exec "$n" /etc/init.d/mariadb start >/dev/null
  # What phase1 leaves behind: the marker that says MariaDB is meant to run here.
  lab_exec "$n" sh -c 'mkdir -p /var/lib/hpc-cluster/services && touch /var/lib/hpc-cluster/services/mariadb'
  vip_web start "$n" 4430
  vip_web start "$n" 5010
  # shellcheck disable=SC2016
  lab_exec "$n" sh -c 'setsid socat TCP-LISTEN:7000,fork,reuseaddr SYSTEM:hostname </dev/null >/var/log/whoami.log 2>&1 &'
}

# vip_web start|stop nK PORT: a fake web service answering every request with 200.
vip_web() {
  local action=$1 n=$2 port=$3
  if [[ $action == start ]]; then
    # It reads the request before answering: closing with unread input would reset the connection.
    lab_exec "$n" sh -c 'cat > /usr/local/bin/vip-fake-web && chmod 0755 /usr/local/bin/vip-fake-web' <<'WEB'
#!/bin/sh
cr=$(printf '\r')
while IFS= read -r line; do
  case "$line" in "" | "$cr") break ;; esac
done
printf 'HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n'
WEB
    # shellcheck disable=SC2016 # expanded inside the node
    lab_exec "$n" sh -c 'setsid socat TCP-LISTEN:$1,fork,reuseaddr EXEC:/usr/local/bin/vip-fake-web </dev/null >/var/log/web-$1.log 2>&1 &' sh "$port"
    wait_until 10 lab_exec "$n" curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$port/health"
  else
    lab_exec "$n" pkill -f "socat TCP-LISTEN:$port,"
  fi
}

# vip_setup_lab: the whole VIP lab, keepalived running everywhere, n1 holding the VIP.
vip_setup_lab() {
  local n
  VIP_OUT="$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/vip-toolkit.XXXXXX")"
  vip_generate "$VIP_FIXTURE" "$VIP_OUT"
  lab_setup 3 >/dev/null 2>&1
  lab ssh-mesh >/dev/null 2>&1
  lab_push "$VIP_OUT/cluster" >/dev/null 2>&1
  for n in n1 n2 n3; do vip_node_prepare "$n"; done
  lab_exec n1 /opt/hpc-dashboard/cluster/setup/phase4_keepalived_setup.sh --bootstrap
  lab_exec n2 /opt/hpc-dashboard/cluster/setup/phase4_keepalived_setup.sh --join --peer 10.213.0.11
  lab_exec n3 /opt/hpc-dashboard/cluster/setup/phase4_keepalived_setup.sh --join --peer 10.213.0.11
}

# vip_holds nK: the VIP is on nK's eth0.
vip_holds() {
  local addrs
  addrs="$(lab_exec "$1" ip -o -4 addr show dev eth0)" || return 1
  [[ $addrs == *" $VIP_ADDR/"* ]]
}

# vip_holders: the nodes holding the VIP, space separated (crashed nodes count as not holding it).
vip_holders() {
  local n out=()
  for n in n1 n2 n3; do
    if vip_holds "$n" 2>/dev/null; then out+=("$n"); fi
  done
  printf '%s\n' "${out[*]}"
}

# vip_answer: the hostname of the node answering TCP on the VIP from the client namespace.
vip_answer() {
  lab_client timeout 1 socat -T1 - "TCP:$VIP_ADDR:$VIP_PROBE_PORT,connect-timeout=0.5" </dev/null 2>/dev/null
}

# vip_answered_by HOSTNAME / vip_answered_not_by HOSTNAME: for wait_until.
vip_answered_by() { [[ "$(vip_answer)" == "$1" ]]; }
vip_answered_not_by() { local a; a="$(vip_answer)"; [[ -n $a && $a != "$1" ]]; }

# vip_exactly_one_holder: exactly one node holds the VIP.
vip_exactly_one_holder() {
  local h
  h="$(vip_holders)"
  [[ -n $h && $h != *" "* ]]
}

# vip_owner: the one node (nK) holding the VIP; fails unless exactly one does.
vip_owner() {
  local h
  h="$(vip_holders)"
  [[ -n $h && $h != *" "* ]] || return 1
  printf '%s\n' "$h"
}

# vip_toolkit nK SCRIPT ARGS...: run a toolkit script on a node.
vip_toolkit() {
  local n=$1 script=$2
  shift 2
  lab_exec "$n" "/opt/hpc-dashboard/cluster/$script" "$@"
}

# vip_state nK: the VRRP state vip_notify.sh last recorded on nK.
vip_state() {
  lab_exec "$1" cat /var/lib/hpc-cluster/vip_state
}

# vip_stays HOSTNAME SECONDS: the VIP keeps answering from HOSTNAME for the whole period (sampled).
vip_stays() {
  local host=$1 end=$(( ${EPOCHREALTIME/./} + $2 * 1000000 )) a
  while (( ${EPOCHREALTIME/./} < end )); do
    a="$(vip_answer)"
    if [[ $a != "$host" ]]; then printf 'the VIP answered from "%s", expected %s\n' "$a" "$host" >&2; return 1; fi
    sleep 0.3
  done
}

# vip_restore nK: keepalived running again on nK (after a kill) as a member; it must come back BACKUP.
vip_restore() {
  vip_toolkit "$1" setup/phase4_keepalived_setup.sh --join >/dev/null 2>&1
}
