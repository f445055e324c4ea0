"""bleak client backend over the simulated air: a GATT client talking to a virtual
wearable's real protocol handler, with the same GATT table as the firmware's peripheral.

Notifications are delivered by a task in the order they were sent (a link is FIFO), as
BlueZ delivers them, so the gateway sees the same asynchrony as with a real radio. The air's
FaultPlan may refuse a connect, and drop, repeat, reorder, corrupt or slow notifications;
a dropped link fires the disconnected callback as bleak does.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bleak.uuids import normalize_uuid_str

from firmware.core.protocol import CONTROL_CHAR_UUID, DATA_CHAR_UUID, RTM_SERVICE_UUID
from simulators.ble_backend.faults import not_connected_error

if TYPE_CHECKING:
    from simulators.ble_backend.air import SimAir
    from simulators.wearable import VirtualWearable

DIS_UUID = normalize_uuid_str("180a")
BATTERY_SERVICE_UUID = normalize_uuid_str("180f")
BATTERY_LEVEL_UUID = normalize_uuid_str("2a19")
MANUFACTURER_UUID = normalize_uuid_str("2a29")
MODEL_UUID = normalize_uuid_str("2a24")
SERIAL_UUID = normalize_uuid_str("2a25")
FIRMWARE_REV_UUID = normalize_uuid_str("2a26")
_CONNECT_DELAY_S = 0.001
_LINK_DOWN = None  # queued after the last notification of a dropped link


def _gatt_table(mtu: int, stale: bool = False) -> BleakGATTServiceCollection:
    """The wearable's GATT table; `stale`: as cached from a firmware before the RTM service."""
    services = BleakGATTServiceCollection()
    handle = 1
    layout = (
        (DIS_UUID, ((MANUFACTURER_UUID, ["read"]), (MODEL_UUID, ["read"]),
                    (SERIAL_UUID, ["read"]), (FIRMWARE_REV_UUID, ["read"]))),
        (BATTERY_SERVICE_UUID, ((BATTERY_LEVEL_UUID, ["read", "notify"]),)),
    ) + (() if stale else (
        (RTM_SERVICE_UUID, ((CONTROL_CHAR_UUID, ["write"]), (DATA_CHAR_UUID, ["notify"]))),))
    for service_uuid, chars in layout:
        service = BleakGATTService(None, handle, service_uuid)
        services.add_service(service)
        handle += 1
        for char_uuid, props in chars:
            char = BleakGATTCharacteristic(None, handle + 1, char_uuid, props,  # type: ignore[arg-type]
                                           lambda: mtu - 3, service)
            services.add_characteristic(char)
            handle += 3  # declaration, value, CCCD
    return services


