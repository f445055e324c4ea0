"""The wearable state the gateway reports after every sync attempt: what it says, how the
log's fill is computed, and that a failing wearable keeps one row in the outbox."""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path

import pytest

from firmware.core.record_log import MemoryStorage, RecordLog
from gateway.config import parse
from gateway.devices import DeviceRegistry, DeviceStatus
from gateway.gateway import Gateway
from gateway.outbox import Outbox, OutboxFull
from gateway.state_report import (
    REFERENCE_LOG_CAPACITY,
    build_state,
    log_capacity,
    log_used_pct,
    report_state,
    state_topic,
)
from simulators.ble_backend.air import SimAir
from simulators.wearable import SimClock, VirtualWearable
from tests.gateway.message_outbox import MessageOutbox
from tests.sim_helpers import T0_MS, tilt_set, wearable_with_sets

DEV = "a1b2c3d4e5f6"
GATEWAY = "home-1"
REPO = Path(__file__).resolve().parents[2]


# -- the log's fill -------------------------------------------------------------------------

def test_the_reference_capacity_is_the_reference_boards_log() -> None:
    """firmware/main.py sizes the log on the device; the gateway's fallback must agree."""
    tree = ast.parse((REPO / "firmware" / "main.py").read_text())
    [size] = [node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
              and any(getattr(t, "id", None) == "_LOG_BYTES" for t in node.targets)]
    log_bytes = eval(compile(ast.Expression(size), "main.py", "eval"), {"const": int})
    assert RecordLog(MemoryStorage(log_bytes)).capacity == REFERENCE_LOG_CAPACITY


@pytest.mark.parametrize("log_id, records", [(0x5EED, 10), (0x5EED, 5000), (0, 5000)])
def test_capacity_is_exact_from_info_once_the_ring_has_come_round(log_id, records) -> None:
    log = RecordLog(MemoryStorage(64 + 32 * 100), log_id)  # 100 records
    for seq in range(log.next_seq(), log.next_seq() + records):
        log.acknowledge(log.last_seq)  # keep room: acknowledged records may be overwritten
        assert log.append(_record(seq))
    assert log_capacity(log.oldest_seq(), log.last_seq) == 100


def test_before_the_ring_comes_round_the_reference_capacity_is_taken() -> None:
    log = RecordLog(MemoryStorage(64 + 32 * 100), 0)  # seqs from 1: first_seq stays 1
    for seq in range(1, 41):
        assert log.append(_record(seq))
    assert log.oldest_seq() == 1
    assert log_capacity(1, log.last_seq) == REFERENCE_LOG_CAPACITY
    assert log_capacity(1, 9000) == 9000  # at least what it holds


def test_log_used_pct_counts_what_is_not_acknowledged() -> None:
    first = 10_000 - 4096 + 1
    assert log_used_pct(first, 10_000, 10_000) == 0
    assert log_used_pct(first, 10_000, 10_000 - 2048) == 50
    assert log_used_pct(first, 10_000, 10_000 - 4095) == 99  # rounded down: 100 is full
    assert log_used_pct(first, 10_000, first - 1) == 100
    assert log_used_pct(None, 10_000, 10_000) is None  # synced before first_seq was kept
    assert log_used_pct(20_000, 10_000, 10_000) is None  # not what a wearable says


def _record(seq: int) -> bytes:
    from firmware.core import codec
    return bytes(codec.encode_rep(seq, codec.FLAG_TIME_VALID, 1, 1, 1_790_000_000_000 + seq,
                                  1, 1, 1500, 9000, 120))


# -- the message ------------------------------------------------------------------------------

def test_the_message_has_every_field_and_nulls_where_unknown() -> None:
    never_synced = DeviceStatus(DEV, 1_790_000_000_000, None, None, None, None, None, None,
                                "TimeoutError", 3)
    body = json.loads(build_state(GATEWAY, never_synced, 1_790_000_000_500))
    assert body == {"schema": "rtm.device_state.v1", "gateway": GATEWAY, "device": DEV,
                    "reported_ms": 1_790_000_000_500, "last_sync_ms": None,
                    "last_attempt_ms": 1_790_000_000_000, "battery_pct": None,
                    "log_used_pct": None, "refused": None, "consecutive_failures": 3,
                    "firmware": None}
    assert state_topic(GATEWAY, DEV) == f"rtm/v1/{GATEWAY}/{DEV}/state"


def test_what_the_bridge_would_refuse_is_sent_as_unknown() -> None:
    odd = DeviceStatus(DEV, 1, 1, 255, "1.0\x00\x00\n", 5, 5, 0, None, 0, 1)
    body = json.loads(build_state(GATEWAY, odd, 2))
    assert body["battery_pct"] is None  # a u8 above 100 is a firmware fault
    assert body["firmware"] == "1.0"


# -- through a sync -------------------------------------------------------------------------

def make_gateway(tmp_path: Path, air: SimAir, world, outbox: Outbox | None = None
                 ) -> tuple[Gateway, Outbox, DeviceRegistry]:
    cfg = parse({"gateway_id": GATEWAY, "outbox": "o.db", "enrolled": [DEV],
                 "sync": {"batch_records": 8, "scan_timeout_s": 0.3,
                          "response_timeout_s": 0.5, "connect_deadline_s": 2.0}}, tmp_path)
    outbox = outbox or Outbox(cfg.outbox)
    devices = DeviceRegistry(cfg.outbox)
    scanner, client = air.backends()
    gw = Gateway(cfg, outbox, scanner, client, clock_ms=lambda: world.now_ms,
                 adapter_control=air.adapter_control(), devices=devices)
    return gw, outbox, devices


