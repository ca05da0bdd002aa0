# Helpers for the fault suites (bats/lab/faults): build the 4-member + witness cluster once, run the
# invariant checkers (real clients, bats/lab/faults/checkers.py) through a fault, verify them on every
# node afterwards, and write one result record per scenario for docs/FAULTS.md (scripts/faults-report.sh).
TK=/opt/hpc-dashboard/cluster
MEMBERS=(n1 n2 n3 n4)
VIP=10.213.0.100
BANK_TOTAL=10000
# The result records (JSON lines) the report renders; a run starts it afresh.
FAULTS_RESULTS="${FAULTS_RESULTS:-/tmp/hpc-faults-results.jsonl}"

# --- small probes ----------------------------------------------------------------------------------

# sql nK SQL: one query on nK as root through the local socket (batch, no column names).
sql() { lab_exec "$1" mariadb -N -B -e "$2"; }

# wsrep nK NAME: a wsrep status value on nK.
wsrep() { lab_exec "$1" mariadb -N -B -e "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | awk '{ print $2 }'; }

# synced nK SIZE: nK is Synced in a Primary component of SIZE votes (members + the witness's garbd).
synced() {
  [[ "$(wsrep "$1" wsrep_cluster_status)" == Primary && "$(wsrep "$1" wsrep_local_state_comment)" == Synced \
     && "$(wsrep "$1" wsrep_cluster_size)" == "$2" ]]
}

non_primary() { [[ "$(wsrep "$1" wsrep_cluster_status)" == non-Primary ]]; }

# rcli nK ARGS...: redis-cli on nK against its own address (password through the environment).
rcli() {
  local n=$1
  shift
  lab_exec "$n" env REDISCLI_AUTH=redis-secret-3 redis-cli -h "$(lab_ip "$n")" "$@"
}

redis_ok() { [[ "$(rcli "$1" cluster info 2>/dev/null | tr -d '\r' | awk -F: '$1 == "cluster_state" { print $2 }')" == ok ]]; }

# vip_holders: the members that hold the VIP right now, one name a line (a crashed node holds nothing).
vip_holders() {
  local n
  for n in "${MEMBERS[@]}"; do
    if lab_exec "$n" ip -4 -o addr show dev eth0 2>/dev/null | grep -qF " $VIP/"; then echo "$n"; fi
  done
}

one_vip_holder() { [[ "$(vip_holders | wc -l)" == 1 ]]; }

# vip_diag: for a failed VIP assertion, what each member's keepalived and health check say.
vip_diag() {
  local n
  {
    echo "# VIP holders: $(vip_holders | tr '\n' ' ')"
    for n in "${MEMBERS[@]}"; do
      echo "# $n: state $(lab_exec "$n" cat /var/lib/hpc-cluster/vip_state 2>/dev/null || echo '?'), verdict $(lab_exec "$n" cat /var/lib/hpc-cluster/vip_check_last 2>/dev/null | head -c 400)"
      echo "#   galera: $(lab_exec "$n" mariadb -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_status','wsrep_cluster_size','wsrep_local_state_comment')" 2>&1 | tr '\t\n' '= ')"
      echo "#   now: $(lab_exec "$n" timeout 20 /opt/hpc-dashboard/cluster/utils/check_all_services.sh --json 2>/dev/null | jq -c '{fit,last_resort,critical_failed}' 2>&1)"
      echo "#   mount: stat rc $(lab_exec "$n" timeout 5 stat -t /mnt/gluster/. >/dev/null 2>&1; echo $?), write rc $(lab_exec "$n" timeout 5 sh -c "echo x > /mnt/gluster/.vip_diag_$n && rm -f /mnt/gluster/.vip_diag_$n" >/dev/null 2>&1; echo $?)"
      lab_exec "$n" tail -n 4 /var/log/hpc-cluster/vip_transitions.log 2>/dev/null | sed 's/^/#   /'
    done
  } >&3
}

# vip_on_one_of NODE...: exactly one member holds the VIP and it is one of NODE...
vip_on_one_of() {
  local h
  h="$(vip_holders)"
  [[ $(wc -l <<< "$h") == 1 && -n $h && " $* " == *" $h "* ]]
}

