#!/usr/bin/env bash
# Node.js's C headers, which `vae setup tensorflow` compiles tfjs-node's binding against (it never
# downloads them). NodeSource's and nodejs.org's builds ship them (include/node beside bin/node);
# Debian's own nodejs package puts them in libnode-dev. The binding uses only N-API, which is
# stable across Node.js versions, so any recent version's headers will do.
# Best effort: installs libnode-dev with apt-get only when no headers are found, apt-get exists
# and this runs as root; otherwise it says why and exits 0 (setup then names what is missing).
set -uo pipefail
say() { echo "node-headers: $*" >&2; }
node_dir=$(cd "$(dirname "$(readlink -f "$(command -v node)")")/.." && pwd)
for d in "$node_dir" /usr/local /usr; do
  if [ -e "$d/include/node/node_api.h" ] && [ -e "$d/include/node/common.gypi" ]; then say "found in $d/include/node"; exit 0; fi
done
if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then say "none found, and no apt-get as root to install libnode-dev"; exit 0; fi
say "none found: installing libnode-dev"
if apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libnode-dev >/dev/null 2>&1; then
  say "installed libnode-dev"
else
  say "could not install libnode-dev: vae setup tensorflow will say what is missing"
fi
exit 0
