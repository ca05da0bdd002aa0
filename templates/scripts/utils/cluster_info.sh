#!/usr/bin/env bash
# Usage: cluster_info.sh [--json] [--timeout S] [--from FILE]
# Summary: Print the cluster status table.
#
# Runs discovery (every node probed in parallel) and prints the cluster's size, VIP owner, a node table
# with status and load, one line per service (N/A where a service is not set up yet), the shared and
# backup storage usage seen from this node, and the last backup.
#
# Options:
#   --json        the summary as JSON (with the full discovery report under "discovery")
#   --timeout S   discovery probe deadline (default: discovery.probe_timeout)
#   --from FILE   use a saved `auto_discovery.sh --json` report instead of probing
#
# Exit codes: 0 printed, 1 error, 2 usage.
# shellcheck source=../lib/discovery.sh
source "$HPC_LIB_DIR/discovery.sh"

JSON=0
TIMEOUT="$DISCOVERY_PROBE_TIMEOUT"
FROM=""

# cli::own_arg ARGS...: this script's flag beside --json and --timeout (lib/cli.sh).
# shellcheck disable=SC2034 # CLI_SHIFT is read by cli::report_args
cli::own_arg() {
  [[ $1 == --from ]] || return 1
  [[ -r ${2:-} ]] || lib::usage_error "--from needs a readable discovery report"
  FROM=$2
  CLI_SHIFT=2
}

# size_words N: "4-node (Quad Redundancy)" (the generator's sizeInWords, for the live count).
size_words() {
  local words=(Standalone "Dual Redundancy" "Triple Redundancy" "Quad Redundancy")
  if (( $1 >= 1 && $1 <= 4 )); then
    printf '%s-node (%s)' "$1" "${words[$1 - 1]}"
  else
    printf '%s-node (%s-way Redundancy)' "$1" "$1"
  fi
}

# usage_json PATH: {"used": "850G", "size": "2.0T", "percent": 42} for a mounted path, else null.
usage_json() {
  local path=$1 out
  if [[ -z $path || ! -d "$(path::of "$path")" ]]; then printf null; return 0; fi
  out="$(discovery::bounded 3 df -hP "$(path::of "$path")" 2>/dev/null | awk 'NR == 2 { sub("%", "", $5); print $3, $2, $5 }')" || true
  if [[ -z $out ]]; then printf null; return 0; fi
  local used size pct
  read -r used size pct <<< "$out"
  printf '{"path":%s,"used":%s,"size":%s,"percent":%s}' "$(json::str "$path")" "$(json::str "$used")" \
    "$(json::str "$size")" "$(json::num "$pct")"
}

# last_backup: what the backup tool recorded in ${STATE_DIR}/last_backup, else the newest metadata.json.
last_backup() {
  local f newest
  f="$(path::of "$STATE_DIR/last_backup")"
  if [[ -s $f ]]; then head -n 1 "$f"; return 0; fi
  [[ -d "$(path::of "$STORAGE_BACKUP_PATH")" ]] || return 0
  newest="$(discovery::bounded 3 find "$(path::of "$STORAGE_BACKUP_PATH")" -maxdepth 3 -name metadata.json \
    -printf '%T@ %TY-%Tm-%Td %TH:%TM:%.2TS\n' 2>/dev/null | sort -rn | head -n 1)" || true
  [[ -n $newest ]] && printf '%s\n' "${newest#* }"
  return 0
}

# facts_json: the registry's discovery facts in service order, [{fact, key, title}] (one line per service).
facts_json() {
  local i
  for i in "${!SERVICES[@]}"; do
    [[ -n ${SERVICE_DISCOVERY_FACTS[i]} ]] || continue
    jq -cn --arg fact "${SERVICE_DISCOVERY_FACTS[i]}" --arg key "${SERVICE_DISCOVERY_KEYS[i]}" \
      --arg title "${SERVICE_LABELS[i]}" '{fact: $fact, key: $key, title: $title}'
  done | jq -cs .
}

