"""Validating a gateway's device state message into a DeviceState (docs/mqtt.md,
"Device state"; built by gateway/state_report.py).

Nothing from the network is trusted: topic, size, JSON, schema, that the payload repeats the
topic's gateway and device, and every field's type and range. A bad message raises
StateRejected with a reason the bridge counts (the same names as for records).
"""

from __future__ import annotations

import re
from typing import Any

from cloud_bridge.device_state import DeviceState
from cloud_bridge.payload import PayloadError, json_envelope

SCHEMA = "rtm.device_state.v1"
TOPIC_FILTER = "rtm/v1/+/+/state"
TOPIC_SUFFIX = "/state"
MAX_MESSAGE_BYTES = 4096
MAX_FIRMWARE_CHARS = 64
MAX_REFUSED = 0xFFFF  # INFO's u16
MAX_FAILURES = 2**31 - 1
_TOPIC = re.compile(r"^rtm/v1/([A-Za-z0-9_-]{1,64})/([0-9a-f]{12})/state$")
EARLIEST_UNIX_MS = 1_600_000_000_000  # Sept 2020, as for records
LATEST_UNIX_MS = 4_102_444_800_000  # 2100-01-01


class StateRejected(PayloadError):
    """A state message the bridge will not keep; `reason` is a short category."""


def _int(body: dict[str, Any], key: str, lo: int, hi: int, *, nullable: bool) -> int | None:
    value = body.get(key)
    if value is None and nullable:
        return None  # unknown; an absent field reads the same
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        allowed = f"null or an integer in {lo}..{hi}" if nullable else f"an integer in {lo}..{hi}"
        raise StateRejected("bad_field", f"{key} must be {allowed}, got {value!r}")
    return value


def _firmware(body: dict[str, Any]) -> str | None:
    value = body.get("firmware")
    if value is None:
        return None
    if (not isinstance(value, str) or not 1 <= len(value) <= MAX_FIRMWARE_CHARS
            or not value.isprintable()):
        raise StateRejected("bad_field", f"firmware must be null or 1-{MAX_FIRMWARE_CHARS} "
                                         f"printable characters, got {value!r}")
    return value


def parse_state(topic: str, payload: bytes) -> DeviceState:
    """The message's DeviceState, or StateRejected naming what is wrong."""
    gateway_id, device_id, body = json_envelope(
        _TOPIC, "rtm/v1/<gateway>/<device>/state", topic, payload, MAX_MESSAGE_BYTES, SCHEMA,
        StateRejected)
    reported_ms = _int(body, "reported_ms", EARLIEST_UNIX_MS, LATEST_UNIX_MS, nullable=False)
    assert reported_ms is not None
    failures = _int(body, "consecutive_failures", 0, MAX_FAILURES, nullable=False)
    assert failures is not None
    return DeviceState(
        device_id=device_id,
        gateway_id=gateway_id,
        reported_ms=reported_ms,
        last_sync_ms=_int(body, "last_sync_ms", EARLIEST_UNIX_MS, LATEST_UNIX_MS,
                          nullable=True),
        last_attempt_ms=_int(body, "last_attempt_ms", EARLIEST_UNIX_MS, LATEST_UNIX_MS,
                             nullable=True),
        battery_pct=_int(body, "battery_pct", 0, 100, nullable=True),
        log_used_pct=_int(body, "log_used_pct", 0, 100, nullable=True),
        refused=_int(body, "refused", 0, MAX_REFUSED, nullable=True),
        consecutive_failures=failures,
        firmware=_firmware(body),
    )
