# shellcheck shell=bash
# lib/ui.sh - confirmations before destructive steps.
ASSUME_YES="${ASSUME_YES:-0}"

# ui::confirm QUESTION: yes with --yes/--force; asks on a terminal; refuses (exit 6) otherwise.
ui::confirm() {
  local answer
  [[ $ASSUME_YES == 1 ]] && return 0
  run::is_dry && return 0
  if [[ ! -t 0 ]]; then
    die "$1 - refusing without confirmation (stdin is not a terminal); rerun with --yes" "$EXIT_REFUSED"
  fi
  read -r -p "$1 (Y/N) " answer
  case "$answer" in
    [Yy]|[Yy][Ee][Ss]) return 0 ;;
    *) die "cancelled by the user" "$EXIT_REFUSED" ;;
  esac
}
