"""The simulated radio: which virtual wearables are in range, and the bleak backend classes
bound to them.

    air = SimAir()
    air.add(wearable)
    scanner_cls, client_cls = air.backends()
    BleakScanner(backend=scanner_cls) / BleakClient(device, backend=client_cls)

The gateway takes these two classes and otherwise uses bleak's public API exactly as it does
with a real adapter. A `FaultPlan` (faults.py) makes the air unreliable; `adapter_control()`
gives the gateway a way to power-cycle the simulated adapter.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from simulators.ble_backend.faults import FaultPlan

if TYPE_CHECKING:
    from simulators.ble_backend.client import SimBleakClient
    from simulators.ble_backend.scanner import SimBleakScanner
    from simulators.wearable import VirtualWearable


_COMMANDS_KEPT = 10_000


class SimAir:
    def __init__(self, mtu: int = 247, faults: FaultPlan | None = None,
                 neighbours: int = 1) -> None:
        self.mtu = mtu
        self.faults = faults or FaultPlan()
        # Other Bluetooth devices in the home (a phone, a TV): they advertise, and are not
        # wearables; 0 makes a home where only the wearables are heard.
        self.neighbours = neighbours
        self._wearables: dict[str, VirtualWearable] = {}
        self._links: set[SimBleakClient] = set()
        self.connections = 0  # links established, ever
        self.connect_attempts = 0
        self.peak_links = 0  # most links open at once
        self.resets = 0  # adapter power cycles
        # (address, Control write), the latest in order: a trace for tests, bounded so a
        # simulated month does not grow without end.
        self.commands: deque[tuple[str, bytes]] = deque(maxlen=_COMMANDS_KEPT)

    def add(self, wearable: VirtualWearable) -> None:
        self._wearables[wearable.address] = wearable

    def remove(self, address: str) -> None:
        self._wearables.pop(address, None)

    def find(self, address: str) -> VirtualWearable | None:
        w = self._wearables.get(address.upper())
        return w if w is not None and w.in_range else None

    def in_range(self) -> list[VirtualWearable]:
        return [w for w in self._wearables.values() if w.in_range]

    def audible(self) -> list[VirtualWearable]:
        """The wearables whose advertisements the adapter hears now."""
        return [] if self.faults.deaf else self.in_range()

    def audible_neighbours(self) -> int:
        return 0 if self.faults.deaf else self.neighbours

    @property
    def open_links(self) -> int:
        return len(self._links)

    def link_opened(self, client: SimBleakClient) -> None:
        self._links.add(client)
        self.connections += 1
        self.peak_links = max(self.peak_links, len(self._links))

    def link_closed(self, client: SimBleakClient) -> None:
        self._links.discard(client)

    def power_cycle(self) -> None:
        """The adapter off and on: every link drops, a wedged controller recovers."""
        for client in list(self._links):
            client.drop_link()
        self.resets += 1
        self.faults.adapter_reset()

    def adapter_control(self) -> SimAdapterControl:
        return SimAdapterControl(self)

    def backends(self) -> tuple[type[SimBleakScanner], type[SimBleakClient]]:
        """Backend classes for BleakScanner/BleakClient's `backend=`, bound to this air."""
        from simulators.ble_backend.client import SimBleakClient
        from simulators.ble_backend.scanner import SimBleakScanner

        scanner = type("SimBleakScanner", (SimBleakScanner,), {"air": self})
        client = type("SimBleakClient", (SimBleakClient,), {"air": self})
        return scanner, client


class SimAdapterControl:
    """The gateway's AdapterControl for the simulated adapter."""

    def __init__(self, air: SimAir) -> None:
        self.air = air
        self.resets: list[str] = []  # adapter names, in order

    async def reset(self, adapter: str) -> None:
        await asyncio.sleep(0)  # a real reset takes time; let other tasks see it happen
        self.resets.append(adapter)
        self.air.power_cycle()

    async def forget_services(self, address: str) -> bool:
        await asyncio.sleep(0)
        return self.air.faults.forget_services(address)
