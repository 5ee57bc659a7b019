#!/usr/bin/env bash
# Installs what x86pt's engines and tests need beyond npm packages, only when missing:
#   binutils    GNU as/ld (test kernels, the QEMU stub)
#   qemu        qemu-system-x86 (the QEMU engine)
#   bochs       bochs, bochs-sdl, bochsbios, vgabios (the Bochs engine; it boots its own ROM and
#               runs SDL2's dummy video driver: no window, no terminal, no listening socket)
#   chromium    Debian's chromium at /usr/bin/chromium (the HTML report's browser test)
#   python      Unicorn 2.1 (libunicorn.so.2 from the PyPI wheel) and pyelftools,
#               pip-installed into .local/python inside the project, never globally
# As root it installs with apt-get and pip; otherwise it prints the exact command and fails.
# Usage: scripts/setup.sh [all|binutils|qemu|bochs|chromium|python]...   (default: all)
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
local_python="$root_dir/.local/python"
unicorn_version="2.1.4"
pyelftools_version="0.32"

say() { printf 'x86pt setup: %s\n' "$*" >&2; }

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    say "missing $*; run as root: apt-get update && apt-get install -y --no-install-recommends $*"
    exit 1
  fi
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_binutils() {
  command -v as >/dev/null && command -v ld >/dev/null && command -v readelf >/dev/null && return 0
  apt_install binutils
}

ensure_qemu() {
  command -v qemu-system-x86_64 >/dev/null && command -v qemu-system-i386 >/dev/null && return 0
  apt_install qemu-system-x86
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  apt_install chromium
}

bochs_ready() {
  command -v bochs >/dev/null && [ -f /usr/share/vgabios/vgabios.bin ] &&
    [ -f /usr/lib/x86_64-linux-gnu/bochs/plugins/libbx_sdl2_gui.so ]
}

ensure_bochs() {
  bochs_ready && return 0
  apt_install bochs bochs-sdl bochsbios vgabios
}

python_ready() {
  [ -f "$local_python/unicorn/lib/libunicorn.so.2" ] &&
    [ -f "$local_python/.unicorn-$unicorn_version" ] &&
    [ -d "$local_python/elftools" ]
}

ensure_python() {
  python_ready && return 0
  local py
  py=$(command -v python3 || true)
  if [ -z "$py" ] || ! "$py" -m pip --version >/dev/null 2>&1; then
    apt_install python3 python3-pip
    py=$(command -v python3)
  fi
  say "installing unicorn==$unicorn_version and pyelftools==$pyelftools_version into $local_python"
  rm -rf "$local_python"
  mkdir -p "$local_python"
  "$py" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$local_python" "unicorn==$unicorn_version" "pyelftools==$pyelftools_version" >&2 || {
    say "pip failed; the command was: $py -m pip install --target $local_python unicorn==$unicorn_version pyelftools==$pyelftools_version"
    exit 1
  }
  [ -f "$local_python/unicorn/lib/libunicorn.so.2" ] || { say "the unicorn wheel has no unicorn/lib/libunicorn.so.2"; exit 1; }
  touch "$local_python/.unicorn-$unicorn_version"
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(all)
for target in "${targets[@]}"; do
  case "$target" in
    all) ensure_binutils; ensure_qemu; ensure_bochs; ensure_chromium; ensure_python ;;
    binutils) ensure_binutils ;;
    qemu) ensure_qemu ;;
    bochs) ensure_bochs ;;
    chromium) ensure_chromium ;;
    python|unicorn) ensure_python ;;
    *) say "unknown target '$target' (all, binutils, qemu, bochs, chromium, python)"; exit 2 ;;
  esac
done
