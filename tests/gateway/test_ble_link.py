"""The radio side (gateway/ble_link.py): serialized scans and connects, connection slots,
the per-device deadline, stale-link cleanup, adapter health and recovery; and the session's
use of the link (notify mode, early failure when the link drops, raw commands)."""

from __future__ import annotations

import asyncio
import time

import pytest
from bleak.exc import BleakDBusError, BleakDeviceNotFoundError, BleakError
from bleak_retry_connector import (
    BleakAbortedError,
    BleakConnectionError,
    BleakNotFoundError,
    BleakOutOfConnectionSlotsError,
    close_stale_connections_by_address,
)

from firmware.core import protocol
from gateway import ble_link
from gateway.ble_link import (
    AdapterHealth,
    AdapterResetError,
    BluezAdapterControl,
    DeadlineExceeded,
    is_adapter_fault,
)
from gateway.config import parse
from gateway.gateway import Gateway
from gateway.outbox import Outbox
from gateway.wearable_session import WearableSession
from simulators.ble_backend.air import SimAir
from simulators.ble_backend.faults import FaultPlan, in_progress_error
from simulators.wearable import SimClock
from tests.sim_helpers import T0_MS, wearable_with_sets

DEVICES = ("a1b2c3d4e5f6", "0a0b0c0d0e0f", "112233445566", "665544332211")


class FakeMonotonic:
    def __init__(self) -> None:
        self.now_s = 50.0

    def __call__(self) -> float:
        return self.now_s


def setup(tmp_path, devices=DEVICES[:2], faults=None, adapter_control="sim", **sync):
    world = SimClock(T0_MS)
    ws = [wearable_with_sets(dev, [3], world=world) for dev in devices]
    air = SimAir(faults=faults)
    for w in ws:
        air.add(w)
    cfg = parse({"gateway_id": "home-1", "outbox": "o.db", "enrolled": list(devices),
                 "sync": {"scan_timeout_s": 0.2, "response_timeout_s": 0.5,
                          "connect_deadline_s": 2.0, **sync}}, tmp_path)
    scanner, client = air.backends()
    control = air.adapter_control() if adapter_control == "sim" else adapter_control
    clock = FakeMonotonic()
    gw = Gateway(cfg, Outbox(cfg.outbox), scanner, client, clock_ms=lambda: world.now_ms,
                 adapter_control=control, monotonic_s=clock)
    return gw, air, ws, clock


# -- adapter health ---------------------------------------------------------------------

def test_silence_counts_only_scanning_time_without_any_advertisement():
    clock = FakeMonotonic()
    h = AdapterHealth(silence_s=30, cooldown_s=300, monotonic_s=clock)
    h.scanned(False, 10)
    h.scanned(False, 10)
    clock.now_s += 3600  # idle hours between scans are not silence
    assert h.reset_reason() is None
    h.scanned(True, 10)
    assert h.silent_scan_s == 0
    for _ in range(3):
        h.scanned(False, 10)
    assert "no advertisement heard in 30 s" in h.reset_reason()


def test_resets_are_at_most_one_per_cooldown_even_when_they_fail():
    clock = FakeMonotonic()
    h = AdapterHealth(silence_s=10, cooldown_s=300, monotonic_s=clock)
    h.scanned(False, 10)
    assert h.reset_reason()
    h.reset_done(ok=False)
    h.scanned(False, 10)
    assert h.reset_reason() is None, "within the cooldown"
    clock.now_s += 299
    assert h.reset_reason() is None
    clock.now_s += 1
    assert h.reset_reason() is None, "a silence the last reset did not end waits twice as long"
    h.scanned(False, 10)
    assert h.reset_reason()
    h.reset_done(ok=True)
    assert (h.resets, h.failed_resets) == (1, 1)


def test_a_silence_resets_cannot_end_backs_off_to_a_day_and_anything_heard_restores_it():
    clock = FakeMonotonic()
    h = AdapterHealth(silence_s=900, cooldown_s=300, monotonic_s=clock)
    resets = 0
    for _ in range(24 * 60):  # a day of 60 s scans in a home where nothing else advertises
        clock.now_s += 60
        h.scanned(False, 60)
        if h.reset_reason():
            h.reset_done(ok=True)
            resets += 1
    assert resets <= 7 and h.silence_limit_s >= 86400 / 2
    h.scanned(True, 10)
    assert h.silence_limit_s == 900


