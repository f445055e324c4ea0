"""Finding enrolled wearables by their advertisements (name "RTM-<device id>"), with bleak's
public scanner: a real adapter or the simulator's backend.

The scan is not filtered on the RTM service: every advertisement around (phones, TVs,
neighbours' gadgets) tells the gateway that its adapter still hears, while a wearable
asleep in a drawer says nothing either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from firmware.core.protocol import DEVICE_NAME_PREFIX


@dataclass(frozen=True)
class Sighting:
    """One wearable as the scanner last saw it: the device to connect to, and what it
    advertised (name, RSSI, service data)."""

    device: BLEDevice
    adv: AdvertisementData


def device_id_of(name: str | None) -> str | None:
    """The device id advertised in a wearable's name, or None for anything else."""
    if not name or not name.startswith(DEVICE_NAME_PREFIX):
        return None
    dev = name[len(DEVICE_NAME_PREFIX):].lower()
    if len(dev) != 12 or any(c not in "0123456789abcdef" for c in dev):
        return None
    return dev


async def find_enrolled(enrolled: set[str], timeout_s: float,
                        backend: type[BaseBleakScanner] | None = None, *,
                        adapter: str | None = None,
                        heard: Callable[[BLEDevice, AdvertisementData], None] | None = None,
                        ) -> dict[str, Sighting]:
    """Scan until every enrolled wearable was seen or `timeout_s` passed.

    `heard` is called for every advertisement, a wearable's or not: it tells the caller
    that the adapter still hears anything at all. `adapter` names the BlueZ adapter
    ("hci0"); other backends ignore it.
    """
    found: dict[str, Sighting] = {}
    all_found = asyncio.Event()

    def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
        if heard is not None:
            heard(device, adv)
        dev = device_id_of(adv.local_name or device.name)
        if dev in enrolled and dev not in found:
            found[dev] = Sighting(device, adv)
            if len(found) == len(enrolled):
                all_found.set()

    if not enrolled:
        return found
    platform_args: dict[str, Any] = {"bluez": {"adapter": adapter}} if adapter else {}
    async with BleakScanner(on_advertisement, backend=backend, **platform_args):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):  # cancels cleanly, unlike 3.11's wait_for
                await all_found.wait()
    return found
