# PATH stubs for the discovery/health unit suites. Each stub reads its behaviour from $STUB (a folder):
#   ssh.<ip>        ok | timeout | refused | noroute | auth | malformed | hang | missing | closed | silent
#                   | banner  (silent: writes its pid to ssh-pid.<ip> and hangs before any output)
#   self.<ip>.json  what the peer's --self-json prints when ssh.<ip> is ok
#   http.<ip>       the HTTP status its /health answers (absent: connection refused)
# Discovery connects to TCP port 22 and to the /health port itself (bash /dev/tcp, no program to stub),
# so it runs under `netns_run`: a private network namespace with only loopback and a veth pair,
# where each peer address behaves as ssh.<ip> and http.<ip> say (nothing leaves this machine):
#   timeout         routed to a gateway that drops everything: the connect never completes
#   refused         on loopback with nothing listening on 22: the connect is refused
#   noroute         an unreachable route: the connect fails with "No route to host"
#   anything else   on loopback with a listener on 22, so the stub ssh runs (and decides the rest)
#   http.<ip>       a listener on the health port answering that status
#   running         process names pidof finds, one a line
#   mariadb.out     the rows `mariadb` prints (absent: mariadb fails)
#   redis.<cmd>     what `redis-cli ... <cmd>` prints (info / cluster)
#   df.pct          the Use% df reports;  scontrol.out, gluster.peer, gluster.volume
# Every call is appended to $STUB/calls.

stubs_install() {
  export STUB="$BATS_TEST_TMPDIR/stub"
  mkdir -p "$STUB" "$BATS_TEST_TMPDIR/bin"
  : > "$STUB/running"
  local b="$BATS_TEST_TMPDIR/bin"

  cat > "$b/ssh" <<'EOF'
#!/usr/bin/env bash
echo "ssh $*" >> "$STUB/calls"
ip=""
for a in "$@"; do [[ $a == *@* ]] && ip=${a#*@}; done
mode=$(cat "$STUB/ssh.$ip" 2>/dev/null || echo timeout)
case "$mode" in
  ok) echo HPC-PROBE; cat "$STUB/self.$ip.json" ;;
  timeout) exec sleep 30 ;;
  refused) echo "ssh: connect to host $ip port 22: Connection refused" >&2; exit 255 ;;
  noroute) echo "ssh: connect to host $ip port 22: No route to host" >&2; exit 255 ;;
  auth) echo "root@$ip: Permission denied (publickey,password)." >&2; exit 255 ;;
  closed) echo "kex_exchange_identification: Connection closed by remote host" >&2; exit 255 ;;
  malformed) echo HPC-PROBE; echo "<html>this is not json" ;;
  hang) echo HPC-PROBE; exec sleep 30 ;;
  silent) echo $$ > "$STUB/ssh-pid.$ip"; exec sleep 30 ;; # TCP got through but SSH never completes
  banner) echo "Connection timed out during banner exchange" >&2; echo "Connection to $ip port 22 timed out" >&2; exit 255 ;;
  missing) echo HPC-PROBE; echo "bash: /opt/x/auto_discovery.sh: No such file or directory" >&2; exit 127 ;;
esac
EOF

  cat > "$b/curl" <<'EOF'
