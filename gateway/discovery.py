"""Finding enrolled wearables by their advertisements (name "RTM-<device id>" and the RTM
service UUID), with bleak's public scanner: a real adapter or the simulator's backend."""

from __future__ import annotations

import asyncio
import contextlib

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from firmware.core.protocol import DEVICE_NAME_PREFIX, RTM_SERVICE_UUID


def device_id_of(name: str | None) -> str | None:
    """The device id advertised in a wearable's name, or None for anything else."""
    if not name or not name.startswith(DEVICE_NAME_PREFIX):
        return None
    dev = name[len(DEVICE_NAME_PREFIX):].lower()
    if len(dev) != 12 or any(c not in "0123456789abcdef" for c in dev):
        return None
    return dev


async def find_enrolled(enrolled: set[str], timeout_s: float,
                        backend: type[BaseBleakScanner] | None = None) -> dict[str, BLEDevice]:
    """Scan until every enrolled wearable was seen or `timeout_s` passed."""
    found: dict[str, BLEDevice] = {}
    all_found = asyncio.Event()

    def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
        dev = device_id_of(adv.local_name or device.name)
        if dev in enrolled and dev not in found:
            found[dev] = device
            if len(found) == len(enrolled):
                all_found.set()

    if not enrolled:
        return found
    async with BleakScanner(on_advertisement, service_uuids=[RTM_SERVICE_UUID],
                            backend=backend):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_found.wait(), timeout_s)
    return found
