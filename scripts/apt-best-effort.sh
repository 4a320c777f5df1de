#!/usr/bin/env bash
# Sourced by the scripts that install a best-effort test dependency from Debian:
#   apt_best_effort NAME "WHAT SKIPS WITHOUT IT" PACKAGE...
# installs the packages with apt-get (as root, or through passwordless sudo) and says what it did
# on stderr; without apt, root or the network it says which tests will skip. Always returns 0.
apt_best_effort() {
  local name=$1 skips=$2
  shift 2
  say() { echo "$name: $*" >&2; }
  if ! command -v apt-get >/dev/null; then say "no apt-get here: $skips will skip"; return 0; fi
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n); else say "not root and no sudo: $skips will skip"; return 0; fi
  fi
  say "installing Debian's $* (about a minute)"
  if "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
    say "installed $*"
  else
    say "could not install $*: $skips will skip"
  fi
  return 0
}
