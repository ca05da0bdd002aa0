# shellcheck shell=bash
# lib/backup_take.sh - taking one snapshot: stage, copy every item, checksum, metadata, commit.
# Sourced by lib/backup.sh.

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
  local galera entries
  galera="$(jq -c '.mariadb.galera // null' <<< "$services")"
  entries="$(backup::entries_json "$stage")"
  jq -n \
    --arg id "$id" --arg ts "$(date '+%Y-%m-%d %H:%M:%S')" --arg host "${SELF_HOSTNAME:-$(hostname -s)}" \
    --arg cluster "$CLUSTER_NAME" --arg cid "$(backup::cluster_id)" --argjson size "$NODE_COUNT" \
    --argjson active "$(backup::active_nodes_json)" --argjson versions "$versions" \
    --argjson bytes "$size" --argjson newb "$new_bytes" --arg type "$type" --arg prev "${prev:+$(basename "$prev")}" \
    --argjson items "$(json::arr_str "${items[@]}")" --argjson services "$services" --argjson galera "$galera" \
    --argjson secs "$(( SECONDS - started ))" --argjson entries "$entries" \
    --rawfile sums <(printf '%s\n' "$sums") \
    '{backup_id: $id, timestamp: $ts, hostname: $host, cluster_name: $cluster,
      cluster_id: (if $cid == "" then null else $cid end), cluster_size: $size, active_nodes: $active,
      software_versions: $versions, backup_size: $bytes, new_bytes: $newb, backup_type: $type,
      linked_to: (if $prev == "" then null else $prev end), items: $items, services: $services,
      galera: $galera, duration_seconds: $secs,
      files: ($sums | split("\n") | map(select(length > 66)) | map({key: .[66:], value: .[0:64]}) | from_entries),
      dirs: $entries.dirs, links: $entries.links,
      completed: true}' > "$stage/metadata.json.tmp"
  chmod 0600 "$stage/metadata.json.tmp"
  mv -f -- "$stage/metadata.json.tmp" "$stage/metadata.json"
  backup::sign "$stage"
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
  printf '[dryrun] would write metadata.json (sha256 of every file, every directory and link, completed last) and metadata.hmac\n'
}
