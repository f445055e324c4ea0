"""The GATT peripheral with a fake radio (aioble/bluetooth) and the real protocol handler."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.core import codec, program, protocol
from firmware.core.clock import DeviceClock
from firmware.core.protocol import ProtocolHandler
from firmware.core.record_log import MemoryStorage, RecordLog
from firmware.device.ble_peripheral import Peripheral
from tests.firmware.device import fake_aioble, mp_shim
from tests.firmware.device.fake_aioble import FakeAioble

DEVICE_ID = bytes.fromhex("a1b2c3d4e5f6")
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def shim(monkeypatch: pytest.MonkeyPatch) -> None:
    mp_shim.install(monkeypatch)


def make_log(records: int) -> RecordLog:
    log = RecordLog(MemoryStorage(64 + 32 * 64))
    boot = log.new_boot()
    for i in range(records):
        assert log.append(codec.encode_rep(log.next_seq(), 0, 0, 1, 1000 * (i + 1), boot,
                                           i + 1, 1200, 4500, 60))
    return log


def make(radio: FakeAioble, records: int = 0) -> tuple[Peripheral, RecordLog, list[str]]:
    log = make_log(records)
    handler = ProtocolHandler(log, DeviceClock(log.boot), DEVICE_ID, lambda: 5000, lambda: 77)
    activity: list[str] = []
    periph = Peripheral(handler, DEVICE_ID, lambda: 77, manufacturer="RTM project",
                        model="RTM-W1", firmware="0.1.0", aioble=radio,
                        bluetooth=fake_aioble.bluetooth,
                        on_activity=lambda: activity.append("active"))
    return periph, log, activity


def serve(periph: Peripheral, adv_timeout_ms: int | None = None) -> bool:
    return asyncio.run(periph.serve(adv_timeout_ms))


def test_importing_the_module_touches_no_radio() -> None:
    code = ("import sys, firmware.device.ble_peripheral as m\n"
            "assert 'aioble' not in sys.modules and 'bluetooth' not in sys.modules\n"
            "print(m.Peripheral.__name__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "Peripheral"


def test_radio_on_registers_the_three_services() -> None:
    radio = FakeAioble()
    periph, _, _ = make(radio)
    periph.radio_on()
    periph.radio_on()  # idempotent
    assert [s.uuid for s in radio.registered] == [
        ("uuid", 0x180A), ("uuid", 0x180F), ("uuid", protocol.RTM_SERVICE_UUID)]
    dis = {c.uuid[1]: c.value for c in radio.service(0x180A).characteristics}
    assert dis == {0x2A29: b"RTM project", 0x2A24: b"RTM-W1", 0x2A25: b"a1b2c3d4e5f6",
                   0x2A26: b"0.1.0"}
    assert all(c.flags["read"] and not c.flags["write"]
               for c in radio.service(0x180A).characteristics)
    (level,) = radio.service(0x180F).characteristics
    assert level.uuid == ("uuid", 0x2A19) and level.value == b"\x4d"
    assert level.flags["read"] and level.flags["notify"]
    control, data = radio.service(protocol.RTM_SERVICE_UUID).characteristics
    assert control.uuid == ("uuid", protocol.CONTROL_CHAR_UUID)
    assert control.flags["write"] and control.flags["capture"]
    assert data.uuid == ("uuid", protocol.DATA_CHAR_UUID) and data.flags["notify"]
    assert {"mtu": 247} in radio.configs
    assert {"addr_mode": 1} in radio.configs  # random address: the MAC stays off the air
    assert {"gap_name": "RTM-a1b2c3d4e5f6"} in radio.configs


def test_advertises_the_device_name_and_the_rtm_service_fast_then_slow() -> None:
    radio = FakeAioble()
    periph, _, _ = make(radio)
    assert serve(periph, adv_timeout_ms=60_000) is False  # nobody connected
    assert [a["interval_us"] for a in radio.adverts] == [100_000, 1_000_000]
    assert [a["timeout_ms"] for a in radio.adverts] == [30_000, 30_000]
    for advert in radio.adverts:
        assert advert["name"] == protocol.DEVICE_NAME_PREFIX + "a1b2c3d4e5f6"
        assert advert["services"] == [("uuid", protocol.RTM_SERVICE_UUID)]


def test_short_advertising_timeout_stays_fast() -> None:
    radio = FakeAioble()
    periph, _, _ = make(radio)
    assert serve(periph, adv_timeout_ms=5_000) is False
    assert [(a["interval_us"], a["timeout_ms"]) for a in radio.adverts] == [(100_000, 5_000)]


def test_a_sync_notifies_every_frame_in_order() -> None:
    radio = FakeAioble(mtu=247)
    periph, log, activity = make(radio, records=20)
    radio.gateway_writes(protocol.cmd_info(), protocol.cmd_fetch(1, 100), protocol.cmd_ack(20))
    assert serve(periph) is True
    frames = radio.notified
    info = protocol.parse_info(frames[0])
    assert info["device_id"] == DEVICE_ID and info["last_seq"] == 20 and info["battery_pct"] == 77
    record_frames = frames[1:-2]
    assert [f[1] for f in record_frames] == [7, 7, 6]  # (244 - 2) // 32 records a frame
    assert all(len(f) <= 244 for f in frames)
    seqs = [codec.seq_of(r) for f in record_frames for r in protocol.split_records(f)]
    assert seqs == list(range(1, 21))
    assert protocol.parse_fetch_end(frames[-2]) == (20, 20, None)
    assert protocol.parse_ack(frames[-1]) == 20
    assert log.acked_seq == 20
    assert activity == ["active"] * 4  # the connection, then each write
    assert periph.connection is None


def test_the_largest_program_arrives_whole() -> None:
    """MicroPython keeps only 20 bytes of a write to a plain characteristic: Control's
    buffer must hold SET_PROGRAM's 46 bytes (the fake truncates like NimBLE)."""
    radio = FakeAioble(mtu=247)
    periph, _log, _ = make(radio)
    stored: list[bytes] = []
    periph._handler.on_program = stored.append
    largest = program.encode([(1, 3, 10, 9000, 60)] * program.MAX_ITEMS)
    assert len(protocol.cmd_set_program(largest)) == 46
    radio.gateway_writes(protocol.cmd_set_program(largest))
    assert serve(periph) is True
    assert radio.notified == [bytes((0x85, protocol.STATUS_OK))]
    assert stored == [largest]


