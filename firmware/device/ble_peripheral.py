"""The wearable's GATT peripheral: Device Information, Battery and the RTM sync service.

One radio owner: only this module touches `aioble` and `bluetooth`, and only from
`radio_on()`. aioble creates its `bluetooth.BLE()` singleton when it is imported, so the import
happens there, never when this module is imported; the host tests inject a fake `aioble` and
`bluetooth` instead. The main loop decides when the radio may be on (never during a set) and
calls `radio_off()`/`serve()` accordingly.

GATT layout:
  0x180A Device Information: manufacturer 0x2A29, model 0x2A24, serial 0x2A25 (the device id
         in hex, nothing about the patient), firmware revision 0x2A26; read only.
  0x180F Battery: level 0x2A19, read + notify.
  RTM service (firmware.core.protocol UUIDs): Control, write with response, every write
         captured in order; Data, notify. Each Control write goes to the ProtocolHandler and the
         frames it returns are notified on Data in order, never truncated: a frame longer
         than the link's notification payload (ATT MTU - 3) ends the connection, because the
         protocol needs an MTU of at least 37.

Advertising: name DEVICE_NAME_PREFIX + device id hex and the RTM service UUID. Flags and the
128-bit UUID take 21 of the advertising packet's 31 bytes; the advertisement state
(firmware/core/advert.py: charging, unsynced records; 8 bytes) fills it, and the name goes
into the scan response: the gateway scans actively (or filters on the service UUID). Fast
advertising for the first 30 s after the radio comes on, then slow, restarted every minute
so the advertised state stays current.

Link security: LE Secure Connections "just works" pairing with bonding (no input, no
output on the wearable), so the enrolled gateway's link is encrypted against a passive
listener. Just works has no MITM protection: whoever pairs first during enrollment is
trusted. aioble learns whether a link is encrypted (its security module's encryption IRQ),
and the handler is told before each write; firmware builds without pairing support reject
the configuration, and then the link state is unknown (None) and nothing is encrypted.
"""

import asyncio
import struct

from firmware.core import advert, program, protocol
from firmware.core.compat import const
from firmware.device.device_id import hex_id

_MTU = const(247)  # asked for; 244-byte notifications carry 7 records per frame
_DEFAULT_MTU = const(23)
_ADV_FAST_US = const(100_000)
_ADV_SLOW_US = const(1_000_000)
_ADV_FAST_MS = const(30_000)
_ADV_REFRESH_MS = const(60_000)  # slow advertising restarts this often with fresh state
_MTU_TIMEOUT_MS = const(2_000)
_LINK_IDLE_MS = const(30_000)  # a gateway silent this long is disconnected
_NOTIFY_TRIES = const(50)
_NOTIFY_RETRY_MS = const(20)  # NimBLE out of buffers: give the stack time to send
_ADDR_RANDOM = const(1)  # random static address: the public MAC is never on the air
_IO_NO_INPUT_OUTPUT = const(3)  # no display, no keyboard: LESC "just works"
_BOND_FILE = "ble_secrets.json"  # where aioble.security keeps the bonds (its default)
# The longest Control write: SET_PROGRAM, opcode + program (46 bytes). MicroPython keeps only
# the first 20 bytes of a write unless the value buffer is enlarged (BufferedCharacteristic).
_CONTROL_MAX_LEN = 1 + program.MAX_PROGRAM_BYTES

# MicroPython's asyncio.TimeoutError is asyncio's own class: there is no builtin TimeoutError.
_Timeout = asyncio.TimeoutError

_UUID_DIS = const(0x180A)
_UUID_MANUFACTURER = const(0x2A29)
_UUID_MODEL = const(0x2A24)
_UUID_SERIAL = const(0x2A25)
_UUID_FIRMWARE = const(0x2A26)
_UUID_BAS = const(0x180F)
_UUID_BATTERY_LEVEL = const(0x2A19)


class _Gatt:
    """The characteristics in use while the radio is on (aioble forgets them on stop)."""

    def __init__(self, battery, control, data) -> None:
        self.battery = battery
        self.control = control
        self.data = data


