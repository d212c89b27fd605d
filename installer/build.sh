#!/usr/bin/env bash
# Builds the one-file `dist/kiosk-agent` with PyInstaller (`make exe`).
#
# On Linux the pystray hook of pyinstaller-hooks-contrib imports pystray to find its
# backends, and that needs an X display: headless it fails with DisplayNameError and the
# backends are silently left out. So the build runs under xvfb-run when there is no display.
# Usage: bash installer/build.sh [DISTDIR]   (default: dist/)
#
# KIOSK_BUILD_VERSION=1.3.0 builds the program as that version (`--version`, status,
# reports, the release folder `install` names) without touching the checkout: the spec
# writes a module `kiosk_agent_build` into the work folder and adds it to the program, and
# kiosk_agent/__init__.py reads it when frozen (installer/README.md, "Building another
# version"). Unset, nothing is added and the build is the checkout's version.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
DIST="${1:-dist}"
if [ -n "${KIOSK_BUILD_VERSION:-}" ]; then
  # Only what `kiosk-server publish-release` accepts (contracts/release.py: version_number).
  if ! [[ "$KIOSK_BUILD_VERSION" =~ ^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$ ]]; then
    echo "build.sh: KIOSK_BUILD_VERSION=$KIOSK_BUILD_VERSION is not a version like 1.3.0" >&2
    exit 2
  fi
  export KIOSK_BUILD_VERSION
fi
WORK="${KIOSK_BUILD_WORK:-build/pyinstaller}"
# PyInstaller's cache of processed binaries, per build: --clean wipes the cache anyway,
# and a shared ~/.cache/pyinstaller broke builds running side by side (a file vanished
# mid-build under the other build's --clean).
# Reproducible builds (docs/reproducible-builds.md): a fixed hash seed (set and dict
# orders in PyInstaller's analysis), and the last commit's time for the timestamps
# PyInstaller writes (the Windows PE header).
export PYTHONHASHSEED="${PYTHONHASHSEED:-0}"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || echo 1767225600)"
  export SOURCE_DATE_EPOCH
fi
export PYINSTALLER_CONFIG_DIR="${PYINSTALLER_CONFIG_DIR:-$WORK/pyinstaller-cache}"

run() {
  if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
    xvfb-run -a -s "-screen 0 1024x768x24" "$@"
  else
    "$@"
  fi
}

run "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$WORK" installer/kiosk-agent.spec

EXE="$DIST/kiosk-agent"
[ -f "$EXE.exe" ] && EXE="$EXE.exe"
"$PY" installer/check_bundle.py "$EXE" "$WORK"
