"""The simulated air over a local socket: virtual wearables in one process, a gateway in
another, so that the gateway can be killed (`kill -9`) while the wearables, their flash and
the simulation's ground truth live on.

    server = AirServer(air)                      # in the simulation's process
    server.start()
    ...
    scanner, client = remote_backends(server.host, server.port)   # in the gateway's
    Gateway(config, outbox, scanner, client, ...)

The server runs the air's own `SimBleakClient` for every link, so connects, notifications,
the FaultPlan's faults and dropped links behave exactly as in-process; the client classes
are bleak backends (`BaseBleakScanner`/`BaseBleakClient`) that forward each call. One TCP
connection is one BLE link (or one scan): when the gateway dies, its sockets close and the
server drops its links, as a wearable notices a lost connection.

Every wearable is touched only on the server's own thread (its asyncio loop). The process
that simulates the wearables changes them (sets, time) only while the air is closed:
`close()` takes every wearable out of range from that thread and waits for it;
`open()` puts them back.

Wire format: one JSON object per line, bytes in hex. Client to server: {"op": "scan"}, or
{"op": "link", "address": A} followed by requests {"id": N, "op": ...} (connect,
start_notify, stop_notify, write, read, disconnect). Server to client: advertisements
{"adverts": [...]}, answers {"id": N, "ok": VALUE} or {"id": N, "error": {...}}, and
events {"ev": "notify", "uuid": U, "data": HEX} / {"ev": "disconnected"}.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakDBusError, BleakDeviceNotFoundError, BleakError

from firmware.core.protocol import RTM_SERVICE_UUID
from simulators.ble_backend.air import SimAir
from simulators.ble_backend.client import SimBleakClient, _gatt_table

_ADVERTISING_INTERVAL_S = 0.05  # as the in-process scanner
_CLOSE_SETTLE_S = 0.05  # lets a connect caught between two awaits finish before close()
_LINE_LIMIT = 1 << 20


def _encode_error(e: BaseException) -> dict[str, Any]:
    if isinstance(e, BleakDBusError):
        details = e.dbus_error_details
        return {"type": "dbus", "name": e.dbus_error, "body": [details] if details else []}
    if isinstance(e, BleakDeviceNotFoundError):
        return {"type": "not_found", "identifier": e.identifier, "text": str(e)}
    return {"type": "bleak", "text": str(e)}


def _decode_error(d: dict[str, Any]) -> BleakError:
    if d["type"] == "dbus":
        return BleakDBusError(d["name"], d["body"])
    if d["type"] == "not_found":
        return BleakDeviceNotFoundError(d["identifier"], d["text"])
    return BleakError(d["text"])


class AirServer:
    """Serves `air` on 127.0.0.1 from a thread of its own."""

    def __init__(self, air: SimAir, host: str = "127.0.0.1", port: int = 0) -> None:
        self.air = air
        self.host = host
        self.port = port
        self._client_cls = air.backends()[1]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self.links_served = 0

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(asyncio.start_server(
                self._serve, self.host, self.port, limit=_LINE_LIMIT))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="air-server", daemon=True)
        self._thread.start()
        ready.wait()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the server's thread, between two of its steps, and return its value."""
        assert self._loop is not None

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    def close(self) -> None:
        """Every wearable out of range; returns once the server no longer touches them."""
        assert self._loop is not None

        async def run() -> None:
            for w in self.air._wearables.values():
                w.in_range = False
            for client in list(self.air._links):
                client.drop_link()
            await asyncio.sleep(_CLOSE_SETTLE_S)

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    def open(self) -> None:
        def run() -> None:
            for w in self.air._wearables.values():
                w.in_range = True

        self.call(run)

    # -- the server's side of a connection -------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hello = json.loads(await reader.readline() or b"{}")
            if hello.get("op") == "scan":
                await self._scan(reader, writer)
            elif hello.get("op") == "link":
                await self._link(str(hello["address"]), reader, writer)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass  # the gateway went away (killed, or done)
        finally:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _scan(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        closed = asyncio.ensure_future(reader.read())  # EOF: the scanner stopped
        try:
            while not closed.done():
                adverts = [{"address": w.address, "name": w.name,
                            "mfr": {str(k): v.hex() for k, v in
                                    w.advertisement_manufacturer_data().items()}}
                           for w in self.air.audible()]
                adverts += [{"address": f"5A:00:00:00:00:{i:02X}", "name": None,
                             "mfr": {"76": "1005"}}
                            for i in range(self.air.audible_neighbours())]
                writer.write(json.dumps({"adverts": adverts}).encode() + b"\n")
                await writer.drain()
                await asyncio.wait([closed], timeout=_ADVERTISING_INTERVAL_S)
        finally:
            closed.cancel()

    async def _link(self, address: str, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        self.links_served += 1

        def send(obj: dict[str, Any]) -> None:
            if not writer.is_closing():
                writer.write(json.dumps(obj).encode() + b"\n")

        sim = self._client_cls(address, disconnected_callback=lambda: send({"ev": "disconnected"}))
        try:
            while line := await reader.readline():
                req = json.loads(line)
                try:
                    send({"id": req["id"], "ok": await self._request(sim, req, send)})
                except BleakError as e:
                    send({"id": req["id"], "error": _encode_error(e)})
                await writer.drain()
        finally:
            if sim.is_connected or sim._dropping:
                sim.drop_link()  # the gateway is gone: the wearable sees the link drop

    async def _request(self, sim: SimBleakClient, req: dict[str, Any],
                       send: Callable[[dict[str, Any]], None]) -> Any:
        op = req["op"]
        if op == "connect":
            await sim.connect(pair=False)
            stale = sim.services is not None and \
                sim.services.get_service(RTM_SERVICE_UUID) is None
            return {"mtu": sim.mtu_size, "stale": stale}
        if op == "disconnect":
            await sim.disconnect()
            return None
        char = sim.services.get_characteristic(req["uuid"]) if sim.services else None
        if char is None:
            raise BleakError(f"characteristic {req['uuid']} not found")
        if op == "start_notify":
            uuid = req["uuid"]
            await sim.start_notify(
                char, lambda data: send({"ev": "notify", "uuid": uuid, "data": bytes(data).hex()}))
            return None
        if op == "stop_notify":
            await sim.stop_notify(char)
            return None
        if op == "write":
            await sim.write_gatt_char(char, bytes.fromhex(req["data"]), bool(req["response"]))
            return None
        if op == "read":
            return bytes(await sim.read_gatt_char(char)).hex()
        raise BleakError(f"unknown operation {op!r}")


# -- the gateway's side ---------------------------------------------------------------
class RemoteBleakScanner(BaseBleakScanner):
    """bleak scanner backend: the advertisements an AirServer reports."""

    air_host: ClassVar[str]
    air_port: ClassVar[int]

    def __init__(self, detection_callback: Any, service_uuids: list[str] | None,
                 scanning_mode: str = "active", **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        try:
            reader, self._writer = await asyncio.open_connection(
                self.air_host, self.air_port, limit=_LINE_LIMIT)
        except OSError as e:
            raise BleakError(f"simulated adapter not reachable: {e}") from e
        self._writer.write(b'{"op": "scan"}\n')
        self._task = asyncio.get_running_loop().create_task(self._listen(reader))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            for a in json.loads(line)["adverts"]:
                adv = AdvertisementData(
                    local_name=a["name"],
                    manufacturer_data={int(k): bytes.fromhex(v) for k, v in a["mfr"].items()},
                    service_data={}, service_uuids=[RTM_SERVICE_UUID] if a["name"] else [],
                    tx_power=None, rssi=-60 if a["name"] else -80, platform_data=())
                if not self.is_allowed_uuid(adv.service_uuids):
                    continue
                device = self.create_or_update_device(a["address"], a["address"], a["name"],
                                                      None, adv)
                self.call_detection_callbacks(device, adv)


class RemoteBleakClient(BaseBleakClient):
    """bleak client backend: one link to a wearable on an AirServer."""

    air_host: ClassVar[str]
    air_port: ClassVar[int]

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device,
                         disconnected_callback=kwargs.pop("disconnected_callback", None),
                         timeout=kwargs.pop("timeout", 10.0))
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._notify: dict[str, NotifyCallback] = {}
        self._next_id = 0
        self._connected = False
        self._mtu = 23

    @property
    def mtu_size(self) -> int:
        return self._mtu

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connected:
            raise BleakError("Client is already connected")
        try:
            self._reader, self._writer = await asyncio.open_connection(
                self.air_host, self.air_port, limit=_LINE_LIMIT)
        except OSError as e:
            raise BleakError(f"simulated adapter not reachable: {e}") from e
        self._writer.write(json.dumps({"op": "link", "address": self.address}).encode() + b"\n")
        self._pump = asyncio.get_running_loop().create_task(self._receive(self._reader))
        try:
            answer = await self._request("connect")
        except BaseException:
            await self._close_socket()
            raise
        self._mtu = int(answer["mtu"])
        self.services = _gatt_table(self._mtu, stale=bool(answer["stale"]))
        self._connected = True

    async def _receive(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                msg = json.loads(line)
                if msg.get("ev") == "notify":
                    callback = self._notify.get(msg["uuid"])
                    if callback is not None:
                        callback(bytearray.fromhex(msg["data"]))
                elif msg.get("ev") == "disconnected":
                    self._lost()
                elif (fut := self._pending.pop(msg["id"], None)) is not None and not fut.done():
                    if "error" in msg:
                        fut.set_exception(_decode_error(msg["error"]))
                    else:
                        fut.set_result(msg["ok"])
        except (OSError, ValueError):
            pass
        finally:
            self._lost()  # the simulated adapter is gone: so is the link
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(BleakError("Not connected"))
            self._pending.clear()

    def _lost(self) -> None:
        was = self._connected
        self._connected = False
        self._notify.clear()
        if was and self._disconnected_callback is not None:
            asyncio.get_running_loop().call_soon(self._disconnected_callback)

    async def _request(self, op: str, **args: Any) -> Any:
        if self._writer is None or self._writer.is_closing():
            raise BleakError("Not connected")
        self._next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = fut
        self._writer.write(json.dumps({"id": self._next_id, "op": op, **args}).encode()
                           + b"\n")
        return await fut

    async def _close_socket(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None
        if self._pump is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None

    async def disconnect(self) -> None:
        if self._connected:
            with contextlib.suppress(BleakError):
                await self._request("disconnect")
        await self._close_socket()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    def _live(self) -> None:
        if not self._connected:
            raise BleakError("Not connected")

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        self._live()
        return bytearray.fromhex(await self._request("read", uuid=characteristic.uuid))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        raise BleakError("the simulated wearable has no readable descriptors")

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any,
                              response: bool) -> None:
        self._live()
        await self._request("write", uuid=characteristic.uuid, data=bytes(data).hex(),
                            response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        raise BleakError("the simulated wearable has no writable descriptors")

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        self._live()
        self._notify[characteristic.uuid] = callback
        try:
            await self._request("start_notify", uuid=characteristic.uuid)
        except BaseException:
            self._notify.pop(characteristic.uuid, None)
            raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._notify.pop(characteristic.uuid, None)
        if self._connected:
            await self._request("stop_notify", uuid=characteristic.uuid)


def remote_backends(host: str, port: int,
                    ) -> tuple[type[RemoteBleakScanner], type[RemoteBleakClient]]:
    """Backend classes for BleakScanner/BleakClient's `backend=`, bound to an AirServer."""
    bound = {"air_host": host, "air_port": port}
    return (type("RemoteBleakScanner", (RemoteBleakScanner,), bound),
            type("RemoteBleakClient", (RemoteBleakClient,), bound))
