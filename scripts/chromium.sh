#!/usr/bin/env bash
# Installs Debian's chromium package so that the browser tests of `vae explore` (test/serve/)
# can drive a headless Chromium with puppeteer-core. Best effort: without apt, root or the
# network it says so and exits 0, and those tests skip with that reason.
# Cost on Debian 12: about 110 MB of chromium packages plus about 130 small dependencies; the
# install took 58 s on a shared 2-core machine (apt-get update not counted).
set -uo pipefail
say() { echo "chromium: $*" >&2; }
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null; then say "found $(command -v "$c")"; exit 0; fi
done
if ! command -v apt-get >/dev/null; then say "no apt-get here: the browser tests will skip"; exit 0; fi
sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n); else say "not root and no sudo: the browser tests will skip"; exit 0; fi
fi
say "installing Debian's chromium (about a minute)"
if "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
  say "installed $(command -v chromium)"
else
  say "could not install chromium: the browser tests will skip"
fi
exit 0
