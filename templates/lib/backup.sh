# shellcheck shell=bash
# lib/backup.sh - snapshots of configs, databases and cluster state: take, list, verify, prune.
# Sourced by backup/backup.sh, backup/restore.sh and backup/backup_scheduler.sh (after common.sh).
#
# A snapshot is ${STORAGE_BACKUP_PATH}/snapshots/YYYYMMDD_HHMMSS/ holding
#   configs/<absolute path>/...   copies of the config trees (/etc/mysql -> configs/etc/mysql/...)
#   databases/<svc>/...           what backup/backup_<svc>.sh wrote (mariadb, redis)
#   state/<svc>/...               slurm state, and state/hpc-cluster (this node's STATE_DIR)
#   state/shared/                 the shared volume's files (opt-in backup item shared_storage)
#   systemd/etc/systemd/system/   unit files
#   metadata.json                 who/when/what, the sha256 of every file, "completed": true
# It is built in YYYYMMDD_HHMMSS.partial/ and renamed when metadata.json is complete, so a backup
# interrupted half-way is never listed as usable. Files are plain trees (not tarballs) so that an
# incremental snapshot can hard-link every unchanged file to the previous snapshot: it costs no space,
# and every snapshot is still complete on its own (restore never needs a chain).

# backup::root: the backup store on this node's local disk.
backup::root() {
  path::of "$STORAGE_BACKUP_PATH"
}

backup::snapshots_dir() {
  printf '%s/snapshots\n' "$(backup::root)"
}

# The config trees a snapshot copies, when they exist on this node (the plan's list plus what the
# toolkit itself writes: the secrets file's directory, munge's key, the cluster identity's directory).
backup::config_paths() {
  printf '%s\n' /etc/nginx /etc/redis /etc/mysql /etc/slurm /etc/munge /etc/keepalived /etc/glusterfs \
    /etc/hpc-cluster /etc/cron.d
}

# backup::service_items: which snapshot item each per-service script belongs to (svc item subdir).
backup::service_items() {
  registry::backup_items
}

# backup::shared_mounted: the shared volume is mounted at STORAGE_MOUNT_POINT (so copying from or to
# it reaches the cluster's data, not the empty directory under the mount).
backup::shared_mounted() {
  local fstype
  fstype="$(findmnt -n -o FSTYPE --mountpoint "$(path::of "$STORAGE_MOUNT_POINT")" 2>/dev/null || true)"
  case "$STORAGE_TYPE" in
    nfs) [[ $fstype == nfs* ]] ;;
    *) [[ $fstype == fuse.glusterfs ]] ;;
  esac
}