# summary REPORT: the summary JSON (every service line worked out here, so --json and text agree). A
# service of the registry without its own summary below gets "up/of nodes" from discovery's services map.
summary() {
  local report=$1 active
  active="$(jq -r .active_nodes <<< "$report")"
  jq -c --arg name "$CLUSTER_NAME" --arg vip "$VIP_ADDRESS" --arg words "$(size_words "$active")" \
    --argjson facts "$(facts_json)" \
    --arg redis_type "$REDIS_TYPE" --argjson shared "$(usage_json "$STORAGE_MOUNT_POINT")" \
    --argjson backup "$(usage_json "$STORAGE_BACKUP_PATH")" --arg last "$(last_backup)" \
    --arg mon "$MONITORING_ENABLED" --arg pport "$MONITORING_PROMETHEUS_PORT" --arg aport "$MONITORING_ALERTMANAGER_PORT" '
    . as $r | [.nodes[] | select(.status == "active")] as $a | ($r.total_nodes) as $n
    |
    {
      cluster_name: $name,
      size: ($r.active_nodes), configured: $n, size_words: $words, cluster_state: $r.cluster_state,
      vip: $vip, vip_owner: $r.vip_owner,
      vip_owner_hostname: ([.nodes[] | select(.ip == $r.vip_owner) | .hostname][0] // null),
      vip_holders: [.nodes[] | select(.holds_vip == true) | {ip, hostname}],
      vip_unasked: [.nodes[] | select(.status != "active") | {ip, hostname}],
      uptime: ([.nodes[] | select(.self) | .uptime][0] // ([$a[] | .uptime][0]) // null),
      nodes: [.nodes[] | {hostname, ip, status, reason, load}],
      service_lines: $facts,
      services: (([$facts[] | .key as $k | {key: .fact, value: ([$a[] | select(.services[$k] != null)] as $g
          | if ([$g[] | select(.services[$k])] | length) == 0 then null
            else {up: ([$g[] | select(.services[$k])] | length), of: $n, state: "running"} end)}] | from_entries) + {
        glusterfs: ([$a[] | select(.glusterfs != null)] as $g
          | if ($g | length) == 0 then null else
              {up: ($g | length), of: $n,
               state: (if all($g[]; .glusterfs.volume_started and .glusterfs.mounted) and ($g | length) == $n
                       then "Healthy" elif any($g[]; .glusterfs.volume_started) then "Degraded" else "Not started" end)} end),
        galera: ([$a[] | select(.galera != null)] as $g
          | if ($g | length) == 0 then null else
              {up: ([$g[] | select(.galera.local_state == "Synced")] | length), of: $n,
               state: (if all($g[]; .galera.local_state == "Synced" and .galera.cluster_status == "Primary") then "Synced"
                       else ([$g[] | .galera.local_state] | unique | join("/")) end)} end),
        redis: ([$a[] | select(.redis != null)] as $g
          | if ($g | length) == 0 then null else
              {type: $redis_type,
               up: ([$g[] | select(if $redis_type == "cluster" then .redis.cluster_state == "ok" else .redis.role != null end)] | length),
               of: $n,
               state: (if $redis_type == "cluster" then
                         (if all($g[]; .redis.cluster_state == "ok") then "OK" else "FAIL" end)
                       else "master on " + ([$g[] | select(.redis.role == "master") | .hostname][0] // "none") end)} end),
        slurm: ([$a[] | select(.slurm != null) | .slurm.controllers[]?] as $c
          | if ([$a[] | select(.slurm != null)] | length) == 0 then null else
              {primary: ([$c[] | select(.state == "UP") | .host][0] // null),
               backups_ready: (([$c[] | select(.state == "UP") | .host] | unique | length) - 1 | if . < 0 then 0 else . end)} end),
        web: ([$a[] | select(.web != null)] as $g
          | if ($g | length) == 0 then null else
              {up: ([$g[] | select(.services.web)] | length), of: ($g | length)} end)
      }),
      storage: {shared: $shared, backup: $backup},
      monitoring: (if $mon == "true" then
        {prometheus: "http://\($vip):\($pport)/", alertmanager: "http://\($vip):\($aport)/",
         dashboards: "configs/monitoring/grafana/", alert_rules: "configs/monitoring/alert_rules.yml"} else null end),
      last_backup: (if $last == "" then null else $last end),
      discovery: $r
    }' <<< "$report"
}

print_summary() {
  local s=$1
  jq -r '
    def pad(n): tostring | . + " " * (n - length);
    def na(x; f): if x == null then "N/A" else (x | f) end;
    "========================================",
    "HPC Portal Cluster Status",
    "========================================",
    "Cluster Name: \(.cluster_name)",
    "Cluster Size: \(.size_words)\(if .size != .configured then " - \(.size) of \(.configured) configured nodes active" else "" end)",
    "VIP: \(.vip) (\(if (.vip_holders | length) == 1 then "owned by \(.vip_holders[0].hostname // .vip_holders[0].ip)"
                      elif (.vip_holders | length) == 0 then "not held by any active node"
                      else "held by \(.vip_holders | length) nodes" end))",
    "Uptime: \(.uptime // "N/A")",
    "",
    "Node Status:",
    "+------------+-----------------+----------+--------+",
    "| Hostname   | IP              | Status   | Load   |",
    "+------------+-----------------+----------+--------+",
    (.nodes[] | "| \(.hostname | pad(10)) | \(.ip | pad(15)) | \(.status | (.[0:1] | ascii_upcase) + .[1:] | pad(8)) | \((.load // "-") | pad(6)) |"),
    "+------------+-----------------+----------+--------+",
    "",
    "Service Status:",
    (.services as $s | .service_lines[] | "- \(.title): " + (.fact as $f | na($s | .[$f];
        if $f == "slurm" then (if .primary then "Primary on \(.primary) (\(.backups_ready) backups ready)" else "no controller answers" end)
        elif $f == "web" then (if .up == .of then "All running" else "\(.up)/\(.of) nodes running" end)
        else "\(.up)/\(.of) nodes (\(.state))" end))),
    "",
    "Storage:",
    "- Shared: \(na(.storage.shared; "\(.used) / \(.size) (\(.percent)%)"))",
    "- Backup: \(na(.storage.backup; "\(.used) / \(.size) (\(.percent)%)"))",
    "",
    "Last Backup: \(.last_backup // "N/A")",
    (if .monitoring then "Monitoring: Prometheus \(.monitoring.prometheus), alerts \(.monitoring.alertmanager), Grafana dashboards in \(.monitoring.dashboards)" else empty end),
    "========================================",
    (.discovery.nodes[] | select(.status != "active") | "Note: \(.hostname) (\(.ip)) is \(.status): \(.error // .reason)"),
    # Exactly one holder is the only healthy answer: anything else is the last, loudest line.
    (.vip_holders | map("\(.hostname) (\(.ip))") | join(", ")) as $held
    | (if (.vip_unasked | length) > 0 then " (could not ask \(.vip_unasked | map(.hostname) | join(", ")))" else "" end) as $unasked
    | if (.vip_holders | length) == 0 then
        "!!! VIP \(.vip) IS NOT HELD BY ANY NODE: clients cannot reach the portal at its address\($unasked) (see: setup/phase4_keepalived_setup.sh --status --cluster; utils/check_all_services.sh on each node)"
      elif (.vip_holders | length) > 1 then
        "!!! SPLIT BRAIN: VIP \(.vip) is held by \(.vip_holders | length) nodes: \($held)\($unasked) - clients reach any of them (see: setup/phase4_keepalived_setup.sh --status --cluster)"
      else empty end
  ' <<< "$s"
}

main() {
  cli::report_args "$@"
  log::phase info
  local report s
  if [[ -n $FROM ]]; then
    report="$(jq -c . "$FROM")" || die "$FROM is not a discovery report (invalid JSON)"
  else
    report="$("$HPC_TOOLKIT_DIR/discovery/auto_discovery.sh" --json --timeout "$TIMEOUT")"
  fi
  s="$(summary "$report")"
  if (( JSON )); then printf '%s\n' "$s"; else print_summary "$s"; fi
}

main "$@"
