"""The simulated radio: which virtual wearables are in range, and the bleak backend classes
bound to them.

    air = SimAir()
    air.add(wearable)
    scanner_cls, client_cls = air.backends()
    BleakScanner(backend=scanner_cls) / BleakClient(device, backend=client_cls)

The gateway takes these two classes and otherwise uses bleak's public API exactly as it does
with a real adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulators.ble_backend.client import SimBleakClient
    from simulators.ble_backend.scanner import SimBleakScanner
    from simulators.wearable import VirtualWearable


class SimAir:
    def __init__(self, mtu: int = 247) -> None:
        self.mtu = mtu
        self._wearables: dict[str, VirtualWearable] = {}
        self.connections = 0

    def add(self, wearable: VirtualWearable) -> None:
        self._wearables[wearable.address] = wearable

    def remove(self, address: str) -> None:
        self._wearables.pop(address, None)

    def find(self, address: str) -> VirtualWearable | None:
        w = self._wearables.get(address.upper())
        return w if w is not None and w.in_range else None

    def in_range(self) -> list[VirtualWearable]:
        return [w for w in self._wearables.values() if w.in_range]

    def backends(self) -> tuple[type[SimBleakScanner], type[SimBleakClient]]:
        """Backend classes for BleakScanner/BleakClient's `backend=`, bound to this air."""
        from simulators.ble_backend.client import SimBleakClient
        from simulators.ble_backend.scanner import SimBleakScanner

        scanner = type("SimBleakScanner", (SimBleakScanner,), {"air": self})
        client = type("SimBleakClient", (SimBleakClient,), {"air": self})
        return scanner, client