# vip_not_on NODE...: none of NODE... holds the VIP.
vip_not_on() {
  local h
  for h in $(vip_holders); do [[ " $* " != *" $h "* ]] || return 1; done
}

# back_in_cluster nK SIZE: nK is Synced in a Primary of SIZE votes, its Redis serves every slot, the
# shared volume is mounted and its slurmd answers.
back_in_cluster() {
  synced "$1" "$2" && redis_ok "$1" && lab_exec "$1" mountpoint -q /mnt/gluster \
    && lab_exec "$1" scontrol ping >/dev/null 2>&1
}

# full_cluster: every member back in every service (5 votes), one VIP owner.
full_cluster() {
  local n
  for n in "${MEMBERS[@]}"; do back_in_cluster "$n" 5 || return 1; done
  one_vip_holder
}

# --- the cluster -------------------------------------------------------------------------------------

# faults_build: bootstrap n1 and join n2, n3 with the one command (every service), then the checkers'
# tables: the set table, and the bank of 10 accounts holding BANK_TOTAL together. n4 joins in the suite's
# first scenario, with its toolkit killed in the middle (killed_at).
faults_build() {
  local n
  lab_exec n1 "$TK/start_multi_complete.sh" --bootstrap --yes || return 1
  # a join is idempotent: on a loaded 2-core machine discovery can time out on a peer once, so an admin
  # would simply run it again
  for n in n2 n3; do
    lab_exec "$n" "$TK/start_multi_complete.sh" --join --yes || lab_exec "$n" "$TK/start_multi_complete.sh" --join --yes || return 1
  done
  for n in "${MEMBERS[@]}" n5; do
    lab_exec "$n" sh -c 'cat > /usr/local/bin/fault-checkers && chmod 755 /usr/local/bin/fault-checkers' \
      < "$BATS_TEST_DIRNAME/checkers.py"
  done
  sql n1 "CREATE TABLE IF NOT EXISTS auth_portal.fault_set (scen VARCHAR(32), node VARCHAR(8), id INT, PRIMARY KEY (scen, node, id));
          CREATE TABLE IF NOT EXISTS auth_portal.bank (id INT PRIMARY KEY, bal INT NOT NULL);
          INSERT IGNORE INTO auth_portal.bank SELECT seq, $((BANK_TOTAL / 10)) FROM auth_portal.seq_1_to_10"
}

# killed_at nK WHAT PATTERN ARGS...: run the toolkit's WHAT (a path under TK) with ARGS on nK detached, in
# its own process group; once its output shows PATTERN (a step begun), wait KILL_DELAY seconds (default 2)
# and SIGKILL the whole group, as a lost SSH session's kill or the OOM killer would: the script and
# everything it ran (a mariadb client loading a dump, gluster, redis-cli...; the daemons are systemd's
# and go on; what runs under `timeout` is a group of its own and survives, see lock::acquire). Prints
# "killed" or "finished first" (the run ended before PATTERN).
killed_at() {
  local n=$1 what=$2 pattern=$3
  shift 3
  lab_exec "$n" bash -c "rm -f /tmp/killed.log; setsid $TK/$what $* </dev/null >/tmp/killed.log 2>&1 & echo \$! > /tmp/killed.pid"
  wait_until 300 eval "lab_exec $n grep -qF -- '$pattern' /tmp/killed.log || ! lab_exec $n sh -c 'kill -0 \$(cat /tmp/killed.pid)' 2>/dev/null"
  sleep "${KILL_DELAY:-2}"
  if lab_exec "$n" bash -c 'kill -KILL -- -"$(cat /tmp/killed.pid)"' 2>/dev/null; then   # dash's kill takes no --
    echo killed
  else
    echo "finished first"
  fi
  lab_exec "$n" tail -n 3 /tmp/killed.log | sed 's/^/#   last output: /' >&3
}

# --- the checkers ------------------------------------------------------------------------------------
# One scenario's state lives on the writer node in /tmp/faults/SCEN (acked ids, keys, the GlusterFS
# manifest); the writer is a member that survives the fault.

