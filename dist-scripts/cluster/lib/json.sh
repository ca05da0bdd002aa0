# shellcheck shell=bash
# lib/json.sh - small JSON writers for --json output (no jq needed to produce JSON).

# json::str VALUE: VALUE as a JSON string literal.
json::str() {
  local s=$1 out="" c i
  for (( i=0; i<${#s}; i++ )); do
    c=${s:i:1}
    case "$c" in
      '"') out+='\"' ;;
      \\) out+="\\\\" ;;
      $'\n') out+='\n' ;;
      $'\r') out+='\r' ;;
      $'\t') out+='\t' ;;
      *)
        if [[ $c < ' ' ]]; then out+="$(printf '\\u%04x' "'$c")"; else out+=$c; fi
        ;;
    esac
  done
  printf '"%s"' "$out"
}

# json::bool VALUE: true for 1/true/yes, false otherwise.
json::bool() {
  case "$1" in 1|true|yes) printf 'true' ;; *) printf 'false' ;; esac
}

# json::num VALUE: VALUE if it is a number, null otherwise.
json::num() {
  if [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then printf '%s' "$1"; else printf 'null'; fi
}

# json::arr_str VALUES...: a JSON array of strings.
json::arr_str() {
  local first=1 v
  printf '['
  for v in "$@"; do
    (( first )) || printf ','
    first=0
    json::str "$v"
  done
  printf ']'
}
