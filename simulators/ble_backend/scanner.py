"""bleak scanner backend over the simulated air: reports every wearable in range, and the
home's other Bluetooth devices (which are not wearables)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from firmware.core.protocol import RTM_SERVICE_UUID

if TYPE_CHECKING:
    from simulators.ble_backend.air import SimAir

_ADVERTISING_INTERVAL_S = 0.05  # simulated; a real wearable advertises every ~1 s


class SimBleakScanner(BaseBleakScanner):
    air: ClassVar[SimAir]

    def __init__(self, detection_callback: Any, service_uuids: list[str] | None,
                 scanning_mode: str = "active", **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        while True:
            for w in self.air.audible():  # nothing while the adapter is deaf
                adv = AdvertisementData(
                    local_name=w.name, manufacturer_data=w.advertisement_manufacturer_data(),
                    service_data={},
                    service_uuids=[RTM_SERVICE_UUID], tx_power=None, rssi=-60,
                    platform_data=(),
                )
                if not self.is_allowed_uuid(adv.service_uuids):
                    continue
                device = self.create_or_update_device(w.address, w.address, w.name, None, adv)
                self.call_detection_callbacks(device, adv)
            for i in range(self.air.audible_neighbours()):
                address = f"5A:00:00:00:00:{i:02X}"  # random static addresses, no name
                adv = AdvertisementData(local_name=None, manufacturer_data={0x004C: b"\x10\x05"},
                                        service_data={}, service_uuids=[], tx_power=None,
                                        rssi=-80, platform_data=())
                if self.is_allowed_uuid(adv.service_uuids):
                    device = self.create_or_update_device(address, address, None, None, adv)
                    self.call_detection_callbacks(device, adv)
            await asyncio.sleep(_ADVERTISING_INTERVAL_S)
