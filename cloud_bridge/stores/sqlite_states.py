"""The SQLite store's device states: one row per device, its latest reported state.

    device_states(device_id PRIMARY KEY, gateway_id, reported_ms, last_sync_ms,
                  last_attempt_ms, battery_pct, log_used_pct, refused,
                  consecutive_failures, firmware)

An upsert keeps the later report: a row is replaced only by a state with a reported_ms at
least as late (equal: the one written last wins, as a rewritten InfluxDB point does), so a
report delivered late (a gateway's outbox drained after an outage) never hides a newer one.
Functions run inside the caller's transaction, on its connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from cloud_bridge.device_state import DeviceState

SCHEMA = """
CREATE TABLE IF NOT EXISTS device_states (
    device_id            TEXT    PRIMARY KEY,
    gateway_id           TEXT    NOT NULL,
    reported_ms          INTEGER NOT NULL,
    last_sync_ms         INTEGER,
    last_attempt_ms      INTEGER,
    battery_pct          INTEGER,
    log_used_pct         INTEGER,
    refused              INTEGER,
    consecutive_failures INTEGER NOT NULL,
    firmware             TEXT
) WITHOUT ROWID;
"""

COLUMNS = ("device_id", "gateway_id", "reported_ms", "last_sync_ms", "last_attempt_ms",
           "battery_pct", "log_used_pct", "refused", "consecutive_failures", "firmware")
_UPSERT = (
    f"INSERT INTO device_states ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)}) "
    "ON CONFLICT(device_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
    + " WHERE excluded.reported_ms >= device_states.reported_ms"
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM device_states"


def write(conn: sqlite3.Connection, states: Sequence[DeviceState]) -> None:
    conn.executemany(_UPSERT, [tuple(getattr(s, c) for c in COLUMNS) for s in states])


def read(conn: sqlite3.Connection, device_ids: Sequence[str] | None) -> dict[str, DeviceState]:
    if device_ids is None:
        rows = conn.execute(_SELECT).fetchall()
    else:
        unique = sorted(set(device_ids))
        if not unique:
            return {}
        # json_each keeps the statement fixed however many devices are asked for.
        rows = conn.execute(f"{_SELECT} WHERE device_id IN (SELECT value FROM json_each(?))",
                            (json.dumps(unique),)).fetchall()
    return {row[0]: DeviceState(**dict(zip(COLUMNS, row, strict=True))) for row in rows}
