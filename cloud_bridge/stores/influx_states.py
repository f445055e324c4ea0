"""Device states in InfluxDB, shared by the 1.x and the 2.x/3.x store: one point per report.

Points (line protocol, precision ns; docs/storage.md has the whole schema)::

    device_state,device=<id> gateway="<id>",consecutive_failures=<i>[,last_sync_ms=<i>]
        [,last_attempt_ms=<i>][,battery_pct=<i>][,log_used_pct=<i>][,refused=<i>]
        [,firmware="<text>"],n_fields=<i>  <reported_ms, ns>

A field that is None is left out (line protocol has no null). `n_fields` counts the fields
written, itself included: InfluxDB 1.x makes a point visible field by field, so a row with
fewer fields than it says is a point still being written, and the report before it is read
instead. One series per device (gateway is a field: a wearable moved to another home stays
one series).

"Latest wins" is the time order: the newest point of the device's series is its latest
report. A report delivered late is an older point and never hides a newer one; the same
report again rewrites its own point. Read with one statement per chunk of devices::

    SELECT * FROM "device_state" WHERE <all time> [AND devices] GROUP BY "device"
        ORDER BY time DESC LIMIT 2

which 1.x, 2.x (/query) and 3.x all answer with each device's two newest points (LIMIT
applies per group). Not `SELECT last(*)`: it takes each field's last non-null value on its
own, so a field that became unknown (null) would come back with an older report's value.

A device reports every night, and the statement costs what its time range holds (a year of
1,000 wearables: 4 s): `read` with `recent_ms` asks from then first (`time >= recent`), and
all time only for the devices it did not find there. The answer is the same: a device with
a point since `recent` has its newest there (a torn newest one, the point before it
elsewhere: all time again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cloud_bridge.device_state import DeviceState
from cloud_bridge.stores.base import StoreError
from cloud_bridge.stores.influx_results import Series
from cloud_bridge.stores.influx_schema import TAG_DEVICE, device_matches, escape_key

MEASUREMENT = "device_state"
COUNT_FIELD = "n_fields"
INT_FIELDS = ("consecutive_failures", "last_sync_ms", "last_attempt_ms", "battery_pct",
              "log_used_pct", "refused")
_FIELDS = ("gateway", *INT_FIELDS, "firmware", COUNT_FIELD)
_NS_PER_MS = 1_000_000
_MIN_NS, _MAX_NS = -9223372036854775806, 9223372036854775806  # InfluxQL's time range
READ_LIMIT = 2  # the newest point and, should it be torn, the one before it

# statements -> their series, each statement's in order, with epoch=ms
Run = Callable[[Sequence[str]], list[list[Series]]]


def _string_field(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_line(state: DeviceState) -> str:
    """One line of line protocol, precision ns. `state` must pass check_device_state."""
    fields = [f"gateway={_string_field(state.gateway_id)}"]
    for name in INT_FIELDS:
        value = getattr(state, name)
        if value is not None:
            fields.append(f"{name}={value}i")
    if state.firmware is not None:
        fields.append(f"firmware={_string_field(state.firmware)}")
    fields.append(f"{COUNT_FIELD}={len(fields) + 1}i")
    return (f"{MEASUREMENT},{TAG_DEVICE}={escape_key(state.device_id)} {','.join(fields)} "
            f"{state.reported_ms * _NS_PER_MS}")


def select_statements(device_ids: Sequence[str] | None, since_ms: int | None = None
                      ) -> list[str]:
    """The statements that read the newest points of `device_ids` (None: all), from
    `since_ms` on (None: all time); run them with epoch=ms."""
    low = _MIN_NS if since_ms is None else max(_MIN_NS, since_ms * _NS_PER_MS)
    return [
        f'SELECT * FROM "{MEASUREMENT}" WHERE time >= {low} AND time <= {_MAX_NS}{tail} '
        f'GROUP BY "{TAG_DEVICE}" ORDER BY time DESC LIMIT {READ_LIMIT}'
        for tail in device_matches(device_ids)
    ]


def read(run: Run, device_ids: Sequence[str] | None,
         recent_ms: int | None = None) -> dict[str, DeviceState]:
    """Each device's latest whole report: from `recent_ms` on first, if given, then from
    all time for the devices not found there (for all devices, None, all time at once)."""
    if recent_ms is None or device_ids is None:
        return states_of(run(select_statements(device_ids)))
    out = states_of(run(select_statements(device_ids, recent_ms)))
    rest = sorted(set(device_ids) - out.keys())
    if rest:
        out.update(states_of(run(select_statements(rest))))
    return out


def states_of(results: Sequence[Sequence[Series]]) -> dict[str, DeviceState]:
    """Each device's latest whole report from the answers to select_statements."""
    out: dict[str, DeviceState] = {}
    for series_list in results:
        for series in series_list:
            for row in series.rows():  # newest first
                state = _state_of(row)
                if state is None:
                    continue
                have = out.get(state.device_id)
                if have is None or have.reported_ms < state.reported_ms:
                    out[state.device_id] = state
    return out


def _state_of(row: dict[str, Any]) -> DeviceState | None:
    """The report in a row, or None for a point still being written."""
    declared = row.get(COUNT_FIELD)
    present = sum(1 for key in _FIELDS if row.get(key) is not None)
    if declared is None or present < int(declared):
        return None
    try:
        return DeviceState(
            device_id=str(row[TAG_DEVICE]),
            gateway_id=str(row["gateway"]),
            reported_ms=int(row["time"]),
            last_sync_ms=_optional_int(row.get("last_sync_ms")),
            last_attempt_ms=_optional_int(row.get("last_attempt_ms")),
            battery_pct=_optional_int(row.get("battery_pct")),
            log_used_pct=_optional_int(row.get("log_used_pct")),
            refused=_optional_int(row.get("refused")),
            consecutive_failures=int(row["consecutive_failures"]),
            firmware=None if row.get("firmware") is None else str(row["firmware"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"InfluxDB query: a {MEASUREMENT} point is not a device state "
                         f"({exc!r}): {row}") from None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
