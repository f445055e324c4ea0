#!/usr/bin/env bash
# The main job on embedded defaults: simulated patients exercise for several days, their
# wearables sync each night through a home gateway, the records travel over MQTT (an
# in-process broker) to the cloud bridge and into SQLite, and the clinician summary prints.
# Nothing is installed system-wide (except python3-venv if the machine lacks it).
# Extra arguments go to `rtm-sim demo` (see --help).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_venv
exec "$VENV/bin/rtm-sim" demo "$@"
