#!/usr/bin/env bash
# Usage: backup_slurm.sh --dest DIR [--json] [--dry-run]
# Summary: Copy Slurm's saved state and its shared configuration into DIR, with checksums.
#
# Writes DIR/state/ (a copy of StateSaveLocation: jobs, nodes, reservations), DIR/config/ (the shared
# slurm.conf, the members list and the munge key, root-only) and DIR/checksums.sha256 (sha256 of every
# file, checked again by restore_slurm.sh). slurmctld keeps running: it replaces each state file by a
# rename, so every copied file is whole. Accounting (slurm_acct_db) is in the MariaDB dump. Files are
# copied with their times, so an unchanged state is hard-linked by incremental snapshots. Part of the
# backup contract (docs/toolkit-conventions.md).
#
# Exit codes: 0 ok, 1 error, 2 usage, 5 shared storage not mounted or no Slurm state here.
# shellcheck source=../lib/service_backup.sh
source "$HPC_LIB_DIR/service_backup.sh"
# shellcheck source=../lib/gluster.sh
source "$HPC_LIB_DIR/gluster.sh"
# shellcheck source=../lib/slurm.sh
source "$HPC_LIB_DIR/slurm.sh"

DEST=""
JSON=0

preflight() {
  log::phase preflight
  gluster::is_mounted || die "[ERROR SharedStorage]: the shared storage is not mounted at $STORAGE_MOUNT_POINT (fix: run the backup on a cluster member)" "$EXIT_PREFLIGHT"
  [[ -d "$(path::of "$SLURM_STATE_LOCATION")" ]] || die "[ERROR SlurmState]: no Slurm state at $SLURM_STATE_LOCATION (fix: setup/phase3_slurm_setup.sh first)" "$EXIT_PREFLIGHT"
}

copy_state() {
  log::phase state
  local src
  src="$(path::of "$SLURM_STATE_LOCATION")"
  run::mkdir "$DEST/state" 0700
  # --delete: DEST may be reused; -a keeps owners, modes and times (slurm 0700 matters on restore).
  # --ignore-times: with DEST reused, a state file rewritten with the same size in the same second
  # would pass rsync's size+mtime check and keep its old content.
  # Exit 24 (a file vanished while copying) is slurmctld renaming its *.new files into place: the
  # renamed file is copied under its final name, so the copy is complete without the temporary one.
  local rc=0
  run::cmd rsync -a --delete --ignore-times -- "$src/" "$DEST/state/" || rc=$?
  if (( rc == 24 )); then
    log::info "a state file slurmctld was replacing vanished during the copy (rsync exit 24): copied under its final name"
  elif (( rc != 0 )); then
    die "copying the Slurm state $src failed (rsync exit $rc)"
  fi
}

copy_config() {
  log::phase config
  local f
  run::mkdir "$DEST/config" 0700
  for f in "$(slurm::shared_conf)" "$(slurm::members_file)" "$(slurm::munge_key)"; do
    if [[ -f $f ]]; then
      run::cmd cp -p -- "$f" "$DEST/config/"
    else
      log::warn "$f is missing; not in this backup"
    fi
  done
}

write_checksums() {
  log::phase checksums
  run::is_dry && { printf '[dryrun] would write %s/checksums.sha256\n' "$DEST"; return 0; }
  local sums
  sums="$(cd "$DEST" && find state config -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)"
  run::write_file "$DEST/checksums.sha256" 0600 <<< "$sums"
}

report() {
  local files jobs=0 members=()
  mapfile -t members < <(slurm::members)
  files="$(find "$DEST/state" -type f 2>/dev/null | wc -l)"
  if [[ -f $DEST/state/job_state ]]; then jobs=1; fi
  if (( JSON )); then
    printf '{"cluster":%s,"state_files":%s,"job_state":%s,"members":%s}\n' "$(json::str "$SLURM_CLUSTER_NAME")" \
      "$(json::num "$files")" "$(json::bool "$jobs")" "$(json::arr_str "${members[@]}")"
  fi
  log::ok "Slurm state ($files files) and configuration copied to $DEST"
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  service_backup::parse_backup_args "$@"
  preflight
  run::mkdir "$DEST" 0700
  copy_state
  copy_config
  write_checksums
  run::is_dry || report
}

main "$@"
