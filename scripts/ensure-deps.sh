#!/usr/bin/env bash
# Usage: scripts/ensure-deps.sh
# Makes sure the Debian packages the tests need are installed: as root it installs what is missing
# (bats/lab/deps.sh: apt-get update, then install, with no daemon started on the host); otherwise it
# says exactly what to install.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -x bats/lab/deps.sh || -f bats/lab/deps.sh ]]; then
  if [[ $EUID -eq 0 ]]; then exec bash bats/lab/deps.sh; fi
  exec bash bats/lab/deps.sh --check
fi
echo "bats/lab/deps.sh is missing" >&2
exit 1