def test_the_negotiated_mtu_sets_the_frame_size() -> None:
    radio = FakeAioble(mtu=None, exchanged_mtu=100)
    periph, _, _ = make(radio, records=5)
    radio.gateway_writes(protocol.cmd_fetch(1, 10))
    serve(periph)
    assert radio.exchange_requests == [247]
    assert [f[1] for f in radio.notified[:-1]] == [2, 2, 1]  # (97 - 2) // 32 = 2


def test_an_mtu_below_the_protocol_minimum_ends_the_link_without_truncating() -> None:
    radio = FakeAioble(mtu=23, exchanged_mtu=None)
    periph, _, _ = make(radio, records=3)
    radio.gateway_writes(protocol.cmd_fetch(1, 10), protocol.cmd_info())
    assert serve(periph) is True
    assert radio.notified == []
    assert periph.refused_frames == 1
    assert radio.connection.disconnect_calls == 1


def test_notifications_refused_for_lack_of_buffers_are_retried_in_order() -> None:
    radio = FakeAioble()
    periph, _, _ = make(radio, records=14)
    radio.notify_failures = 3
    radio.gateway_writes(protocol.cmd_fetch(1, 14))
    serve(periph)
    seqs = [codec.seq_of(r) for f in radio.notified[:-1] for r in protocol.split_records(f)]
    assert seqs == list(range(1, 15))
    assert protocol.parse_fetch_end(radio.notified[-1]) == (14, 14, None)


def test_a_stack_that_never_takes_the_notification_ends_the_link() -> None:
    radio = FakeAioble()
    periph, _, _ = make(radio, records=1)
    radio.notify_failures = 10_000
    radio.gateway_writes(protocol.cmd_info())
    assert serve(periph) is True
    assert radio.notified == []
    assert radio.connection.disconnect_calls == 1


def test_writes_queued_by_an_earlier_connection_are_dropped() -> None:
    radio = FakeAioble()
    periph, _, _ = make(radio)
    radio.script.append(("an older connection", protocol.cmd_info()))
    radio.gateway_writes(protocol.cmd_ack(0))
    serve(periph)
    assert len(radio.notified) == 1
    assert protocol.parse_ack(radio.notified[0]) == 0


def test_battery_level_is_written_and_notified() -> None:
    radio = FakeAioble()
    periph, _, _ = make(radio)
    periph.update_battery(50)  # radio off: nothing to write to
    periph.radio_on()
    periph.update_battery(42)
    (level,) = radio.service(0x180F).characteristics
    assert level.writes == [(b"\x2a", True)]


def test_radio_off_stops_the_stack_and_radio_on_registers_again() -> None:
    radio = FakeAioble()
    periph, _, _ = make(radio)
    periph.radio_off()
    assert radio.stopped == 0  # was never on
    periph.radio_on()
    first = radio.registered
    periph.radio_off()
    assert radio.stopped == 1
    periph.update_battery(10)
    periph.radio_on()
    assert radio.registered is not first