# checkers_start SCEN WRITER [BANK_NODE...]: the set writer, the Redis writer and the GlusterFS writer on
# WRITER; a bank client on each BANK_NODE (default WRITER).
checkers_start() {
  local scen=$1 writer=$2 n hosts
  shift 2
  hosts="$(for n in "${MEMBERS[@]}"; do lab_ip "$n"; done | tr '\n' ' ')"
  lab_exec "$writer" sh -c "rm -rf /tmp/faults/$scen && mkdir -p /tmp/faults/$scen"
  lab_exec "$writer" sh -c "setsid fault-checkers set /tmp/faults/$scen $writer >/tmp/faults/$scen/set.out 2>&1 </dev/null &"
  # shellcheck disable=SC2086 # one word per member address
  lab_exec "$writer" sh -c "REDISCLI_AUTH=redis-secret-3 setsid fault-checkers redis /tmp/faults/$scen $hosts >/tmp/faults/$scen/redis.out 2>&1 </dev/null &"
  gluster_writer_start "$scen" "$writer"
  for n in "${@:-$writer}"; do
    lab_exec "$n" sh -c "mkdir -p /tmp/faults/$scen && setsid fault-checkers bank /tmp/faults/$scen $n >/tmp/faults/$scen/bank.out 2>&1 </dev/null &"
  done
}

# gluster_writer_start SCEN nK: a 16 KiB random file every 0.2 s into /mnt/gluster/faults/SCEN; its
# sha256 goes into the manifest only once the copy (and its close) succeeded.
gluster_writer_start() {
  # shellcheck disable=SC2016 # runs on the node
  lab_exec "$2" sh -c 'd=/tmp/faults/$0; mkdir -p /mnt/gluster/faults/$0 2>/dev/null
    setsid sh -c "i=0; while [ ! -e $d/stop ]; do i=\$((i+1)); f=/mnt/gluster/faults/$0/f\$i
      head -c 16384 /dev/urandom > $d/cur && timeout 30 cp $d/cur \$f && sha256sum $d/cur | sed \"s|$d/cur|\$f|\" >> $d/gluster.sha256 \
        || echo failed \$i >> $d/gluster.log; sleep 0.2; done" >/dev/null 2>&1 </dev/null &' "$1"
}

# checkers_stop SCEN NODE...: every checker of SCEN on NODE... stops after its current write.
checkers_stop() {
  local scen=$1 n
  shift
  for n in "$@"; do lab_exec "$n" sh -c "touch /tmp/faults/$scen/stop" 2>/dev/null || true; done
  sleep 1.5
  for n in "$@"; do
    wait_until 40 eval "! lab_exec $n pgrep -f 'fault-checkers .* /tmp/faults/$scen( |\$)' >/dev/null"
  done
}

acked_count() { lab_exec "$2" sh -c "cat /tmp/faults/$1/${3:-acked} 2>/dev/null | wc -l"; }
failed_count() { lab_exec "$2" sh -c "grep -c ^failed /tmp/faults/$1/${3:-set.log} 2>/dev/null || true"; }

# writes_flow SCEN WRITER N: the set writer acknowledged N more writes from now on (within 30 s).
writes_flow() {
  local before
  before="$(acked_count "$1" "$2")"
  wait_until "${4:-30}" eval "(( \$(acked_count $1 $2) >= $before + $3 ))"
}

# check_set SCEN WRITER: every id acknowledged to WRITER is in fault_set on every member; prints the
# number missing over all members (0 when the test passes).
check_set() {
  local scen=$1 writer=$2 n missing total=0
  for n in "${MEMBERS[@]}"; do
    missing="$(comm -23 <(lab_exec "$writer" sort -u "/tmp/faults/$scen/acked") \
      <(sql "$n" "SET SESSION wsrep_sync_wait=1; SELECT id FROM auth_portal.fault_set WHERE scen='$scen' AND node='$writer'" | sort -u) | wc -l)"
    (( missing == 0 )) || echo "# set: $missing acknowledged ids missing on $n" >&3
    total=$((total + missing))
  done
  echo "$total"
}

# check_bank: the 10 accounts hold BANK_TOTAL on every member.
check_bank() {
  local n sum bad=0
  for n in "${MEMBERS[@]}"; do
    sum="$(sql "$n" "SET SESSION wsrep_sync_wait=1; SELECT SUM(bal) FROM auth_portal.bank")"
    [[ $sum == "$BANK_TOTAL" ]] || { echo "# bank: total $sum on $n" >&3; bad=1; }
  done
  return "$bad"
}

