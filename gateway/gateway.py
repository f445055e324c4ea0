"""The gateway's sync pass: find the enrolled wearables, sync each in turn, report.

One code path for a real radio and for the simulator: the only difference is the bleak
backend classes handed in (None means the platform's own).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bleak import BleakClient
from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from gateway.config import GatewayConfig
from gateway.discovery import find_enrolled
from gateway.outbox import Outbox
from gateway.sync import SyncResult, sync_wearable
from gateway.wearable_session import SessionError, WearableSession

log = logging.getLogger(__name__)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class PassReport:
    synced: list[SyncResult] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    scan_error: str | None = None  # the adapter could not scan at all


class Gateway:
    def __init__(self, config: GatewayConfig, outbox: Outbox,
                 scanner_backend: type[BaseBleakScanner] | None = None,
                 client_backend: type[BaseBleakClient] | None = None,
                 clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.config = config
        self.outbox = outbox
        self.scanner_backend = scanner_backend
        self.client_backend = client_backend
        self.clock_ms = clock_ms
        self.errors = 0

    async def sync_pass(self) -> PassReport:
        report = PassReport()
        enrolled = set(self.config.enrolled)
        try:
            found = await find_enrolled(enrolled, self.config.sync.scan_timeout_s,
                                        self.scanner_backend)
        except (BleakError, OSError, TimeoutError) as e:
            # No adapter, BlueZ not running, adapter busy: try again next pass.
            self.errors += 1
            report.scan_error = f"cannot scan for wearables: {type(e).__name__}: {e}"
            report.missing = sorted(enrolled)
            log.error("%s", report.scan_error)
            return report
        report.missing = sorted(enrolled - set(found))
        for device_id in sorted(found):
            try:
                async with BleakClient(found[device_id], backend=self.client_backend,
                                       timeout=self.config.sync.response_timeout_s) as client:
                    session = WearableSession(client, self.config.sync.response_timeout_s)
                    await session.open()
                    result = await sync_wearable(session, self.outbox, self.config.gateway_id,
                                                 device_id, self.clock_ms,
                                                 self.config.sync.batch_records)
                report.synced.append(result)
            except (BleakError, SessionError, TimeoutError, ValueError, OSError,
                    sqlite3.Error) as e:
                # The records stay on the wearable; the next pass picks them up.
                self.errors += 1
                report.failed[device_id] = f"{type(e).__name__}: {e}"
                log.warning("sync of wearable %s failed: %s", device_id, report.failed[device_id])
        return report
