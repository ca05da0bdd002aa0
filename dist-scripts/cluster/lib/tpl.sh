# shellcheck shell=bash
# lib/tpl.sh - fill the node-specific @NAME@ tokens of a generated config template at run time.
# Values are substituted as text by bash itself: nothing in them is ever evaluated.

# tpl::render TEMPLATE NAME...: print TEMPLATE with each @NAME@ replaced by the value of $NAME.
tpl::render() {
  local template=$1 content name
  shift
  content="$(cat "$template"; printf x)"
  content="${content%x}"
  for name in "$@"; do
    [[ $name =~ ^[A-Z][A-Z0-9_]*$ ]] || die "tpl::render: bad token name $name"
    # Quoted: bash 5.2 would otherwise replace each '&' in the value with the matched token.
    content="${content//@${name}@/"${!name}"}"
  done
  if [[ $content =~ @[A-Z][A-Z0-9_]*@ ]]; then
    die "template $template still has the token ${BASH_REMATCH[0]} after rendering"
  fi
  printf '%s' "$content"
}

# tpl::path NAME: the generated template shipped in the toolkit's configs/ folder.
tpl::path() {
  printf '%s\n' "$HPC_TOOLKIT_DIR/configs/$1"
}
