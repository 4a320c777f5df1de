#!/usr/bin/env bash
# Installs Debian's PyTorch (python3-torch, python3-numpy) so that the tests of `vae bench --torch`
# (test/bench/torch.test.ts) can run bench/torch_reference.py. Best effort: without apt, root or
# the network it says so and exits 0, and those tests skip with that reason.
# Cost on Debian 12: about 50 MB of torch packages (libtorch1.13, python3-torch) plus their
# dependencies (BLAS, protobuf, glog, sympy, ...).
set -uo pipefail
for py in "${VAE_PYTHON:-}" python3 /usr/bin/python3; do
  if [ -n "$py" ] && "$py" -c 'import torch, numpy' >/dev/null 2>&1; then echo "torch: found torch in $py" >&2; exit 0; fi
done
source "$(dirname "$0")/apt-best-effort.sh"
apt_best_effort torch 'the PyTorch reference tests' python3-torch python3-numpy
