"""Which gateway each wearable is at: the clinic needs it to address a program
(``rtm/v1/<gateway_id>/<device_id>/program``).

The truth is the bridge's device-key table (cloud_bridge/device_keys.py): every wearable
enrolled through its gateway (`rtm-gateway enroll`) is there with the gateway it is enrolled
at, and the gateway accepts programs only for wearables enrolled at it. So the clinic reads
that file, read-only, and only the columns device_id, gateway_id and state (never a
secret). It sits next to a SQLite store (rtm.db -> rtm-device-keys.db), which `rtm-clinic
summary` reads already, so the clinic's tools need no access they did not have; with
another store, give the bridge's --device-keys path.

Not a gateway column in the enrollment registry: the registry is the clinic's hand-kept
patient file, and a second copy of where a wearable is would go stale when a wearable moves
home. Wearables enrolled only in a gateway's configuration (the demo) are in no key table:
for them, and to override, the caller gives DEVICE=GATEWAY pairs.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cloud_bridge.device_keys import ENROLLED

_GATEWAY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DEVICE_ID = re.compile(r"^[0-9a-f]{12}$")


class GatewayLookupError(ValueError):
    """The key table cannot be read, or a DEVICE=GATEWAY pair is malformed."""


@dataclass(frozen=True)
class KnownDevice:
    gateway_id: str
    state: str  # "enrolled" or "unenrolled"


def read_key_table(path: str | Path) -> dict[str, KnownDevice]:
    """device_id -> its gateway and state, from the bridge's key table (read-only)."""
    path = Path(path)
    if not path.is_file():
        raise GatewayLookupError(f"device-key table {path} does not exist (the bridge's "
                                 f"--device-keys file)")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=10.0)
        try:
            rows = conn.execute("SELECT device_id, gateway_id, state FROM device_keys")
            return {device: KnownDevice(gateway, state) for device, gateway, state in rows}
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise GatewayLookupError(f"cannot read device-key table {path}: {e}") from None


def parse_override(text: str) -> tuple[str, str]:
    """'a1b2c3d4e5f6=home-001' -> (device, gateway)."""
    device, sep, gateway = text.partition("=")
    if not sep or not _DEVICE_ID.match(device) or not _GATEWAY_ID.match(gateway):
        raise GatewayLookupError(f"expected DEVICE=GATEWAY (12 lowercase hex digits = 1-64 "
                                 f"of A-Z a-z 0-9 _ -), got {text!r}")
    return device, gateway


def resolve(devices: Iterable[str], known: Mapping[str, KnownDevice],
            overrides: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(device -> gateway for the devices a program can reach, device -> why not for the
    others). An override wins; otherwise the device must be enrolled in the key table."""
    targets: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for device in devices:
        if device in overrides:
            targets[device] = overrides[device]
        elif device not in known:
            skipped[device] = ("its gateway is unknown (not enrolled through the bridge): "
                               "give --gateway DEVICE=GATEWAY")
        elif known[device].state != ENROLLED:
            skipped[device] = f"unenrolled at gateway {known[device].gateway_id}"
        else:
            targets[device] = known[device].gateway_id
    return targets, skipped