# backup::shared_excludes: rsync excludes (relative to the mount point) for what is not copied as
# shared files: the Slurm state (backup_slurm.sh copies it consistently) and the cluster identity.
backup::shared_excludes() {
  local mp=${STORAGE_MOUNT_POINT%/} st=${SLURM_STATE_LOCATION%/}
  printf '%s\n' --exclude=/config/cluster_id
  if [[ $st == "$mp"/* ]]; then printf -- '--exclude=/%s/\n' "${st#"$mp"/}"; fi
}

# backup::is_id STRING: a snapshot id (YYYYMMDD_HHMMSS).
backup::is_id() {
  [[ $1 =~ ^[0-9]{8}_[0-9]{6}$ ]]
}

# backup::is_usable DIR: a finished snapshot (renamed from .partial and metadata says completed).
backup::is_usable() {
  local dir=$1
  backup::is_id "${dir##*/}" || return 1
  [[ -f $dir/metadata.json ]] || return 1
  # jq writes this key last, only when everything before it was written (grep: no JSON parse per dir)
  grep -qF '"completed": true' "$dir/metadata.json"
}

# backup::list_all: every snapshot directory name, oldest first (usable or not).
backup::list_all() {
  local d
  d="$(backup::snapshots_dir)"
  [[ -d $d ]] || return 0
  find "$d" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort
}

# backup::list_usable: the ids of usable snapshots, oldest first.
backup::list_usable() {
  local id d
  d="$(backup::snapshots_dir)"
  while IFS= read -r id; do
    backup::is_usable "$d/$id" && printf '%s\n' "$id"
  done < <(backup::list_all)
  return 0
}

backup::latest_usable() {
  backup::list_usable | tail -n 1
}

# backup::latest_regular: the newest usable snapshot that is not a pre-restore one (what --latest
# means: after a restore, the state it replaced is only restored when asked for by id).
backup::latest_regular() {
  local id d
  d="$(backup::snapshots_dir)"
  while IFS= read -r id; do
    grep -qF '"backup_type": "pre-restore"' "$d/$id/metadata.json" || { printf '%s\n' "$id"; return 0; }
  done < <(backup::list_usable | tac)
  return 0
}

# backup::verify DIR: every file listed in metadata.json exists with its sha256. Prints the damaged
# files (one per line) and fails when there is any. Needs no service: run it before stopping anything.
backup::verify() {
  local dir=$1 out rc=0
  backup::is_usable "$dir" || { printf 'metadata.json missing or backup not completed\n'; return 1; }
  out="$(cd "$dir" && jq -r '.files | to_entries[] | "\(.value)  \(.key)"' metadata.json \
    | sha256sum --check --quiet --strict 2>&1)" || rc=1
  [[ -n $out ]] && printf '%s\n' "$out"
  return "$rc"
}

# backup::versions_json: the installed versions of the services, as a JSON object.
backup::versions_json() {
  local pkg ver args=()
  while read -r pkg ver; do
    [[ -n $ver ]] && args+=(--arg "$pkg" "$ver")
  done < <(dpkg-query -W -f='${Package} ${Version}\n' mariadb-server redis-server slurmctld glusterfs-server \
             keepalived 2>/dev/null || true)
  jq -n "${args[@]+"${args[@]}"}" '$ARGS.named | {mariadb: ."mariadb-server", redis: ."redis-server", slurm: .slurmctld,
    glusterfs: ."glusterfs-server", keepalived: .keepalived} | with_entries(select(.value != null and .value != ""))'
}

