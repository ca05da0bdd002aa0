# PATH stubs for the discovery/health unit suites. Each stub reads its behaviour from $STUB (a folder):
#   ssh.<ip>        ok | timeout | refused | noroute | auth | malformed | hang | missing | closed
#   self.<ip>.json  what the peer's --self-json prints when ssh.<ip> is ok
#   http.<ip>       the HTTP status its /health answers (absent: connection refused)
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
