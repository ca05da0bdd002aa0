# shellcheck shell=bash
# lib/service_backup.sh - the command line of the per-service backup and restore scripts (the backup
# contract in docs/toolkit-conventions.md), parsed in one place so that every service reads it alike:
#   backup/backup_<svc>.sh  --dest DIR [--json] [--dry-run]
#   backup/restore_<svc>.sh --src DIR [--dry-run] [--yes|--force]
# Sourced after common.sh. The scripts declare DEST/JSON or SRC; DRY_RUN and ASSUME_YES are read by
# lib/run.sh and lib/ui.sh.

# service_backup::parse_backup_args ARGS...: sets DEST, JSON and DRY_RUN; exit 2 on a usage error.
# shellcheck disable=SC2034 # the variables it sets are read by the calling script and lib/run.sh
service_backup::parse_backup_args() {
  while (( $# )); do
    case "$1" in
      --dest) [[ $# -ge 2 ]] || lib::usage_error "--dest needs a directory"; DEST=$2; shift ;;
      --json) JSON=1 ;;
      --dry-run) DRY_RUN=1 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  [[ -n $DEST ]] || lib::usage_error "--dest DIR is required"
}

# service_backup::parse_restore_args EXTRA ARGS...: sets SRC, DRY_RUN and ASSUME_YES. EXTRA is one more
# flag the script accepts (it sets TEST=1: restore_mariadb.sh --test), or "" for none.
# shellcheck disable=SC2034 # the variables it sets are read by the calling script, lib/run.sh and lib/ui.sh
service_backup::parse_restore_args() {
  local extra=$1
  shift
  while (( $# )); do
    case "$1" in
      --src) [[ $# -ge 2 ]] || lib::usage_error "--src needs a directory"; SRC=$2; shift ;;
      --dry-run) DRY_RUN=1 ;;
      --yes|--force) ASSUME_YES=1 ;;
      *)
        [[ -n $extra && $1 == "$extra" ]] || lib::usage_error "unknown argument: $1"
        TEST=1
        ;;
    esac
    shift
  done
  [[ -n $SRC ]] || lib::usage_error "--src DIR is required"
}
