"""The gateway's sync pass: find the enrolled wearables, sync them (several at once, up to
the adapter's connection slots), report.

One code path for a real radio and for the simulator: the only difference is the bleak
backend classes handed in (None means the platform's own).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakCharacteristicNotFoundError, BleakError

from gateway.ble_link import AdapterControl, BleLink, BluezAdapterControl
from gateway.clock import wall_clock_ms
from gateway.config import GatewayConfig
from gateway.devices import DeviceRegistry
from gateway.discovery import Sighting
from gateway.outbox import Outbox
from gateway.state_report import report_state
from gateway.sync import SyncResult, sync_wearable
from gateway.wearable_session import SessionError, WearableSession

log = logging.getLogger(__name__)

# What a failed sync raises. None of them loses a record: the wearable keeps everything
# not acknowledged, and only committed batches are acknowledged.
SYNC_ERRORS: tuple[type[BaseException], ...] = (
    BleakError, SessionError, TimeoutError, ValueError, OSError, EOFError, sqlite3.Error)
SCAN_ERRORS: tuple[type[BaseException], ...] = (BleakError, OSError, EOFError, TimeoutError)

# Called with (device id, records fetched so far, records to fetch) after every batch.
Progress = Callable[[str, int, int], None]


@dataclass
class PassReport:
    synced: list[SyncResult] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    scan_error: str | None = None  # the adapter could not scan at all


def _default_adapter_control(client_backend: type[BaseBleakClient] | None,
                             ) -> AdapterControl | None:
    # Only the platform's own backend on Linux talks to BlueZ; a simulator brings its own.
    if client_backend is None and sys.platform.startswith("linux"):
        return BluezAdapterControl()
    return None


class Gateway:
    def __init__(self, config: GatewayConfig, outbox: Outbox,
                 scanner_backend: type[BaseBleakScanner] | None = None,
                 client_backend: type[BaseBleakClient] | None = None,
                 clock_ms: Callable[[], int] = wall_clock_ms, *,
                 adapter_control: AdapterControl | None = None,
                 monotonic_s: Callable[[], float] = time.monotonic,
                 devices: DeviceRegistry | None = None,
                 progress: Progress | None = None) -> None:
        self.config = config
        self.outbox = outbox
        self.clock_ms = clock_ms
        self.devices = devices  # enrolled wearables, their status and waiting programs
        self.progress = progress
        self.link = BleLink(config.sync, scanner_backend, client_backend,
                            adapter_control or _default_adapter_control(client_backend),
                            monotonic_s)
        self.errors = 0

    def enrolled(self) -> set[str]:
        """The config's static list and the wearables `rtm-gateway enroll` registered."""
        registered = self.devices.enrolled() if self.devices is not None else set()
        return set(self.config.enrolled) | registered

    async def scan(self, enrolled: set[str]) -> dict[str, Sighting]:
        """The wearables of `enrolled` advertising now, by device id. Raises SCAN_ERRORS
        when the adapter cannot scan."""
        return await self.link.scan(enrolled)

    async def sync_device(self, device_id: str, sighting: Sighting) -> SyncResult:
        """Connect to one wearable, sync it, disconnect.

        Raises one of SYNC_ERRORS on failure (DeadlineExceeded, a TimeoutError, when it
        took longer than sync.connect_deadline_s); the caller decides when to try again.
        Failures are recorded in the device registry, if there is one, and then after
        every attempt the wearable's state is queued for the clinic (gateway/state_report).
        A GATT table without the RTM characteristics (BlueZ's cache from before a firmware
        update) is dropped and the wearable connected once more.
        """
        try:
            return await self._sync_device(device_id, sighting)
        except BleakCharacteristicNotFoundError:
            if not await self.link.forget_services(sighting.device.address):
                raise
        return await self._sync_device(device_id, sighting)

    async def _sync_device(self, device_id: str, sighting: Sighting) -> SyncResult:
        session: WearableSession | None = None

        def link_lost() -> None:
            if session is not None:
                session.link_lost()

        def fetched(done: int, total: int) -> None:
            if self.progress is not None:
                self.progress(device_id, done, total)

        try:
            async with self.link.connection(sighting.device, link_lost) as client:
                session = WearableSession(client, self.config.sync.response_timeout_s)
                await session.open()
                result = await sync_wearable(session, self.outbox, self.config.gateway_id,
                                             device_id, self.clock_ms,
                                             self.config.sync.batch_records,
                                             devices=self.devices, progress=fetched)
        except SYNC_ERRORS as e:
            if self.devices is not None:
                self.devices.record_failure(device_id, self.clock_ms(),
                                            f"{type(e).__name__}: {e}")
                self._report_state(device_id)
            raise
        if self.devices is not None:
            self._report_state(device_id)
        stats = session.stats
        if stats.duplicate_records or stats.reordered_frames or stats.stale_frames:
            log.info("wearable %s: dropped %d duplicated records and %d stale frames, "
                     "reordered %d frames", device_id, stats.duplicate_records,
                     stats.stale_frames, stats.reordered_frames)
        return result

    def _report_state(self, device_id: str) -> None:
        assert self.devices is not None
        report_state(self.outbox, self.devices, self.config.gateway_id, device_id,
                     self.clock_ms())

    async def sync_pass(self, only: set[str] | None = None) -> PassReport:
        """Scan for the enrolled wearables (those in `only`, if given) and sync every one
        found, concurrently up to the connection slots. Failures go into the report."""
        report = PassReport()
        enrolled = self.enrolled()
        if only is not None:
            enrolled &= only
        try:
            found = await self.scan(enrolled)
        except SCAN_ERRORS as e:
            # No adapter, BlueZ not running, adapter busy: try again next pass.
            self.errors += 1
            report.scan_error = f"cannot scan for wearables: {type(e).__name__}: {e}"
            report.missing = sorted(enrolled)
            log.error("%s", report.scan_error)
            return report
        report = await self.sync_found(found)
        report.missing = sorted(enrolled - set(found))
        return report

    async def sync_found(self, found: dict[str, Sighting]) -> PassReport:
        """Sync the wearables just seen, concurrently up to the connection slots."""
        report = PassReport()
        await asyncio.gather(*(self._sync_into(report, dev, found[dev]) for dev in sorted(found)))
        report.synced.sort(key=lambda r: r.device_id)
        return report

    async def _sync_into(self, report: PassReport, device_id: str, sighting: Sighting) -> None:
        try:
            report.synced.append(await self.sync_device(device_id, sighting))
        except SYNC_ERRORS as e:
            # The records stay on the wearable; the next pass picks them up.
            self.errors += 1
            report.failed[device_id] = f"{type(e).__name__}: {e}"
            log.warning("sync of wearable %s failed: %s", device_id, report.failed[device_id])