# backup::major_minor VERSION: "1:10.11.19-0+deb12u1" -> "10.11" (what a dump/RDB format follows).
backup::major_minor() {
  local v=${1#*:}
  if [[ $v =~ ^([0-9]+)\.([0-9]+) ]]; then
    printf '%s.%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
  else
    printf '%s\n' "$v"
  fi
}

# backup::cluster_id: this node's cluster uuid, or empty.
backup::cluster_id() {
  local f
  f="$(path::of "$STATE_DIR")/cluster_id"
  [[ -r $f ]] && head -n 1 "$f"
  return 0
}

# backup::service_script SVC ACTION: path of backup/<ACTION>_<SVC>.sh in this toolkit (may not exist).
backup::service_script() {
  printf '%s/backup/%s_%s.sh\n' "$HPC_TOOLKIT_DIR" "$2" "$1"
}

# backup::wanted ITEM: ITEM is both configured (BACKUP_ITEMS) and selected (BACKUP_SELECTED).
backup::wanted() {
  local i
  for i in "${BACKUP_SELECTED[@]}"; do
    [[ $i == "$1" ]] || continue
    [[ $i == state ]] && return 0 # this node's own state always goes with --only-state or a full backup
    local c
    for c in "${BACKUP_ITEMS[@]}"; do [[ $c == "$1" ]] && return 0; done
  done
  return 1
}

# backup::new_id: a fresh id for now; waits for the next second rather than reuse an existing one.
backup::new_id() {
  local id d tries=0
  d="$(backup::snapshots_dir)"
  while :; do
    id="${HPC_BACKUP_ID:-$(date '+%Y%m%d_%H%M%S')}"
    [[ -e $d/$id || -e $d/$id.partial ]] || break
    [[ -z "${HPC_BACKUP_ID:-}" ]] || die "snapshot $id already exists" "$EXIT_REFUSED"
    (( ++tries < 30 )) || die "cannot find a free snapshot id in $d"
    sleep 0.1
  done
  printf '%s\n' "$id"
}

# backup::copy_tree SRC DEST LINK_DEST: copy SRC/ into DEST/ keeping modes, owners and links; files
# with the same content as LINK_DEST's (when given) become hard links to them (rsync --link-dest).
backup::copy_tree() {
  local src=$1 dest=$2 link=${3:-} args=(-a --numeric-ids)
  # --checksum: link only files whose content is equal, not merely their size and mtime
  [[ -n $link && -d $link ]] && args+=(--checksum "--link-dest=$link")
  mkdir -p "$dest"
  rsync "${args[@]}" -- "$src/" "$dest/"
}

# Sums a service script computed while writing its files (optional DIR/.sha256sums, "sum  file" lines,
# see the backup contract): trusted for those files, so a big dump is not read a second time; the hint
# file itself is removed from the snapshot. BACKUP_PREV_SUM holds the previous snapshot's sums.
declare -gA BACKUP_HINT=() BACKUP_PREV_SUM=()

backup::load_hints() {
  local stage=$1 sub=$2 f="$1/$2/.sha256sums" sum rel
  [[ -f $f ]] || return 0
  while read -r sum rel; do
    if [[ $sum =~ ^[0-9a-f]{64}$ && -f $stage/$sub/$rel ]]; then BACKUP_HINT[$sub/$rel]=$sum; fi
  done < "$f"
  rm -f -- "$f"
}

backup::load_prev_sums() {
  local rel sum
  [[ -n $1 && -f $1/metadata.json ]] || return 0
  while IFS=$'\t' read -r rel sum; do BACKUP_PREV_SUM[$rel]=$sum; done \
    < <(jq -r '.files | to_entries[] | "\(.key)\t\(.value)"' "$1/metadata.json")
}

# backup::link_unchanged NEW PREV SUBDIR: replace each file under NEW/SUBDIR that is byte-identical to
# the same path under PREV/SUBDIR with a hard link to it (for dumps the services wrote afresh). With a
# sum from the service script, equal sums decide; otherwise cmp reads both files.
backup::link_unchanged() {
  local new=$1 prev=$2 sub=$3 rel
  [[ -n $prev && -d $prev/$sub && -d $new/$sub ]] || return 0
  while IFS= read -r -d '' rel; do
    local a="$new/$sub/$rel" b="$prev/$sub/$rel" hint="${BACKUP_HINT[$sub/$rel]:-}"
    [[ -f $b && ! -L $b ]] || continue
    [[ "$(stat -c '%s %a %u %g' "$a")" == "$(stat -c '%s %a %u %g' "$b")" ]] || continue
    [[ "$(stat -c '%i' "$a")" == "$(stat -c '%i' "$b")" ]] && continue
    if [[ -n $hint ]]; then
      if [[ $hint == "${BACKUP_PREV_SUM[$sub/$rel]:-}" ]]; then ln -f -- "$b" "$a"; fi
    elif cmp -s -- "$a" "$b"; then
      ln -f -- "$b" "$a"
    fi
  done < <(find "$new/$sub" -type f -printf '%P\0')
}

# backup::checksums DIR PREV: "sha256  path" for every regular file of DIR except metadata.json.
# A file that is the same inode as PREV's file at the same path reuses PREV's recorded sum.
backup::checksums() {
  local dir=$1 prev=${2:-} ino rel
  local -A prev_ino=()
  if [[ -n $prev && -f $prev/metadata.json ]]; then
    (( ${#BACKUP_PREV_SUM[@]} )) || backup::load_prev_sums "$prev"
    while IFS=' ' read -r ino rel; do prev_ino[$rel]=$ino; done \
      < <(cd "$prev" && find . -type f ! -name metadata.json -printf '%i %P\n')
  fi
  local todo=()
  while IFS=' ' read -r ino rel; do
    if [[ -n "${prev_ino[$rel]:-}" && ${prev_ino[$rel]} == "$ino" && -n "${BACKUP_PREV_SUM[$rel]:-}" ]]; then
      printf '%s  %s\n' "${BACKUP_PREV_SUM[$rel]}" "$rel"
    elif [[ -n "${BACKUP_HINT[$rel]:-}" ]]; then
      printf '%s  %s\n' "${BACKUP_HINT[$rel]}" "$rel"
    else
      todo+=("$rel")
    fi
  done < <(cd "$dir" && find . -type f ! -path ./metadata.json -printf '%i %P\n')
  (( ${#todo[@]} )) || return 0
  (cd "$dir" && printf '%s\0' "${todo[@]}" | xargs -0 -r sha256sum --)
}

# backup::prune_plan NOW_EPOCH ID...: "keep ID REASON" or "delete ID" for each id (ids oldest first).
# Policy (plan 6.3): everything younger than BACKUP_KEEP_DAILY days; the newest snapshot of each ISO week
# younger than BACKUP_KEEP_WEEKLY weeks (the Sunday one of a daily series); the first snapshot of each
# of the last BACKUP_KEEP_MONTHLY calendar months (the 1st of the month); nothing older. The newest
# snapshot is always kept, however old.
backup::prune_plan() {
  local now=$1 i id epoch age week month now_month
  shift
  local ids=("$@")
  (( ${#ids[@]} )) || return 0
  local epochs=()
  mapfile -t epochs < <(for id in "${ids[@]}"; do
    printf '%s-%s-%s %s:%s:%s\n' "${id:0:4}" "${id:4:2}" "${id:6:2}" "${id:9:2}" "${id:11:2}" "${id:13:2}"
  done | date -f - '+%s')
  local ny nm
  printf -v ny '%(%Y)T' "$now"
  printf -v nm '%(%m)T' "$now"
  now_month=$(( 10#$ny * 12 + 10#$nm - 1 ))
  local -A week_newest=() month_first=()
  for i in "${!ids[@]}"; do
    epoch=${epochs[i]}
    printf -v week '%(%G-%V)T' "$epoch"
    week_newest[$week]=${ids[i]}           # ids are oldest first, so the last one wins
    printf -v month '%(%Y-%m)T' "$epoch"
    [[ -n "${month_first[$month]:-}" ]] || month_first[$month]=${ids[i]}
  done
  local last=$(( ${#ids[@]} - 1 ))
  for i in "${!ids[@]}"; do
    id=${ids[i]}
    epoch=${epochs[i]}
    age=$(( now - epoch ))
    printf -v week '%(%G-%V)T' "$epoch"
    printf -v month '%(%Y-%m)T' "$epoch"
    local m=$(( 10#${month:0:4} * 12 + 10#${month:5:2} - 1 ))
    if (( age < BACKUP_KEEP_DAILY * 86400 )); then
      printf 'keep %s daily\n' "$id"
    elif (( age < BACKUP_KEEP_WEEKLY * 7 * 86400 )) && [[ ${week_newest[$week]} == "$id" ]]; then
      printf 'keep %s weekly\n' "$id"
    elif (( now_month - m < BACKUP_KEEP_MONTHLY )) && [[ ${month_first[$month]} == "$id" ]]; then
      printf 'keep %s monthly\n' "$id"
    elif (( i == last )); then
      printf 'keep %s newest\n' "$id"
    else
      printf 'delete %s\n' "$id"
    fi
  done
}

# backup::status_write RESULT ID SECONDS BYTES: the last run's outcome for monitoring: a JSON file in
# STATE_DIR and, when node_exporter's textfile directory exists, Prometheus metrics.
backup::status_write() {
  local result=$1 id=$2 secs=$3 bytes=$4 now state prom ok_ts=0
  run::is_dry && return 0
  now="$(date +%s)"
  state="$(path::of "$STATE_DIR")/backup_status.json"
  mkdir -p "$(dirname "$state")"
  if [[ $result == ok ]]; then
    ok_ts=$now
  elif [[ -f $state ]]; then
    ok_ts="$(jq -r '.last_success_epoch // 0' "$state" 2>/dev/null || printf 0)"
  fi
  jq -n --arg r "$result" --arg id "$id" --argjson t "$now" --argjson ok "$ok_ts" \
    --argjson s "${secs:-0}" --argjson b "${bytes:-0}" \
    '{result: $r, backup_id: $id, finished_epoch: $t, last_success_epoch: $ok, seconds: $s, new_bytes: $b}' \
    > "$state.tmp" && mv -f "$state.tmp" "$state"
  prom="$(path::of /var/lib/prometheus/node-exporter)"
  if [[ -d $prom ]]; then
    {
      printf '# HELP hpc_backup_last_success_timestamp_seconds When the last successful backup finished.\n'
      printf '# TYPE hpc_backup_last_success_timestamp_seconds gauge\n'
      printf 'hpc_backup_last_success_timestamp_seconds %s\n' "$ok_ts"
      printf '# HELP hpc_backup_last_ok 1 when the last backup run succeeded.\n'
      printf '# TYPE hpc_backup_last_ok gauge\n'
      printf 'hpc_backup_last_ok %s\n' "$([[ $result == ok ]] && echo 1 || echo 0)"
      printf '# TYPE hpc_backup_last_duration_seconds gauge\nhpc_backup_last_duration_seconds %s\n' "${secs:-0}"
      printf '# TYPE hpc_backup_last_new_bytes gauge\nhpc_backup_last_new_bytes %s\n' "${bytes:-0}"
    } > "$prom/hpc_backup.prom.tmp" && mv -f "$prom/hpc_backup.prom.tmp" "$prom/hpc_backup.prom"
  fi
}

# backup::human BYTES: 1234567 -> 1.2M
backup::human() {
  numfmt --to=iec --suffix=B --format='%.1f' "$1" 2>/dev/null || printf '%sB' "$1"
}

# ---------------------------------------------------------------------------------------------------
# Taking a snapshot. Callers set BACKUP_SELECTED (items: configs databases redis_rdb slurm_state state)
# and call backup::take TYPE (full | incremental | pre-restore). Sets BACKUP_TAKEN_ID / _DIR.

# backup::take TYPE: build, checksum and commit one snapshot; on any failure the .partial is removed.
backup::take() {
  local type=$1 snaps id stage prev="" prev_id started
  started=$SECONDS
  snaps="$(backup::snapshots_dir)"
  if [[ $type != full ]]; then
    prev_id="$(backup::latest_usable)"
    [[ -n $prev_id ]] && prev="$snaps/$prev_id"
  fi
  id="$(backup::new_id)"
  stage="$snaps/$id.partial"
  BACKUP_TAKEN_ID=$id
  # shellcheck disable=SC2034 # BACKUP_TAKEN_* are read by the callers
  BACKUP_TAKEN_DIR="$snaps/$id"
  if run::is_dry; then
    backup::plan_take "$type" "$id" "$prev_id"
    return 0
  fi
  BACKUP_STAGE=""
  trap 'backup::abort_stage' EXIT
  backup::preflight_space "$snaps" "$prev"
  mkdir -p "$snaps"
  chmod 0700 "$(backup::root)" "$snaps"
  backup::remove_stale_partials "$snaps"
  mkdir -m 0700 "$stage"
  BACKUP_STAGE=$stage
  backup::load_prev_sums "$prev"
  log::info "snapshot $id ($type${prev_id:+, unchanged files hard-linked to $prev_id}) in $stage"

  local svc_json=() step=0 steps
  steps="$(backup::count_steps)"
  if backup::wanted configs; then
    log::info "[$(( ++step ))/$steps] configs and systemd units"
    backup::take_configs "$stage" "$prev"
  fi
  local svc item sub rc out
  while read -r svc item sub; do
    backup::wanted "$item" || continue
    log::info "[$(( ++step ))/$steps] $svc ($item)"
    rc=0
    out="$(backup::run_service "$svc" "$stage/$sub")" || rc=$?
    backup::load_hints "$stage" "$sub"
    svc_json+=("$svc" "$out")
    if (( rc != 0 && rc != EXIT_NOT_IMPLEMENTED )); then
      die "$svc backup failed (exit $rc); snapshot $id is not usable and was removed. See $(backup::service_script "$svc" backup) and the log ${HPC_LOG_FILE:-}"
    fi
    backup::link_unchanged "$stage" "$prev" "$sub"
  done < <(backup::service_items)
  if backup::wanted shared_storage; then
    log::info "[$(( ++step ))/$steps] shared storage files ($STORAGE_MOUNT_POINT)"
    backup::shared_mounted || die "[ERROR SharedStorage]: $STORAGE_MOUNT_POINT is not mounted; its files cannot be backed up (fix: mount it, or remove shared_storage from backup.backup_items)" "$EXIT_PREFLIGHT"
    local sargs=()
    mapfile -t sargs < <(backup::shared_excludes)
    [[ -n $prev && -d $prev/state/shared ]] && sargs+=(--checksum "--link-dest=$prev/state/shared")
    mkdir -p "$stage/state/shared"
    rsync -a --numeric-ids "${sargs[@]}" -- "$(path::of "$STORAGE_MOUNT_POINT")/" "$stage/state/shared/"
  fi
  if backup::wanted state; then
    log::info "[$(( ++step ))/$steps] this node's state ($STATE_DIR)"
    local sd
    sd="$(path::of "$STATE_DIR")"
    if [[ -d $sd ]]; then
      backup::copy_tree "$sd" "$stage/state/hpc-cluster" "${prev:+$prev/state/hpc-cluster}"
      rm -f -- "$stage/state/hpc-cluster/backup_status.json" # the outcome of backups, not cluster state
    fi
  fi

  log::info "checksums and metadata.json"
  backup::write_metadata "$type" "$id" "$stage" "$prev" "$started" "${svc_json[@]+"${svc_json[@]}"}"
  mv -T -- "$stage" "$snaps/$id"
  trap 'lib::on_exit' EXIT
  BACKUP_STAGE=""
  # shellcheck disable=SC2034
  BACKUP_TAKEN_SECONDS=$(( SECONDS - started ))
}

backup::count_steps() {
  local n=0 svc item sub
  backup::wanted configs && n=$(( n + 1 ))
  while read -r svc item sub; do backup::wanted "$item" && n=$(( n + 1 )); done < <(backup::service_items)
  backup::wanted shared_storage && n=$(( n + 1 ))
  backup::wanted state && n=$(( n + 1 ))
  printf '%s\n' "$n"
}

# An interrupted or failed run leaves nothing that looks usable (and is recorded for monitoring).
backup::abort_stage() {
  local code=$?
  if [[ ${BACKUP_RECORD_STATUS:-0} == 1 && $code != 0 ]]; then
    backup::status_write failed "${BACKUP_TAKEN_ID:-}" 0 0 || true
  fi
  if [[ -n "${BACKUP_STAGE:-}" && -d $BACKUP_STAGE ]]; then
    rm -rf -- "$BACKUP_STAGE"
    log::warn "removed the unfinished snapshot $BACKUP_STAGE"
  fi
  lib::on_exit
}

# Left-overs of a killed run (we hold the backup lock, so no run is writing them).
backup::remove_stale_partials() {
  local d
  for d in "$1"/*.partial; do
    [[ -d $d ]] || continue
    log::warn "removing $d, left by an interrupted backup (never usable)"
    rm -rf -- "$d"
  done
}

# Refuse to start when the disk cannot hold the previous snapshot's size again (full) or 10% of it.
backup::preflight_space() {
  local snaps=$1 prev=$2 avail need=0 probe
  probe=$snaps
  while [[ ! -d $probe ]]; do probe="$(dirname "$probe")"; done
  avail="$(df -B1 --output=avail "$probe" | tail -n 1 | tr -d ' ')"
  if [[ -n $prev ]]; then
    need="$(du -sb "$prev" | cut -f1)"
  else
    local last
    last="$(backup::latest_usable)"
    [[ -n $last ]] && need="$(du -sb "$snaps/$last" | cut -f1)"
  fi
  if [[ $avail =~ ^[0-9]+$ ]] && (( avail < need )); then
    die "[ERROR DiskSpace]: $(backup::human "$avail") free under $probe, the last snapshot took $(backup::human "$need") (fix: free space or prune: backup_scheduler.sh --prune)" "$EXIT_PREFLIGHT"
  fi
}

backup::take_configs() {
  local stage=$1 prev=$2 p src srcs=() args=(-a --numeric-ids --relative)
  # One rsync for every tree ("ROOT/./etc/x" keeps etc/x under configs/); files whose content equals
  # the previous snapshot's become hard links to it.
  while IFS= read -r p; do
    [[ -d "$(path::of "$p")" ]] && srcs+=("$(path::of /)./${p#/}/")
  done < <(backup::config_paths)
  [[ -n $prev && -d $prev/configs ]] && args+=(--checksum "--link-dest=$prev/configs")
  mkdir -p "$stage/configs"
  if (( ${#srcs[@]} )); then rsync "${args[@]}" -- "${srcs[@]}" "$stage/configs/"; fi
  # The toolkit's own config (the source of truth for regenerating everything).
  if [[ -f $HPC_TOOLKIT_DIR/cluster_config.yaml ]]; then
    mkdir -p "$stage/configs/toolkit"
    cp -p -- "$HPC_TOOLKIT_DIR/cluster_config.yaml" "$stage/configs/toolkit/cluster_config.yaml"
    backup::link_unchanged "$stage" "$prev" configs/toolkit
  fi
  src="$(path::of /etc/systemd/system)"
  if [[ -d $src ]]; then
    backup::copy_tree "$src" "$stage/systemd/etc/systemd/system" "${prev:+$prev/systemd/etc/systemd/system}"
  fi
}

# backup::run_service SVC DEST: run backup/backup_SVC.sh --dest DEST --json; prints a JSON object for
# metadata.json ({status: ok|skipped|failed, ...}) and returns the script's exit code (3 = skipped).
backup::run_service() {
  local svc=$1 dest=$2 script rc=0 out
  script="$(backup::service_script "$svc" backup)"
  if [[ ! -x $script ]]; then
    log::warn "$svc: $script is not in this toolkit; skipped (recorded in metadata.json)"
    jq -nc '{status: "skipped", reason: "no backup script in this toolkit"}'
    return "$EXIT_NOT_IMPLEMENTED"
  fi
  mkdir -p "$dest"
  chmod 0700 "$dest"
  out="$("$script" --dest "$dest" --json)" || rc=$?
  if (( rc == EXIT_NOT_IMPLEMENTED )); then
    rm -rf -- "$dest"
    log::warn "$svc: backup not built yet in this toolkit (exit 3); skipped (recorded in metadata.json)"
    jq -nc '{status: "skipped", reason: "backup script not implemented (exit 3)"}'
    return "$rc"
  fi
  if (( rc != 0 )); then
    jq -nc --argjson rc "$rc" '{status: "failed", exit: $rc}'
    return "$rc"
  fi
  if [[ -n $out ]] && jq -e 'type == "object"' <<< "$out" >/dev/null 2>&1; then
    jq -c '{status: "ok"} + .' <<< "$out"
  else
    jq -nc '{status: "ok"}'
  fi
}

# backup::write_metadata TYPE ID STAGE PREV STARTED [SVC JSON]...: metadata.json, "completed" last.
backup::write_metadata() {
  local type=$1 id=$2 stage=$3 prev=$4 started=$5
  shift 5
  local services='{}' sums versions size new_bytes items=() i
  while (( $# >= 2 )); do
    services="$(jq -c --arg k "$1" --argjson v "$2" '. + {($k): $v}' <<< "$services")"
    shift 2
  done
  for i in configs databases redis_rdb slurm_state shared_storage state; do backup::wanted "$i" && items+=("$i"); done
  sums="$(backup::checksums "$stage" "$prev")"
  versions="$(backup::versions_json)"
  # Bytes of file content; "new" = files not hard-linked to an earlier snapshot (link count 1).
  read -r size new_bytes < <(find "$stage" -type f -printf '%n %s\n' \
    | awk '{ all += $2; if ($1 == 1) new += $2 } END { printf "%d %d\n", all, new }')
  local galera
  galera="$(jq -c '.mariadb.galera // null' <<< "$services")"
  jq -n \
    --arg id "$id" --arg ts "$(date '+%Y-%m-%d %H:%M:%S')" --arg host "${SELF_HOSTNAME:-$(hostname -s)}" \
    --arg cluster "$CLUSTER_NAME" --arg cid "$(backup::cluster_id)" --argjson size "$NODE_COUNT" \
    --argjson active "$(backup::active_nodes_json)" --argjson versions "$versions" \
    --argjson bytes "$size" --argjson newb "$new_bytes" --arg type "$type" --arg prev "${prev:+$(basename "$prev")}" \
    --argjson items "$(json::arr_str "${items[@]}")" --argjson services "$services" --argjson galera "$galera" \
    --argjson secs "$(( SECONDS - started ))" \
    --rawfile sums <(printf '%s\n' "$sums") \
    '{backup_id: $id, timestamp: $ts, hostname: $host, cluster_name: $cluster,
      cluster_id: (if $cid == "" then null else $cid end), cluster_size: $size, active_nodes: $active,
      software_versions: $versions, backup_size: $bytes, new_bytes: $newb, backup_type: $type,
      linked_to: (if $prev == "" then null else $prev end), items: $items, services: $services,
      galera: $galera, duration_seconds: $secs,
      files: ($sums | split("\n") | map(select(length > 66)) | map({key: .[66:], value: .[0:64]}) | from_entries),
      completed: true}' > "$stage/metadata.json.tmp"
  chmod 0600 "$stage/metadata.json.tmp"
  mv -f -- "$stage/metadata.json.tmp" "$stage/metadata.json"
  # shellcheck disable=SC2034
  BACKUP_TAKEN_BYTES=$size
  # shellcheck disable=SC2034
  BACKUP_TAKEN_NEW_BYTES=$new_bytes
}

# The active nodes as discovery sees them; this node alone on a one-node cluster or when discovery
# is not available (it probes every node, so it is bounded).
backup::active_nodes_json() {
  local script="$HPC_TOOLKIT_DIR/discovery/auto_discovery.sh" out
  if (( NODE_COUNT > 1 )) && [[ -x $script ]] && out="$(timeout 20 "$script" --json 2>/dev/null)" \
     && jq -e '.nodes | type == "array"' <<< "$out" >/dev/null 2>&1; then
    jq -c '[.nodes[] | select(.status == "active") | .hostname]' <<< "$out"
  else
    json::arr_str "${SELF_HOSTNAME:-$(hostname -s)}"
  fi
}

# Under --dry-run: what a snapshot would contain, changing nothing.
backup::plan_take() {
  local type=$1 id=$2 prev_id=$3 p svc item sub script
  printf '[dryrun] would create snapshot %s/%s (%s%s)\n' "$(backup::snapshots_dir)" "$id" "$type" \
    "${prev_id:+, hard links to $prev_id}"
  if backup::wanted configs; then
    while IFS= read -r p; do
      [[ -d "$(path::of "$p")" ]] && printf '[dryrun] would copy %s -> configs%s/\n' "$(path::of "$p")" "$p"
    done < <(backup::config_paths)
    printf '[dryrun] would copy %s -> configs/toolkit/\n' "$HPC_TOOLKIT_DIR/cluster_config.yaml"
    [[ -d "$(path::of /etc/systemd/system)" ]] && printf '[dryrun] would copy %s -> systemd/\n' "$(path::of /etc/systemd/system)"
  fi
  while read -r svc item sub; do
    backup::wanted "$item" || continue
    script="$(backup::service_script "$svc" backup)"
    if [[ -x $script ]]; then
      printf '[dryrun] would run: %s --dest %s\n' "$script" "$(backup::snapshots_dir)/$id/$sub"
    else
      printf '[dryrun] would skip %s (no %s in this toolkit)\n' "$svc" "$script"
    fi
  done < <(backup::service_items)
  backup::wanted shared_storage && printf '[dryrun] would copy %s -> state/shared/\n' "$(path::of "$STORAGE_MOUNT_POINT")"
  backup::wanted state && printf '[dryrun] would copy %s -> state/hpc-cluster/\n' "$(path::of "$STATE_DIR")"
  printf '[dryrun] would write metadata.json (sha256 of every file, completed last)\n'
}
