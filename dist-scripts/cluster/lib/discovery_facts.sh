# shellcheck shell=bash
# lib/discovery_facts.sh - what a node knows about itself: one fact per service (discovery::fact_NAME,
# NAME = the registry's discovery_fact) and discovery::self_json, the node object of the discovery JSON
# (what a peer's probe runs here over SSH). Sourced by lib/discovery.sh. Never fails: what cannot be
# read is null.

# discovery::bounded SECS CMD...: CMD killed after SECS, so one hung daemon cannot stall a probe.
discovery::bounded() {
  local secs=$1
  shift
  timeout -k 1 "$secs" "$@"
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
  if ! svc::process_running mariadbd mysqld; then
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
  if ! svc::process_running redis-server; then
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
  discovery::_put "$dir" redis true "{\"role\":$( [[ -n $role ]] && json::str "$role" || printf null),\"cluster_state\":$( [[ -n $state ]] && json::str "$state" || printf null),\"sentinel\":$(json::bool "$(svc::process_running redis-sentinel && echo 1)")$( [[ -n $err ]] && printf ',"error":%s' "$(json::str "$err")")}"
}

# GlusterFS: connected peers, whether the configured volume is started, whether it is mounted here.
discovery::fact_glusterfs() {
  local dir=$1 t=$2 out peers=0 connected=0 started=false mounted=false line
  if ! svc::process_running glusterd; then
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
  svc::process_running slurmctld slurmd && svc=true
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
    "{\"ping\":\"$ping\",\"primary\":$( [[ -n $primary ]] && json::str "$primary" || printf null),\"controllers\":[${ctl}],\"slurmctld\":$(json::bool "$(svc::process_running slurmctld && echo 1)")}"
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

# discovery::facts: the registry's discovery facts, one a line ("FACT KEY": discovery::fact_FACT, reported
# as services.KEY and as the object FACT).
discovery::facts() {
  local i
  for i in "${!SERVICES[@]}"; do
    [[ -n ${SERVICE_DISCOVERY_FACTS[i]} ]] && printf '%s %s\n' "${SERVICE_DISCOVERY_FACTS[i]}" "${SERVICE_DISCOVERY_KEYS[i]}"
  done
  return 0
}

# discovery::null_facts: ',"galera":null,"redis":null,...' - the service objects of a node that gave none.
discovery::null_facts() {
  local fact _
  while read -r fact _; do printf ',"%s":null' "$fact"; done < <(discovery::facts)
}

# discovery::self_json [SECS]: this node's facts as one JSON object (probes run in parallel, each
# bounded by SECS). Never fails: what cannot be read is null.
discovery::self_json() {
  local t=${1:-$DISCOVERY_PROBE_TIMEOUT} dir fact key load="" up="" id holds=0 ssh svc_json="" objects=""
  local -a facts=()
  dir="$(tmp::dir)"
  mapfile -t facts < <(discovery::facts)
  for fact in "${facts[@]}"; do
    discovery::fact_"${fact% *}" "$dir" "$t" &
  done
  wait || true
  read -r load _ < "$(path::of /proc/loadavg)" 2>/dev/null || true
  read -r up _ < "$(path::of /proc/uptime)" 2>/dev/null || true
  id="$(discovery::cluster_id)"
  if [[ -n $VIP_ADDRESS ]] && grep -qxF -- "$VIP_ADDRESS" <<< "$(node::local_ips)"; then holds=1; fi
  ssh=0
  svc::process_running sshd && ssh=1
  for fact in "${facts[@]}"; do
    key=${fact#* } fact=${fact% *}
    [[ -s $dir/$fact.svc ]] || discovery::_put "$dir" "$fact" false null
    svc_json+=",\"$key\":$(< "$dir/$fact.svc")"
    objects+=",\"$fact\":$(< "$dir/$fact.json")"
  done
  printf '{"hostname":%s' "$(json::str "$(hostname 2>/dev/null || true)")"
  printf ',"services":{"ssh":%s%s}%s' "$(json::bool "$ssh")" "$svc_json" "$objects"
  printf ',"cluster_id":%s,"toolkit":%s' "$( [[ -n $id ]] && json::str "$id" || printf null)" "$(toolkit::json)"
  printf ',"load":%s,"uptime":%s,"uptime_seconds":%s,"holds_vip":%s}\n' "$(json::num "$load")" \
    "$( [[ -n $up ]] && json::str "$(discovery::uptime_words "$up")" || printf null)" \
    "$(json::num "${up%%.*}")" "$(json::bool "$holds")"
}
