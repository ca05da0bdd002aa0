# shellcheck shell=bash
# lib/discovery.sh - what a node knows about itself (discovery::self_json) and how every configured
# node is probed at once (discovery::probe_all). Sourced by discovery/auto_discovery.sh,
# discovery/check_cluster_status.sh and utils/cluster_info.sh.
#
# A peer is probed by running this toolkit's own `auto_discovery.sh --self-json` on it over SSH, so the
# probe reads the daemons through their local sockets (no database or Redis port has to be open to us).
# Every probe runs in the background with one deadline, so a run costs about one probe timeout whatever
# the number of nodes. The JSON shape is fixed in docs/toolkit-conventions.md (the orchestrator reads it).

# The first line a remote probe prints: its presence proves SSH got through even if the probe then hung.
readonly DISCOVERY_MARKER='HPC-PROBE'

# discovery::bounded SECS CMD...: CMD killed after SECS, so one hung daemon cannot stall a probe.
discovery::bounded() {
  local secs=$1
  shift
  timeout -k 1 "$secs" "$@"
}

# discovery::running NAME...: one of the named processes runs here (pidof sees this PID namespace only).
discovery::running() {
  local name
  for name in "$@"; do
    pidof -s "$name" >/dev/null 2>&1 && return 0
  done
  return 1
}

# discovery::secret NAME: the secret's value, or fail quietly (a probe never dies for a missing secret).
discovery::secret() {
  [[ -n $1 ]] || return 1
  (secrets::get "$1") 2>/dev/null
}

# ---------------------------------------------------------------------------------------------------
# Local facts. Each discovery::fact_* NAME writes DIR/NAME.svc (true/false: the daemon runs here) and
# DIR/NAME.json (the service object, or null when the service does not run here).

discovery::_put() {  # DIR NAME SVC JSON
  printf '%s' "$3" > "$1/$2.svc"
  printf '%s' "$4" > "$1/$2.json"
}

# Galera: wsrep status over the unix socket as root (no password on the command line or anywhere).
discovery::fact_galera() {
  local dir=$1 t=$2 out name value obj
  local -A w=()
  if ! discovery::running mariadbd mysqld; then
    discovery::_put "$dir" galera false null
    return 0
  fi
  if ! out="$(discovery::bounded "$t" mariadb --connect-timeout="$t" -N -B \
      -e "SHOW GLOBAL STATUS LIKE 'wsrep_%'" 2>/dev/null)"; then
    discovery::_put "$dir" galera false \
      '{"cluster_status":null,"cluster_size":null,"local_state":null,"state_uuid":null,"last_committed":null,"error":"mariadbd runs but does not answer"}'
    return 0
  fi
  while IFS=$'\t' read -r name value; do
    [[ -n $name ]] && w[$name]=$value
  done <<< "$out"
  # A MariaDB without the Galera provider still has a few wsrep_ rows: no provider means no Galera.
  if [[ -z ${w[wsrep_cluster_status]:-} || ( -n ${w[wsrep_provider_name]+x} && -z ${w[wsrep_provider_name]} ) ]]; then
    discovery::_put "$dir" galera true null
    return 0
  fi
  obj="{\"cluster_status\":$(json::str "${w[wsrep_cluster_status]}")"
  obj+=",\"cluster_size\":$(json::num "${w[wsrep_cluster_size]:-}")"
  obj+=",\"local_state\":$(json::str "${w[wsrep_local_state_comment]:-}")"
  obj+=",\"state_uuid\":$(json::str "${w[wsrep_cluster_state_uuid]:-}")"
  obj+=",\"last_committed\":$(json::num "${w[wsrep_last_committed]:-}")"
  obj+=",\"ready\":$(json::bool "$([[ ${w[wsrep_ready]:-} == ON ]] && echo 1)")}"
  discovery::_put "$dir" galera true "$obj"
}