#!/usr/bin/env bash
echo "curl $*" >> "$STUB/calls"
url="${*: -1}"
ip=${url#http://}; ip=${ip%%:*}
if [[ -f $STUB/http.$ip ]]; then printf '%s' "$(cat "$STUB/http.$ip")"; exit 0; fi
printf '000'; exit 7
EOF

  cat > "$b/pidof" <<'EOF'
#!/usr/bin/env bash
for a in "$@"; do [[ $a == -* ]] && continue; grep -qx -- "$a" "$STUB/running" && { echo 4242; exit 0; }; done
exit 1
EOF

  cat > "$b/mariadb" <<'EOF'
#!/usr/bin/env bash
echo "mariadb $*" >> "$STUB/calls"
[[ -f $STUB/mariadb.out ]] || { echo "ERROR 2002 (HY000): Can't connect" >&2; exit 1; }
cat "$STUB/mariadb.out"
EOF

  cat > "$b/redis-cli" <<'EOF'
#!/usr/bin/env bash
echo "redis-cli $* auth=${REDISCLI_AUTH:+set}" >> "$STUB/calls"
cmd="${*: -2:1}"; [[ $cmd == info || $cmd == cluster ]] || cmd="${*: -1}"
if [[ -n ${REDIS_EXPECT_AUTH:-} && ${REDISCLI_AUTH:-} != "$REDIS_EXPECT_AUTH" ]]; then
  echo "AUTH failed: WRONGPASS invalid username-password pair or user is disabled."; exit 0
fi
[[ -f $STUB/redis.$cmd ]] || { echo "Could not connect to Redis at 127.0.0.1:6379: Connection refused"; exit 1; }
sed 's/$/\r/' "$STUB/redis.$cmd"
EOF

  cat > "$b/df" <<'EOF'
#!/usr/bin/env bash
pct=$(cat "$STUB/df.pct" 2>/dev/null || echo 10)
printf 'Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/x 1000 %s 0 %s%% %s\n' "$pct" "$pct" "${*: -1}"
EOF

  cat > "$b/scontrol" <<'EOF'
#!/usr/bin/env bash
cat "$STUB/scontrol.out" 2>/dev/null
EOF

  cat > "$b/gluster" <<'EOF'
#!/usr/bin/env bash
case "$*" in
  *"peer status"*) cat "$STUB/gluster.peer" 2>/dev/null ;;
  *"volume info"*) cat "$STUB/gluster.volume" 2>/dev/null ;;
esac
EOF
  chmod +x "$b"/*
  export PATH="$b:$PATH"

  cat > "$BATS_TEST_TMPDIR/netns-run" <<'EOF'
#!/usr/bin/env bash
# netns-run CMD...: CMD in a new network namespace whose peer addresses behave as $STUB says.
set -euo pipefail
if [[ ${NETNS_RUN_INSIDE:-} != 1 ]]; then
  export NETNS_RUN_INSIDE=1
  if (( EUID == 0 )); then exec unshare -n -- "$0" "$@"; fi
  exec unshare -rn -- "$0" "$@"
fi
net=${NETNS_SUBNET:-10.213.0}
ip link set lo up
# The subnet is routed through a gateway that exists only as a permanent neighbour entry: frames go
# out of v0 to v1, which drops them, so a connect there neither completes nor fails (a silent host).
ip link add v0 type veth peer name v1
ip link set v1 up
ip link set v0 up
ip addr add "$net.1/32" dev v0
ip route add "$net.254/32" dev v0
ip neigh replace "$net.254" lladdr 02:00:00:00:00:fe dev v0 nud permanent
ip route add "$net.0/24" via "$net.254" dev v0
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
on_lo() { [[ $(ip -o addr show dev lo) == *" $1/32 "* ]] || ip addr add "$1/32" dev lo; }
hexip() {  # A.B.C.D -> its /proc/net/tcp spelling (little-endian hex)
  local IFS=.
  # shellcheck disable=SC2086
  set -- $1
  printf '%02X%02X%02X%02X' "$4" "$3" "$2" "$1"
}
listen() {  # IP PORT [HANDLER]: a listener, ready when this returns
  local i
  socat "TCP-LISTEN:$2,bind=$1,reuseaddr,fork" "${3:-OPEN:/dev/null}" 2>/dev/null &
  pids+=($!)
  for (( i = 0; i < 200; i++ )); do
    grep -q " $(hexip "$1"):$(printf '%04X' "$2") 00000000:0000 0A" /proc/net/tcp && return 0
    sleep 0.01
  done
  echo "netns-run: no listener on $1:$2" >&2
  return 1
}
# this node's own address is local, as on a real node (its /health port answers or refuses at once)
if [[ -n ${HPC_NODE_IP:-} ]]; then on_lo "$HPC_NODE_IP"; fi
declare -A seen=()
for f in "$STUB"/ssh.* "$STUB"/http.*; do
  [[ -e $f ]] || continue
  ip=${f##*/ssh.}; ip=${ip##*/http.}
  [[ $ip != "${HPC_NODE_IP:-}" && -z ${seen[$ip]:-} ]] || continue
  seen[$ip]=1
  mode=$(cat "$STUB/ssh.$ip" 2>/dev/null || echo timeout)
  case "$mode" in
    timeout) ;;
    noroute) ip route add unreachable "$ip/32" ;;
    refused) on_lo "$ip" ;;
    *) on_lo "$ip"; listen "$ip" 22 ;;
  esac
  if [[ -f $STUB/http.$ip ]]; then
    on_lo "$ip"
    # reads the request up to its empty line (closing with unread data would reset the connection)
    printf '#!/bin/sh\ncode=%s\n%s\n' "$(cat "$STUB/http.$ip")" \
      'while IFS= read -r l; do case "$l" in ""|"$(printf "\r")") break ;; esac; done
