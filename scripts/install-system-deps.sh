#!/usr/bin/env bash
# Install the Debian packages that the corpus builder and the browser tests need.
# Runs apt-get only where we are root and something is missing; otherwise it says
# what to install and leaves the machine alone (the tests that need them then skip
# outside CI with a message naming the package).
set -uo pipefail

PACKAGES=(
  fluidsynth fluid-soundfont-gm timgm6mb-soundfont
  festival festvox-kallpc16k festvox-kdlpc16k festvox-italp16k festvox-itapc16k
  festvox-suopuhe-lj festvox-suopuhe-mv
  flite espeak-ng
  chromium chromium-driver
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "install-system-deps: not root (or no apt-get); please install: ${missing[*]}" >&2
  exit 0
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# Install what exists in the configured sources; a package that is not there is reported, not fatal.
available=()
for p in "${missing[@]}"; do
  if apt-cache show "$p" >/dev/null 2>&1; then available+=("$p"); else echo "install-system-deps: $p not available" >&2; fi
done
if [ ${#available[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${available[@]}" >/dev/null
fi