class SimBleakClient(BaseBleakClient):
    air: ClassVar[SimAir]

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device,
                         disconnected_callback=kwargs.pop("disconnected_callback", None),
                         timeout=kwargs.pop("timeout", 10.0))
        self._wearable: VirtualWearable | None = None
        self._notify: dict[int, NotifyCallback] = {}
        self._tx: asyncio.Queue[tuple[NotifyCallback, bytes] | None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._dropping = False  # the link is going down; queued notifications still arrive

    @property
    def name(self) -> str:
        return self._wearable.name if self._wearable else self.address

    @property
    def mtu_size(self) -> int:
        return self.air.mtu

    @property
    def is_connected(self) -> bool:
        return self._wearable is not None and not self._dropping

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        # kwargs: bleak-retry-connector's dangerous_use_bleak_cache and timeout; the only
        # cache simulated is a stale one (FaultPlan.stale_gatt).
        if self.is_connected:
            raise BleakError("Client is already connected")
        self.air.connect_attempts += 1
        wearable = self.air.find(self.address)
        if wearable is None:
            raise BleakDeviceNotFoundError(self.address,
                                           f"Device with address {self.address} was not found.")
        await asyncio.sleep(_CONNECT_DELAY_S)
        error = self.air.faults.connect_error(self.address, self.air.open_links)
        if error is not None:
            raise error
        wearable.handler.set_notify_payload(self.air.mtu - 3)
        self._wearable = wearable
        self._dropping = False
        self.air.link_opened(self)
        self.services = _gatt_table(self.air.mtu,
                                    stale=self.air.faults.serves_stale_gatt(self.address))
        self._tx = asyncio.Queue()
        self._pump = asyncio.get_running_loop().create_task(self._deliver())

    async def disconnect(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._wearable is not None:
            self._link_down()

    def drop_link(self) -> None:
        """The link is lost now (adapter reset, wearable gone): nothing more is delivered."""
        if self._pump is not None:
            self._pump.cancel()
        if self._wearable is not None:
            self._link_down()

    def _link_down(self) -> None:
        self._wearable = None
        self._dropping = False
        self._notify.clear()
        self._pump = None
        self.air.link_closed(self)
        if self._disconnected_callback is not None:
            # bleak calls it from the event loop whoever ended the link
            asyncio.get_running_loop().call_soon(self._disconnected_callback)

    async def _deliver(self) -> None:
        assert self._tx is not None
        while True:
            item = await self._tx.get()
            if item is _LINK_DOWN:
                self._link_down()
                return
            delay = self.air.faults.delay()
            if delay:
                await asyncio.sleep(delay)
            callback, frame = item
            callback(bytearray(frame))

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    def _connected(self) -> VirtualWearable:
        if self._wearable is not None and not self._wearable.in_range:
            self.drop_link()
        if self._wearable is None or self._dropping:
            raise not_connected_error()
        return self._wearable

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        w = self._connected()
        values = {
            MANUFACTURER_UUID: b"RTM open hardware",
            MODEL_UUID: b"RTM-S3 (simulated)",
            SERIAL_UUID: w.id_hex.encode(),
            FIRMWARE_REV_UUID: b"sim",
            BATTERY_LEVEL_UUID: bytes((w.battery_pct,)),
        }
        if characteristic.uuid not in values:
            raise BleakError(f"characteristic {characteristic.uuid} is not readable")
        return bytearray(values[characteristic.uuid])

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        raise BleakError("the simulated wearable has no readable descriptors")

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any,
                              response: bool) -> None:
        w = self._connected()
        if characteristic.uuid != CONTROL_CHAR_UUID:
            raise BleakError(f"characteristic {characteristic.uuid} is not writable")
        self.air.commands.append((self.address, bytes(data)))
        frames = w.handler.on_write(bytes(data))
        data_char = self.services.get_characteristic(DATA_CHAR_UUID) if self.services else None
        callback = self._notify.get(data_char.handle) if data_char else None
        if callback is None:
            return  # nobody subscribed: notifications are lost, as on a real link
        for frame in frames:
            if len(frame) > self.air.mtu - 3:
                # A real stack refuses it and the firmware ends the connection.
                self.drop_link()
                raise BleakError(f"notification of {len(frame)} bytes does not fit the "
                                 f"ATT MTU of {self.air.mtu}; disconnected")
        delivery = self.air.faults.deliver(frames)
        assert self._tx is not None
        for frame in delivery.frames:
            self._tx.put_nowait((callback, frame))
        if delivery.drop_link_after:
            self._dropping = True  # later writes fail at once, as after a real drop
            self._tx.put_nowait(_LINK_DOWN)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        raise BleakError("the simulated wearable has no writable descriptors")

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        # kwargs: bleak passes `bluez` (StartNotify vs AcquireNotify) and `cb` options for
        # its own backends; a simulated link has one way to notify.
        self._connected()
        if "notify" not in characteristic.properties:
            raise BleakError(f"characteristic {characteristic.uuid} does not notify")
        self._notify[characteristic.handle] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._notify.pop(characteristic.handle, None)
