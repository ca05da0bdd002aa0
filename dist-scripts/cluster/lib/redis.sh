# shellcheck shell=bash
# lib/redis.sh - Redis instances of this toolkit: paths, start/stop with and without systemd, and
# the questions every Redis script asks (is it up, which role, which slots, which cluster nodes).
# Sourced by setup/phase2_redis_setup.sh and backup/{backup,restore}_redis.sh after common.sh.
#
# An instance is named hpc-PORT: config /etc/redis/redis-hpc-PORT.conf, data /var/lib/redis/hpc-PORT,
# pid /run/redis-hpc-PORT/redis-server.pid, log /var/log/redis/redis-hpc-PORT.log. These are the paths
# Debian's redis-server@.service template expects, so `systemctl start redis-server@hpc-6379` works
# where systemd runs and start-stop-daemon starts the same instance where it does not.
# The password reaches redis-cli only through REDISCLI_AUTH (redis::load_password exports it).

readonly REDIS_SLOTS=16384
REDIS_AUTH_FILE_PATH=/etc/redis/hpc-auth.conf

redis::instance()  { printf 'hpc-%s\n' "$1"; }
redis::conf_file() { path::of "/etc/redis/redis-hpc-$1.conf"; }
redis::data_dir()  { path::of "/var/lib/redis/hpc-$1"; }
redis::run_dir()   { path::of "/run/redis-hpc-$1"; }
redis::pid_file()  { printf '%s/redis-server.pid\n' "$(redis::run_dir "$1")"; }
redis::log_file()  { path::of "/var/log/redis/redis-hpc-$1.log"; }
redis::auth_file() { path::of "$REDIS_AUTH_FILE_PATH"; }
redis::sentinel_conf()     { path::of /etc/redis/sentinel-hpc.conf; }
redis::sentinel_run_dir()  { path::of /run/sentinel-hpc; }
redis::sentinel_pid_file() { printf '%s/redis-sentinel.pid\n' "$(redis::sentinel_run_dir)"; }
redis::sentinel_log_file() { path::of /var/log/redis/redis-sentinel-hpc.log; }
redis::sentinel_data_dir() { path::of /var/lib/redis/sentinel-hpc; }

# redis::local_ports: the ports of the Redis instances this toolkit runs on a node (the master port,
# plus the replica instance's port with Cluster replicas: 1).
redis::local_ports() {
  printf '%s\n' "$REDIS_PORT"
  if redis::has_replica_instances; then printf '%s\n' "$REDIS_REPLICA_PORT"; fi
}

# redis::member_addr IP PORT: IP:PORT is an address this toolkit configured (a NODE_IPS address and a
# port of its instances). An address a Redis reports (CLUSTER NODES, INFO master_host) is data from the
# network: scripts that act on it (copy a dump over SSH, MIGRATE keys into it) check it here first.
redis::member_addr() {
  local ip=$1 port=$2 p
  node::index_of "$ip" >/dev/null || return 1
  while IFS= read -r p; do [[ $p == "$port" ]] && return 0; done < <(redis::local_ports)
  return 1
}

# redis::require_member_addr IP PORT WHAT: die (exit 5) when a reported address is not a member's.
redis::require_member_addr() {
  redis::member_addr "$1" "$2" && return 0
  die "[ERROR RedisMember]: $3 reported $(printf '%q' "$1:$2"), which is not a configured node address (${NODE_IPS[*]}, port(s) $(redis::local_ports | paste -sd, -)); nothing is sent to it (fix: check the Redis topology with setup/phase2_redis_setup.sh --status)" "$EXIT_PREFLIGHT"
}

redis::has_replica_instances() {
  [[ $REDIS_TYPE == cluster && $REDIS_REPLICAS == 1 ]]
}

# redis::load_password: read the secret once and export it as REDISCLI_AUTH (never on a command
# line). Under --dry-run the real secret is still used for read-only probes when the file exists.
redis::load_password() {
  local pw=""
  if run::is_dry; then
    if [[ -r "$(secrets::file)" ]]; then pw="$(DRY_RUN=0 secrets::get "$REDIS_PASSWORD_SECRET")"; fi
  else
    pw="$(secrets::get "$REDIS_PASSWORD_SECRET")"
  fi
  export REDISCLI_AUTH="$pw"
}

