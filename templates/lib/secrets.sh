# shellcheck shell=bash
# lib/secrets.sh - secret values, read at run time from a root-only file and never printed.
# The file holds NAME=value lines; values are taken literally (nothing is sourced or expanded).
declare -gA HPC_SECRETS=()
HPC_SECRETS_LOADED=0

secrets::file() {
  printf '%s\n' "${HPC_SECRETS_FILE:-$(path::of "$SECRETS_FILE")}"
}

# secrets::load: read the secrets file once; refuse a file others can read or root does not own.
secrets::load() {
  local file line name value perms owner n=0
  (( HPC_SECRETS_LOADED )) && return 0
  file="$(secrets::file)"
  if [[ ! -f $file ]]; then
    if run::is_dry; then HPC_SECRETS_LOADED=1; return 0; fi
    die "secrets file $file is missing: copy secrets.env.example there (install -m 0600 -o root) and fill in the values" "$EXIT_USAGE"
  fi
  perms="$(stat -c '%a' "$file")"
  owner="$(stat -c '%u' "$file")"
  if [[ $owner != 0 && -z "${HPC_SECRETS_ANY_OWNER:-}" ]]; then
    die "secrets file $file must be owned by root (fix: chown root:root $file)" "$EXIT_USAGE"
  fi
  if (( (8#$perms & 8#077) != 0 )); then
    die "secrets file $file is readable by others (mode $perms; fix: chmod 600 $file)" "$EXIT_USAGE"
  fi
  while IFS= read -r line || [[ -n $line ]]; do
    n=$(( n + 1 ))
    [[ -z $line || $line == \#* ]] && continue
    name="${line%%=*}"
    value="${line#*=}"
    # By its number only: a line without '=' may be a pasted secret.
    if [[ $line != *=* || ! $name =~ ^[A-Z][A-Z0-9_]*$ ]]; then
      die "secrets file $file: line $n is not NAME=value (NAME: capital letters, digits, _)" "$EXIT_USAGE"
    fi
    HPC_SECRETS[$name]=$value
  done < "$file"
  HPC_SECRETS_LOADED=1
}

# secrets::get NAME: print the value (capture it: pw="$(secrets::get REDIS_PASSWORD)").
# Under --dry-run a placeholder stands in, so a plan never shows a secret.
secrets::get() {
  local name=$1
  if run::is_dry; then printf '<secret:%s>' "$name"; return 0; fi
  secrets::load
  [[ -n $name ]] || die "a secret is needed but the config names none" "$EXIT_USAGE"
  if [[ -z "${HPC_SECRETS[$name]+x}" ]]; then
    die "secret $name is missing from $(secrets::file) (add a line $name=...)" "$EXIT_USAGE"
  fi
  printf '%s' "${HPC_SECRETS[$name]}"
}

# secrets::require NAME...: fail early, naming every missing secret at once.
secrets::require() {
  local name missing=()
  run::is_dry && return 0
  secrets::load
  for name in "$@"; do
    [[ -z $name || -n "${HPC_SECRETS[$name]+x}" ]] || missing+=("$name")
  done
  if (( ${#missing[@]} )); then
    die "missing from $(secrets::file): ${missing[*]}" "$EXIT_USAGE"
  fi
}
