# shellcheck shell=bash
# lib/run.sh - commands and file writes that honour --dry-run, and atomic, idempotent writes.
DRY_RUN="${DRY_RUN:-0}"
# Files replaced during this run and where their previous content was saved (for rollback): one
# "PATH<TAB>BACKUP" line each in a journal file, so writes made in a pipeline's subshell count too.
HPC_ROLLBACK_JOURNAL="${HPC_TMP_ROOT:-$(mktemp -d)}/rollback.journal"
: > "$HPC_ROLLBACK_JOURNAL"
# Functions that undo what this run started (run::on_rollback), called newest first on rollback.
HPC_ROLLBACK_HOOKS=()

run::is_dry() {
  [[ $DRY_RUN == 1 ]]
}

# run::cmd CMD...: run a command that changes something; under --dry-run print it instead.
run::cmd() {
  if run::is_dry; then
    printf '[dryrun] would run: %s\n' "$(run::quote "$@")"
    return 0
  fi
  log::to_file CMD "$(run::quote "$@")"
  "$@"
}

# run::quote ARGS...: a copy-pasteable rendering of a command line.
run::quote() {
  local out="" a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then out+="$a "; else out+="$(printf '%q' "$a") "; fi
  done
  printf '%s' "${out% }"
}

# run::write_file PATH [MODE] [OWNER[:GROUP]] < CONTENT
# Atomic (temp file in the same directory, then rename) and idempotent (identical content is left
# alone). The previous content is kept so a failed phase can put it back (run::rollback_files).
# Returns 0 when the file was written, 0 when unchanged too; RUN_CHANGED says which (1/0) — only
# when called in this shell (`run::write_file P < <(render)`), not at the end of a pipeline.
# SECRET_CONTENT=1 masks the content under --dry-run.
run::write_file() {
  local path=$1 mode=${2:-0644} owner=${3:-} content dir tmp backup
  content="$(cat; printf x)"
  content="${content%x}"
  # shellcheck disable=SC2034 # read by callers
  RUN_CHANGED=0
  if [[ -f $path ]] && [[ "$(cat "$path"; printf x)" == "${content}x" ]]; then
    log::to_file INFO "unchanged $path"
    return 0
  fi
  # shellcheck disable=SC2034
  RUN_CHANGED=1
  if run::is_dry; then
    printf '[dryrun] would write %s (mode %s%s)\n' "$path" "$mode" "${owner:+, owner $owner}"
    if [[ ${SECRET_CONTENT:-0} == 1 ]]; then
      printf '    (content holds secrets; not shown)\n'
    else
      printf '%s' "$content" | sed 's/^/    | /'
      [[ -z $content || $content == *$'\n' ]] || printf '\n'
    fi
    return 0
  fi
  dir="$(dirname "$path")"
  fs::mkdir_public "$dir"
  if [[ -f $path ]]; then
    backup="$(mktemp "$dir/.$(basename "$path").hpc-prev.XXXXXX")"
    cp -p -- "$path" "$backup"
  else
    backup=""
  fi
  printf '%s\t%s\n' "$path" "$backup" >> "$HPC_ROLLBACK_JOURNAL"
  tmp="$(mktemp "$dir/.$(basename "$path").hpc-new.XXXXXX")"
  printf '%s' "$content" > "$tmp"
  chmod "$mode" "$tmp"
  if [[ -n $owner ]]; then chown "$owner" "$tmp"; fi
  mv -f -- "$tmp" "$path"
  log::to_file INFO "wrote $path"
}

# run::on_rollback FUNCTION: call FUNCTION (no arguments) if this run rolls back, before the files are
# put back: e.g. stop a daemon the run started. Forgotten at commit; ignored under --dry-run.
run::on_rollback() {
  run::is_dry && return 0
  HPC_ROLLBACK_HOOKS+=("$1")
}

# run::rollback_files: undo what this run started (run::on_rollback, newest first), then put back every
# file it replaced (newest first) and remove the new ones.
run::rollback_files() {
  local path backup i
  for (( i = ${#HPC_ROLLBACK_HOOKS[@]} - 1; i >= 0; i-- )); do
    "${HPC_ROLLBACK_HOOKS[i]}" || log::warn "rollback step ${HPC_ROLLBACK_HOOKS[i]} failed"
  done
  HPC_ROLLBACK_HOOKS=()
  while IFS=$'\t' read -r path backup; do
    if [[ -n $backup && -f $backup ]]; then
      mv -f -- "$backup" "$path"
      log::warn "rolled back $path"
    elif [[ -z $backup ]]; then
      rm -f -- "$path"
      log::warn "removed $path (it did not exist before)"
    fi
  done < <(tac "$HPC_ROLLBACK_JOURNAL")
  : > "$HPC_ROLLBACK_JOURNAL"
}

# run::commit_files: the run succeeded (or others now rely on its files): drop the saved previous
# contents and the rollback steps.
run::commit_files() {
  local path backup
  HPC_ROLLBACK_HOOKS=()
  while IFS=$'\t' read -r path backup; do
    if [[ -n $backup ]]; then rm -f -- "$backup"; fi
  done < "$HPC_ROLLBACK_JOURNAL"
  : > "$HPC_ROLLBACK_JOURNAL"
}

# run::mkdir PATH [MODE] [OWNER]: create a directory (idempotent, dry-run aware).
run::mkdir() {
  local path=$1 mode=${2:-0755} owner=${3:-}
  if [[ -d $path ]]; then return 0; fi
  # Missing parents are made 0755 (not 0700 from the toolkit's umask); MODE is for PATH itself.
  run::is_dry || fs::mkdir_public "$(dirname "$path")"
  run::cmd mkdir -p -m "$mode" -- "$path"
  if [[ -n $owner ]]; then run::cmd chown "$owner" "$path"; fi
}

# run::wait_until TIMEOUT_S DESCRIPTION CMD...: poll CMD every 0.5 s until it succeeds or time runs out.
run::wait_until() {
  local timeout=$1 what=$2 deadline
  shift 2
  deadline=$(( SECONDS + timeout ))
  until "$@"; do
    if (( SECONDS >= deadline )); then
      log::error "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}
