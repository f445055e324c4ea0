"""The gateway running unattended: scan now and then, ask the policy which wearables to
sync, sync them, keep publishing, and leave a heartbeat for `rtm-gateway status`.

Scanning is paced to the wearable's habits (firmware/main.py): it advertises all the time
while on its charger, for 2 minutes after a set, and for 60 s at a timer wake every 4 hours
while records wait (so at least once in a 4-hour night window). Inside the overnight window,
while some wearable has not been synced, the gateway scans almost continuously
(`_WINDOW_SCAN_PAUSE_S` between scans): a 60-second wake must not fall between two scans.
Otherwise it scans every `_IDLE_SCAN_PAUSE_S`, often enough to catch the 2 minutes after a
set, and the Pi's shared Wi-Fi/Bluetooth radio is left to Wi-Fi most of the time.

Publishing and the heartbeat run in their own task, so a long sync (minutes, for a full log
over a slow link) neither holds the outbox back nor makes the service look dead; it looks at
the outbox twice a second while messages are in flight and every few seconds otherwise
(rows another process queued, such as an enrollment, wait at most that long).
`rtm-gateway sync` while the service runs asks it for a pass now (SIGUSR1) instead of
taking the radio and the MQTT session from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from firmware.core import advert
from gateway.clock import wall_clock_ms
from gateway.config import GatewayConfig
from gateway.discovery import Sighting
from gateway.downlink import Downlink, program_filter
from gateway.gateway import SCAN_ERRORS, Gateway, PassReport
from gateway.policy import Advert, SyncPolicy
from gateway.uplink import Uplink

log = logging.getLogger(__name__)

_WINDOW_SCAN_PAUSE_S = 5.0
_IDLE_SCAN_PAUSE_S = 50.0
_PUMP_BUSY_S = 0.5  # while messages are in flight
_PUMP_IDLE_S = 5.0  # otherwise; a sync wakes the publisher at once
HEARTBEAT_EVERY_S = 10.0


def local_zone() -> tzinfo:
    """The system's time zone with its DST rules (a fixed UTC offset would put a night's
    window an hour off after a DST change)."""
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError, OSError):
        if os.environ.get("TZ"):
            return ZoneInfo(os.environ["TZ"].lstrip(":"))
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    return datetime.now().astimezone().tzinfo or ZoneInfo("UTC")


def heartbeat_path(config: GatewayConfig) -> Path:
    return config.outbox.with_name(config.outbox.stem + ".status.json")


class GatewayService:
    """Needs a Gateway with a device registry (`gateway.devices`): programs from the clinic
    are kept there until the wearable's next sync."""

    def __init__(self, config: GatewayConfig, gateway: Gateway, uplink: Uplink,
                 policy: SyncPolicy, now: Callable[[], datetime] | None = None) -> None:
        if gateway.devices is None:
            raise ValueError("the gateway service needs a Gateway with a device registry")
        self.config = config
        self.gateway = gateway
        self.devices = gateway.devices
        self.uplink = uplink
        self.policy = policy
        zone = local_zone()
        self.now = now or (lambda: datetime.now(zone))
        self.heartbeat_every_s = HEARTBEAT_EVERY_S
        self.passes = 0
        self.syncs = 0
        self.sync_failures = 0
        self.scan_failures = 0
        self.housekeeping_errors = 0
        self.requested_pass: dict[str, object] | None = None  # the last one, for `sync`
        self._pass_requested = asyncio.Event()
        self._new_messages = asyncio.Event()  # a sync committed some: publish now
        self.downlink = Downlink(config.gateway_id, self.devices, wall_clock_ms,
                                 is_enrolled=lambda dev: dev in gateway.enrolled(),
                                 outbox=gateway.outbox)
        uplink.subscribe(program_filter(config.gateway_id), self.downlink.on_program_message)
        self._remember_last_syncs()

    def _remember_last_syncs(self) -> None:
        # A restart must not sync every wearable again (or forget that it did tonight).
        for status in self.devices.statuses():
            if status.last_sync_ms is not None:
                when = datetime.fromtimestamp(status.last_sync_ms / 1000, self.now().tzinfo)
                self.policy.succeeded(status.device_id, when)

    def request_pass(self) -> None:
        """A pass over every enrolled wearable in range now, whatever the policy says."""
        self._pass_requested.set()

    async def run(self, stop: asyncio.Event) -> None:
        housekeeping = asyncio.create_task(self._housekeeping(stop))
        try:
            while not stop.is_set():
                if self._pass_requested.is_set():
                    self._pass_requested.clear()
                    await self._requested_pass()
                else:
                    await self.scan_and_sync()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._scan_pause_s()):
                        await _first_of(stop, self._pass_requested)
        finally:
            stop.set()
            await housekeeping
            self.write_heartbeat(stopping=True)

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        next_beat = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            in_flight = 0
            self._new_messages.clear()
            try:
                in_flight = self.uplink.pump()
                if loop.time() >= next_beat:
                    self.write_heartbeat()
                    next_beat = loop.time() + self.heartbeat_every_s
            except (sqlite3.Error, OSError) as e:
                # A locked database or a full SD card: nothing acknowledged is lost by
                # waiting; the service must outlive it.
                self.housekeeping_errors += 1
                log.error("publishing or heartbeat failed: %s: %s", type(e).__name__, e,
                          extra={"event": "housekeeping_failed"})
            pause = _PUMP_BUSY_S if in_flight else min(_PUMP_IDLE_S, self.heartbeat_every_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await _first_of(stop, self._new_messages)

    def _scan_pause_s(self) -> float:
        now = self.now()
        waiting = [d for d in self.gateway.enrolled()
                   if self.policy.reason_to_sync(d, now, None) == "window"]
        return _WINDOW_SCAN_PAUSE_S if waiting else _IDLE_SCAN_PAUSE_S

    async def _scan(self) -> dict[str, Sighting] | None:
        enrolled = self.gateway.enrolled()
        if not enrolled:
            return None
        self.passes += 1
        try:
            return await self.gateway.scan(enrolled)
        except SCAN_ERRORS as e:
            # The link counts it towards an adapter reset; the next scan tries again.
            self.scan_failures += 1
            log.error("cannot scan for wearables: %s: %s (is a Bluetooth adapter present, "
                      "and BlueZ and the system D-Bus running?)", type(e).__name__, e,
                      extra={"event": "scan_failed"})
            return None

    async def scan_and_sync(self) -> None:
        sightings = await self._scan()
        if not sightings:
            return
        now = self.now()
        due: dict[str, str] = {}
        for device_id, sighting in sightings.items():
            state = advert.decode(sighting.adv.manufacturer_data)
            said = Advert(state.charging, state.unsynced) if state is not None else None
            waiting = self.devices.pending_program(device_id) is not None
            reason = self.policy.reason_to_sync(device_id, now, said, waiting)
            if reason is not None:
                due[device_id] = reason
                log.info("syncing wearable %s (%s)", device_id, reason,
                         extra={"event": "sync_start", "device": device_id, "reason": reason})
        if due:
            self._account(await self.gateway.sync_found({d: sightings[d] for d in due}))

    async def _requested_pass(self) -> None:
        sightings = await self._scan()
        report = await self.gateway.sync_found(sightings or {})
        report.missing = sorted(self.gateway.enrolled() - set(sightings or {}))
        self._account(report)
        self.requested_pass = {"done_ms": wall_clock_ms(),
                               "synced": {r.device_id: r.fetched for r in report.synced},
                               "failed": report.failed, "missing": report.missing}
        self.write_heartbeat()

    def _account(self, report: PassReport) -> None:
        """Tell the policy how each sync went (the registry has the details already)."""
        self._new_messages.set()
        now = self.now()
        for result in report.synced:
            self.syncs += 1
            self.policy.succeeded(result.device_id, now)
            log.info("wearable %s: %d records fetched", result.device_id, result.fetched,
                     extra={"event": "sync_done", "device": result.device_id,
                            "fetched": result.fetched})
        for device_id, why in report.failed.items():
            self.sync_failures += 1
            wait = self.policy.failed(device_id, now)
            log.warning("sync of wearable %s failed (%s); next try in %.0f s", device_id,
                        why, wait.total_seconds(),
                        extra={"event": "sync_failed", "device": device_id})

    def write_heartbeat(self, stopping: bool = False) -> None:
        """What only the running process knows (broker link, counters), for `status`."""
        beat = {
            "pid": os.getpid(),
            "written_ms": wall_clock_ms(),
            "running": not stopping,
            "broker": dataclasses.asdict(self.uplink.state),
            "passes": self.passes,
            "syncs": self.syncs,
            "sync_failures": self.sync_failures,
            "scan_failures": self.scan_failures,
            "housekeeping_errors": self.housekeeping_errors,
            "adapter_resets": self.gateway.link.health.resets,
            "adapter_failed_resets": self.gateway.link.health.failed_resets,
            "requested_pass": self.requested_pass,
        }
        path = heartbeat_path(self.config)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(beat))
        os.replace(tmp, path)


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
