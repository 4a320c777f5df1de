#!/usr/bin/env bash
# Installs Debian's PyTorch (python3-torch, python3-numpy) so that the tests of `vae bench --torch`
# (test/bench/torch.test.ts) can run bench/torch_reference.py. Best effort: without apt, root or
# the network it says so and exits 0, and those tests skip with that reason.
# Cost on Debian 12: about 50 MB of torch packages (libtorch1.13, python3-torch) plus their
# dependencies (BLAS, protobuf, glog, sympy, ...).
set -uo pipefail
say() { echo "torch: $*" >&2; }
for py in "${VAE_PYTHON:-}" python3 /usr/bin/python3; do
  if [ -n "$py" ] && "$py" -c 'import torch, numpy' >/dev/null 2>&1; then say "found torch in $py"; exit 0; fi
done
if ! command -v apt-get >/dev/null; then say "no apt-get here: the PyTorch reference tests will skip"; exit 0; fi
sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n); else say "not root and no sudo: the PyTorch reference tests will skip"; exit 0; fi
fi
say "installing Debian's python3-torch and python3-numpy (about a minute)"
if "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends python3-torch python3-numpy >/dev/null 2>&1; then
  say "installed"
else
  say "could not install python3-torch: the PyTorch reference tests will skip"
fi
exit 0
