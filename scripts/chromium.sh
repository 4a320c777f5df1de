#!/usr/bin/env bash
# Installs Debian's chromium package so that the browser tests of `vae explore` (test/serve/)
# can drive a headless Chromium with puppeteer-core. Best effort: without apt, root or the
# network it says so and exits 0, and those tests skip with that reason.
# Cost on Debian 12: about 110 MB of chromium packages plus about 130 small dependencies; the
# install took 58 s on a shared 2-core machine (apt-get update not counted).
set -uo pipefail
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null; then echo "chromium: found $(command -v "$c")" >&2; exit 0; fi
done
source "$(dirname "$0")/apt-best-effort.sh"
apt_best_effort chromium 'the browser tests' chromium
