# shellcheck shell=bash
# lib/backup.sh - snapshots of configs, databases and cluster state: take, list, verify, prune.
# Sourced by backup/backup.sh, backup/restore.sh and backup/backup_scheduler.sh (after common.sh); it
# sources the rest: backup_files.sh (copies, sums), backup_integrity.sh (HMAC, listed entries),
# backup_replicate.sh (copies on peers), backup_take.sh (one snapshot), backup_retention.sh,
# backup_schedule.sh (which member takes the scheduled snapshot), backup_status.sh (monitoring).
#
# A snapshot is ${STORAGE_BACKUP_PATH}/snapshots/YYYYMMDD_HHMMSS/ holding
#   configs/<absolute path>/...   copies of the config trees (/etc/mysql -> configs/etc/mysql/...)
#   databases/<svc>/...           what backup/backup_<svc>.sh wrote (mariadb, redis)
#   state/<svc>/...               slurm state, and state/hpc-cluster (this node's STATE_DIR)
#   state/shared/                 the shared volume's files (backup item shared_storage, on by default)
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
# shared files: the Slurm state (backup_slurm.sh copies it consistently), the cluster identity, and
# backup.shared_excludes (a restore leaves excluded files as they are).
backup::shared_excludes() {
  local mp=${STORAGE_MOUNT_POINT%/} st=${SLURM_STATE_LOCATION%/} p
  printf '%s\n' --exclude=/config/cluster_id
  if [[ $st == "$mp"/* ]]; then printf -- '--exclude=/%s/\n' "${st#"$mp"/}"; fi
  for p in "${BACKUP_SHARED_EXCLUDES[@]+"${BACKUP_SHARED_EXCLUDES[@]}"}"; do printf -- '--exclude=%s\n' "$p"; done
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

# backup::verify DIR: metadata.json is authenticated (metadata.hmac), every entry of DIR is listed in
# it and safe (lib/backup_integrity.sh), and every file listed exists with its sha256. Prints the
# damaged entries (one per line) and fails when there is any. Needs no service: run it before stopping anything.
backup::verify() {
  local dir=$1 out rc=0
  backup::is_usable "$dir" || { printf 'metadata.json missing or backup not completed\n'; return 1; }
  backup::check_hmac "$dir" || return 1
  backup::check_entries "$dir" || rc=1
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

# backup::human BYTES: 1234567 -> 1.2M
backup::human() {
  numfmt --to=iec --suffix=B --format='%.1f' "$1" 2>/dev/null || printf '%sB' "$1"
}

# The rest of the library, one job per file.
# shellcheck source=../lib/backup_files.sh
source "$HPC_LIB_DIR/backup_files.sh"
# shellcheck source=../lib/backup_integrity.sh
source "$HPC_LIB_DIR/backup_integrity.sh"
# shellcheck source=../lib/backup_replicate.sh
source "$HPC_LIB_DIR/backup_replicate.sh"
# shellcheck source=../lib/backup_take.sh
source "$HPC_LIB_DIR/backup_take.sh"
# shellcheck source=../lib/backup_retention.sh
source "$HPC_LIB_DIR/backup_retention.sh"
# shellcheck source=../lib/backup_schedule.sh
source "$HPC_LIB_DIR/backup_schedule.sh"
# shellcheck source=../lib/backup_status.sh
source "$HPC_LIB_DIR/backup_status.sh"
