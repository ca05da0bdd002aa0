# shellcheck shell=bash
# lib/backup_replicate.sh - every snapshot on more than one server. After a snapshot is taken and
# verified, it is copied with rsync -aH to every other member's backup store (and to backup.offsite
# when set), as BACKUP_PATH/replicas/<origin hostname>/<id>/: files unchanged since the previous copy
# there become hard links to it (--link-dest), so only changed files are sent. A copy is written as
# <id>.partial and renamed when complete, like a local snapshot. Restore looks for snapshots in this
# node's store, its replicas, then on every peer; retention prunes every copy by the same plan.
# Sourced by lib/backup.sh. Peers are reached over SSH as DISCOVERY_SSH_USER (root key trust).

# backup::replicas_root: where copies of other nodes' snapshots live in a store (no root prefix: it
# names the same path on every node).
backup::replicas_root() {
  printf '%s/replicas\n' "${STORAGE_BACKUP_PATH%/}"
}

# backup::targets: "LABEL<TAB>SSH_DEST<TAB>DIR" for each copy of this node's snapshots: the other
# members (when backup.replicate), then the off-site destination (backup.offsite).
backup::targets() {
  local ip host=${SELF_HOSTNAME:-$(hostname -s)}
  if [[ ${BACKUP_REPLICATE:-true} == true ]]; then
    for ip in "${NODE_IPS[@]}"; do
      [[ $ip == "${SELF_IP:-}" ]] && continue
      printf '%s\t%s@%s\t%s/%s\n' "$ip" "$DISCOVERY_SSH_USER" "$ip" "$(backup::replicas_root)" "$host"
    done
  fi
  if [[ -n ${BACKUP_OFFSITE:-} ]]; then
    printf 'offsite\t%s\t%s/%s\n' "${BACKUP_OFFSITE%%:*}" "${BACKUP_OFFSITE#*:}" "$host"
  fi
}

# backup::ssh DEST CMD...: CMD on DEST (USER@HOST), arguments quoted for the remote shell.
backup::ssh() {
  local dest=$1 opts
  shift
  mapfile -t opts < <(remote::ssh_opts)
  ssh "${opts[@]}" "$dest" -- "$(remote::quote_all "$@")" < /dev/null
}

# backup::rsync_e: the ssh command rsync runs (-e). rsync splits it on spaces but keeps single-quoted
# words whole: UserKnownHostsFile names two files in one option.
backup::rsync_e() {
  local opts
  mapfile -t opts < <(remote::ssh_opts)
  printf 'ssh'
  printf " '%s'" "${opts[@]}"
}

# The remote half of listing a store: "ID TYPE" of every usable snapshot in DIR (and, with a second
# argument, in every DIR2/<host>/), oldest first. Runs under bash -c on the peer.
# shellcheck disable=SC2016 # expanded by the remote shell
BACKUP_REMOTE_LIST='for d in "$1"/*/ ${2:+"$2"/*/*/}; do d=${d%/}; id=${d##*/}
  [[ $id =~ ^[0-9]{8}_[0-9]{6}$ && -f $d/metadata.json ]] || continue
  grep -qF "\"completed\": true" "$d/metadata.json" || continue
  t=regular; grep -qF "\"backup_type\": \"pre-restore\"" "$d/metadata.json" && t=pre-restore
  printf "%s %s %s\n" "$id" "$t" "$d"; done | sort'

# backup::remote_ids DEST DIR: usable snapshot ids in DIR on DEST, oldest first.
backup::remote_ids() {
  backup::ssh "$1" bash -c "$BACKUP_REMOTE_LIST" _ "$2" 2>/dev/null | awk '{ print $1 }'
}

# backup::replicate ID: copy snapshot ID to every target. Prints "LABEL ok|failed" lines; fails when
# no copy at all could be made while targets exist.
backup::replicate() {
  local id=$1 src label dest dir prev args ok=0 total=0 rsh
  src="$(backup::snapshots_dir)/$id"
  rsh="$(backup::rsync_e)"
  while IFS=$'\t' read -r label dest dir; do
    total=$(( total + 1 ))
    prev="$(backup::remote_ids "$dest" "$dir" | awk -v id="$id" '$1 < id' | tail -n 1)" || prev=""
    args=(-aH --numeric-ids --delete -e "$rsh")
    [[ -n $prev ]] && args+=("--link-dest=$dir/$prev")
    local stats sent
    # shellcheck disable=SC2016 # expanded by the remote shell
    if backup::ssh "$dest" sh -c 'mkdir -p "$1" && chmod 0700 "$1" "${1%/*}"' _ "$dir" \
       && stats="$(rsync "${args[@]}" --stats -- "$src/" "$dest:$dir/$id.partial/")" \
       && backup::ssh "$dest" mv -T -- "$dir/$id.partial" "$dir/$id"; then
      sent="$(awk -F: '/^Total bytes sent/ { gsub(/[ ,]/, "", $2); print $2 }' <<< "$stats")"
      log::ok "snapshot $id copied to $label:$dir/$id ($(backup::human "${sent:-0}") sent${prev:+, unchanged files hard-linked to $prev})"
      printf '%s ok %s\n' "$label" "${sent:-0}"
      ok=$(( ok + 1 ))
    else
      log::warn "snapshot $id could not be copied to $label ($dest:$dir); it is on this node only until the next run"
      printf '%s failed\n' "$label"
    fi
  done < <(backup::targets)
  (( total == 0 || ok > 0 ))
}

