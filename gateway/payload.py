"""The MQTT message the gateway sends for one fetched batch (docs/mqtt.md is the contract).

Topic: ``rtm/v1/<gateway_id>/<device_id>/records``. The records travel as the wearable's
own 32-byte frames (base64), so the bridge checks each one's CRC with the same codec that
wrote it, and later an end-to-end signature can cover exactly these bytes. The `clock`
triple lets the bridge date records made before the wearable learned the time after a boot.
"""

from __future__ import annotations

import base64
import json

SCHEMA = "rtm.records.v1"
TOPIC_ROOT = "rtm/v1"


def records_topic(gateway_id: str, device_id: str) -> str:
    return f"{TOPIC_ROOT}/{gateway_id}/{device_id}/records"


def build(gateway_id: str, device_id: str, records: list[bytes], boot: int, uptime_ms: int,
          unix_ms: int) -> bytes:
    body = {
        "schema": SCHEMA,
        "gateway": gateway_id,
        "device": device_id,
        "clock": {"boot": boot, "uptime_ms": uptime_ms, "unix_ms": unix_ms},
        "records": [base64.b64encode(r).decode("ascii") for r in records],
    }
    return json.dumps(body, separators=(",", ":")).encode()