# redis::cli HOST PORT ARGS...: one bounded redis-cli call (read-only questions; 10 s at most).
redis::cli() {
  local host=$1 port=$2
  shift 2
  timeout 10 redis-cli --no-auth-warning -h "$host" -p "$port" "$@" 2>/dev/null
}

# redis::ping HOST PORT: the instance answers PONG (with the password).
redis::ping() {
  [[ "$(redis::cli "$1" "$2" PING)" == PONG ]]
}

# redis::info_field HOST PORT SECTION FIELD: one "field:value" of INFO (value printed, \r removed).
redis::info_field() {
  local out
  out="$(redis::cli "$1" "$2" INFO "$3")" || return 1
  out="$(printf '%s\n' "$out" | tr -d '\r' | awk -F: -v f="$4" '$1 == f { print $2; exit }')"
  [[ -n $out ]] || return 1
  printf '%s\n' "$out"
}

# redis::cluster_field HOST PORT FIELD: one field of CLUSTER INFO.
redis::cluster_field() {
  local out
  out="$(redis::cli "$1" "$2" CLUSTER INFO)" || return 1
  out="$(printf '%s\n' "$out" | tr -d '\r' | awk -F: -v f="$3" '$1 == f { print $2; exit }')"
  [[ -n $out ]] || return 1
  printf '%s\n' "$out"
}

redis::cluster_ok() {
  [[ "$(redis::cluster_field "$1" "$2" cluster_state)" == ok ]]
}

redis::myid() {
  local id
  id="$(redis::cli "$1" "$2" CLUSTER MYID | tr -d '\r')"
  [[ $id =~ ^[0-9a-f]{40}$ ]] || return 1
  printf '%s\n' "$id"
}