def test_scan_and_connect_failures_are_counted_apart():
    h = AdapterHealth(silence_s=1e9, cooldown_s=1, monotonic_s=FakeMonotonic())
    for _ in range(2):
        h.connect_failed_in_adapter()
        h.scanned(True, 1)  # scanning works, connecting does not: still a sick adapter
    h.connect_failed_in_adapter()
    assert "3 connects in a row" in h.reset_reason()
    h.connected()
    assert h.reset_reason() is None
    for _ in range(3):
        h.scan_failed()
    assert "3 failed scans" in h.reset_reason()


@pytest.mark.parametrize(("exc", "adapter"), [
    (BleakDBusError("org.bluez.Error.InProgress", ["In Progress"]), True),
    (BleakDBusError("org.bluez.Error.Failed", ["Operation already in progress"]), True),
    (BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]), True),
    (BleakOutOfConnectionSlotsError("x: Failed to connect: out of connection slots"), True),
    (BrokenPipeError(32, "Broken pipe"), True),
    (BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-local"]), False),
    (BleakDeviceNotFoundError("A1", "Device with address A1 was not found."), False),
    (BleakNotFoundError("x: Failed to connect after 4 attempt(s)"), False),
    (BleakError("Not connected"), False),
])
def test_adapter_faults_are_told_from_wearable_faults(exc, adapter):
    assert is_adapter_fault(exc) is adapter


def test_an_adapter_error_wrapped_by_the_retry_connector_is_found():
    try:
        try:
            raise in_progress_error(__import__("random").Random(1))
        except BleakDBusError as e:
            raise BleakConnectionError("x - A1: Failed to connect after 3 attempt(s)") from e
    except BleakConnectionError as wrapped:
        assert is_adapter_fault(wrapped)
    assert not is_adapter_fault(BleakAbortedError("x: le-connection-abort-by-local"))


def test_bluez_control_reports_a_failed_reset_instead_of_raising_anything_else():
    # hci99 does not exist: with or without BlueZ on this machine, nothing is touched.
    with pytest.raises(AdapterResetError):
        asyncio.run(BluezAdapterControl(off_s=0.0, timeout_s=5.0).reset("hci99"))


# -- serialization, slots, deadline ------------------------------------------------------

class RadioWatch:
    """Counts what the simulated adapter is doing at once."""

    def __init__(self) -> None:
        self.active: dict[str, int] = {"scan": 0, "connect": 0}
        self.conflicts: list[dict[str, int]] = []
        self.scans = 0

    def enter(self, what: str) -> None:
        self.active[what] += 1
        if self.active["connect"] > 1 or (self.active["scan"] and self.active["connect"]):
            self.conflicts.append(dict(self.active))

    def leave(self, what: str) -> None:
        self.active[what] -= 1


def watched(gw: Gateway, watch: RadioWatch) -> None:
    scanner_cls, client_cls = gw.link.scanner_backend, gw.link.client_backend

    class Scanner(scanner_cls):  # type: ignore[misc, valid-type]
        async def start(self):
            watch.scans += 1
            watch.enter("scan")
            await super().start()

        async def stop(self):
            await super().stop()
            watch.leave("scan")

    class Client(client_cls):  # type: ignore[misc, valid-type]
        async def connect(self, pair, **kwargs):
            watch.enter("connect")
            try:
                await asyncio.sleep(0.005)  # a connect takes a while: room to collide
                await super().connect(pair, **kwargs)
            finally:
                watch.leave("connect")

    gw.link.scanner_backend, gw.link.client_backend = Scanner, Client