def states(outbox: Outbox) -> list[dict]:
    return [json.loads(m.payload) for m in outbox.pending(limit=10_000)
            if m.topic == state_topic(GATEWAY, DEV) and m.retain]


def test_a_sync_reports_the_wearables_state_retained(tmp_path: Path) -> None:
    w = wearable_with_sets(DEV, [4, 3], log_id=0x5EED)
    w.battery_pct = 37
    air = SimAir()
    air.add(w)
    gw, outbox, _ = make_gateway(tmp_path, air, w.world)
    assert not asyncio.run(gw.sync_pass()).failed
    [state] = states(outbox)
    capacity = (64 * 1024 - 64) // 32  # the simulator's log, found from INFO alone
    assert state == {"schema": "rtm.device_state.v1", "gateway": GATEWAY, "device": DEV,
                     "reported_ms": w.world.now_ms, "last_sync_ms": w.world.now_ms,
                     "last_attempt_ms": w.world.now_ms, "battery_pct": 37,
                     "log_used_pct": 0, "refused": 0, "consecutive_failures": 0,
                     "firmware": "sim"}
    assert log_capacity(w.log.oldest_seq(), w.log.last_seq) == capacity
    # Behind the records it follows: the clinic sees the state after the sync's records.
    assert outbox.pending(limit=100)[-1].topic == state_topic(GATEWAY, DEV)


def test_records_left_on_a_wearable_show_in_log_used_pct(tmp_path: Path) -> None:
    w = VirtualWearable(bytes.fromhex(DEV), SimClock(T0_MS), log_bytes=64 + 32 * 40,
                        log_id=0x5EED)  # a log of 40 records
    for reps in (10, 10, 10):  # 33 records
        t, acc, gyro = tilt_set(reps)
        assert w.perform_set("squat", t, acc, gyro, reps) == reps
    air = SimAir()
    air.add(w)
    # The outbox takes two batches of 8 records, then is full: 17 records stay behind.
    gw, outbox, _ = make_gateway(tmp_path, air, w.world,
                                 MessageOutbox(tmp_path / "o.db", full_after=2))
    assert not asyncio.run(gw.sync_pass()).failed
    assert w.log.unacked() == 17
    [state] = states(outbox)
    assert state["log_used_pct"] == 17 * 100 // 40 == 42
    assert state["consecutive_failures"] == 0


def test_a_failing_wearable_keeps_one_state_row_counting_its_failures(tmp_path: Path) -> None:
    w = wearable_with_sets(DEV, [3], log_id=0x5EED)
    air = SimAir()
    air.add(w)
    gw, outbox, _ = make_gateway(tmp_path, air, w.world)
    assert not asyncio.run(gw.sync_pass()).failed
    synced_at = w.world.now_ms
    air.faults.corrupt = 1.0  # every answer garbled: INFO fails
    for attempt in range(1, 6):
        w.world.advance_to(w.world.now_ms + 30_000)
        assert DEV in asyncio.run(gw.sync_pass()).failed
        [state] = states(outbox)  # coalesced: the waiting one is replaced
        assert state["consecutive_failures"] == attempt
        assert state["reported_ms"] == state["last_attempt_ms"] == w.world.now_ms
        # The last successful sync's figures stay.
        assert (state["last_sync_ms"], state["battery_pct"], state["log_used_pct"]) == (
            synced_at, 90, 0)
    air.faults.corrupt = 0.0
    assert not asyncio.run(gw.sync_pass()).failed
    [state] = states(outbox)
    assert state["consecutive_failures"] == 0 and state["last_sync_ms"] == w.world.now_ms


def test_a_state_that_cannot_be_queued_fails_nothing(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    class NoRoomForStates(Outbox):
        def enqueue_latest(self, *args: object, **kwargs: object) -> int:
            raise OutboxFull("outbox full")

    w = wearable_with_sets(DEV, [3], log_id=0x5EED)
    air = SimAir()
    air.add(w)
    gw, _outbox, devices = make_gateway(tmp_path, air, w.world,
                                        NoRoomForStates(tmp_path / "o.db"))
    report = asyncio.run(gw.sync_pass())
    assert not report.failed and report.synced[0].fetched == 4
    status = devices.status(DEV)
    assert status is not None and status.consecutive_failures == 0
    assert "state not reported" in caplog.text


def test_without_a_device_registry_nothing_is_reported(tmp_path: Path) -> None:
    w = wearable_with_sets(DEV, [3])
    air = SimAir()
    air.add(w)
    gw, outbox, _ = make_gateway(tmp_path, air, w.world)
    gw.devices = None
    assert not asyncio.run(gw.sync_pass()).failed
    assert states(outbox) == []


def test_report_state_of_a_device_never_attempted_is_nothing(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    devices = DeviceRegistry(tmp_path / "o.db")
    assert report_state(outbox, devices, GATEWAY, DEV, 1) is None
    assert outbox.depth() == 0