printf "HTTP/1.0 %s X\r\nContent-Length: 0\r\n\r\n" "$code"' > "$STUB/http-handler.$ip"
    chmod +x "$STUB/http-handler.$ip"
    listen "$ip" "${NETNS_HEALTH_PORT:-8430}" "EXEC:$STUB/http-handler.$ip"
  fi
done
rc=0
"$@" || rc=$?
exit "$rc"
EOF
  chmod +x "$BATS_TEST_TMPDIR/netns-run"
}

# netns_run CMD...: CMD inside the private network namespace described above.
netns_run() {
  "$BATS_TEST_TMPDIR/netns-run" "$@"
}

# self_json_fixture IP [CLUSTER_ID] [HOLDS_VIP]: a peer's --self-json answer.
self_json_fixture() {
  local ip=$1 id=${2:-} vip=${3:-false}
  cat > "$STUB/self.$ip.json" <<EOF
{"hostname":"peer-$ip","services":{"ssh":true,"glusterfs":false,"mariadb":true,"redis":true,"slurm":false,"web":false},
 "galera":{"cluster_status":"Primary","cluster_size":3,"local_state":"Synced","state_uuid":"u","last_committed":7,"ready":true},
 "redis":{"role":"master","cluster_state":"ok","sentinel":false},"glusterfs":null,"slurm":null,"web":null,
 "cluster_id":$( [[ -n $id ]] && printf '"%s"' "$id" || printf null),"load":0.5,"uptime":"3 days","uptime_seconds":300000,"holds_vip":$vip}
EOF
}

# unit_env: a toolkit root prefix in the test's temp dir and this "node" = 10.213.0.11.
unit_env() {
  export ROOT_PREFIX="$BATS_TEST_TMPDIR/root"
  mkdir -p "$ROOT_PREFIX/proc" "$ROOT_PREFIX/etc/hpc-cluster" "$ROOT_PREFIX/var/lib/hpc-cluster/services"
  echo "0.42 0.30 0.20 1/100 999" > "$ROOT_PREFIX/proc/loadavg"
  echo "450000.12 800000.00" > "$ROOT_PREFIX/proc/uptime"
  printf 'MemTotal: 1000 kB\nMemFree: 500 kB\nMemAvailable: 600 kB\n' > "$ROOT_PREFIX/proc/meminfo"
  : > "$ROOT_PREFIX/proc/mounts"
  printf 'REDIS_PASSWORD=unitpw\nDB_SLURM_PASSWORD=x\n' > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  chmod 600 "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  export HPC_NODE_IP=10.213.0.11 HPC_LOCAL_IPS=10.213.0.11 HPC_INIT=sysv NO_COLOR=1
}
