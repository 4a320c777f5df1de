#!/usr/bin/env bash
# Every GPU measurement in docs/performance.md ("To measure on a GPU") in one command, for a
# machine with a Vulkan GPU:
#   bash bench/gpu.sh [OUT_DIR]          (default: gpu-bench-DATE in the current folder)
# from a checkout with `npm ci` and `npm run build` done. Each measurement's JSON (stdout) and
# table (stderr) go to OUT_DIR/NAME.json and NAME.txt; one that fails is said, and the rest still
# run. PyTorch is paired with each timing when a Python with torch and CUDA is found (as
# `vae bench --torch` finds one: $VAE_PYTHON, python3, /usr/bin/python3). At the end the tables
# are printed; on an H100-class GPU the whole script takes a few minutes.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-gpu-bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
vae() { node "$root/bin/vae.js" "$@"; }
torch=()
for py in "${VAE_PYTHON:-}" python3 /usr/bin/python3; do
  if [ -n "$py" ] && "$py" -c 'import sys, torch, numpy; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
    torch=(--torch --torch-device cuda --python "$py")
    break
  fi
done
[ ${#torch[@]} -eq 0 ] && echo "gpu.sh: no Python with torch and CUDA: timing without the PyTorch reference" >&2
run() {
  local name=$1 start=$SECONDS
  shift
  echo "gpu.sh: $name: vae $*" >&2
  if vae "$@" >"$out/$name.json" 2>"$out/$name.txt"; then
    echo "gpu.sh: $name done in $((SECONDS - start)) s" >&2
  else
    echo "gpu.sh: $name failed after $((SECONDS - start)) s: $(tail -n 1 "$out/$name.txt")" >&2
  fi
}
run backends backends --json
# (${torch[@]+...}: an empty array under set -u on older bash)
run fused bench --backend webgpu,wasm --steps 200 --repeat 3 ${torch[@]+"${torch[@]}"} --json
run profile bench --backend webgpu --steps 50 --profile --json
run epoch-1024 bench --backend webgpu --batch 1024 --steps 20 --epoch ${torch[@]+"${torch[@]}"} --json
run iwae bench --config mnist-iwae.json --backend webgpu --steps 100 ${torch[@]+"${torch[@]}"} --json
run tfjs bench --backend webgpu --tfjs --steps 200 ${torch[@]+"${torch[@]}"} --json
run train train --config mnist.json --backend webgpu --set train.epochs=2 --out "$out/run"
for f in "$out"/*.txt; do
  echo "== $(basename "$f" .txt)"
  cat "$f"
done
echo "gpu.sh: everything is in $out" >&2
