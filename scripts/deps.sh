#!/usr/bin/env bash
# Installs, idempotently, every Debian package cellplane builds, tests or benchmarks with.
# Safe to run again: apt-get only runs when a package is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev ccache mold python3
  liburing-dev libusb-1.0-0-dev libpcsclite-dev libsimdjson-dev libmimalloc-dev
  libconcurrentqueue-dev libreaderwriterqueue-dev libexpected-dev libtomlplusplus-dev
  libcli11-dev libfmt-dev libhttp-parser-dev libsystemd-dev libisal-dev
  libgtest-dev libgmock-dev libbenchmark-dev procps util-linux
  kannel kannel-extras curl nettle-dev pcscd vsmartcard-vpcd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "deps: all ${#packages[@]} packages present"
fi

# Real SMPP software the tests talk to (../shared/PEERS.md): npm `smpp`, pinned by the lock file,
# with the machine's Node.js and npm (this machine kind has them; Debian's nodejs/npm packages
# conflict with that install, so they are not asked for above).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "deps: node and npm are needed for the SMPP interoperability tests (npm smpp)" >&2
  exit 1
fi
peers="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/peers/smpp"
if [[ ! -d "$peers/node_modules/smpp" ]]; then
  echo "deps: npm ci in tests/peers/smpp"
  (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error)
fi