# redis::nodes HOST PORT: CLUSTER NODES as "id ip:port flags master_id link slot_count" lines,
# one per node known to HOST (the cluster bus port and the hostname are cut off).
redis::nodes() {
  local out
  out="$(redis::cli "$1" "$2" CLUSTER NODES)" || return 1
  [[ -n $out ]] || return 1
  printf '%s\n' "$out" | tr -d '\r' | awk '
    NF >= 8 {
      addr = $2; sub(/@.*/, "", addr)
      n = 0
      for (i = 9; i <= NF; i++) {
        if ($i ~ /^\[/) continue
        split($i, r, "-")
        n += (r[2] == "" ? 1 : r[2] - r[1] + 1)
      }
      print $1, addr, $3, $4, $8, n
    }'
}

# redis::node_line NODES_TEXT ADDR: the line of redis::nodes output for ip:port ADDR.
redis::node_line() {
  awk -v a="$2" '$2 == a { print; exit }' <<< "$1"
}

# redis::open_slots HOST PORT: true when any node reports a slot half-moved (migrating/importing),
# which an interrupted rebalance leaves behind.
redis::open_slots() {
  local out addr
  out="$(redis::cli "$1" "$2" CLUSTER NODES)" || return 1
  # A node shows its half-moved slots only on its own "myself" line: ask every member, not just one.
  while read -r addr; do
    [[ -n $addr ]] || continue
    grep -q -- '\[[0-9]*-[<>]-' <<< "$(redis::cli "${addr%:*}" "${addr##*:}" CLUSTER NODES 2>/dev/null || true)" && return 0
  done < <(awk '$3 !~ /fail|handshake|noaddr/ { split($2, a, "@"); print a[1] }' <<< "$out")
  return 1
}

# redis::wait_ping HOST PORT SECS: wait for the instance to answer.
redis::wait_ping() {
  run::wait_until "$3" "Redis on $1:$2 to answer" redis::ping "$1" "$2"
}

# ---- start and stop -----------------------------------------------------------------------------

# redis::start PORT: start instance hpc-PORT (idempotent).
redis::start() {
  local port=$1 inst
  inst="$(redis::instance "$port")"
  if redis::is_running "$port"; then return 0; fi
  if [[ "$(svc::init_system)" == systemd ]]; then
    svc::start "redis-server@$inst"
    return
  fi
  run::mkdir "$(redis::run_dir "$port")" 2755 redis:redis
  # The daemon must not inherit the password from this script's environment.
  run::cmd redis::_detached start-stop-daemon --start --quiet --chuid redis:redis \
    --pidfile "$(redis::pid_file "$port")" --exec /usr/bin/redis-server -- "$(redis::conf_file "$port")"
}

# redis::stop PORT: stop instance hpc-PORT and wait until it is gone (idempotent).
redis::stop() {
  local port=$1
  if [[ "$(svc::init_system)" == systemd ]]; then
    svc::stop "redis-server@$(redis::instance "$port")"
    return
  fi
  redis::is_running "$port" || return 0
  run::cmd start-stop-daemon --stop --quiet --retry TERM/30/KILL/5 --pidfile "$(redis::pid_file "$port")" \
    --exec /usr/bin/redis-server
}

# redis::is_running PORT
redis::is_running() {
  local port=$1
  if [[ "$(svc::init_system)" == systemd ]]; then
    systemctl is-active --quiet "redis-server@$(redis::instance "$port")"
    return
  fi
  redis::_pid_alive "$(redis::pid_file "$port")" redis-server
}

redis::sentinel_start() {
  if redis::sentinel_is_running; then return 0; fi
  if [[ "$(svc::init_system)" == systemd ]]; then
    svc::start redis-sentinel@hpc
    return
  fi
  run::mkdir "$(redis::sentinel_run_dir)" 2755 redis:redis
  run::cmd redis::_detached start-stop-daemon --start --quiet --chuid redis:redis \
    --pidfile "$(redis::sentinel_pid_file)" --exec /usr/bin/redis-sentinel -- "$(redis::sentinel_conf)"
}

redis::sentinel_stop() {
  if [[ "$(svc::init_system)" == systemd ]]; then
    svc::stop redis-sentinel@hpc
    return
  fi
  redis::sentinel_is_running || return 0
  run::cmd start-stop-daemon --stop --quiet --retry TERM/30/KILL/5 --pidfile "$(redis::sentinel_pid_file)"
}

redis::sentinel_is_running() {
  if [[ "$(svc::init_system)" == systemd ]]; then
    systemctl is-active --quiet redis-sentinel@hpc
    return
  fi
  # redis-sentinel is redis-server under another name; the kernel reports either.
  redis::_pid_alive "$(redis::sentinel_pid_file)" redis-sentinel ||
    redis::_pid_alive "$(redis::sentinel_pid_file)" redis-server
}

# redis::_detached CMD...: run a daemon starter without this script's open descriptors (the lock
# file's fd would keep the lock held for the daemon's whole life; bats' fd 3 would hang bats) and
# without the password in its environment.
redis::_detached() {
  (
    unset REDISCLI_AUTH
    svc::detached "$@" </dev/null
  )
}

redis::_pid_alive() {
  local pidfile=$1 comm=$2 pid
  [[ -r $pidfile ]] || return 1
  pid="$(cat "$pidfile" 2>/dev/null)"
  [[ $pid =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]]
}

# ---- what the topology survives -----------------------------------------------------------------

# redis::cluster_summary HOST PORT: one line for status/cluster_info: state, masters, replicas and
# what the current layout survives (a master whose every replica sits on its own host counts as
# unprotected, because losing that host loses both).
redis::cluster_summary() {
  local nodes state masters=0 replicas=0 unprotected=0 covered=0 line id addr flags master slots
  local -A master_host=() protected=()
  state="$(redis::cluster_field "$1" "$2" cluster_state)" || { printf 'redis cluster: not answering on %s:%s\n' "$1" "$2"; return 1; }
  nodes="$(redis::nodes "$1" "$2")"
  while read -r id addr flags master _ slots; do
    [[ $flags == *fail* && $flags != *pfail* ]] && continue
    if [[ $flags == *master* ]] && (( slots > 0 )); then
      masters=$(( masters + 1 ))
      covered=$(( covered + slots ))
      master_host[$id]=${addr%:*}
    fi
  done <<< "$nodes"
  while read -r id addr flags master _ slots; do
    [[ $flags == *slave* && $flags != *fail* ]] || continue
    [[ -n "${master_host[$master]:-}" ]] || continue
    replicas=$(( replicas + 1 ))
    [[ ${addr%:*} != "${master_host[$master]}" ]] && protected[$master]=1
  done <<< "$nodes"
  for line in "${!master_host[@]}"; do
    [[ -n "${protected[$line]:-}" ]] || unprotected=$(( unprotected + 1 ))
  done
  printf 'redis cluster: %s, %d master(s) serving %d/%d slots, %d replica(s); ' \
    "$state" "$masters" "$covered" "$REDIS_SLOTS" "$replicas"
  if (( masters == 0 )); then
    printf 'no data served\n'
  elif (( unprotected == 0 && masters > 1 )); then
    printf 'survives the loss of any one node without losing a key\n'
  elif (( unprotected == masters )); then
    printf 'no replica on another node: losing a node takes its slots (about 1/%d of the keys) offline\n' "$masters"
  else
    printf '%d master(s) without a replica on another node: losing one of those nodes takes its slots offline\n' "$unprotected"
  fi
}

# redis::quiet CMD...: run::cmd with the command's own output kept in the trace file (the dry-run line
# still shows on stdout).
redis::quiet() {
  if run::is_dry; then run::cmd "$@"; return; fi
  run::cmd "$@" >> "$(redis::trace)" 2>&1
}

# The chatty output of redis-cli --cluster goes to its own file next to the log.
redis::trace() {
  local f
  f="$(path::of /var/log/hpc-cluster/redis-cluster-cli.log)"
  mkdir -p "$(dirname "$f")" 2>/dev/null || true
  printf '%s\n' "$f"
}

redis::link_up() { [[ "$(redis::info_field "$1" "$2" replication master_link_status)" == up ]]; }

redis::is_master() { [[ "$(redis::info_field "$1" "$2" replication role)" == master ]]; }

# redis::send HOST PORT CMD...: a redis-cli command that changes something (dry-run aware; its output
# goes to the trace file).
redis::send() {
  local host=$1 port=$2
  shift 2
  redis::quiet redis-cli --no-auth-warning -h "$host" -p "$port" "$@"
}

# redis::leave_remote IP: stop Redis on the node being removed (its --leave; --dry-run passed on); a
# failure is only a warning, with the command to run there.
redis::leave_remote() {
  remote::toolkit "$1" setup/phase2_redis_setup.sh --leave --yes "${DRY_ARGS[@]+"${DRY_ARGS[@]}"}" \
    || log::warn "could not stop Redis on $1; stop it there with: setup/phase2_redis_setup.sh --leave"
}

# redis::cover_orphan_slots HOST PORT: the slots no node owns (those of a dead master without a
# replica, once it is forgotten) are assigned, empty, to the masters still serving - each missing range
# split evenly between them - so the cluster is whole again and a restore can put their keys back.
redis::cover_orphan_slots() {
  local host=$1 port=$2 out masters=() lo hi n i step a b addr
  out="$(redis::cli "$host" "$port" CLUSTER NODES | tr -d '\r')" || return 1
  mapfile -t masters < <(awk '$3 ~ /master/ && $3 !~ /fail|handshake|noaddr/ { split($2, a, "@"); print a[1] }' <<< "$out")
  n=${#masters[@]}
  (( n > 0 )) || return 1
  while read -r lo hi; do
    [[ -n $lo ]] || continue
    step=$(( (hi - lo + n) / n ))
    for (( i = 0; i < n; i++ )); do
      a=$(( lo + i * step )) b=$(( lo + (i + 1) * step - 1 ))
      (( b > hi )) && b=$hi
      (( a <= b )) || continue
      addr=${masters[i]}
      log::info "slots $a-$b had no owner: served (empty) by $addr"
      run::cmd redis-cli --no-auth-warning -h "${addr%:*}" -p "${addr##*:}" CLUSTER ADDSLOTSRANGE "$a" "$b" >/dev/null
      run::cmd redis-cli --no-auth-warning -h "${addr%:*}" -p "${addr##*:}" CLUSTER BUMPEPOCH >/dev/null
    done
  done < <(awk '{ for (i = 9; i <= NF; i++) if ($i !~ /^\[/) { split($i, r, "-"); h = (r[2] == "" ? r[1] : r[2]); for (s = r[1]; s <= h; s++) own[s] = 1 } }
    END { st = -1; for (s = 0; s < 16384; s++) { if (!(s in own)) { if (st < 0) st = s } else if (st >= 0) { print st, s - 1; st = -1 } }
          if (st >= 0) print st, 16383 }' <<< "$out")
  run::is_dry && return 0
  # every master must see the new owners before a check compares their views (cluster_state:ok
  # first, then one slot map on all of them: the epochs bumped on each survivor settle by gossip)
  run::wait_until 30 "every Redis master to serve all slots" redis::_all_ok "${masters[@]}"
  run::wait_until 30 "every Redis master to agree on the slot map" cluster::agree "$host" || true
}

redis::_all_ok() {
  local addr
  for addr in "$@"; do redis::cluster_ok "${addr%:*}" "${addr##*:}" || return 1; done
}
