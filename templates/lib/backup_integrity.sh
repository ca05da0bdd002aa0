# shellcheck shell=bash
# lib/backup_integrity.sh - tamper-evident snapshots. metadata.json lists every entry of a snapshot
# (files with their sha256, directories, symbolic links with their target) and metadata.hmac holds an
# HMAC-SHA256 of metadata.json keyed by the secret BACKUP_HMAC_SECRET names (secrets file, the same on
# every node). A restore refuses a snapshot whose metadata is not authenticated, that holds an entry
# metadata does not list (or lists with another type or link target), a path that is absolute or has
# a ".." component, or - outside the trees restored as links (configs/, systemd/, state/shared/) - a
# link that leaves the snapshot. Sourced by lib/backup.sh.

# backup::hmac_key: the key's bytes as hex (never on a command line: od reads it from a pipe).
backup::hmac_key() {
  local key
  # under --dry-run too: a plan verifies the real snapshot
  key="$(DRY_RUN=0 secrets::get "$BACKUP_HMAC_SECRET")"
  [[ -n $key ]] || die "secret $BACKUP_HMAC_SECRET is empty in $(secrets::file) (fix: set it to the same random value on every node: openssl rand -hex 32)" "$EXIT_USAGE"
  printf '%s' "$key" | od -An -tx1 -v | tr -d ' \n'
}

# backup::_hexfmt HEX: a printf format writing HEX's bytes.
backup::_hexfmt() {
  local hex=$1 i out=""
  for (( i = 0; i < ${#hex}; i += 2 )); do out+="\\x${hex:i:2}"; done
  printf '%s' "$out"
}

# backup::hmac_file KEYHEX FILE: HMAC-SHA256(key, FILE) in hex (RFC 2104, computed with sha256sum so
# the key never appears in a process list).
backup::hmac_file() {
  local k=$1 file=$2 i ipad="" opad="" inner
  if (( ${#k} > 128 )); then
    # shellcheck disable=SC2059 # the format is made of \xHH escapes only
    k="$(printf "$(backup::_hexfmt "$k")" | sha256sum | cut -c1-64)"
  fi
  while (( ${#k} < 128 )); do k+=00; done
  for (( i = 0; i < 128; i += 2 )); do
    printf -v ipad '%s\\x%02x' "$ipad" $(( 16#${k:i:2} ^ 0x36 ))
    printf -v opad '%s\\x%02x' "$opad" $(( 16#${k:i:2} ^ 0x5c ))
  done
  # shellcheck disable=SC2059
  inner="$( { printf "$ipad"; cat -- "$file"; } | sha256sum | cut -c1-64)"
  # shellcheck disable=SC2059
  { printf "$opad"; printf "$(backup::_hexfmt "$inner")"; } | sha256sum | cut -c1-64
}

# backup::sign DIR: write DIR/metadata.hmac for DIR/metadata.json.
backup::sign() {
  local dir=$1 key
  key="$(backup::hmac_key)"
  backup::hmac_file "$key" "$dir/metadata.json" > "$dir/metadata.hmac.tmp"
  chmod 0600 "$dir/metadata.hmac.tmp"
  mv -f -- "$dir/metadata.hmac.tmp" "$dir/metadata.hmac"
}

# backup::check_hmac DIR: metadata.json is authenticated by metadata.hmac.
backup::check_hmac() {
  local dir=$1 want got key
  [[ -f $dir/metadata.hmac && ! -L $dir/metadata.hmac ]] || { printf 'metadata.hmac missing: the metadata is not authenticated\n'; return 1; }
  key="$(backup::hmac_key)"
  want="$(head -c 64 "$dir/metadata.hmac")"
  got="$(backup::hmac_file "$key" "$dir/metadata.json")"
  [[ $want == "$got" ]] || { printf 'metadata.json does not match metadata.hmac (edited, or signed with another %s)\n' "$BACKUP_HMAC_SECRET"; return 1; }
}

# backup::entries_json DIR: {dirs: [...], links: {path: target}} of DIR (the files are the checksums).
backup::entries_json() {
  local dir=$1
  jq -n --rawfile d <(cd "$dir" && find . -mindepth 1 -type d -printf '%P\n' | LC_ALL=C sort) \
    --rawfile l <(cd "$dir" && find . -mindepth 1 -type l -printf '%P\t%l\n' | LC_ALL=C sort) \
    '{dirs: ($d | split("\n") | map(select(length > 0))),
      links: ($l | split("\n") | map(select(length > 0) | split("\t") | {key: .[0], value: (.[1:] | join("\t"))}) | from_entries)}'
}

# backup::_listed DIR: the entries metadata.json lists, as "TYPE<tab>PATH[<tab>TARGET]" sorted lines.
backup::_listed() {
  jq -r '(.files // {} | keys[] | "f\t\(.)"), (.dirs // [] | .[] | "d\t\(.)"),
         (.links // {} | to_entries[] | "l\t\(.key)\t\(.value)"), "f\tmetadata.json", "f\tmetadata.hmac"' \
    "$1/metadata.json" | LC_ALL=C sort
}

# backup::_present DIR: the entries on disk, same format (any other type shows as its find letter).
backup::_present() {
  (cd "$1" && find . -mindepth 1 -printf '%y\t%P\t%l\n') | sed 's/\t$//' | LC_ALL=C sort
}

# backup::bad_path PATH: absolute, empty, or with a ".." component.
backup::bad_path() {
  local p=$1
  [[ -z $p || $p == /* || /$p/ == */../* ]]
}

# backup::link_escapes PATH TARGET: the link PATH -> TARGET points outside the snapshot.
backup::link_escapes() {
  local path=$1 target=$2 part depth
  [[ $target == /* ]] && return 0
  depth=$(( $(tr -cd / <<< "$path" | wc -c) ))
  local IFS=/
  for part in $target; do
    case "$part" in
      ''|.) ;;
      ..) depth=$(( depth - 1 )); (( depth >= 0 )) || return 0 ;;
      *) depth=$(( depth + 1 )) ;;
    esac
  done
  return 1
}

# backup::check_entries DIR: every entry is listed and safe. Prints the offending entries; fails if any.
backup::check_entries() {
  local dir=$1 out type path target bad=0
  out="$(LC_ALL=C comm -13 <(backup::_listed "$dir") <(backup::_present "$dir"))"
  while IFS=$'\t' read -r type path target; do
    [[ -n $type ]] || continue
    printf 'not in metadata.json: %s (%s)\n' "$path" "$type"
    bad=1
  done <<< "$out"
  while IFS=$'\t' read -r type path target; do
    [[ -n $type ]] || continue
    if backup::bad_path "$path"; then
      printf 'unsafe path in metadata.json: %s\n' "$path"
      bad=1
    elif [[ $type == l ]] && [[ $path != configs/* && $path != systemd/* && $path != state/shared/* ]] \
         && backup::link_escapes "$path" "$target"; then
      printf 'link leaves the snapshot: %s -> %s\n' "$path" "$target"
      bad=1
    fi
  done < <(backup::_listed "$dir")
  if [[ "$(stat -c '%a' "$dir")" != 700 ]]; then
    printf 'snapshot directory is not root-only (mode %s, expected 700)\n' "$(stat -c '%a' "$dir")"
    bad=1
  fi
  return "$bad"
}
