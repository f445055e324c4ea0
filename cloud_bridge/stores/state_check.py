"""What every store can keep of a DeviceState: `check_device_state`, as `check_record` for
records (cloud_bridge/stores/base.py). The bridge validates messages more strictly before
(cloud_bridge/state_message.py); this keeps the stores swappable for any caller.

Rules: device_id a valid tag value (1-256 printable ASCII characters without backslash, as
for records), gateway_id likewise; reported_ms in 0..MAX_T_MS (InfluxDB keeps time as int64
ns); every other number None or a 64-bit int >= 0 (consecutive_failures never None);
firmware None or 1-256 printable characters (line protocol has no newline in a string).
"""

from __future__ import annotations

from cloud_bridge.device_state import DeviceState
from cloud_bridge.stores.base import _TAG_VALUE, INT64_MAX, MAX_T_MS, StoreRejected

OPTIONAL_INTS = ("last_sync_ms", "last_attempt_ms", "battery_pct", "log_used_pct", "refused")
MAX_FIRMWARE_CHARS = 256


def check_device_state(state: DeviceState) -> None:
    """Raise StoreRejected unless every store can keep `state` exactly as it is."""
    where = f"device state of {state.device_id!r}"
    for name in ("device_id", "gateway_id"):
        value = getattr(state, name)
        if not isinstance(value, str) or not _TAG_VALUE.fullmatch(value):
            raise StoreRejected(f"{where}: {name} must be 1-256 printable ASCII characters "
                                f"without backslash, got {value!r}")
    _check_int(where, "reported_ms", state.reported_ms, MAX_T_MS)
    _check_int(where, "consecutive_failures", state.consecutive_failures, INT64_MAX)
    for name in OPTIONAL_INTS:
        value = getattr(state, name)
        if value is not None:
            _check_int(where, name, value, INT64_MAX)
    firmware = state.firmware
    if firmware is not None and (not isinstance(firmware, str)
                                 or not 1 <= len(firmware) <= MAX_FIRMWARE_CHARS
                                 or not firmware.isprintable()):
        raise StoreRejected(f"{where}: firmware must be None or 1-{MAX_FIRMWARE_CHARS} "
                            f"printable characters, got {firmware!r}")


def _check_int(where: str, name: str, value: object, maximum: int) -> None:
    if type(value) is not int or not 0 <= value <= maximum:
        raise StoreRejected(f"{where}: {name} must be an int in 0..{maximum}, got {value!r}")