# Redis: role and cluster state through redis-cli on the loopback; the password travels in REDISCLI_AUTH.
discovery::fact_redis() {
  local dir=$1 t=$2 pw="" out role="" state="" err=""
  if ! discovery::running redis-server; then
    discovery::_put "$dir" redis false null
    return 0
  fi
  if [[ -n $REDIS_PASSWORD_SECRET ]] && ! pw="$(discovery::secret "$REDIS_PASSWORD_SECRET")"; then
    err="secret $REDIS_PASSWORD_SECRET is not readable here"
  fi
  out="$(REDISCLI_AUTH="$pw" discovery::bounded "$t" redis-cli --no-auth-warning -h 127.0.0.1 \
    -p "$REDIS_PORT" info replication 2>&1)" || true
  out=${out//$'\r'/}
  if [[ $out =~ (^|$'\n')role:([a-z]+) ]]; then
    role=${BASH_REMATCH[2]}
  elif [[ $out == *NOAUTH* || $out == *WRONGPASS* || $out == *"invalid password"* ]]; then
    err="authentication failed${err:+ ($err)}"
  else
    err="no answer from redis-server on port $REDIS_PORT"
  fi
  if [[ -n $role && $REDIS_TYPE == cluster ]]; then
    out="$(REDISCLI_AUTH="$pw" discovery::bounded "$t" redis-cli --no-auth-warning -h 127.0.0.1 \
      -p "$REDIS_PORT" cluster info 2>&1)" || true
    out=${out//$'\r'/}
    [[ $out =~ (^|$'\n')cluster_state:([a-z]+) ]] && state=${BASH_REMATCH[2]}
  fi
  discovery::_put "$dir" redis true "{\"role\":$( [[ -n $role ]] && json::str "$role" || printf null),\"cluster_state\":$( [[ -n $state ]] && json::str "$state" || printf null),\"sentinel\":$(json::bool "$(discovery::running redis-sentinel && echo 1)")$( [[ -n $err ]] && printf ',"error":%s' "$(json::str "$err")")}"
}

# GlusterFS: connected peers, whether the configured volume is started, whether it is mounted here.
discovery::fact_glusterfs() {
  local dir=$1 t=$2 out peers=0 connected=0 started=false mounted=false line
  if ! discovery::running glusterd; then
    discovery::_put "$dir" glusterfs false null
    return 0
  fi
  if out="$(discovery::bounded "$t" gluster --mode=script peer status 2>/dev/null)"; then
    while IFS= read -r line; do
      [[ $line =~ ^Number\ of\ Peers:\ ([0-9]+) ]] && peers=${BASH_REMATCH[1]}
      [[ $line == *"(Connected)"* ]] && connected=$((connected + 1))
    done <<< "$out"
  fi
  if out="$(discovery::bounded "$t" gluster --mode=script volume info "$STORAGE_VOLUME_NAME" 2>/dev/null)" \
      && [[ $out == *"Status: Started"* ]]; then
    started=true
  fi
  if awk -v m="$STORAGE_MOUNT_POINT" '$2 == m { found = 1 } END { exit !found }' "$(path::of /proc/mounts)" 2>/dev/null; then
    mounted=true
  fi
  discovery::_put "$dir" glusterfs true \
    "{\"peers\":$peers,\"peers_connected\":$connected,\"volume_started\":$started,\"mounted\":$mounted}"
}

# Slurm: `scontrol ping` names every controller and says UP or DOWN.
discovery::fact_slurm() {
  local dir=$1 t=$2 out line ping=DOWN primary="" ctl="" first=1 svc=false
  discovery::running slurmctld slurmd && svc=true
  if [[ ! -f "$(path::of /etc/slurm/slurm.conf)" ]] && [[ $svc == false ]]; then
    discovery::_put "$dir" slurm false null
    return 0
  fi
  out="$(discovery::bounded "$t" scontrol ping 2>/dev/null)" || true
  while IFS= read -r line; do
    # Slurmctld(primary) at node1 is UP
    if [[ $line =~ Slurmctld\(([a-z0-9]+)\)\ at\ ([^ ]+)\ is\ ([A-Z]+) ]]; then
      (( first )) || ctl+=','
      first=0
      ctl+="{\"role\":$(json::str "${BASH_REMATCH[1]}"),\"host\":$(json::str "${BASH_REMATCH[2]}"),\"state\":$(json::str "${BASH_REMATCH[3]}")}"
      if [[ ${BASH_REMATCH[3]} == UP && -z $primary ]]; then
        ping=UP
        primary=${BASH_REMATCH[2]}
      fi
    fi
  done <<< "$out"
  discovery::_put "$dir" slurm "$svc" \
    "{\"ping\":\"$ping\",\"primary\":$( [[ -n $primary ]] && json::str "$primary" || printf null),\"controllers\":[${ctl}],\"slurmctld\":$(json::bool "$(discovery::running slurmctld && echo 1)")}"
}

# Web services: each configured health URL on this node answers 2xx.
discovery::fact_web() {
  local dir=$1 t=$2 i code all=true obj="" first=1
  if (( ${#WEB_SERVICE_URLS[@]} == 0 )); then
    discovery::_put "$dir" web false null
    return 0
  fi
  for i in "${!WEB_SERVICE_URLS[@]}"; do
    code="$(curl -s -o /dev/null -w '%{http_code}' -m "$t" "${WEB_SERVICE_URLS[i]}" 2>/dev/null)" || true
    (( first )) || obj+=','
    first=0
    if [[ $code == 2?? ]]; then
      obj+="$(json::str "${WEB_SERVICE_NAMES[i]}"):true"
    else
      obj+="$(json::str "${WEB_SERVICE_NAMES[i]}"):false"
      all=false
    fi
  done
  discovery::_put "$dir" web "$all" "{$obj}"
}

# discovery::uptime_words SECONDS: "5 days", "3 hours", "12 minutes".
discovery::uptime_words() {
  local s=${1%%.*}
  if (( s >= 172800 )); then printf '%d days' $((s / 86400))
  elif (( s >= 86400 )); then printf '1 day'
  elif (( s >= 7200 )); then printf '%d hours' $((s / 3600))
  elif (( s >= 3600 )); then printf '1 hour'
  else printf '%d minutes' $((s / 60))
  fi
}

# discovery::cluster_id: the cluster uuid this node belongs to, empty when it never joined one.
discovery::cluster_id() {
  local f id=""
  f="$(path::of "$STATE_DIR/cluster_id")"
  [[ -r $f ]] && id="$(head -n 1 "$f")"
  [[ $id =~ ^[A-Za-z0-9-]+$ ]] && printf '%s' "$id"
  return 0
}

# discovery::self_json [SECS]: this node's facts as one JSON object (probes run in parallel, each
# bounded by SECS). Never fails: what cannot be read is null.
discovery::self_json() {
  local t=${1:-$DISCOVERY_PROBE_TIMEOUT} dir fact load="" up="" id holds=0 ssh
  dir="$(tmp::dir)"
  for fact in galera redis glusterfs slurm web; do
    discovery::fact_"$fact" "$dir" "$t" &
  done
  wait || true
  read -r load _ < "$(path::of /proc/loadavg)" 2>/dev/null || true
  read -r up _ < "$(path::of /proc/uptime)" 2>/dev/null || true
  id="$(discovery::cluster_id)"
  if [[ -n $VIP_ADDRESS ]] && node::local_ips | grep -qxF -- "$VIP_ADDRESS"; then holds=1; fi
  ssh=0
  discovery::running sshd && ssh=1
  for fact in galera redis glusterfs slurm web; do
    [[ -s $dir/$fact.svc ]] || discovery::_put "$dir" "$fact" false null
  done
  printf '{"hostname":%s' "$(json::str "$(hostname 2>/dev/null || true)")"
  printf ',"services":{"ssh":%s,"glusterfs":%s,"mariadb":%s,"redis":%s,"slurm":%s,"web":%s}' \
    "$(json::bool "$ssh")" "$(< "$dir/glusterfs.svc")" "$(< "$dir/galera.svc")" "$(< "$dir/redis.svc")" \
    "$(< "$dir/slurm.svc")" "$(< "$dir/web.svc")"
  printf ',"galera":%s,"redis":%s,"glusterfs":%s,"slurm":%s,"web":%s' "$(< "$dir/galera.json")" \
    "$(< "$dir/redis.json")" "$(< "$dir/glusterfs.json")" "$(< "$dir/slurm.json")" "$(< "$dir/web.json")"
  printf ',"cluster_id":%s' "$( [[ -n $id ]] && json::str "$id" || printf null)"
  printf ',"load":%s,"uptime":%s,"uptime_seconds":%s,"holds_vip":%s}\n' "$(json::num "$load")" \
    "$( [[ -n $up ]] && json::str "$(discovery::uptime_words "$up")" || printf null)" \
    "$(json::num "${up%%.*}")" "$(json::bool "$holds")"
}

# ---------------------------------------------------------------------------------------------------
# Probing peers.

# discovery::ssh_reason STDERR_FILE: why SSH failed (exit 255), from its message.
discovery::ssh_reason() {
  local msg
  msg="$(< "$1")" || msg=""
  case "$msg" in
    *"timed out"*|*"Timeout"*) printf 'timeout' ;;
    *"Connection refused"*) printf 'refused' ;;
    *"No route to host"*|*"Network is unreachable"*|*"Could not resolve"*|*"Name or service not known"*) printf 'no_route' ;;
    *"Permission denied"*|*"Host key verification failed"*|*"HOST IDENTIFICATION HAS CHANGED"*|*"Too many authentication failures"*) printf 'auth_failed' ;;
    *) printf 'malformed' ;;
  esac
}