# backup::replicate_status_write ID LINES: STATE_DIR/backup_replication.json for --status and metrics.
backup::replicate_status_write() {
  local id=$1 lines=$2 f
  f="$(path::of "$STATE_DIR")/backup_replication.json"
  mkdir -p "$(dirname "$f")"
  jq -n --arg id "$id" --argjson t "$(date +%s)" --rawfile l <(printf '%s\n' "$lines") \
    '{backup_id: $id, epoch: $t, copies: ($l | split("\n") | map(select(length > 0) | split(" ")
      | {target: .[0], status: .[1], bytes_sent: ((.[2] // "0") | tonumber)}))}' \
    > "$f.tmp" && mv -f "$f.tmp" "$f"
  backup::metrics_hook
}

# backup::locate: every usable snapshot this node can reach, "ID TYPE WHERE DIR" oldest first (WHERE
# is "local" for this node's disk - its own snapshots and its replicas of others -, a peer's IP, or
# "offsite" for backup.offsite, whose layout is DIR/<origin hostname>/<id>).
backup::locate() {
  local ip root off
  root="$(path::of "$STORAGE_BACKUP_PATH")"
  bash -c "$BACKUP_REMOTE_LIST" _ "$root/snapshots" "$root/replicas" | awk '{ print $1, $2, "local", $3 }'
  for ip in "${NODE_IPS[@]}"; do
    [[ $ip == "${SELF_IP:-}" ]] && continue
    backup::ssh "$DISCOVERY_SSH_USER@$ip" bash -c "$BACKUP_REMOTE_LIST" _ "${STORAGE_BACKUP_PATH%/}/snapshots" \
      "$(backup::replicas_root)" 2>/dev/null | awk -v ip="$ip" '{ print $1, $2, ip, $3 }' || true
  done
  if [[ -n ${BACKUP_OFFSITE:-} ]]; then
    # DIR/*/ holds the origin folders (no id matches there); DIR/*/*/ the snapshots
    off=${BACKUP_OFFSITE#*:}
    backup::ssh "${BACKUP_OFFSITE%%:*}" bash -c "$BACKUP_REMOTE_LIST" _ "${off%/}" "${off%/}" 2>/dev/null \
      | awk '{ print $1, $2, "offsite", $3 }' || true
  fi
}

# backup::source WHERE: the SSH destination of a copy located by backup::locate (a peer's IP or offsite).
backup::source() {
  if [[ $1 == offsite ]]; then printf '%s\n' "${BACKUP_OFFSITE%%:*}"; else printf '%s@%s\n' "$DISCOVERY_SSH_USER" "$1"; fi
}

# backup::fetch WHERE DIR: copy a peer's (or the off-site) snapshot DIR into this node's replicas (same
# origin/id layout; a peer's own snapshot goes under replicas/<its hostname>/). Prints the local directory.
backup::fetch() {
  local ip=$1 dir=$2 id origin local_dir src
  id=${dir##*/}
  src="$(backup::source "$ip")"
  if [[ $dir == "$(backup::replicas_root)"/* ]]; then
    origin=${dir%/*}
    origin=${origin##*/}
  else
    origin="$(backup::ssh "$src" jq -r .hostname "$dir/metadata.json")"
  fi
  [[ $origin =~ ^[A-Za-z0-9._-]+$ ]] || die "peer $ip gave a bad origin name for $dir"
  local_dir="$(path::of "$(backup::replicas_root)")/$origin/$id"
  mkdir -p "$(dirname "$local_dir")"
  chmod 0700 "$(path::of "$STORAGE_BACKUP_PATH")" "$(path::of "$(backup::replicas_root)")" "$(dirname "$local_dir")"
  log::info "fetching snapshot $id from $ip:$dir"
  rsync -aH --numeric-ids --delete -e "$(backup::rsync_e)" -- "$src:$dir/" "$local_dir.partial/" >&2 \
    || die "copying snapshot $id from $ip failed"
  mv -T -- "$local_dir.partial" "$local_dir"
  printf '%s\n' "$local_dir"
}

# backup::prune_copies NOW: apply the retention plan to this node's copies on every target (the same
# policy over the same ids, so every store keeps the same snapshots).
backup::prune_copies() {
  local now=$1 label dest dir ids verdict id _r
  while IFS=$'\t' read -r label dest dir; do
    mapfile -t ids < <(backup::remote_ids "$dest" "$dir")
    (( ${#ids[@]} )) || continue
    while read -r verdict id _r; do
      if [[ $verdict != delete ]] || ! backup::is_id "$id"; then continue; fi
      if run::is_dry; then
        printf '[dryrun] would delete %s:%s/%s\n' "$label" "$dir" "$id"
      else
        backup::ssh "$dest" rm -rf -- "$dir/$id" || log::warn "could not delete $label:$dir/$id"
        log::to_file INFO "deleted $label:$dir/$id"
      fi
    done < <(backup::prune_plan "$now" "${ids[@]}")
  done < <(backup::targets)
}
