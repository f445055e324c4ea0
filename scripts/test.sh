#!/usr/bin/env bash
# Installs everything the tests need and runs them all:
#   Debian packages: mosquitto and influxdb (started by the tests themselves on free
#   loopback ports), chromium (the dashboard's browser tests drive it headless over the
#   DevTools protocol), Node.js and npm where missing; the MicroPython WebAssembly port
#   from npm (version pinned in its lockfile); the Python dependencies in .venv.
# Then: ruff, and pytest over tests/ (unit, MicroPython, integration, end-to-end).
# Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pkgs=(mosquitto influxdb chromium)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
apt_install "${pkgs[@]}"
(cd "$ROOT/simulators/micropython_wasm" && npm ci --no-audit --no-fund --loglevel=error)
ensure_venv test
cd "$ROOT"
"$VENV/bin/ruff" check .
exec "$VENV/bin/python" -m pytest "$@"