# discovery::_first_line FILE: the first non-empty line, cut to 200 characters (for "error").
discovery::_first_line() {
  local line
  while IFS= read -r line; do
    line=${line//$'\r'/}
    if [[ -n $line ]]; then printf '%s' "${line:0:200}"; return 0; fi
  done < "$1"
}

# discovery::classify IP IS_SELF RC OUT ERR HTTP T: print the node object from what the probe left.
# active = the node answered with valid JSON; inactive = nothing of it answered, with the reason;
# unknown = reached (SSH got through, or its /health answered) but its state could not be read.
# Only the active case runs jq (to validate the answer): the failure cases are built in bash, because
# on a big cluster most jobs end together at the deadline and the run must not queue 30 jq starts.
discovery::classify() {
  local ip=$1 self=$2 rc=$3 out=$4 err=$5 http=$6 t=$7 host=$1 status reason msg body first="" i
  for i in "${!NODE_IPS[@]}"; do
    [[ ${NODE_IPS[i]} == "$ip" ]] && host=${NODE_HOSTNAMES[i]}
  done
  local marker=0
  [[ -s $out ]] && IFS= read -r first < "$out"
  [[ $first == "$DISCOVERY_MARKER" ]] && marker=1
  if (( rc == 0 && marker )); then
    body="$(tail -n +2 "$out")"
    if jq -ce --arg ip "$ip" --arg host "$host" --argjson self "$self" --argjson http "${http:-null}" \
        'if type == "object" and (.services | type) == "object" then
           . + {ip: $ip, hostname: $host, reported_hostname: .hostname, self: $self, status: "active",
                reason: null, health_http: $http}
         else error("not a node object") end' <<< "$body" 2>/dev/null; then
      return 0
    fi
    status=unknown reason=malformed msg="the probe's answer is not valid JSON"
  elif (( rc == 124 || rc == 137 )); then
    reason=timeout
    if (( marker )); then
      status=unknown msg="reached over SSH but the probe did not answer within ${t}s"
    else
      status=inactive msg="no answer within ${t}s"
    fi
  elif (( rc == 255 && ! marker )); then
    reason="$(discovery::ssh_reason "$err")"
    msg="$(discovery::_first_line "$err")"
    status=inactive
    if [[ $reason == malformed ]]; then status=unknown; fi
  elif (( rc == 127 )); then
    status=unknown reason=malformed msg="toolkit not found at $HPC_TOOLKIT_DIR on $ip (exit 127)"
  else
    status=unknown reason=malformed
    msg="the probe exited $rc: $(discovery::_first_line "$err")"
  fi
  # Something answered on the node's /health port: it is up, so it is never reported as down.
  if [[ $status == inactive && -n $http ]]; then
    status=unknown
    msg+="; but its /health endpoint answered HTTP $http"
  fi
  printf '{"ip":%s,"hostname":%s,"self":%s,"status":"%s","reason":"%s","error":%s,' \
    "$(json::str "$ip")" "$(json::str "$host")" "$self" "$status" "$reason" "$(json::str "${msg:-$reason}")"
  printf '"services":{},"galera":null,"redis":null,"glusterfs":null,"slurm":null,"web":null,'
  printf '"cluster_id":null,"load":null,"uptime":null,"health_http":%s}\n' "${http:-null}"
}

# discovery::probe_job IP DIR T: probe one node (SSH and its /health port at the same time) and leave
# DIR/node.json. Runs in the background; every step is bounded by T.
discovery::probe_job() {
  local ip=$1 dir=$2 t=$3 self=false sub rc=0 http="" curl_pid remote opts=() o
  sub=$(( t > 1 ? t - 1 : 1 ))
  curl -s -o /dev/null -w '%{http_code}' -m "$t" "http://$ip:$HEALTH_PORT/health" > "$dir/http" 2>/dev/null &
  curl_pid=$!
  if [[ $ip == "${SELF_IP:-}" ]]; then
    self=true
    { printf '%s\n' "$DISCOVERY_MARKER"
      timeout -k 0.5 "$t" "$HPC_TOOLKIT_DIR/discovery/auto_discovery.sh" --self-json --timeout "$sub"
    } > "$dir/out" 2> "$dir/err" || rc=$?
  else
    # ConnectTimeout is the deadline too (ssh keeps the first value given, so replace it).
    while IFS= read -r o; do
      [[ $o == ConnectTimeout=* ]] && o="ConnectTimeout=$t"
      opts+=("$o")
    done < <(remote::ssh_opts)
    remote="printf '%s\\n' $DISCOVERY_MARKER; exec $(printf '%q' "$HPC_TOOLKIT_DIR/discovery/auto_discovery.sh") --self-json --timeout $sub"
    timeout -k 0.5 "$t" ssh "${opts[@]}" "${DISCOVERY_SSH_USER}@${ip}" -- "$remote" \
      > "$dir/out" 2> "$dir/err" < /dev/null || rc=$?
  fi
  wait "$curl_pid" 2>/dev/null || true
  http="$(cat "$dir/http" 2>/dev/null)"
  [[ $http =~ ^[1-5][0-9][0-9]$ ]] || http=""
  discovery::classify "$ip" "$self" "$rc" "$dir/out" "$dir/err" "$http" "$t" > "$dir/node.json"
}

# discovery::probe_all T: probe every configured node in parallel and print the report (one JSON).
discovery::probe_all() {
  local t=$1 dir i started_ms
  started_ms=$(( ${EPOCHREALTIME/./} / 1000 ))
  dir="$(tmp::dir)"
  for i in "${!NODE_IPS[@]}"; do
    mkdir -p "$dir/$i"
    discovery::probe_job "${NODE_IPS[i]}" "$dir/$i" "$t" &
  done
  wait || true
  for i in "${!NODE_IPS[@]}"; do
    # A job that died without a verdict (should not happen) still yields a node, never a hole.
    if [[ ! -s $dir/$i/node.json ]]; then
      printf '' > "$dir/$i/empty"
      discovery::classify "${NODE_IPS[i]}" false 1 "$dir/$i/empty" "$dir/$i/empty" "" "$t" > "$dir/$i/node.json"
    fi
  done
  for i in "${!NODE_IPS[@]}"; do cat "$dir/$i/node.json"; done | jq -cs \
    --arg self_ip "${SELF_IP:-}" --argjson t "$t" --argjson started "$started_ms" \
    --argjson now "$(( ${EPOCHREALTIME/./} / 1000 ))" '
    (map(select(.status == "active"))) as $active
    | ([.[] | select(.self) | .cluster_id | strings] + [$active[] | .cluster_id | strings]) as $ids
    | {
        total_nodes: length,
        active_nodes: ($active | length),
        inactive_nodes: (map(select(.status == "inactive")) | length),
        unknown_nodes: (map(select(.status == "unknown")) | length),
        cluster_id: ($ids[0] // null),
        cluster_ids: ($ids | unique),
        cluster_state: (if length == 1 then "standalone"
                        elif ($active | length) == 0 then "down"
                        elif ($active | length) == length then "healthy"
                        else "degraded" end),
        vip_owner: ([$active[] | select(.holds_vip == true) | .ip][0] // null),
        self_ip: (if $self_ip == "" then null else $self_ip end),
        probe_timeout: $t,
        duration_ms: ($now - $started),
        nodes: .
      }'
}
