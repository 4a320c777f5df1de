#!/usr/bin/env bash
# Provides a software Vulkan driver so that the webgpu backend can be tested on machines with no
# GPU: SwiftShader (Google's CPU Vulkan, the one Chromium ships) gives Dawn a "fallback" adapter
# that runs WebGPU's compute shaders on the CPU. Debian 12's own software driver (lavapipe,
# Mesa 22.3) is too old for Dawn ("Vulkan shaderUniform*ArrayDynamicIndexing required").
#
# Puts into .cache/software-vulkan/: libvk_swiftshader.so (from chromium-common), icd.json pointing at it, and the
# Vulkan loader (libvulkan.so.1) when the system has none. Nothing is installed system-wide:
# the two .debs are downloaded (not installed) and unpacked here. Tests find this folder
# (test/support/webgpu-env.ts); by hand:
#   VK_ICD_FILENAMES=$PWD/.cache/software-vulkan/icd.json LD_LIBRARY_PATH=$PWD/.cache/software-vulkan \
#     npx vae train --config mnist.json --backend webgpu
# Best effort: without apt (or without the network), it says so and exits 0, and the webgpu
# tests skip with that reason.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.cache/software-vulkan"
mkdir -p "$out"
say() { echo "software-vulkan: $*" >&2; }

write_icd() {
  printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.0.5"}}\n' "$1" > "$out/icd.json"
}

have_loader() { ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1 ' >/dev/null || [ -e "$out/libvulkan.so.1" ]; }

if [ -s "$out/icd.json" ] && have_loader; then say "ready in $out"; exit 0; fi

# Chromium installed: use its SwiftShader where it is.
if [ -e /usr/lib/chromium/libvk_swiftshader.so ]; then write_icd /usr/lib/chromium/libvk_swiftshader.so; fi

need=()
[ -s "$out/icd.json" ] || need+=(chromium-common)
have_loader || need+=(libvulkan1)
if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then say "no apt-get here: the webgpu tests will skip"; exit 0; fi
  lists=$(mktemp -d); work=$(mktemp -d)
  trap 'rm -rf "$lists" "$work"' EXIT
  mkdir -p "$lists/partial"
  o=(-o "Dir::State::Lists=$lists" -o "Dir::Cache=$work/cache" -o "APT::Architecture=amd64")
  mkdir -p "$work/cache/archives/partial"
  say "downloading ${need[*]} (not installing; about 30 MB)"
  if ! apt-get "${o[@]}" update -qq >/dev/null 2>&1 || ! (cd "$work" && apt-get "${o[@]}" download -qq "${need[@]}" >/dev/null 2>&1); then
    say "could not download ${need[*]} from Debian: the webgpu tests will skip"; exit 0
  fi
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
  if [ -e "$work/x/usr/lib/chromium/libvk_swiftshader.so" ]; then
    cp "$work/x/usr/lib/chromium/libvk_swiftshader.so" "$out/"
    write_icd "$out/libvk_swiftshader.so"
  fi
  cp -P "$work"/x/usr/lib/x86_64-linux-gnu/libvulkan.so.1* "$out/" 2>/dev/null || true
fi
if [ -s "$out/icd.json" ] && have_loader; then say "ready in $out"; else say "incomplete: the webgpu tests will skip"; fi
