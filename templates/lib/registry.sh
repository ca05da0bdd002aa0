# shellcheck shell=bash
# lib/registry.sh - the service registry (generator/model/services.ts), read from lib/config.sh.
# SERVICES holds the one name of every service, in dependency order; SERVICE_<FIELD> arrays run
# parallel to it; SERVICE_ALIASES holds "alias=name" pairs (old names keep working). Every script that
# needs a service's phase script, ports, health checks, discovery key or backup hook asks here, so
# no other file lists services. Sourced by lib/common.sh.

# registry::_var FIELD: REPLY = the config.sh array holding FIELD (exit 2 for a field that does not exist).
registry::_var() {
  case "$1" in
    phase) REPLY=SERVICE_PHASES ;;
    after) REPLY=SERVICE_AFTER ;;
    ports) REPLY=SERVICE_PORTS ;;
    processes) REPLY=SERVICE_PROCESSES ;;
    packages) REPLY=SERVICE_PACKAGES ;;
    health) REPLY=SERVICE_HEALTH ;;
    critical) REPLY=SERVICE_CRITICAL ;;
    discovery_key) REPLY=SERVICE_DISCOVERY_KEYS ;;
    discovery_fact) REPLY=SERVICE_DISCOVERY_FACTS ;;
    backup_item) REPLY=SERVICE_BACKUP_ITEMS ;;
    backup_hook) REPLY=SERVICE_BACKUP_HOOKS ;;
    backup_dir) REPLY=SERVICE_BACKUP_DIRS ;;
    description) REPLY=SERVICE_DESCRIPTIONS ;;
    label) REPLY=SERVICE_LABELS ;;
    *) printf 'registry: no field %s (fields: phase after ports processes packages health critical discovery_key discovery_fact backup_item backup_hook backup_dir description label aliases)\n' "$1" >&2
       return 2 ;;
  esac
}

# registry::_index NAME: REPLY = the index of the canonical NAME in SERVICES; fails when it is none.
registry::_index() {
  local i
  for i in "${!SERVICES[@]}"; do
    if [[ ${SERVICES[i]} == "$1" ]]; then REPLY=$i; return 0; fi
  done
  return 1
}

# registry::_resolve NAME: REPLY = the canonical name of NAME (a name or an alias); fails when unknown.
registry::_resolve() {
  local pair
  if registry::_index "$1"; then REPLY=$1; return 0; fi
  for pair in "${SERVICE_ALIASES[@]}"; do
    if [[ ${pair%%=*} == "$1" ]]; then REPLY=${pair#*=}; return 0; fi
  done
  return 1
}

# registry::has NAME: NAME is a service or one of its aliases.
registry::has() {
  registry::_resolve "$1"
}

# registry::known: "storage, database, ... (also accepted: mariadb, cache, ...)", for error messages.
registry::known() {
  local pair aliases=()
  for pair in "${SERVICE_ALIASES[@]}"; do aliases+=("${pair%%=*}"); done
  local IFS=,
  printf '%s' "${SERVICES[*]}"
  (( ${#aliases[@]} )) && printf ' (old names also accepted: %s)' "${aliases[*]}"
  printf '\n'
}

# registry::canonical NAME: print the service's one name (an alias gives its service); for an unknown
# name print an error naming the valid ones to stderr and fail.
registry::canonical() {
  if registry::_resolve "$1"; then printf '%s\n' "$REPLY"; return 0; fi
  printf "unknown service '%s' (services: %s)\n" "$1" "$(registry::known)" >&2
  return 1
}

# registry::get NAME FIELD: the FIELD of service NAME (lists are space-separated words; "aliases" too).
registry::get() {
  local name i pair out=()
  registry::_resolve "$1" || { registry::canonical "$1" >/dev/null; return 1; }
  name=$REPLY
  if [[ $2 == aliases ]]; then
    for pair in "${SERVICE_ALIASES[@]}"; do
      [[ ${pair#*=} == "$name" ]] && out+=("${pair%%=*}")
    done
    printf '%s\n' "${out[*]}"
    return 0
  fi
  registry::_index "$name"
  i=$REPLY
  registry::_var "$2" || return
  local -n col=$REPLY
  printf '%s\n' "${col[i]}"
}

# registry::each [FIELD]: every service, in dependency order, one a line; with FIELD only those whose
# FIELD is set (non-empty, or true for "critical"), as "NAME VALUE".
registry::each() {
  local i
  if (( $# == 0 )); then printf '%s\n' "${SERVICES[@]}"; return 0; fi
  registry::_var "$1" || return
  local -n col=$REPLY
  for i in "${!SERVICES[@]}"; do
    [[ -n ${col[i]} && ${col[i]} != false ]] || continue
    printf '%s %s\n' "${SERVICES[i]}" "${col[i]}"
  done
}

# registry::select LIST: the services of a comma (or space) separated list of names and aliases,
# canonical, once each, in dependency order; fails (message on stderr) at the first unknown one.
registry::select() {
  local s wanted=" "
  for s in ${1//,/ }; do
    registry::canonical "$s" >/dev/null || return 1
    registry::_resolve "$s"
    wanted+="$REPLY "
  done
  for s in "${SERVICES[@]}"; do
    [[ $wanted == *" $s "* ]] && printf '%s\n' "$s"
  done
  return 0
}

# registry::of_check CHECK: the service a health check belongs to (nothing for disk, memory, vip).
registry::of_check() {
  local i h
  for i in "${!SERVICES[@]}"; do
    for h in ${SERVICE_HEALTH[i]}; do
      if [[ $h == "$1" ]]; then printf '%s\n' "${SERVICES[i]}"; return 0; fi
    done
  done
  return 1
}

# registry::backup_items: "HOOK ITEM DIR" for every service with backup/restore scripts, in service
# order (backup/backup_HOOK.sh writes the snapshot item ITEM under DIR).
registry::backup_items() {
  local i
  for i in "${!SERVICES[@]}"; do
    [[ -n ${SERVICE_BACKUP_HOOKS[i]} ]] || continue
    printf '%s %s %s\n' "${SERVICE_BACKUP_HOOKS[i]}" "${SERVICE_BACKUP_ITEMS[i]}" "${SERVICE_BACKUP_DIRS[i]}"
  done
  return 0
}
