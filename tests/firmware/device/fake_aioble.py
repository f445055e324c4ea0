"""A stand-in for micropython-lib's `aioble` and MicroPython's `bluetooth`: the radio edge.

It keeps the parts of aioble's API the peripheral uses (Service, Characteristic with
capture/written/notify/write, register_services, config, advertise, stop, the connection's
exchange_mtu/timeout/disconnect) and records what the peripheral did with them. A gateway is
scripted as a list of Control writes; when the script runs out the link drops.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace


class DeviceDisconnectedError(Exception):
    pass


def uuid(value):
    return ("uuid", value)


bluetooth = SimpleNamespace(UUID=uuid)


class Connection:
    def __init__(self, radio: FakeAioble, mtu: int | None, exchanged_mtu: int | None) -> None:
        self.radio = radio
        self.mtu = mtu
        self._exchanged_mtu = exchanged_mtu
        self.connected = True
        self.disconnect_calls = 0
        self.encrypted = False  # aioble's security IRQ sets it once the link is encrypted

    def is_connected(self) -> bool:
        return self.connected

    def timeout(self, timeout_ms):
        return contextlib.nullcontext()

    async def exchange_mtu(self, mtu=None, timeout_ms=1000):
        self.radio.exchange_requests.append(mtu)
        if self._exchanged_mtu is None:
            raise OSError(114, "EALREADY")  # the central exchanged already, or refused
        self.mtu = min(mtu, self._exchanged_mtu)
        return self.mtu

    async def disconnect(self, timeout_ms=2000):
        self.disconnect_calls += 1
        self.connected = False


class Service:
    def __init__(self, uuid_) -> None:
        self.uuid = uuid_
        self.characteristics: list[Characteristic] = []


DEFAULT_ATTR_LEN = 20  # MicroPython's value buffer unless gatts_set_buffer() enlarges it


class Characteristic:
    def __init__(self, service, uuid_, read=False, write=False, notify=False, capture=False,
                 initial=None, max_len=DEFAULT_ATTR_LEN, **_) -> None:
        service.characteristics.append(self)
        # NimBLE keeps only the first max_len bytes of a remote write (aioble's
        # BufferedCharacteristic sets max_len; a plain Characteristic has 20).
        self.max_len = max_len
        self.uuid = uuid_
        self.flags = {"read": read, "write": write, "notify": notify, "capture": capture}
        self.value = initial
        self.radio: FakeAioble | None = None
        self.writes: list[tuple[bytes, bool]] = []

    def write(self, data, send_update=False) -> None:
        self.value = data
        self.writes.append((bytes(data), send_update))

    async def written(self, timeout_ms=None):
        radio = self.radio
        assert radio is not None and self.flags["capture"]
        await asyncio.sleep(0)
        if not radio.script:
            radio.connection.connected = False  # the gateway went away
            raise DeviceDisconnectedError
        conn, data = radio.script.pop(0)
        return conn, data[:self.max_len]

    def notify(self, connection, data=None) -> None:
        radio = self.radio
        assert radio is not None
        if radio.notify_failures > 0:
            radio.notify_failures -= 1
            raise OSError(12, "ENOMEM")
        radio.notified.append(bytes(data))


class FakeSecurity:
    """aioble.security: the bond table, reloaded from its file."""

    def __init__(self) -> None:
        self.loads = 0

    def load_secrets(self, path=None) -> None:
        self.loads += 1


class FakeAioble:
    """Module-like object: pass as `aioble=`; `bluetooth` above as `bluetooth=`. With
    `pairing=False` it is a MicroPython build without pairing: the security keys of
    config() are unknown, as MicroPython says."""

    DeviceDisconnectedError = DeviceDisconnectedError
    Service = Service

    def __init__(self, *, mtu: int | None = 247, exchanged_mtu: int | None = None,
                 pairing: bool = True) -> None:
        self.pairing = pairing
        self.security = FakeSecurity() if pairing else None
        self.configs: list[dict] = []
        self.registered: tuple[Service, ...] = ()
        self.adverts: list[dict] = []
        self.exchange_requests: list[int | None] = []
        self.notified: list[bytes] = []
        self.notify_failures = 0
        self.stopped = 0
        self.script: list[tuple[Connection | str, bytes]] = []
        self._mtu = mtu
        self._exchanged_mtu = exchanged_mtu
        self.connection = Connection(self, mtu, exchanged_mtu)

    def Characteristic(self, *args, **kwargs) -> Characteristic:  # aioble's name
        kwargs.pop("max_len", None)  # only BufferedCharacteristic takes it
        char = Characteristic(*args, **kwargs)
        char.radio = self
        return char

    def BufferedCharacteristic(self, *args, max_len=DEFAULT_ATTR_LEN, append=False,
                               **kwargs) -> Characteristic:  # aioble's name
        assert not append
        char = Characteristic(*args, max_len=max_len, **kwargs)
        char.radio = self
        return char

    def config(self, **kwargs) -> None:
        if not self.pairing and "bond" in kwargs:
            raise ValueError("unknown config param")
        self.configs.append(kwargs)

    def register_services(self, *services: Service) -> None:
        self.registered = services

    def stop(self) -> None:
        self.stopped += 1

    async def advertise(self, interval_us, name=None, services=None, timeout_ms=None,
                        manufacturer=None, **_):
        self.adverts.append({"interval_us": interval_us, "name": name, "services": services,
                             "timeout_ms": timeout_ms, "manufacturer": manufacturer})
        await asyncio.sleep(0)
        if not self.script:
            raise TimeoutError  # asyncio.TimeoutError on CPython 3.11+
        return self.connection

    def gateway_writes(self, *writes: bytes) -> None:
        """Script the gateway: these Control writes, in order, from the current connection."""
        self.script.extend((self.connection, w) for w in writes)

    def service(self, uuid_value) -> Service:
        return next(s for s in self.registered if s.uuid == uuid(uuid_value))
