# shellcheck shell=bash
# lib/monitoring.sh - the toolkit's own metrics (node_exporter's textfile collector) and the member list
# of monitoring. Every .prom file is written atomically (temp file in the same directory + rename), so
# node_exporter never serves half a file. Metric names: hpc_* (see docs/toolkit-conventions.md).
#
# Hooks called by other scripts (each is a no-op when monitoring is off, and never fails its caller):
#   monitoring::vip_transition STATE             utils/vip_notify.sh, on every VRRP transition
#   monitoring::backup_result ok|failed [BYTES]  lib/backup_status.sh (backup/backup.sh), at the end of a run

# monitoring::textfile_dir: where node_exporter reads *.prom files.
monitoring::textfile_dir() { path::of "${MONITORING_TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}"; }

# monitoring::write_prom NAME: stdin becomes TEXTFILE_DIR/NAME.prom (0644), atomically. Skipped under
# --dry-run (metrics are not configuration).
monitoring::write_prom() {
  local dir tmp
  if run::is_dry; then cat >/dev/null; return 0; fi
  dir="$(monitoring::textfile_dir)"
  fs::mkdir_public "$dir"
  tmp="$(mktemp "$dir/.$1.prom.XXXXXX")"
  cat > "$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$dir/$1.prom"
}

# monitoring::label VALUE: a Prometheus label value (backslash, quote and newline escaped).
monitoring::label() {
  local v=${1//\\/\\\\}
  v=${v//\"/\\\"}
  printf '%s' "${v//$'\n'/\\n}"
}

# monitoring::state_get NAME [DEFAULT] / monitoring::state_set NAME VALUE: one-line facts in
# STATE_DIR/metrics/ (counters and timestamps that must survive a reboot).
monitoring::state_get() {
  local f
  f="$(path::of "$STATE_DIR/metrics/$1")"
  if [[ -r $f ]]; then sed -n 1p "$f"; else printf '%s\n' "${2:-0}"; fi
}
monitoring::state_set() {
  local dir
  run::is_dry && return 0
  dir="$(path::of "$STATE_DIR/metrics")"
  mkdir -p "$dir"
  printf '%s\n' "$2" > "$dir/.$1.tmp.$$"
  mv -f "$dir/.$1.tmp.$$" "$dir/$1"
}

monitoring::enabled() { [[ ${MONITORING_ENABLED:-true} == true ]]; }

# ---- VIP -----------------------------------------------------------------------------------------

# monitoring::vip_metrics STATE: hpc_vip.prom from the last VRRP state and the MASTER counter.
monitoring::vip_metrics() {
  local state=${1:-UNKNOWN} s
  {
    printf '# HELP hpc_vip_master 1 while keepalived on this node is MASTER of the VIP.\n# TYPE hpc_vip_master gauge\n'
    printf 'hpc_vip_master{vip="%s"} %d\n' "$VIP_ADDRESS" "$([[ $state == MASTER ]] && echo 1 || echo 0)"
    printf '# HELP hpc_vip_state The last VRRP state keepalived reported here (1 for the current one).\n# TYPE hpc_vip_state gauge\n'
    for s in MASTER BACKUP FAULT STOP; do
      printf 'hpc_vip_state{state="%s"} %d\n' "$s" "$([[ $state == "$s" ]] && echo 1 || echo 0)"
    done
    printf '# HELP hpc_vip_master_transitions_total Times this node became MASTER (a failover to it).\n# TYPE hpc_vip_master_transitions_total counter\n'
    printf 'hpc_vip_master_transitions_total %s\n' "$(monitoring::state_get vip_master_transitions)"
    printf '# HELP hpc_vip_last_transition_timestamp_seconds When the last VRRP transition happened here.\n# TYPE hpc_vip_last_transition_timestamp_seconds gauge\n'
    printf 'hpc_vip_last_transition_timestamp_seconds %s\n' "$(monitoring::state_get vip_last_transition)"
  } | monitoring::write_prom hpc_vip
}

# monitoring::vip_transition STATE: count a MASTER transition, then rewrite the VIP metrics.
monitoring::vip_transition() {
  monitoring::enabled || return 0
  {
    if [[ $1 == MASTER ]]; then
      monitoring::state_set vip_master_transitions "$(( $(monitoring::state_get vip_master_transitions) + 1 ))"
    fi
    monitoring::state_set vip_last_transition "$(date +%s)"
    monitoring::vip_metrics "$1"
  } 2>/dev/null || true
}

# ---- backups -----------------------------------------------------------------------------------------

# monitoring::backup_result ok|failed [SIZE_BYTES]: the end of a backup run (lib/backup_status.sh calls
# it). backup/backup.sh itself writes hpc_backup.prom (last outcome, last success time, duration, new
# bytes: what BackupFailed and BackupTooOld read); this adds what it does not keep: the time of the
# last failure and the size of the last good snapshot, in hpc_backup_outcome.prom (no metric in both).
# The value not updated comes from that file itself: no state file, which a snapshot of STATE_DIR
# would carry (and a restore put back).
monitoring::backup_result() {
  monitoring::enabled || return 0
  {
    local dir failure size
    dir="$(monitoring::textfile_dir)"
    [[ -d $dir ]] || return 0
    failure="$(monitoring::prom_value "$dir/hpc_backup_outcome.prom" hpc_backup_last_failure_timestamp_seconds)"
    size="$(monitoring::prom_value "$dir/hpc_backup_outcome.prom" hpc_backup_last_size_bytes)"
    if [[ $1 == ok ]]; then
      if [[ ${2:-} =~ ^[0-9]+$ ]]; then size=$2; fi
    else
      failure="$(date +%s)"
    fi
    {
      printf '# HELP hpc_backup_last_failure_timestamp_seconds When the last backup run on this node failed (0: never).\n'
      printf '# TYPE hpc_backup_last_failure_timestamp_seconds gauge\n'
      printf 'hpc_backup_last_failure_timestamp_seconds %s\n' "$failure"
      printf '# HELP hpc_backup_last_size_bytes Size of the last successful snapshot taken on this node.\n'
      printf '# TYPE hpc_backup_last_size_bytes gauge\n'
      printf 'hpc_backup_last_size_bytes %s\n' "$size"
    } | monitoring::write_prom hpc_backup_outcome
  } 2>/dev/null || true
}

# monitoring::prom_value FILE METRIC: the value of an unlabelled METRIC in a .prom FILE (0 when absent).
monitoring::prom_value() {
  local v
  v="$(awk -v m="$2" '$1 == m { v = $2 } END { print v }' "$1" 2>/dev/null || true)"
  if [[ $v =~ ^[0-9]+$ ]]; then printf '%s\n' "$v"; else printf '0\n'; fi
}

# ---- periodic facts (phase5 --collect, from cron every minute) ------------------------------------------

# monitoring::slurm_metrics: controllers as `scontrol ping` sees them, jobs and nodes by state.
monitoring::slurm_metrics() {
  local out line role host st
  command -v scontrol >/dev/null 2>&1 || return 0
  out="$(timeout 10 scontrol ping 2>/dev/null || true)"
  [[ -n $out ]] || { monitoring::write_prom hpc_slurm < /dev/null; return 0; }
  {
    printf '# HELP hpc_slurm_controller_up 1 if scontrol ping on this node reports the controller UP.\n# TYPE hpc_slurm_controller_up gauge\n'
    while IFS= read -r line; do
      # Slurmctld(primary) at node1 is UP  /  Slurmctld(backup1) at node2 is DOWN
      [[ $line =~ Slurmctld\(([a-z]+)[0-9]*\)\ at\ ([^ ]+)\ is\ ([A-Z]+) ]] || continue
      role=${BASH_REMATCH[1]} host=${BASH_REMATCH[2]} st=${BASH_REMATCH[3]}
      printf 'hpc_slurm_controller_up{controller="%s",role="%s"} %d\n' "$(monitoring::label "$host")" "$role" "$([[ $st == UP ]] && echo 1 || echo 0)"
    done <<< "$out"
    printf '# TYPE hpc_slurm_jobs gauge\n'
    timeout 10 squeue -h -o '%T' 2>/dev/null | sort | uniq -c | awk '{ printf "hpc_slurm_jobs{state=\"%s\"} %d\n", tolower($2), $1 }' || true
    printf 'hpc_slurm_jobs{state="all"} %d\n' "$(timeout 10 squeue -h -o '%i' 2>/dev/null | wc -l)"
    printf '# TYPE hpc_slurm_nodes gauge\n'
    timeout 10 sinfo -h -N -o '%N %t' 2>/dev/null | sort -u | awk '{ n[$2]++ } END { for (s in n) printf "hpc_slurm_nodes{state=\"%s\"} %d\n", s, n[s] }' | sort || true
  } | monitoring::write_prom hpc_slurm
}

# monitoring::gluster_metrics: brick online state, peers and pending heal entries of the volume.
monitoring::gluster_metrics() {
  local status line host brick online connected=0 total=0 heal
  [[ ${STORAGE_TYPE:-} == glusterfs ]] && command -v gluster >/dev/null 2>&1 || return 0
  pidof -s glusterd >/dev/null 2>&1 || { monitoring::write_prom hpc_gluster < /dev/null; return 0; }
  status="$(timeout 15 gluster --mode=script volume status "$STORAGE_VOLUME_NAME" 2>/dev/null || true)"
  heal="$(timeout 15 gluster --mode=script volume heal "$STORAGE_VOLUME_NAME" info summary 2>/dev/null || true)"
  while IFS= read -r line; do
    [[ $line =~ ^State:\ Peer\ in\ Cluster ]] || continue
    total=$(( total + 1 ))
    [[ $line == *"(Connected)"* ]] && connected=$(( connected + 1 ))
  done < <(timeout 15 gluster --mode=script peer status 2>/dev/null || true)
  {
    printf '# HELP hpc_gluster_brick_online 1 if gluster volume status shows the brick process online.\n# TYPE hpc_gluster_brick_online gauge\n'
    while IFS= read -r line; do
      # Brick node1:/data/glusterfs/shared    59999     0          Y       1234
      [[ $line =~ ^Brick\ ([^:]+):([^ ]+)\ +[0-9N/A]+\ +[0-9N/A]+\ +([YN]) ]] || continue
      host=${BASH_REMATCH[1]} brick="${BASH_REMATCH[1]}:${BASH_REMATCH[2]}" online=${BASH_REMATCH[3]}
      printf 'hpc_gluster_brick_online{volume="%s",brick="%s",host="%s"} %d\n' "$STORAGE_VOLUME_NAME" \
        "$(monitoring::label "$brick")" "$(monitoring::label "$host")" "$([[ $online == Y ]] && echo 1 || echo 0)"
    done <<< "$status"
    printf '# HELP hpc_gluster_heal_pending Entries waiting to be healed on the brick.\n# TYPE hpc_gluster_heal_pending gauge\n'
    awk -v vol="$STORAGE_VOLUME_NAME" '
      /^Brick / { b = $2; split(b, p, ":"); h = p[1] }
      /^Total Number of entries:/ && b != "" { n = $NF; if (n !~ /^[0-9]+$/) n = 0
        printf "hpc_gluster_heal_pending{volume=\"%s\",brick=\"%s\",host=\"%s\"} %d\n", vol, b, h, n; b = "" }' <<< "$heal"
    printf '# TYPE hpc_gluster_peers_connected gauge\nhpc_gluster_peers_connected %d\n' "$connected"
    printf '# TYPE hpc_gluster_peers_total gauge\nhpc_gluster_peers_total %d\n' "$total"
  } | monitoring::write_prom hpc_gluster
}

# monitoring::toolkit_metrics: cluster id, toolkit version and the hash of the config it was made from.
monitoring::toolkit_metrics() {
  local id sha
  id="$(sed -n 1p "$(path::of "$STATE_DIR/cluster_id")" 2>/dev/null || true)"
  sha="$(sha256sum "$HPC_TOOLKIT_DIR/cluster_config.yaml" 2>/dev/null | awk '{ print $1 }')"
  {
    printf '# HELP hpc_toolkit_info The toolkit on this node: cluster id, version, config hash.\n# TYPE hpc_toolkit_info gauge\n'
    printf 'hpc_toolkit_info{cluster="%s",cluster_id="%s",toolkit_version="%s",config_sha256="%s"} 1\n' \
      "$(monitoring::label "$CLUSTER_NAME")" "$(monitoring::label "$id")" "$(monitoring::label "${TOOLKIT_VERSION:-unknown}")" "$sha"
  } | monitoring::write_prom hpc_toolkit
}

# monitoring::collect: every periodic metric, each file on its own (one failing source leaves the others).
monitoring::collect() {
  monitoring::toolkit_metrics || true
  monitoring::vip_metrics "$(sed -n 1p "$(path::of "$STATE_DIR/vip_state")" 2>/dev/null || echo UNKNOWN)" || true
  monitoring::slurm_metrics || true
  monitoring::gluster_metrics || true
  return 0
}

# ---- members -----------------------------------------------------------------------------------------

monitoring::members_file() { path::of "$STATE_DIR/monitoring_members"; }

# monitoring::members: the monitored members, in configured priority order (one IP a line).
# MONITORING_MEMBERS (one IP a line), when set, replaces the file: a --dry-run plans with the list it
# would have written.
monitoring::members() {
  local f ip list
  f="$(monitoring::members_file)"
  if [[ -n ${MONITORING_MEMBERS+x} ]]; then list=$MONITORING_MEMBERS
  elif [[ -r $f ]]; then list="$(cat "$f")"
  else return 0
  fi
  for ip in "${NODE_IPS[@]}"; do
    grep -qxF "$ip" <<< "$list" && printf '%s\n' "$ip"
  done
  return 0
}

# monitoring::prometheus_nodes: the members that run Prometheus (the first MONITORING_PROMETHEUS_NODES).
monitoring::prometheus_nodes() {
  local ips
  mapfile -t ips < <(monitoring::members)
  (( ${#ips[@]} )) || return 0
  printf '%s\n' "${ips[@]:0:$MONITORING_PROMETHEUS_NODES}"
}

# monitoring::targets_json PORT [IP...]: a file_sd list, one target per IP, labelled with the node name.
monitoring::targets_json() {
  local port=$1 ip sep=""
  shift
  printf '['
  for ip in "$@"; do
    printf '%s\n  {"targets": [%s], "labels": {"node": %s}}' "$sep" "$(json::str "$ip:$port")" "$(json::str "$(node::hostname_of "$ip")")"
    sep=","
  done
  printf '\n]\n'
}

# ---- the Prometheus port on members without Prometheus ------------------------------------------------
# socat listens on the Prometheus port and hands each connection to `phase5 --forward`, which connects
# it to the first Prometheus node that answers: the VIP answers on the Prometheus port wherever it is.

monitoring::forward_pidfile() { path::of /run/hpc-prometheus-forward.pid; }

monitoring::forward_running() {
  local pid
  pid="$(cat "$(monitoring::forward_pidfile)" 2>/dev/null || true)"
  [[ $pid =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == socat ]]
}

# monitoring::forward_start: start the forwarder unless it runs.
monitoring::forward_start() {
  monitoring::forward_running && return 0
  if run::is_dry; then
    printf '[dryrun] would run: socat TCP-LISTEN:%s,fork,reuseaddr EXEC:setup/phase5_monitoring_setup.sh --forward\n' "$MONITORING_PROMETHEUS_PORT"
    return 0
  fi
  # Not `svc::detached socat &`: the background subshell would wait for socat for ever, holding this
  # run's lock descriptors (and a calling orchestrator's); the next run on this node would exit 4.
  svc::detached monitoring::_forward_spawn
  log::ok "Prometheus port $MONITORING_PROMETHEUS_PORT forwarded to ${1:-the Prometheus nodes}"
}

# monitoring::_forward_spawn: (inside svc::detached: no inherited descriptor) socat in the background,
# its own pid in the pid file.
monitoring::_forward_spawn() {
  setsid socat "TCP-LISTEN:$MONITORING_PROMETHEUS_PORT,fork,reuseaddr" \
    "EXEC:$HPC_TOOLKIT_DIR/setup/phase5_monitoring_setup.sh --forward" </dev/null >/dev/null 2>&1 &
  printf '%s\n' "$!" > "$(monitoring::forward_pidfile)"
}

monitoring::forward_stop() {
  local pid
  monitoring::forward_running || return 0
  pid="$(cat "$(monitoring::forward_pidfile)")"
  run::cmd kill "$pid"
  run::is_dry || rm -f -- "$(monitoring::forward_pidfile)"
}

# monitoring::forward_connection: stdin/stdout is one client connection.
monitoring::forward_connection() {
  local ip
  for ip in $(monitoring::prometheus_nodes); do
    # shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
    if timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$ip" "$MONITORING_PROMETHEUS_PORT" 2>/dev/null; then
      exec socat - "TCP:$ip:$MONITORING_PROMETHEUS_PORT,connect-timeout=2"
    fi
  done
  return 1
}
