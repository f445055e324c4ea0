"""The gateway's radio: scanning and connecting on one Bluetooth adapter, and keeping that
adapter usable for months without anyone at the keyboard.

- Scanning and connecting share one lock per adapter: a controller that scans while it
  sets up a connection, or sets up two at once, answers "InProgress" or drops one of them.
- Connection slots: at most `max_connections` wearables are connected at a time; the
  syncs of different wearables overlap up to that, only their connect steps are serialized.
- Connections go through bleak-retry-connector's `establish_connection`, which retries
  BlueZ's transient failures with the back-off each needs; before it, connections to the
  same address left over by a crash are closed.
- A per-device deadline covers the connection and the whole sync of one wearable.
- The adapter is power-cycled when it stops hearing anything or keeps failing with
  adapter-level errors, at most once per cooldown, through an injectable `AdapterControl`.

Everything here runs unchanged on the simulator: the backend classes come from outside,
and bleak-retry-connector's BlueZ-only steps do nothing for a device without a BlueZ path.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from bleak import BleakClient
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError
from bleak_retry_connector import (
    DISCONNECT_TIMEOUT,
    BleakOutOfConnectionSlotsError,
    clear_cache,
    close_stale_connections_by_address,
    establish_connection,
)

from gateway.config import SyncConfig
from gateway.discovery import Sighting, find_enrolled

log = logging.getLogger(__name__)

# Consecutive adapter-level failures (scans, or connects failing in the adapter rather
# than at the wearable) after which the adapter is reset.
ADAPTER_FAULT_LIMIT = 3
# Attempts establish_connection makes for errors it does not count as transient.
CONNECT_ATTEMPTS = 3

# BlueZ errors that say the adapter (or bluetoothd's view of it) is stuck, not that one
# wearable is away: a pending operation that never ends, an adapter powered off or gone.
_ADAPTER_DBUS_ERRORS = frozenset({
    "org.bluez.Error.InProgress",
    "org.bluez.Error.NotReady",
    "org.bluez.Error.NotAvailable",
})
_ADAPTER_ERROR_TEXTS = ("Operation already in progress", "No powered Bluetooth adapters")


class AdapterControl(Protocol):
    """Resets a Bluetooth adapter and forgets what it cached of a device. The gateway uses
    BlueZ's; the simulator and tests supply their own."""

    async def reset(self, adapter: str) -> None:
        """Power-cycle `adapter` (e.g. "hci0"); raise if that was impossible."""

    async def forget_services(self, address: str) -> bool:
        """Drop the GATT services cached for `address`, so the next connection discovers
        them again; False if there was nothing to drop or no way to do it."""


class AdapterResetError(Exception):
    """The adapter could not be reset; the message says why."""


class BluezAdapterControl:
    """Power-cycles a BlueZ adapter through its D-Bus property `org.bluez.Adapter1.Powered`
    (what `bluetoothctl power off` / `power on` do). The gateway's user needs the right to
    change adapter properties (root, or a D-Bus policy granting it)."""

    def __init__(self, off_s: float = 2.0, timeout_s: float = 15.0) -> None:
        self.off_s = off_s  # the controller needs a moment off to drop its state
        self.timeout_s = timeout_s

    async def reset(self, adapter: str) -> None:
        # dbus-fast only exists where BlueZ does; imported here so other platforms load us.
        from dbus_fast import BusType
        from dbus_fast.aio import MessageBus

        try:
            async with asyncio.timeout(self.timeout_s):
                bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
                try:
                    try:
                        await self._set_powered(bus, adapter, False)
                        await asyncio.sleep(self.off_s)
                    finally:
                        await self._set_powered(bus, adapter, True)  # never leave it off
                finally:
                    bus.disconnect()
        except AdapterResetError:
            raise
        except Exception as e:
            # No system bus, no BlueZ, refused authentication: dbus-fast has many ways to
            # say it; the reset is best effort, and the caller needs one type to log.
            raise AdapterResetError(f"cannot reach BlueZ to reset {adapter}: {e!r}") from e

    async def forget_services(self, address: str) -> bool:
        # BlueZ keeps a device's services across connections (and on disk for bonded ones);
        # after a firmware update they describe the old GATT table.
        return await clear_cache(address)

    @staticmethod
    async def _set_powered(bus: Any, adapter: str, powered: bool) -> None:
        from dbus_fast import Message, MessageType, Variant

        reply = await bus.call(Message(
            destination="org.bluez", path=f"/org/bluez/{adapter}",
            interface="org.freedesktop.DBus.Properties", member="Set", signature="ssv",
            body=["org.bluez.Adapter1", "Powered", Variant("b", powered)]))
        if reply.message_type == MessageType.ERROR:
            raise AdapterResetError(f"setting {adapter} Powered={powered} failed: "
                                    f"{reply.error_name} {reply.body}")


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def is_adapter_fault(exc: BaseException) -> bool:
    """Whether a failed connect points at the adapter rather than at the wearable.

    bleak-retry-connector wraps BlueZ's error after its retries; the original is its cause.
    Out of connection slots counts: the gateway never exceeds its own slot limit, so the
    controller still holds links that are gone.
    """
    for e in _causes(exc):
        if isinstance(e, (BleakOutOfConnectionSlotsError, BleakBluetoothNotAvailableError,
                          EOFError, BrokenPipeError)):
            return True
        if isinstance(e, BleakDBusError) and e.dbus_error in _ADAPTER_DBUS_ERRORS:
            return True
        if isinstance(e, BleakError) and any(t in str(e) for t in _ADAPTER_ERROR_TEXTS):
            return True
    return False


