"""sync_wearable with the device registry: the waiting program goes to the wearable after
SET_TIME and its ack is queued; the device's status is kept; a full outbox stops the
fetching without acknowledging, and the records wait on the wearable."""

import asyncio

import pytest
from bleak import BleakClient

from firmware.core import program, protocol
from gateway import sync
from gateway.devices import DeviceRegistry
from gateway.wearable_session import SessionError, WearableSession
from simulators.ble_backend.air import SimAir
from tests.gateway.message_outbox import MessageOutbox
from tests.sim_helpers import wearable_with_sets

GW = "home-1"
DEV = "a1b2c3d4e5f6"
PROGRAM = program.encode([(1, 2, 8, 0, 30)])


def run_sync(w, outbox, devices, batch=8):
    air = SimAir()
    air.add(w)
    _, client_cls = air.backends()

    async def go():
        async with BleakClient(w.address, backend=client_cls, timeout=1.0) as client:
            session = WearableSession(client, 0.2)
            await session.open()
            return await sync.sync_wearable(session, outbox, GW, DEV, lambda: w.world.now_ms,
                                            batch, devices=devices)

    return asyncio.run(go())


@pytest.fixture
def rig(tmp_path):
    return (wearable_with_sets(DEV, [4]), MessageOutbox(tmp_path / "gw.db"),
            DeviceRegistry(tmp_path / "gw.db"))


def test_the_waiting_program_is_applied_and_acknowledged(rig) -> None:
    w, outbox, devices = rig
    devices.offer_program(DEV, 9, PROGRAM, 1)
    order = []
    real = w.handler.on_write
    w.handler.on_write = lambda data: order.append(data[0]) or real(data)
    result = run_sync(w, outbox, devices)
    assert order[:3] == [protocol.CMD_INFO, protocol.CMD_SET_TIME, protocol.CMD_SET_PROGRAM]
    assert w.program == PROGRAM
    assert (result.program_version, result.program_status) == (9, "applied")
    (ack,) = outbox.on("/program/ack")
    assert ack.topic == f"rtm/v1/{GW}/{DEV}/program/ack" and ack.device_id == DEV
    assert ack.json() == {"schema": "rtm.program_ack.v1", "device": DEV, "version": 9,
                          "status": "applied", "reason": None, "at_ms": w.world.now_ms}
    assert devices.pending_program(DEV) is None
    assert result.fetched == 5 and w.log.acked_seq == 5
    again = run_sync(w, outbox, devices)  # nothing waits any more
    assert again.program_version is None and len(outbox.queued) == 1


def test_a_wearable_without_program_storage_rejects_it_once(rig) -> None:
    w, outbox, devices = rig
    w.handler.on_program = None
    devices.offer_program(DEV, 2, PROGRAM, 1)
    result = run_sync(w, outbox, devices)
    assert result.program_status == "rejected"
    body = outbox.on("/program/ack")[0].json()
    assert body["status"] == "rejected" and "no program storage" in body["reason"]
    assert devices.pending_program(DEV) is None and devices.program_state(DEV) == (2,
                                                                                 "rejected")


def test_a_lost_answer_keeps_the_program_for_the_next_sync(rig) -> None:
    w, outbox, devices = rig
    devices.offer_program(DEV, 3, PROGRAM, 1)
    real = w.handler.on_write

    def drop_program_answer(data):
        frames = real(data)
        return [] if data[0] == protocol.CMD_SET_PROGRAM else frames

    w.handler.on_write = drop_program_answer
    with pytest.raises(SessionError):
        run_sync(w, outbox, devices)
    assert devices.pending_program(DEV).version == 3 and outbox.on("/ack") == []
    w.handler.on_write = real
    assert run_sync(w, outbox, devices).program_status == "applied"
    assert devices.status(DEV).consecutive_failures == 0


def test_the_status_is_recorded(rig) -> None:
    w, outbox, devices = rig
    devices.enroll(DEV, w.address, 1, "sim")
    w.battery_pct = 42
    run_sync(w, outbox, devices)
    s = devices.status(DEV)
    assert (s.battery_pct, s.last_seq, s.acked_seq, s.unsynced, s.refused) == (42, 5, 5, 0, 0)
    assert s.last_sync_ms == w.world.now_ms and s.firmware == "sim"


def test_a_full_outbox_stops_fetching_and_acknowledges_nothing_more(tmp_path) -> None:
    w = wearable_with_sets(DEV, [9, 9])  # 20 records: 3 batches of 8
    outbox = MessageOutbox(tmp_path / "gw.db", full_exc=sync.OutboxFull, full_after=1)
    devices = DeviceRegistry(tmp_path / "gw.db")
    result = run_sync(w, outbox, devices)
    assert result.outbox_full and result.fetched == 8 and result.acked_seq == 8
    assert w.log.acked_seq == 8 and outbox.committed_seq(DEV) == 8
    assert devices.status(DEV).last_error.startswith("outbox full")
    outbox.full_after = None  # the broker drained it
    result = run_sync(w, outbox, devices)
    assert not result.outbox_full and result.fetched == 12 and w.log.acked_seq == 20


def test_a_full_outbox_keeps_an_applied_programs_ack_for_later(tmp_path) -> None:
    w = wearable_with_sets(DEV, [3])
    outbox = MessageOutbox(tmp_path / "gw.db", full_exc=sync.OutboxFull, full_after=0)
    devices = DeviceRegistry(tmp_path / "gw.db")
    devices.offer_program(DEV, 5, PROGRAM, 1)
    result = run_sync(w, outbox, devices)
    assert result.outbox_full and result.program_status == "applied" and w.program == PROGRAM
    assert devices.pending_program(DEV).version == 5 and w.log.acked_seq == 0
    outbox.full_after = None
    assert run_sync(w, outbox, devices).program_status == "applied"
    assert [q.json()["version"] for q in outbox.on("/program/ack")] == [5]