# bank_transfers SCEN NODE...: "ok failed" summed over the bank clients.
bank_transfers() {
  local scen=$1 n ok=0 failed=0 a b
  shift
  for n in "$@"; do
    read -r a b < <(lab_exec "$n" cat "/tmp/faults/$scen/bank.$n" 2>/dev/null || echo 0 0)
    ok=$((ok + a)) failed=$((failed + b))
  done
  echo "$ok $failed"
}

# check_redis SCEN WRITER: GET every acknowledged key through RedisCluster; prints "checked N missing M".
check_redis() {
  local hosts n
  hosts="$(for n in "${MEMBERS[@]}"; do lab_ip "$n"; done | tr '\n' ' ')"
  # shellcheck disable=SC2086 # one word per member address
  lab_exec "$2" env REDISCLI_AUTH=redis-secret-3 fault-checkers redis-verify "/tmp/faults/$1" $hosts
}

# gluster_healed: every brick's heal summary counts 0 entries. (Asked once a second: a full "heal info"
# on every poll contends with the heal it waits for.)
gluster_healed() {
  local out
  out="$(lab_exec n1 gluster --mode=script volume heal shared_data info summary 2>/dev/null)"
  [[ $(grep -c '^Total Number of entries: 0$' <<< "$out") == "${#MEMBERS[@]}" ]] && return 0
  sleep 1
  return 1
}