def test_scans_and_connects_never_overlap_but_syncs_do(tmp_path):
    gw, air, ws, _ = setup(tmp_path, devices=DEVICES, max_connections=3,
                           faults=FaultPlan(delay_s=(0.001, 0.003)))
    watch = RadioWatch()
    watched(gw, watch)
    enrolled = {w.id_hex for w in ws}

    async def pass_with_scans_meanwhile():
        scans = [asyncio.create_task(gw.scan(enrolled)) for _ in range(3)]
        report = await gw.sync_pass()
        await asyncio.gather(*scans)
        return report

    report = asyncio.run(pass_with_scans_meanwhile())
    assert not report.failed and len(report.synced) == 4
    assert watch.scans == 4 and watch.conflicts == []
    assert 2 <= air.peak_links <= 3, "syncs overlap, within the slot limit"


def test_the_slot_limit_holds_with_one_slot(tmp_path):
    gw, air, _ws, _ = setup(tmp_path, devices=DEVICES, max_connections=1,
                           faults=FaultPlan(delay_s=(0.0, 0.002)))
    report = asyncio.run(gw.sync_pass())
    assert len(report.synced) == 4 and air.peak_links == 1


def test_the_deadline_covers_the_whole_sync_and_frees_the_slot(tmp_path):
    gw, air, ws, _ = setup(tmp_path, devices=DEVICES[:1], max_connections=1,
                           response_timeout_s=0.2, connect_deadline_s=0.25,
                           faults=FaultPlan(delay_s=(0.06, 0.06)))

    async def two_syncs():
        found = await gw.scan({ws[0].id_hex})
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"more than 0\.25 s"):
            await gw.sync_device(ws[0].id_hex, found[ws[0].id_hex])
        took = time.monotonic() - started
        assert air.open_links == 0
        air.faults.delay_s = (0.0, 0.0)
        result = await gw.sync_device(ws[0].id_hex, found[ws[0].id_hex])  # the slot is free
        return took, result

    took, result = asyncio.run(two_syncs())
    assert 0.25 <= took < 2.0
    assert result.last_seq == result.acked_seq == ws[0].log.last_seq


def test_stale_links_are_closed_before_each_connect(tmp_path, monkeypatch):
    gw, air, ws, _ = setup(tmp_path)
    calls = []
    real = ble_link.close_stale_connections_by_address

    async def recording(address, *args, **kwargs):
        calls.append((address, air.open_links))
        await real(address, *args, **kwargs)  # no BlueZ path on a simulated device: no-op

    monkeypatch.setattr(ble_link, "close_stale_connections_by_address", recording)
    report = asyncio.run(gw.sync_pass())
    assert len(report.synced) == 2
    assert sorted(a for a, _ in calls) == sorted(w.address for w in ws)


def test_stale_link_cleanup_does_nothing_for_an_unknown_address():
    started = time.monotonic()
    asyncio.run(close_stale_connections_by_address("A1:B2:C3:D4:E5:F6"))
    assert time.monotonic() - started < 10


def test_sync_pass_can_be_limited_to_some_wearables(tmp_path):
    gw, _air, ws, _ = setup(tmp_path, devices=DEVICES[:3])
    report = asyncio.run(gw.sync_pass(only={ws[1].id_hex, "ffffffffffff"}))
    assert [r.device_id for r in report.synced] == [ws[1].id_hex] and not report.missing
    assert ws[0].log.acked_seq == 0 and ws[1].log.acked_seq == ws[1].log.last_seq


# -- recovery -----------------------------------------------------------------------------

def broken_scanner(gw: Gateway) -> None:
    class Broken(gw.link.scanner_backend):  # type: ignore[misc, name-defined]
        async def start(self):
            raise BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"])

    gw.link.scanner_backend = Broken


def test_failing_scans_reset_the_adapter_once_per_cooldown(tmp_path):
    gw, air, _ws, clock = setup(tmp_path, adapter_cooldown_s=300)
    working = gw.link.scanner_backend
    broken_scanner(gw)
    errors = [asyncio.run(gw.sync_pass()).scan_error for _ in range(6)]
    assert all("NotReady" in e for e in errors)
    assert air.resets == 1, "three failed scans: one reset, then the cooldown"
    clock.now_s += 300
    asyncio.run(gw.sync_pass())
    assert air.resets == 2, "still failing when the cooldown ends: reset again"
    clock.now_s += 300
    asyncio.run(gw.sync_pass())
    assert air.resets == 2, "the count starts over after a reset"
    for _ in range(2):
        asyncio.run(gw.sync_pass())
    assert air.resets == 3
    gw.link.scanner_backend = working
    assert len(asyncio.run(gw.sync_pass()).synced) == 2


