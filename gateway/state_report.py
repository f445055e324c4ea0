"""A wearable's state for the clinic, reported after every sync attempt (docs/mqtt.md,
"Device state").

After each attempt, successful or not, the gateway enqueues the wearable's state as its
device registry holds it (gateway/devices.py) on the retained topic
``rtm/v1/<gateway_id>/<device_id>/state``. The clinic's worklist reads it from the store to
show device problems: battery low, no sync for days, the record log filling up, syncs
failing. No patient identity: a device id, a gateway id and numbers.

Coalescing: the outbox keeps at most one state per wearable (`Outbox.enqueue_latest`
deletes an older one still waiting), so a wearable failing every 30 s while the broker is
away leaves one row, not thousands. While the broker is reachable every report is
published: a report is a few hundred bytes, and the back-off (gateway/policy.py) spaces the
attempts of a failing wearable out to `backoff_max_s`.

A failed attempt reports the figures of the last successful sync (battery, log) with the new
`last_attempt_ms` and `consecutive_failures`: a failure can happen before INFO, and figures
from a sync cut short would be mistaken for a sync's.

`log_used_pct`: the share of the wearable's record log that holds records not acknowledged
after the last sync, (last_seq - acked_seq) * 100 // capacity, 0..100. It is what the
wearable cannot overwrite: at 100 it refuses new records (`refused`). INFO has no capacity
field; the wearable reports first_seq = max(1, last_seq - capacity + 1) (the first seq its
ring can still hold, firmware/core/record_log.py `oldest_seq`), so once last_seq passed the
capacity (from the first record on for a log whose random base is above it, as on the
device) capacity = last_seq - first_seq + 1, exactly. Before that (first_seq = 1) the
capacity is only known to be at least last_seq: the reference board's (REFERENCE_LOG_CAPACITY)
is taken, or last_seq if that is larger. The wire protocol stays version 1, unchanged.
"""

from __future__ import annotations

import json
import logging
import sqlite3

from gateway.devices import DeviceRegistry, DeviceStatus
from gateway.outbox import Outbox
from gateway.payload import TOPIC_ROOT

log = logging.getLogger(__name__)

SCHEMA = "rtm.device_state.v1"
# Records the reference board's log holds: firmware/main.py _LOG_BYTES = 64 + 32 * 4096
# (the meta area, then 32-byte slots). tests/gateway/test_state_report.py checks the two agree.
REFERENCE_LOG_CAPACITY = 4096
MAX_FIRMWARE_CHARS = 64


def state_topic(gateway_id: str, device_id: str) -> str:
    return f"{TOPIC_ROOT}/{gateway_id}/{device_id}/state"


def log_capacity(first_seq: int, last_seq: int) -> int:
    """The wearable's record log capacity in records, from INFO's first_seq and last_seq."""
    if first_seq > 1:
        return last_seq - first_seq + 1
    return max(REFERENCE_LOG_CAPACITY, last_seq)


def log_used_pct(first_seq: int | None, last_seq: int | None,
                 acked_seq: int | None) -> int | None:
    """Percent of the log holding unacknowledged records (rounded down); None if unknown."""
    if first_seq is None or last_seq is None or acked_seq is None:
        return None
    if first_seq < 1 or first_seq > last_seq + 1:
        return None  # not what a wearable reports: nothing to compute from
    unacked = max(0, last_seq - acked_seq)
    return min(100, unacked * 100 // log_capacity(first_seq, last_seq))


def _battery(pct: int | None) -> int | None:
    # INFO carries a u8: anything above 100 is a firmware fault, not a charge.
    return pct if pct is not None and 0 <= pct <= 100 else None


def _firmware(text: str | None) -> str | None:
    # What the wearable's GATT string holds; the bridge takes printable text only.
    if text is None:
        return None
    clean = "".join(c for c in text if c.isprintable()).strip()[:MAX_FIRMWARE_CHARS]
    return clean or None


def build_state(gateway_id: str, status: DeviceStatus, reported_ms: int) -> bytes:
    body = {
        "schema": SCHEMA,
        "gateway": gateway_id,
        "device": status.device_id,
        "reported_ms": reported_ms,
        "last_sync_ms": status.last_sync_ms,
        "last_attempt_ms": status.last_attempt_ms,
        "battery_pct": _battery(status.battery_pct),
        "log_used_pct": log_used_pct(status.first_seq, status.last_seq, status.acked_seq),
        "refused": status.refused,
        "consecutive_failures": status.consecutive_failures,
        "firmware": _firmware(status.firmware),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def report_state(outbox: Outbox, devices: DeviceRegistry, gateway_id: str, device_id: str,
                 now_ms: int) -> int | None:
    """Enqueue the wearable's current state (superseding one still waiting); the outbox row
    id, or None if it could not be enqueued. Never raises for a full outbox or a database
    error: the records of the sync are safe already, and the next attempt reports again."""
    try:
        status = devices.status(device_id)
        if status is None:
            return None  # never attempted: nothing to report
        return outbox.enqueue_latest(state_topic(gateway_id, device_id),
                                     build_state(gateway_id, status, now_ms), now_ms,
                                     device_id=device_id)
    except (OSError, sqlite3.Error) as e:  # OutboxFull is an OSError
        log.warning("wearable %s: state not reported (%s: %s); the next sync reports it",
                    device_id, type(e).__name__, e)
        return None