# check_gluster SCEN WRITER: once self-heal has nothing left, every file of the manifest has its sha256
# through the mount on every member and on every member's brick; prints the number of bad copies.
check_gluster() {
  local scen=$1 writer=$2 n bad=0 manifest
  manifest="$(lab_exec "$writer" cat "/tmp/faults/$scen/gluster.sha256" 2>/dev/null)"
  local t0=$SECONDS
  if wait_until 90 gluster_healed; then
    echo "# gluster: heal info empty after $((SECONDS - t0)) s" >&3
  else
    echo "# gluster: heal info not empty after 90 s" >&3
  fi
  local failed brick_failed
  for n in "${MEMBERS[@]}"; do
    failed="$(lab_exec "$n" sha256sum -c --quiet - <<< "$manifest" 2>/dev/null | grep FAILED || true)"
    brick_failed="$(lab_exec "$n" sha256sum -c --quiet - <<< "${manifest//\/mnt\/gluster\///data/glusterfs/shared/}" 2>/dev/null | grep FAILED || true)"
    [[ -z $failed ]] || { bad=$((bad + $(wc -l <<< "$failed"))); echo "# gluster: through the mount on $n: $failed" >&3; }
    [[ -z $brick_failed ]] || { bad=$((bad + $(wc -l <<< "$brick_failed"))); gluster_diag "$brick_failed"; }
  done
  echo "$bad"
}

# gluster_diag "FILE: FAILED..." : for a bad brick copy, each brick's size, checksum and AFR changelog
# (trusted.afr.*: which copy blames which), and what heal info says.
gluster_diag() {
  local f n
  {
    for f in $(sed 's/:.*//' <<< "$1"); do
      echo "# gluster: bad brick copy $f"
      for n in "${MEMBERS[@]}"; do
        echo "#   $n: $(lab_exec "$n" sh -c "stat -c '%s bytes' $f; sha256sum $f | cut -c1-16; getfattr -d -m trusted.afr -e hex $f 2>/dev/null | grep =" 2>&1 | tr '\n' ' ')"
      done
    done
    lab_exec n1 gluster --mode=script volume heal shared_data info 2>&1 | sed 's/^/#   /'
    lab_exec n1 gluster --mode=script volume heal shared_data info split-brain 2>&1 | grep -v '^$' | sed 's/^/#   /'
  } >&3
}

# slurm_job_start nK: a 200 s job pinned to nK (a node that survives); prints its id.
slurm_job_start() {
  lab_exec "$1" sbatch --parsable -w "$(lab_hostname "$1")" -o /dev/null --wrap 'sleep 200' | cut -d';' -f1
}

slurm_job_state() { lab_exec "$1" scontrol show job "$2" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }

# slurm_job_running nK JOB: the job starts within 90 s (after a fault the controllers may still be
# handing control back: 2026-12-03, a job still not running 30 s after the 1|3 split healed).
slurm_job_running() {
  wait_until 90 eval "[[ \$(slurm_job_state $1 $2) == RUNNING ]]" && return 0
  slurm_diag "$1" "$2"
  return 1
}

slurm_job_ran() { [[ "$(slurm_job_state "$1" "$2")" =~ ^(RUNNING|COMPLETED)$ ]]; }

# slurm_job_alive nK JOB: within 60 s the controller reports JOB RUNNING or COMPLETED. A returning
# primary takes control back from the backup, and scontrol can go unanswered meanwhile (CI, 88 s into a
# slow recovery: one empty answer); a lost job stays lost however long we ask, and the controllers'
# logs then say why.
slurm_job_alive() {
  wait_until 60 slurm_job_ran "$1" "$2" 2>/dev/null && return 0
  slurm_diag "$1" "$2"
  return 1
}

# slurm_diag nK JOB: what the controllers say, for a failed job assertion.
slurm_diag() {
  local n
  {
    echo "# slurm: job $2 from $1:"
    lab_exec "$1" scontrol show job "$2" 2>&1 | sed 's/^/#   /'
    lab_exec "$1" scontrol ping 2>&1 | sed 's/^/#   /'
    for n in "${MEMBERS[@]}"; do
      echo "# slurmctld log on $n:"
      lab_exec "$n" tail -n 25 /var/log/slurm/slurmctld.log 2>&1 | sed 's/^/#   /'
    done
  } >&3
}

# --- alerts ------------------------------------------------------------------------------------------
# Prometheus runs on n1 and n2 (monitoring.prometheus_nodes 2, the highest priorities), each scraping every
# member every 5 s; the rules are the generated alert_rules.yml.

# alert_fired ALERT MATCHERS SINCE: the Prometheus on n1 or n2 (whichever answers) had ALERT firing with
# MATCHERS (PromQL label matchers, e.g. node="node1") at some moment since epoch second SINCE.
alert_fired() {
  local alert=$1 match=$2 since=$3 n q
  q="max_over_time(ALERTS{alertname=\"$alert\",alertstate=\"firing\"${match:+,$match}}[$(( $(date +%s) - since + 5 ))s])"
  # (not jq -e: jq 1.6 exits 0 on no input at all, as from a crashed node's Prometheus)
  for n in n1 n2; do
    [[ "$(lab_exec "$n" curl -fsS -m 5 --get "http://127.0.0.1:9090/api/v1/query" --data-urlencode "query=$q" 2>/dev/null \
      | jq -r '.data.result | length > 0')" == true ]] && return 0
  done
  return 1
}

# alerts_fired SINCE ALERT:MATCHERS...: wait (up to 120 s from now, asking every 2 s) until every
# ALERT:MATCHERS has fired since SINCE on n1's or n2's Prometheus; prints "ALERT after N s" for each, or
# says which did not fire. (An alert still firing from an earlier fault counts too: VipFailover stays
# 2 minutes; the scenarios name the node it must fire for.)
alerts_fired() {
  local since=$1 a deadline=$((SECONDS + 120)) out=()
  shift
  for a in "$@"; do
    until alert_fired "${a%%:*}" "${a#*:}" "$since"; do
      (( SECONDS < deadline )) || { echo "# alert ${a%%:*}{${a#*:}} did not fire within 120 s" >&3; return 1; }
      sleep 2
    done
    out+=("${a%%:*}{${a#*:}} $(( $(date +%s) - since ))s")
  done
  local joined
  printf -v joined '%s, ' "${out[@]}"
  printf '%s\n' "${joined%, }"
}

# --- results -----------------------------------------------------------------------------------------

# record SCENARIO MUST KEY=VALUE...: one JSON line in FAULTS_RESULTS (values are numbers when they look
# like one, strings otherwise).
record() {
  local scen=$1 must=$2 kv args=()
  shift 2
  for kv in "$@"; do args+=(--arg "${kv%%=*}" "${kv#*=}"); done
  jq -cn --arg scenario "$scen" --arg must "$must" "${args[@]}" \
    '$ARGS.named | with_entries(.value = (.value | tonumber? // .))' | tee -a "$FAULTS_RESULTS" | sed 's/^/# /' >&3
}
