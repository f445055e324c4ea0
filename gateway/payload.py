"""The MQTT message the gateway sends for one fetched batch (docs/mqtt.md is the contract).

Topic: ``rtm/v1/<gateway_id>/<device_id>/records``. The records travel as the wearable's
own 32-byte frames (base64), so the bridge checks each one's CRC with the same codec that
wrote it, and the wearable's batch tag (`mac`, with the `log_id` it covers) covers exactly
these bytes: one message is one FETCH, so the bridge can recompute it. The `clock` triple
lets the bridge date records made before the wearable learned the time after a boot.
"""

from __future__ import annotations

import base64
import json

SCHEMA = "rtm.records.v1"
TOPIC_ROOT = "rtm/v1"


def records_topic(gateway_id: str, device_id: str) -> str:
    return f"{TOPIC_ROOT}/{gateway_id}/{device_id}/records"


def build(gateway_id: str, device_id: str, records: list[bytes], boot: int, uptime_ms: int,
          unix_ms: int, *, log_id: int | None = None, mac: bytes | None = None) -> bytes:
    """The message for one FETCH batch; `mac` is the wearable's tag of exactly `records`
    (None from a wearable without a secret), `log_id` the record log it was made in."""
    if mac is not None and log_id is None:
        raise ValueError("a batch tag needs the log id it was made with")
    body: dict[str, object] = {
        "schema": SCHEMA,
        "gateway": gateway_id,
        "device": device_id,
        "clock": {"boot": boot, "uptime_ms": uptime_ms, "unix_ms": unix_ms},
        "records": [base64.b64encode(r).decode("ascii") for r in records],
    }
    if log_id is not None:
        body["log_id"] = log_id
    if mac is not None:
        body["mac"] = base64.b64encode(mac).decode("ascii")
    return json.dumps(body, separators=(",", ":")).encode()