def test_without_adapter_control_a_needed_reset_is_only_logged(tmp_path, caplog):
    gw, air, _ws, _ = setup(tmp_path, adapter_control=None)
    broken_scanner(gw)
    for _ in range(4):
        asyncio.run(gw.sync_pass())
    assert air.resets == 0 and gw.link.health.failed_resets == 1
    assert "no way to reset it" in caplog.text


def test_a_failing_reset_is_logged_and_waits_for_the_cooldown(tmp_path, caplog):
    class Refusing:
        calls = 0

        async def reset(self, adapter: str) -> None:
            Refusing.calls += 1
            raise AdapterResetError("org.freedesktop.DBus.Error.AccessDenied")

    gw, _air, _ws, _ = setup(tmp_path, adapter_control=Refusing())
    broken_scanner(gw)
    for _ in range(5):
        asyncio.run(gw.sync_pass())
    assert Refusing.calls == 1 and "AccessDenied" in caplog.text


def test_no_reset_while_wearables_are_connected(tmp_path):
    gw, air, ws, _ = setup(tmp_path, devices=DEVICES[:1])
    health = gw.link.health

    async def scan_during_a_sync():
        found = await gw.scan({ws[0].id_hex})
        async with gw.link.connection(found[ws[0].id_hex].device):
            for _ in range(3):
                health.scan_failed()
            assert not await gw.link.reset_adapter_if_due()
        return await gw.link.reset_adapter_if_due()

    assert asyncio.run(scan_during_a_sync()) is True
    assert air.resets == 1


# -- the session on the link -------------------------------------------------------------

def test_notifications_are_subscribed_with_start_notify_pinned(tmp_path):
    gw, _air, _ws, _ = setup(tmp_path, devices=DEVICES[:1])
    seen = []

    class Recording(gw.link.client_backend):  # type: ignore[misc, name-defined]
        async def start_notify(self, characteristic, callback, **kwargs):
            seen.append(kwargs)
            await super().start_notify(characteristic, callback, **kwargs)

    gw.link.client_backend = Recording
    assert len(asyncio.run(gw.sync_pass()).synced) == 1
    assert seen[0]["bluez"] == {"use_start_notify": True}


def test_a_dropped_link_fails_the_session_at_once(tmp_path):
    gw, _air, ws, _ = setup(tmp_path, devices=DEVICES[:1], response_timeout_s=5.0,
                           connect_deadline_s=10.0, faults=FaultPlan(cut_after_bytes=0))
    started = time.monotonic()
    report = asyncio.run(gw.sync_pass())
    assert "the wearable disconnected" in report.failed[ws[0].id_hex]
    assert time.monotonic() - started < 1.0, "not after the 5 s response timeout"


def test_command_returns_the_raw_response(tmp_path):
    gw, _air, ws, _ = setup(tmp_path, devices=DEVICES[:1])

    async def commands():
        found = await gw.scan({ws[0].id_hex})
        session: WearableSession | None = None
        async with gw.link.connection(found[ws[0].id_hex].device,
                                      lambda: session and session.link_lost()) as client:
            session = WearableSession(client, 0.5)
            await session.open()
            info = await session.command(protocol.cmd_info())
            unknown = await session.command(bytes((0x7E,)))
            with pytest.raises(ValueError, match="fetch"):
                await session.command(protocol.cmd_fetch(1, 4))
            return info, unknown

    info, unknown = asyncio.run(commands())
    assert protocol.parse_info(info)["device_id"].hex() == ws[0].id_hex
    assert unknown == bytes((0x7E | protocol.RESPONSE_BIT, protocol.STATUS_UNKNOWN_COMMAND))


