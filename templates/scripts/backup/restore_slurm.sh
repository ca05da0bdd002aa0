#!/usr/bin/env bash
# Usage: restore_slurm.sh --src DIR [--dry-run] [--yes]
# Summary: Put back Slurm's saved state and shared configuration written by backup_slurm.sh.
#
# Checks DIR/checksums.sha256 first (a damaged backup is refused before anything stops), then stops
# the Slurm daemons on every member (controllers must not write state while it is replaced), replaces
# StateSaveLocation and the shared slurm.conf, members list and munge key, and starts every member
# again (setup/phase3_slurm_setup.sh --reconfigure), the primary first. Jobs running at backup time
# that have ended since are reported by slurmctld as lost. Part of the backup contract
# (docs/toolkit-conventions.md).
#
# --force is the same as --yes.
# Exit codes: 0 ok, 1 error, 2 usage, 5 shared storage not mounted, 6 backup damaged or refused.
# shellcheck source=../lib/service_backup.sh
source "$HPC_LIB_DIR/service_backup.sh"
# shellcheck source=../lib/gluster.sh
source "$HPC_LIB_DIR/gluster.sh"
# shellcheck source=../lib/slurm.sh
source "$HPC_LIB_DIR/slurm.sh"

SRC=""
EXPECTED_STATE=""
THEIR_STATE=""

verify_backup() {
  log::phase verify-backup
  [[ -d $SRC/state && -f $SRC/checksums.sha256 ]] || die "$SRC is not a Slurm backup (no state/ or checksums.sha256)" "$EXIT_REFUSED"
  local out
  if ! out="$(cd "$SRC" && sha256sum --check --quiet --strict checksums.sha256 2>&1)"; then
    die "the backup in $SRC is damaged; nothing was changed: ${out//$'\n'/; }" "$EXIT_REFUSED"
  fi
  log::info "checksums of $(grep -c . "$SRC/checksums.sha256") files verified"
}

preflight() {
  log::phase preflight
  gluster::is_mounted || die "[ERROR SharedStorage]: the shared storage is not mounted at $STORAGE_MOUNT_POINT" "$EXIT_PREFLIGHT"
  gluster::on_shared "$SLURM_STATE_LOCATION" || die "[ERROR StateSaveLocation]: $SLURM_STATE_LOCATION is not on the shared mount" "$EXIT_PREFLIGHT"
}

# One sha256 line per file under the directory \$1 (names relative, sorted): equal on two nodes when
# both see the same state. One line without quotes of its own, so it travels over SSH as it is.
# shellcheck disable=SC2016 # $1 is expanded by the bash -c that runs it
readonly FINGERPRINT_CMD='cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum'

# member_sees_state IP: the member's own mount of the shared storage shows the restored state.
member_sees_state() {
  THEIR_STATE="$(remote::run "$1" bash -c "$FINGERPRINT_CMD" _ "$(path::of "$SLURM_STATE_LOCATION")" < /dev/null 2>&1)" \
    || return 1
  [[ $THEIR_STATE == "$EXPECTED_STATE" ]]
}

# state_difference: the files whose content differs between the backup and a member's last view.
state_difference() {
  { diff <(printf '%s\n' "$EXPECTED_STATE") <(printf '%s\n' "$THEIR_STATE") || true; } \
    | awk '/^[<>]/ { print $3 }' | LC_ALL=C sort -u | paste -sd' ' -
}

# wait_members_see_state: every member reads the restored files before any controller starts: a
# controller that read other content (a client cache still serving its own last save, a file the
# copy skipped) would save it over the restore. Checked, not assumed.
wait_members_see_state() {
  local ip
  run::is_dry && return 0
  EXPECTED_STATE="$(bash -c "$FINGERPRINT_CMD" _ "$SRC/state")"
  for ip in "${LIVE_MEMBERS[@]}"; do
    member_sees_state "$ip" && continue
    log::info "$ip still shows other state files ($(state_difference)); waiting for its mount to catch up"
    run::wait_until 60 "$ip to see the restored state on its mount" member_sees_state "$ip" \
      || die "$ip does not see the restored Slurm state on $STORAGE_MOUNT_POINT (differs: $(state_difference)); Slurm stays stopped (fix: check the mount there, then rerun)"
  done
  log::ok "every member sees the restored state"
}

