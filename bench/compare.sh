#!/usr/bin/env bash
# Before/after on a shared machine: alternate `vae bench --torch` runs of two checkouts (each run
# pairs its wasm timing with a PyTorch run right after it) and print each paired ratio.
#   bench/compare.sh BEFORE_DIR AFTER_DIR [rounds] [steps]
# Each *_DIR is a built checkout (npm run build) with node_modules; run from anywhere.
set -euo pipefail
before=$1 after=$2 rounds=${3:-3} steps=${4:-100}
# the PyTorch reference: each checkout's own bench/torch_reference.py unless TORCH_REF names one;
# the Python is found as `vae bench --torch` finds it (VAE_PYTHON, python3, /usr/bin/python3)
torch=(--torch)
[ -n "${TORCH_REF:-}" ] && torch+=("$TORCH_REF")
for r in $(seq 1 "$rounds"); do
  for side in before after; do
    dir=${!side}
    (cd "$dir" && node bin/vae.js bench --backend wasm --steps "$steps" "${torch[@]}" --json) |
      node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const w=j.rows[0];console.log(`'"$r $side"' wasm ${w.msPerStep.toFixed(2)} ms/step, PyTorch ${j.torch.ms_per_step.toFixed(2)} ms/step, ratio ${j.ratios[0].ratio.toFixed(3)}`)})'
  done
done