def test_sync_device_reports_progress_and_records_a_failed_connection(tmp_path):
    from gateway.devices import DeviceRegistry
    gw, air, ws, _ = setup(tmp_path, devices=DEVICES[:1])
    gw.devices = DeviceRegistry(tmp_path / "devices.db")
    seen = []
    gw.progress = lambda dev, done, total: seen.append((dev, done, total))

    async def one():
        found = await gw.scan({ws[0].id_hex})
        return await gw.sync_device(ws[0].id_hex, found[ws[0].id_hex])

    result = asyncio.run(one())
    assert seen and seen[-1] == (ws[0].id_hex, result.fetched, result.fetched)
    assert gw.devices.status(ws[0].id_hex).consecutive_failures == 0
    air.faults.connect_abort = 1.0  # every connection attempt aborted by the controller
    with pytest.raises(Exception):  # noqa: B017 - whichever bleak error the connector raises
        asyncio.run(one())
    status = gw.devices.status(ws[0].id_hex)
    assert status.consecutive_failures == 1 and status.last_error  # abort, or the deadline


def test_a_corrupt_frame_is_a_session_error_naming_it(tmp_path):
    gw, _air, ws, _ = setup(tmp_path, devices=DEVICES[:1],
                           faults=FaultPlan(seed=3, corrupt=1.0))
    report = asyncio.run(gw.sync_pass())
    assert report.failed[ws[0].id_hex].startswith("SessionError: INFO body must be")
    assert ws[0].log.acked_seq == 0


def test_a_repeated_answer_never_passes_for_the_next_one(tmp_path):
    gw, _air, ws, _ = setup(tmp_path, devices=DEVICES[:1], faults=FaultPlan(duplicate=1.0))

    async def two_acks():
        found = await gw.scan({ws[0].id_hex})
        async with gw.link.connection(found[ws[0].id_hex].device) as client:
            session = WearableSession(client, 0.5)
            await session.open()
            first = await session.ack(1)
            second = await session.ack(3)  # same opcode: the first answer's repeat is stale
            return first, second, session.stats

    first, second, stats = asyncio.run(two_acks())
    assert (first, second) == (1, 3) and stats.stale_frames >= 1


def test_a_sync_cut_by_its_deadline_is_recorded_as_a_failure(tmp_path):
    from gateway.devices import DeviceRegistry
    gw, _air, ws, _ = setup(tmp_path, devices=DEVICES[:1], connect_deadline_s=0.6,
                            faults=FaultPlan(seed=2, delay_s=(0.2, 0.2)))
    gw.devices = DeviceRegistry(tmp_path / "devices.db")
    for attempt in (1, 2):
        report = asyncio.run(gw.sync_pass())
        assert report.failed[ws[0].id_hex].startswith("DeadlineExceeded")
        status = gw.devices.status(ws[0].id_hex)
        assert status.consecutive_failures == attempt and "DeadlineExceeded" in status.last_error


def test_a_late_repeat_of_an_earlier_fetch_is_dropped_not_fatal(tmp_path):
    gw, _air, ws, _ = setup(tmp_path, devices=DEVICES[:1])
    w = ws[0]
    real = w.handler.on_write
    earlier: list[bytes] = []

    def late_repeat(data):
        frames = real(data)
        if data[0] == protocol.CMD_FETCH:
            if earlier:  # the previous fetch's first record frame arrives once more
                frames = [earlier[0], *frames]
            else:
                earlier.extend(f for f in frames if f[0] == protocol.FRAME_RECORDS)
        return frames

    w.handler.on_write = late_repeat

    async def two_fetches():
        found = await gw.scan({w.id_hex})
        async with gw.link.connection(found[w.id_hex].device) as client:
            session = WearableSession(client, 0.5)
            await session.open()
            first = await session.fetch(1, 2)
            second = await session.fetch(3, 10)
            return first, second, session.stats

    first, second, stats = asyncio.run(two_fetches())
    assert [r[0] for r in first.records] == [1, 2]
    assert [r[0] for r in second.records] == list(range(3, w.log.last_seq + 1))
    assert stats.duplicate_records == 2
