# shellcheck shell=bash
# lib/dump_codec.sh - compressed dump files: zstd where it is installed, gzip otherwise. The name
# carries the codec (.zst / .gz), so a restore reads snapshots of either kind, old ones included.
# zstd because a dump waits on its compressor: gzip -1 costs about as much as mariadb-dump itself,
# zstd -1 on every core a fraction of that (bench/backup). Both are deterministic for the same input,
# so an unchanged dump stays byte-identical and an incremental snapshot hard-links it.

# dump_codec::name BASE: the file name a new dump of BASE gets (BASE.zst or BASE.gz).
dump_codec::name() {
  if command -v zstd >/dev/null 2>&1; then printf '%s.zst\n' "$1"; else printf '%s.gz\n' "$1"; fi
}

# dump_codec::compress NAME: stdin to stdout, with the codec NAME's extension names.
dump_codec::compress() {
  case "$1" in
    *.zst) zstd -q -1 -T0 -c ;;
    *) gzip -n -1 ;;
  esac
}

# dump_codec::cat FILE: FILE decompressed to stdout.
dump_codec::cat() {
  case "$1" in
    *.zst) zstd -q -dc -- "$1" ;;
    *) gzip -dc -- "$1" ;;
  esac
}

# dump_codec::test FILE...: true when every FILE decompresses whole.
dump_codec::test() {
  local f
  for f in "$@"; do
    case "$f" in
      *.zst) zstd -q -t -- "$f" ;;
      *) gzip -t -- "$f" ;;
    esac || return 1
  done
}

# dump_codec::find DIR BASE: the dump of BASE in DIR (BASE.zst or BASE.gz), or nothing.
dump_codec::find() {
  local f
  for f in "$1/$2.zst" "$1/$2.gz"; do
    if [[ -f $f ]]; then printf '%s\n' "$f"; return 0; fi
  done
  return 1
}