_MAX_SILENCE_LIMIT_S = 86400.0


class AdapterHealth:
    """Decides when the adapter needs a reset: no advertisement heard for `silence_s` of
    scanning, or `fault_limit` adapter-level failures in a row; never twice within
    `cooldown_s` (a reset drops every link and takes seconds; a dead adapter must not be
    hammered)."""

    def __init__(self, silence_s: float, cooldown_s: float, monotonic_s: Callable[[], float],
                 fault_limit: int = ADAPTER_FAULT_LIMIT) -> None:
        self.silence_s = silence_s
        self.cooldown_s = cooldown_s
        self.fault_limit = fault_limit
        self._now = monotonic_s
        self.silent_scan_s = 0.0  # scanning time since anything was last heard
        # A silence a reset did not end (a remote home with no other Bluetooth device
        # around) is given twice as long before the next reset, up to a day.
        self.silence_limit_s = silence_s
        # Failures in a row, apart: a controller can still scan while every connect fails.
        self.scan_faults = 0
        self.connect_faults = 0
        self.resets = 0
        self.failed_resets = 0
        self._last_reset: float | None = None

    def scanned(self, heard_anything: bool, scan_s: float) -> None:
        self.scan_faults = 0
        if heard_anything:
            self.silent_scan_s = 0.0
            self.silence_limit_s = self.silence_s
        else:
            self.silent_scan_s += scan_s

    def scan_failed(self) -> None:
        self.scan_faults += 1

    def connect_failed_in_adapter(self) -> None:
        self.connect_faults += 1

    def connected(self) -> None:
        self.connect_faults = 0

    def reset_reason(self) -> str | None:
        """Why the adapter should be reset now, or None."""
        if self.scan_faults >= self.fault_limit:
            why = f"{self.scan_faults} failed scans in a row"
        elif self.connect_faults >= self.fault_limit:
            why = f"{self.connect_faults} connects in a row failed in the adapter"
        elif self.silent_scan_s >= self.silence_limit_s:
            why = f"no advertisement heard in {self.silent_scan_s:.0f} s of scanning"
        else:
            return None
        if self.in_cooldown():
            return None
        return why

    def in_cooldown(self) -> bool:
        return self._last_reset is not None and self._now() - self._last_reset < self.cooldown_s

    def reset_done(self, ok: bool) -> None:
        # The cooldown counts attempts: a reset that fails is not retried at once either.
        self._last_reset = self._now()
        if self.silent_scan_s >= self.silence_limit_s:
            self.silence_limit_s = min(2 * self.silence_limit_s, _MAX_SILENCE_LIMIT_S)
        self.silent_scan_s = 0.0
        self.scan_faults = self.connect_faults = 0
        if ok:
            self.resets += 1
        else:
            self.failed_resets += 1


@dataclass
class _AdapterGate:
    radio: asyncio.Lock  # held while scanning or connecting
    slots: asyncio.Semaphore  # one per connection the adapter may hold
    open_links: int = 0


# asyncio primitives belong to one event loop, and the gateway may run passes on several
# (asyncio.run per pass): one gate per adapter name per loop, shared by every link on it.
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _AdapterGate]] = (
    weakref.WeakKeyDictionary())


def _gate_for(adapter: str, slots: int) -> _AdapterGate:
    per_loop = _gates.setdefault(asyncio.get_running_loop(), {})
    if adapter not in per_loop:  # the first link on an adapter sets its slot count
        per_loop[adapter] = _AdapterGate(asyncio.Lock(), asyncio.Semaphore(slots))
    return per_loop[adapter]


class DeadlineExceeded(TimeoutError):
    """One wearable's connection and sync took longer than `connect_deadline_s`."""


@dataclass
class _Heard:
    anything: bool = False

    def __call__(self, _device: BLEDevice, _adv: AdvertisementData) -> None:
        self.anything = True


