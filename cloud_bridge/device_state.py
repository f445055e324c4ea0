"""What the clinic knows of a wearable's health: the latest state its gateway reported after
a sync attempt (battery, how full its record log is, when it last synced). No patient
identity: a device id and the gateway it lives at.

Gateways publish it retained on ``rtm/v1/<gateway>/<device>/state`` (docs/mqtt.md); the
bridge keeps the latest per device in the store (`Store.write_device_states`,
`Store.device_states`), where the clinic's worklist finds device problems.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceState:
    device_id: str
    gateway_id: str
    reported_ms: int  # when the gateway made this report (its clock, Unix ms)
    last_sync_ms: int | None  # last successful sync; None if none yet
    last_attempt_ms: int | None  # last sync attempt, successful or not
    battery_pct: int | None  # 0..100 at the last sync
    log_used_pct: int | None  # share of the record log holding records not yet acknowledged
    refused: int | None  # records the wearable could not keep (log full), since its start
    consecutive_failures: int  # failed sync attempts since the last success
    firmware: str | None
