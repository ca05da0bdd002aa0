# shellcheck shell=bash
# lib/backup_files.sh - copying trees into a snapshot with hard links to the previous one, and the
# sha256 of every file (reusing the previous snapshot's sums for hard-linked files). Sourced by lib/backup.sh.

# backup::copy_tree SRC DEST LINK_DEST: copy SRC/ into DEST/ keeping modes, owners and links; files
# with the same content as LINK_DEST's (when given) become hard links to them (rsync --link-dest).
backup::copy_tree() {
  local src=$1 dest=$2 link=${3:-} args=(-a --numeric-ids)
  # --checksum: link only files whose content is equal, not merely their size and mtime
  [[ -n $link && -d $link ]] && args+=(--checksum "--link-dest=$link")
  mkdir -p "$dest"
  rsync "${args[@]}" -- "$src/" "$dest/"
}

# Sums a service script computed while writing its files (optional DIR/.sha256sums, "sum  file" lines,
# see the backup contract): trusted for those files, so a big dump is not read a second time; the hint
# file itself is removed from the snapshot. BACKUP_PREV_SUM holds the previous snapshot's sums.
declare -gA BACKUP_HINT=() BACKUP_PREV_SUM=()

backup::load_hints() {
  local stage=$1 sub=$2 f="$1/$2/.sha256sums" sum rel
  [[ -f $f ]] || return 0
  while read -r sum rel; do
    if [[ $sum =~ ^[0-9a-f]{64}$ && -f $stage/$sub/$rel ]]; then BACKUP_HINT[$sub/$rel]=$sum; fi
  done < "$f"
  rm -f -- "$f"
}

backup::load_prev_sums() {
  local rel sum
  [[ -n $1 && -f $1/metadata.json ]] || return 0
  while IFS=$'\t' read -r rel sum; do BACKUP_PREV_SUM[$rel]=$sum; done \
    < <(jq -r '.files | to_entries[] | "\(.key)\t\(.value)"' "$1/metadata.json")
}

# backup::link_unchanged NEW PREV SUBDIR: replace each file under NEW/SUBDIR that is byte-identical to
# the same path under PREV/SUBDIR with a hard link to it (for dumps the services wrote afresh). With a
# sum from the service script, equal sums decide; otherwise cmp reads both files.
backup::link_unchanged() {
  local new=$1 prev=$2 sub=$3 rel
  [[ -n $prev && -d $prev/$sub && -d $new/$sub ]] || return 0
  while IFS= read -r -d '' rel; do
    local a="$new/$sub/$rel" b="$prev/$sub/$rel" hint="${BACKUP_HINT[$sub/$rel]:-}"
    [[ -f $b && ! -L $b ]] || continue
    [[ "$(stat -c '%s %a %u %g' "$a")" == "$(stat -c '%s %a %u %g' "$b")" ]] || continue
    [[ "$(stat -c '%i' "$a")" == "$(stat -c '%i' "$b")" ]] && continue
    if [[ -n $hint ]]; then
      if [[ $hint == "${BACKUP_PREV_SUM[$sub/$rel]:-}" ]]; then ln -f -- "$b" "$a"; fi
    elif cmp -s -- "$a" "$b"; then
      ln -f -- "$b" "$a"
    fi
  done < <(find "$new/$sub" -type f -printf '%P\0')
}

# backup::checksums DIR PREV: "sha256  path" for every regular file of DIR except metadata.json.
# A file that is the same inode as PREV's file at the same path reuses PREV's recorded sum.
backup::checksums() {
  local dir=$1 prev=${2:-} ino rel
  local -A prev_ino=()
  if [[ -n $prev && -f $prev/metadata.json ]]; then
    (( ${#BACKUP_PREV_SUM[@]} )) || backup::load_prev_sums "$prev"
    while IFS=' ' read -r ino rel; do prev_ino[$rel]=$ino; done \
      < <(cd "$prev" && find . -type f ! -name metadata.json -printf '%i %P\n')
  fi
  local todo=()
  while IFS=' ' read -r ino rel; do
    if [[ -n "${prev_ino[$rel]:-}" && ${prev_ino[$rel]} == "$ino" && -n "${BACKUP_PREV_SUM[$rel]:-}" ]]; then
      printf '%s  %s\n' "${BACKUP_PREV_SUM[$rel]}" "$rel"
    elif [[ -n "${BACKUP_HINT[$rel]:-}" ]]; then
      printf '%s  %s\n' "${BACKUP_HINT[$rel]}" "$rel"
    else
      todo+=("$rel")
    fi
  done < <(cd "$dir" && find . -type f ! -path ./metadata.json -printf '%i %P\n')
  (( ${#todo[@]} )) || return 0
  (cd "$dir" && printf '%s\0' "${todo[@]}" | xargs -0 -r sha256sum --)
}