class BleLink:
    """Scans for and connects to wearables on `sync.adapter`, within its slot limit."""

    def __init__(self, sync: SyncConfig,
                 scanner_backend: type[BaseBleakScanner] | None = None,
                 client_backend: type[BaseBleakClient] | None = None,
                 adapter_control: AdapterControl | None = None,
                 monotonic_s: Callable[[], float] = time.monotonic) -> None:
        self.sync = sync
        self.adapter = sync.adapter
        self.scanner_backend = scanner_backend
        self.client_backend = client_backend
        self.adapter_control = adapter_control
        self.health = AdapterHealth(sync.adapter_silence_s, sync.adapter_cooldown_s,
                                    monotonic_s)
        self.services_forgotten = 0  # stale GATT caches dropped

    def _gate(self) -> _AdapterGate:
        return _gate_for(self.adapter, self.sync.max_connections)

    async def scan(self, enrolled: set[str]) -> dict[str, Sighting]:
        """The enrolled wearables advertising now. Raises what the scanner raises.

        Only scans for enrolled wearables count towards adapter silence: they are the
        times something should be heard."""
        if not enrolled:
            return {}
        async with self._gate().radio:
            await self._reset_adapter_if_due()
            heard = _Heard()
            try:
                found = await find_enrolled(enrolled, self.sync.scan_timeout_s,
                                            self.scanner_backend, adapter=self.adapter,
                                            heard=heard)
            except (BleakError, OSError, EOFError, TimeoutError):
                self.health.scan_failed()  # a scan involves no wearable: the adapter failed
                raise
            # A scan that heard nothing ran its full timeout.
            self.health.scanned(heard.anything, self.sync.scan_timeout_s)
            await self._reset_adapter_if_due()
        return found

    async def reset_adapter_if_due(self) -> bool:
        """Reset the adapter now if it needs it and may be reset; True if it was."""
        async with self._gate().radio:
            return await self._reset_adapter_if_due()

    async def _reset_adapter_if_due(self) -> bool:
        why = self.health.reset_reason()
        if why is None:
            return False
        gate = self._gate()
        if gate.open_links:
            # A power cycle would cut every wearable being synced: wait until they finish.
            log.info("adapter %s needs a reset (%s); waiting for %d open links",
                     self.adapter, why, gate.open_links)
            return False
        if self.adapter_control is None:
            log.error("adapter %s needs a reset (%s) but this gateway has no way to reset it",
                      self.adapter, why)
            self.health.reset_done(ok=False)
            return False
        log.warning("resetting adapter %s (reset #%d): %s", self.adapter,
                    self.health.resets + 1, why)
        try:
            await self.adapter_control.reset(self.adapter)
        except (AdapterResetError, OSError, BleakError) as e:
            log.error("resetting adapter %s failed: %s", self.adapter, e)
            self.health.reset_done(ok=False)
            return False
        self.health.reset_done(ok=True)
        return True

    async def forget_services(self, address: str) -> bool:
        """A wearable's GATT table lacked what its firmware serves (a stale cache after a
        firmware update): drop the cache so the next connection discovers it again."""
        if self.adapter_control is None:
            return False
        async with self._gate().radio:
            forgotten = await self.adapter_control.forget_services(address)
        if forgotten:
            self.services_forgotten += 1
        log.warning("wearable %s: its GATT table looked stale; cached services %s", address,
                    "dropped" if forgotten else "could not be dropped")
        return forgotten

    @asynccontextmanager
    async def connection(self, device: BLEDevice,
                         on_lost: Callable[[], None] | None = None,
                         ) -> AsyncIterator[BleakClient]:
        """A connected BleakClient for `device`, disconnected on leaving.

        Holds one connection slot throughout. The deadline (`connect_deadline_s`) starts
        once the slot is held and covers the connect and everything done inside; when it
        passes, the body is cancelled and DeadlineExceeded raised. `on_lost` is called if
        the link drops (also after our own disconnect).
        """
        gate = self._gate()
        async with gate.slots:
            client: BleakClient | None = None
            deadline = asyncio.timeout(self.sync.connect_deadline_s)
            try:
                async with deadline:
                    client = await self._connect(gate, device, on_lost)
                    gate.open_links += 1
                    yield client
            except TimeoutError as e:
                if deadline.expired():
                    raise DeadlineExceeded(
                        f"connecting to and syncing {device.address} took more than "
                        f"{self.sync.connect_deadline_s:g} s") from e
                raise
            finally:
                if client is not None:
                    gate.open_links -= 1
                    await self._disconnect(client)

    async def _connect(self, gate: _AdapterGate, device: BLEDevice,
                       on_lost: Callable[[], None] | None) -> BleakClient:
        def disconnected(_client: BleakClient) -> None:
            if on_lost is not None:
                on_lost()

        async with gate.radio:
            # A link left open by a crash would make BlueZ answer "already connected"
            # and hold a slot for nothing.
            await close_stale_connections_by_address(device.address)
            try:
                client = await establish_connection(
                    BleakClient, device, device.name or device.address,
                    disconnected_callback=disconnected, max_attempts=CONNECT_ATTEMPTS,
                    backend=self.client_backend, bluez={"adapter": self.adapter})
            except BleakError as e:
                if is_adapter_fault(e):
                    self.health.connect_failed_in_adapter()
                raise
        self.health.connected()
        return client

    async def _disconnect(self, client: BleakClient) -> None:
        try:
            async with asyncio.timeout(DISCONNECT_TIMEOUT):
                await client.disconnect()
        except (BleakError, OSError, EOFError, TimeoutError) as e:
            # The link is gone or going either way; BlueZ cleans up, and the next connect
            # to this address closes it if it is still open.
            log.info("disconnecting %s: %s", client.address, e)