class Peripheral:
    """`handler` is a firmware.core.protocol.ProtocolHandler; `on_activity()` is called when a
    gateway connects or writes (the main loop postpones sleep); `advert_state()` returns
    (charging, unsynced records) for the advertisement. Both may be set after
    construction."""

    def __init__(self, handler, device_id: bytes, battery_pct, *, manufacturer: str,
                 model: str, firmware: str, on_activity=None, advert_state=None, aioble=None,
                 bluetooth=None) -> None:
        self._handler = handler
        self.serial = hex_id(device_id)
        self.name = protocol.DEVICE_NAME_PREFIX + self.serial
        self._battery_pct = battery_pct
        self._info = (manufacturer, model, firmware)
        self.on_activity = on_activity
        self.advert_state = advert_state
        self.link_security = False  # True once the stack accepted the pairing configuration
        self._warned = False
        self._aioble = aioble
        self._bt = bluetooth
        self._on = False
        self._gatt: _Gatt | None = None
        self.connection = None  # the gateway's connection while one is open
        self.refused_frames = 0  # frames that did not fit the link (MTU too small)

    # -- radio on / off -----------------------------------------------------------------
    def radio_on(self) -> None:
        """Switch the controller on and register the services (idempotent)."""
        if self._on:
            return
        if self._aioble is None:
            import aioble  # type: ignore[import-not-found]  # creates the BLE singleton

            self._aioble = aioble
        if self._bt is None:
            import bluetooth

            self._bt = bluetooth
        ab = self._aioble
        ab.config(addr_mode=_ADDR_RANDOM)
        ab.config(gap_name=self.name)
        ab.config(mtu=_MTU)  # our preferred MTU, used in every exchange
        self._configure_security()
        self._register()
        self._on = True

    def _configure_security(self) -> None:
        """LESC just-works bonding, if this MicroPython build supports pairing (its config
        rejects the keys otherwise: 'unknown config param')."""
        ab = self._aioble
        try:
            if getattr(ab, "security", None) is None:
                import aioble.security  # type: ignore[import-not-found]  # noqa: F401
            ab.config(bond=True, le_secure=True, mitm=False, io=_IO_NO_INPUT_OUTPUT)
        except (ImportError, ValueError, OSError) as exc:
            if not self._warned:
                print("ble: no pairing on this firmware, links stay unencrypted:", exc)
                self._warned = True
            self.link_security = False
            return
        self.link_security = True

    def forget_bonds(self) -> None:
        """Drop every bonded gateway (FORGET): the bond file and aioble's copy of it. The
        controller may keep a resolving key until the radio restarts."""
        import os

        try:
            os.remove(_BOND_FILE)
        except OSError:
            pass  # none stored
        security = getattr(self._aioble, "security", None)
        if security is not None:
            security.load_secrets()  # reads the now missing file: an empty table

    def radio_off(self) -> None:
        """Controller off (drops any connection). aioble forgets the registered services and
        its capture task on stop, so `radio_on()` builds them again."""
        if not self._on:
            return
        self._on = False
        self.connection = None
        self._gatt = None
        self._aioble.stop()

    def _register(self) -> None:
        ab = self._aioble
        uuid = self._bt.UUID
        manufacturer, model, firmware = self._info
        dis = ab.Service(uuid(_UUID_DIS))
        for char_uuid, text in ((_UUID_MANUFACTURER, manufacturer), (_UUID_MODEL, model),
                                (_UUID_SERIAL, self.serial), (_UUID_FIRMWARE, firmware)):
            ab.Characteristic(dis, uuid(char_uuid), read=True, initial=text.encode())
        bas = ab.Service(uuid(_UUID_BAS))
        battery = ab.Characteristic(bas, uuid(_UUID_BATTERY_LEVEL), read=True, notify=True,
                                    initial=struct.pack("B", self._battery_pct()))
        rtm = ab.Service(uuid(protocol.RTM_SERVICE_UUID))
        control = ab.BufferedCharacteristic(rtm, uuid(protocol.CONTROL_CHAR_UUID), write=True,
                                            capture=True, max_len=_CONTROL_MAX_LEN)
        data = ab.Characteristic(rtm, uuid(protocol.DATA_CHAR_UUID), notify=True)
        ab.register_services(dis, bas, rtm)
        self._gatt = _Gatt(battery, control, data)

    def update_battery(self, pct: int) -> None:
        """New battery level: stored for reads and notified to a subscribed gateway."""
        if self._gatt is not None:
            self._gatt.battery.write(struct.pack("B", pct), send_update=True)

    # -- one advertise / connection cycle -----------------------------------------------
    async def serve(self, adv_timeout_ms=None) -> bool:
        """Advertise until a gateway connects (False after `adv_timeout_ms` without one),
        then serve it until it disconnects or falls silent. Cancel the task to stop."""
        self.radio_on()
        conn = await self._advertise(adv_timeout_ms)
        if conn is None:
            return False
        self.connection = conn
        try:
            await self._serve(conn)
        except OSError as exc:  # a notification the stack never took: end this link
            print("ble:", exc)
        finally:
            self.connection = None  # also when cancelled: radio_off() then drops the link
        if conn.is_connected():
            await conn.disconnect()
        return True

    def manufacturer_data(self):
        """(company id, bytes) of the advertisement state, or None without a source."""
        if self.advert_state is None:
            return None
        charging, unsynced = self.advert_state()
        return advert.manufacturer(charging, unsynced)

    async def _advertise(self, timeout_ms):
        fast_ms = _ADV_FAST_MS if timeout_ms is None or timeout_ms > _ADV_FAST_MS else timeout_ms
        conn = await self._advertise_once(_ADV_FAST_US, fast_ms)
        if conn is not None or (timeout_ms is not None and timeout_ms <= fast_ms):
            return conn
        left = None if timeout_ms is None else timeout_ms - fast_ms
        while left is None or left > 0:
            chunk = _ADV_REFRESH_MS if left is None or left > _ADV_REFRESH_MS else left
            conn = await self._advertise_once(_ADV_SLOW_US, chunk)
            if conn is not None:
                return conn
            if left is not None:
                left -= chunk
        return None

    async def _advertise_once(self, interval_us, timeout_ms):
        """One advertising run with the current state; the connection, or None."""
        services = [self._bt.UUID(protocol.RTM_SERVICE_UUID)]
        try:
            return await self._aioble.advertise(interval_us, name=self.name, services=services,
                                                manufacturer=self.manufacturer_data(),
                                                timeout_ms=timeout_ms)
        except _Timeout:
            return None

    async def _serve(self, conn) -> None:
        ab = self._aioble
        gatt = self._gatt
        if gatt is None:
            return
        self._activity()
        # The central usually exchanges the MTU itself (BlueZ does at connect); ask too, and
        # accept that the stack refuses a second exchange.
        try:
            await conn.exchange_mtu(_MTU, timeout_ms=_MTU_TIMEOUT_MS)
        except (OSError, ValueError, _Timeout):
            pass
        while conn.is_connected():
            try:
                with conn.timeout(None):  # a disconnect cancels the wait
                    writer, data = await gatt.control.written(timeout_ms=_LINK_IDLE_MS)
            except _Timeout:
                return  # silent gateway: serve() disconnects
            except ab.DeviceDisconnectedError:
                return
            if writer is not conn:
                continue  # queued by a previous connection
            self._activity()
            if not await self._answer(conn, gatt.data, data):
                return

    async def _answer(self, conn, data_char, data) -> bool:
        """Hand one Control write to the handler, notify its frames in order; False if the
        link cannot carry them."""
        payload = self.notify_payload(conn)
        handler = self._handler
        handler.set_notify_payload(payload)
        # Known only when the stack does pairing; an unknown state is None, not False.
        handler.link_encrypted = bool(getattr(conn, "encrypted", False)) \
            if self.link_security else None
        for frame in handler.on_write(data):
            if len(frame) > payload:
                self.refused_frames += 1
                print("ble: %d-byte frame exceeds the %d-byte notification payload; the "
                      "gateway must negotiate an ATT MTU of at least %d"
                      % (len(frame), payload, protocol.MIN_NOTIFY_PAYLOAD + 3))
                return False
            await self._notify(conn, data_char, frame)
        return True

    async def _notify(self, conn, data_char, frame) -> None:
        for _ in range(_NOTIFY_TRIES):
            try:
                data_char.notify(conn, frame)
                await asyncio.sleep_ms(0)
                return
            except OSError:  # ENOMEM: the stack's buffers are full; this frame was not queued
                await asyncio.sleep_ms(_NOTIFY_RETRY_MS)
        raise OSError("ble: notification not accepted after %d tries" % _NOTIFY_TRIES)

    @staticmethod
    def notify_payload(conn) -> int:
        """Bytes one notification can carry on this link (ATT MTU - 3)."""
        mtu = conn.mtu or _DEFAULT_MTU
        return mtu - 3

    def _activity(self) -> None:
        if self.on_activity is not None:
            self.on_activity()
