"""The gateway running unattended: scan now and then, ask the policy which wearables to
sync, sync them, keep publishing, and leave a heartbeat for `rtm-gateway status`.

Scanning is paced to the wearable's habits (firmware/main.py): it advertises all the time
while on its charger, for 2 minutes after a set, and for 60 s at a timer wake every 4 hours
while records wait (so at least once in a 4-hour night window). Inside the overnight window,
while some wearable has not been synced, the gateway scans almost continuously
(`_WINDOW_SCAN_PAUSE_S` between scans): a 60-second wake must not fall between two scans.
Otherwise it scans every `_IDLE_SCAN_PAUSE_S`, often enough to catch the 2 minutes after a
set, and the Pi's shared Wi-Fi/Bluetooth radio is left to Wi-Fi most of the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from firmware.core import advert
from gateway.config import GatewayConfig
from gateway.discovery import Sighting
from gateway.downlink import Downlink, program_filter
from gateway.gateway import SCAN_ERRORS, SYNC_ERRORS, Gateway, wall_clock_ms
from gateway.policy import Advert, SyncPolicy
from gateway.uplink import Uplink

log = logging.getLogger(__name__)

_WINDOW_SCAN_PAUSE_S = 5.0
_IDLE_SCAN_PAUSE_S = 50.0
_PUMP_EVERY_S = 0.5
HEARTBEAT_EVERY_S = 10.0


def local_now() -> datetime:
    return datetime.now().astimezone()


def heartbeat_path(config: GatewayConfig) -> Path:
    return config.outbox.with_name(config.outbox.stem + ".status.json")


class GatewayService:
    """Needs a Gateway with a device registry (`gateway.devices`): programs from the clinic
    are kept there until the wearable's next sync."""

    def __init__(self, config: GatewayConfig, gateway: Gateway, uplink: Uplink,
                 policy: SyncPolicy, now: Callable[[], datetime] = local_now) -> None:
        if gateway.devices is None:
            raise ValueError("the gateway service needs a Gateway with a device registry")
        self.config = config
        self.gateway = gateway
        self.uplink = uplink
        self.policy = policy
        self.downlink = Downlink(config.gateway_id, gateway.devices, wall_clock_ms,
                                 is_enrolled=lambda dev: dev in gateway.enrolled(),
                                 outbox=gateway.outbox)
        uplink.subscribe(program_filter(config.gateway_id), self.downlink.on_program_message)
        self.now = now
        self.passes = 0
        self.syncs = 0
        self.sync_failures = 0
        self.scan_failures = 0
        self._next_scan = 0.0
        self._next_heartbeat = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            self.uplink.pump()
            if loop.time() >= self._next_scan:
                await self.scan_and_sync()
                self._next_scan = loop.time() + self._scan_pause_s()
            if loop.time() >= self._next_heartbeat:
                self.write_heartbeat()
                self._next_heartbeat = loop.time() + HEARTBEAT_EVERY_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _PUMP_EVERY_S)
        self.write_heartbeat(stopping=True)

    def _scan_pause_s(self) -> float:
        now = self.now()
        waiting = [d for d in self.gateway.enrolled()
                   if self.policy.reason_to_sync(d, now, None) == "window"]
        return _WINDOW_SCAN_PAUSE_S if waiting else _IDLE_SCAN_PAUSE_S

    async def scan_and_sync(self) -> None:
        enrolled = self.gateway.enrolled()
        if not enrolled:
            return
        self.passes += 1
        try:
            sightings = await self.gateway.scan(enrolled)
        except SCAN_ERRORS as e:
            # The link counts it towards an adapter reset; the next scan tries again.
            self.scan_failures += 1
            log.error("cannot scan for wearables: %s: %s", type(e).__name__, e,
                      extra={"event": "scan_failed"})
            return
        now = self.now()
        due: dict[str, str] = {}
        for device_id, sighting in sightings.items():
            state = advert.decode(sighting.adv.manufacturer_data)
            said = Advert(state.charging, state.unsynced) if state is not None else None
            reason = self.policy.reason_to_sync(device_id, now, said)
            if reason is not None:
                due[device_id] = reason
        if due:
            await asyncio.gather(*(self._sync_one(d, sightings[d], why)
                                   for d, why in sorted(due.items())))

    async def _sync_one(self, device_id: str, sighting: Sighting, reason: str) -> None:
        log.info("syncing wearable %s (%s)", device_id, reason,
                 extra={"event": "sync_start", "device": device_id, "reason": reason})
        try:
            result = await self.gateway.sync_device(device_id, sighting)
        except SYNC_ERRORS as e:
            # The records stay on the wearable; the registry has the error for `status`.
            self.sync_failures += 1
            wait = self.policy.failed(device_id, self.now())
            log.warning("sync of wearable %s failed (%s: %s); next try in %.0f s", device_id,
                        type(e).__name__, e, wait.total_seconds(),
                        extra={"event": "sync_failed", "device": device_id})
            return
        self.syncs += 1
        self.policy.succeeded(device_id, self.now())
        log.info("wearable %s: %d records fetched", device_id, result.fetched,
                 extra={"event": "sync_done", "device": device_id, "fetched": result.fetched})

    def write_heartbeat(self, stopping: bool = False) -> None:
        """What only the running process knows (broker link, counters), for `status`."""
        beat = {
            "pid": os.getpid(),
            "written_ms": time.time_ns() // 1_000_000,
            "running": not stopping,
            "broker": dataclasses.asdict(self.uplink.state),
            "passes": self.passes,
            "syncs": self.syncs,
            "sync_failures": self.sync_failures,
            "scan_failures": self.scan_failures,
            "adapter_resets": self.gateway.link.health.resets,
            "adapter_failed_resets": self.gateway.link.health.failed_resets,
        }
        path = heartbeat_path(self.config)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(beat))
        os.replace(tmp, path)