# Every remote call reads /dev/null: ssh would otherwise swallow the rest of a member list read by a loop.
stop_all_members() {
  local ip
  for ip in "${LIVE_MEMBERS[@]}"; do
    if run::is_dry; then
      printf '[dryrun] would run on %s: setup/phase3_slurm_setup.sh --stop-local\n' "$ip"
    elif ! remote::toolkit "$ip" setup/phase3_slurm_setup.sh --stop-local < /dev/null; then
      die "could not stop Slurm on $ip; nothing was restored (fix: stop slurmctld there, or remove it with setup/phase3_slurm_setup.sh --remove-node $ip, then rerun)"
    fi
  done
}

restore_files() {
  log::phase restore
  local state f
  state="$(path::of "$SLURM_STATE_LOCATION")"
  run::mkdir "$state" 0700 slurm:slurm
  # --ignore-times: slurmctld rewrites a state file in place of the same size within the same second
  # (a job cancelled just after the backup), and rsync's size+mtime check would keep the newer one.
  # --fsync: the data is on the bricks before another member's slurmctld reads it.
  run::cmd rsync -a --delete --ignore-times --fsync -- "$SRC/state/" "$state/"
  run::cmd chown -R slurm:slurm "$state"
  run::cmd chmod 0700 "$state"
  run::mkdir "$(slurm::conf_dir)" 0755
  for f in slurm.conf members; do
    if [[ -f $SRC/config/$f ]]; then run::cmd cp -p -- "$SRC/config/$f" "$(slurm::conf_dir)/$f"; fi
  done
  if [[ -f $SRC/config/munge.key ]]; then
    run::cmd install -m 0400 -o root -g root "$SRC/config/munge.key" "$(slurm::munge_key)"
  fi
}

LIVE_MEMBERS=()

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  service_backup::parse_restore_args "" "$@"
  verify_backup
  preflight
  lock::acquire slurm-restore
  node::require_self
  ui::confirm "Replace the Slurm state and configuration on $STORAGE_MOUNT_POINT (stops Slurm on every member)?"
  log::phase stop
  # Members before the restore: they are the daemons that run now. Every one must be stopped: a
  # controller left running would take over and save its own jobs over the restored state. The same
  # list is waited for and started after it: the snapshot's members file may still name a node that
  # has since died or been removed (a disaster restore on a survivor), which must not hold it up.
  mapfile -t LIVE_MEMBERS < <(slurm::members)
  stop_all_members
  restore_files
  wait_members_see_state
  log::phase start
  # Members after the restore, primary first so it reads the restored state before any backup does.
  local ip
  for ip in "${LIVE_MEMBERS[@]}"; do
    if run::is_dry; then
      printf '[dryrun] would run on %s: setup/phase3_slurm_setup.sh --reconfigure --yes\n' "$ip"
    elif ! remote::toolkit "$ip" setup/phase3_slurm_setup.sh --reconfigure --yes < /dev/null; then
      log::warn "Slurm did not start on $ip; run setup/phase3_slurm_setup.sh --reconfigure there"
    fi
  done
  while IFS= read -r ip; do
    printf '%s\n' "${LIVE_MEMBERS[@]}" | grep -qxF -- "$ip" \
      || log::warn "$ip is in the restored members list but was no member before the restore: not started (rejoin it, or setup/phase3_slurm_setup.sh --remove-node $ip)"
  done < <(slurm::members)
  run::is_dry || run::wait_until 90 "a Slurm controller to answer" slurm::controller_up
  log::phase verify
  log::ok "Slurm state restored from $SRC"
}

main "$@"
