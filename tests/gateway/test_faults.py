"""The gateway against an unreliable radio: every fault the simulated air can inject, with
repeated sync passes until the wearables are drained, then the outbox compared with the
wearables' ground truth record by record: nothing lost, nothing twice.

Seeded: each test replays the same faults every run.
"""

from __future__ import annotations

import asyncio
import base64
import json

import bleak_retry_connector
import pytest

from firmware.core import codec, protocol
from gateway.config import parse
from gateway.gateway import Gateway, PassReport
from gateway.outbox import Outbox
from simulators.ble_backend.air import SimAir
from simulators.ble_backend.faults import FaultPlan
from simulators.wearable import SimClock
from tests.sim_helpers import T0_MS, wearable_with_sets

pytestmark = pytest.mark.fault

DEVICES = ("a1b2c3d4e5f6", "0a0b0c0d0e0f", "112233445566")


@pytest.fixture(autouse=True)
def quick_connect_backoff(monkeypatch):
    """bleak-retry-connector waits up to 4 s between attempts (what a real controller
    needs); the simulated one needs nothing, and the tests must stay fast."""
    for name in ("BLEAK_OUT_OF_SLOTS_BACKOFF_TIME", "BLEAK_DBUS_BACKOFF_TIME",
                 "BLEAK_TRANSIENT_BACKOFF_TIME", "BLEAK_TRANSIENT_MEDIUM_BACKOFF_TIME",
                 "BLEAK_TRANSIENT_LONG_BACKOFF_TIME", "BLEAK_BACKOFF_TIME"):
        monkeypatch.setattr(bleak_retry_connector, name, 0.001)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def wearables(sets: list[int], devices=DEVICES, world: SimClock | None = None):
    world = world or SimClock(T0_MS)
    return [wearable_with_sets(dev, sets, world=world) for dev in devices], world


def air_with(ws, plan: FaultPlan, mtu: int = 247) -> SimAir:
    """The simulated radio with these wearables in range and these faults."""
    air = SimAir(mtu=mtu, faults=plan)
    for w in ws:
        air.add(w)
    return air


def gateway_on(tmp_path, air, ws, world, monotonic=None, **sync):
    cfg = parse({"gateway_id": "home-1", "outbox": str(tmp_path / "outbox.db"),
                 "enrolled": [w.id_hex for w in ws],
                 "sync": {"batch_records": 4, "scan_timeout_s": 0.2,
                          "response_timeout_s": 0.3, "connect_deadline_s": 3.0,
                          "max_connections": 2, **sync}}, tmp_path)
    outbox = Outbox(cfg.outbox)
    scanner, client = air.backends()
    gw = Gateway(cfg, outbox, scanner, client, clock_ms=lambda: world.now_ms,
                 adapter_control=air.adapter_control(),
                 monotonic_s=monotonic or FakeMonotonic())
    return gw, outbox


def drained(ws) -> bool:
    return all(w.log.acked_seq == w.log.last_seq for w in ws)


def sync_until_drained(gw, ws, max_passes: int = 80) -> list[PassReport]:
    reports = []
    while not drained(ws):
        assert len(reports) < max_passes, f"not drained after {max_passes} passes: {reports[-3:]}"
        reports.append(asyncio.run(gw.sync_pass()))
    return reports


def outbox_records(outbox: Outbox) -> dict[str, list[bytes]]:
    """Every record the outbox holds, per device, in commit order, each CRC-checked."""
    out: dict[str, list[bytes]] = {}
    for msg in outbox.pending(limit=100_000):
        body = json.loads(msg.payload)
        assert msg.topic == f"rtm/v1/home-1/{body['device']}/records"
        for b64 in body["records"]:
            raw = base64.b64decode(b64)
            codec.check(raw)
            out.setdefault(body["device"], []).append(raw)
    return out


def assert_exactly_ground_truth(outbox: Outbox, ws) -> None:
    held = outbox_records(outbox)
    for w in ws:
        got = held.get(w.id_hex, [])
        born = [raw for raw, _true_ms in w.born]
        got_seqs = [codec.decode(r)["seq"] for r in got]
        born_seqs = [codec.decode(r)["seq"] for r in born]
        assert sorted(set(born_seqs) - set(got_seqs)) == [], f"{w.id_hex}: records lost"
        assert len(got_seqs) == len(set(got_seqs)), f"{w.id_hex}: records duplicated"
        assert got == born, f"{w.id_hex}: records differ from what the wearable made"
    assert set(held) <= {w.id_hex for w in ws}


def failures(reports: list[PassReport]) -> list[str]:
    return [why for r in reports for why in r.failed.values()]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_disconnects_at_random_points_of_transfers(tmp_path, seed):
    ws, world = wearables([5, 7, 4])
    plan = FaultPlan(seed=seed, disconnect=0.2)
    air = air_with(ws, plan)
    gw, outbox = gateway_on(tmp_path, air, ws, world)
    reports = sync_until_drained(gw, ws)
    assert plan.counts["disconnect"] > 0 and failures(reports)
    assert all("disconnected" in why or "Not connected" in why for why in failures(reports))
    assert_exactly_ground_truth(outbox, ws)
    assert air.open_links == 0


def test_duplicated_notifications_are_stored_once(tmp_path):
    ws, world = wearables([6, 6])
    plan = FaultPlan(seed=5, duplicate=0.3)
    air = air_with(ws, plan, mtu=49)  # one record per notification: many to repeat
    gw, outbox = gateway_on(tmp_path, air, ws, world)
    reports = sync_until_drained(gw, ws)
    assert plan.counts["duplicate"] > 10
    assert len(reports) == 1 and not failures(reports), "duplicates are repaired, not fatal"
    assert_exactly_ground_truth(outbox, ws)


def test_reordered_notifications_are_put_back_in_order(tmp_path):
    ws, world = wearables([6, 6])
    plan = FaultPlan(seed=6, reorder=0.5)
    air = air_with(ws, plan, mtu=49)
    gw, outbox = gateway_on(tmp_path, air, ws, world, batch_records=8)
    reports = sync_until_drained(gw, ws)
    assert plan.counts["reorder"] > 5
    assert len(reports) == 1 and not failures(reports)
    assert_exactly_ground_truth(outbox, ws)


def test_duplicated_and_reordered_together(tmp_path):
    ws, world = wearables([8, 5])
    plan = FaultPlan(seed=11, duplicate=0.25, reorder=0.4)
    air = air_with(ws, plan, mtu=81)  # two records per notification
    gw, outbox = gateway_on(tmp_path, air, ws, world, batch_records=7)
    reports = sync_until_drained(gw, ws)
    assert not failures(reports)
    assert_exactly_ground_truth(outbox, ws)


@pytest.mark.parametrize(("mtu", "seed"), [(49, 1), (247, 3)])
def test_corrupt_frames_end_the_session_and_lose_nothing(tmp_path, mtu, seed):
    ws, world = wearables([5, 7])
    plan = FaultPlan(seed=seed, corrupt=0.05 if mtu == 49 else 0.08)
    air = air_with(ws, plan, mtu=mtu)
    # One link at a time: the faults are drawn in the same order on every run.
    gw, outbox = gateway_on(tmp_path, air, ws, world, max_connections=1)
    reports = sync_until_drained(gw, ws)
    why = failures(reports)
    assert why and all(w.startswith("SessionError") for w in why)
    assert any("CRC" in w for w in why), "a flipped bit in a record"
    assert any("bytes" in w or "short" in w for w in why), "a frame cut short"
    assert_exactly_ground_truth(outbox, ws)


def test_slow_devices_hit_the_deadline_and_resume(tmp_path):
    ws, world = wearables([6, 6])
    # At least 26 notifications for each wearable, >= 10 ms each: over the deadline.
    plan = FaultPlan(seed=9, delay_s=(0.010, 0.015))
    air = air_with(ws, plan, mtu=49)
    gw, outbox = gateway_on(tmp_path, air, ws, world, response_timeout_s=0.1,
                            connect_deadline_s=0.2)
    reports = sync_until_drained(gw, ws)
    assert any(w.startswith("DeadlineExceeded") for w in failures(reports))
    assert len(reports) > 1
    assert_exactly_ground_truth(outbox, ws)
    assert air.open_links == 0, "a sync cut by its deadline still disconnects"


OUT_OF_SLOTS = {"BleakOutOfConnectionSlotsError", "BleakNotFoundError"}  # as classified by
# bleak-retry-connector from the two ways BlueZ and proxies report it


def test_out_of_connection_slots_is_retried_later(tmp_path):
    ws, world = wearables([4, 4])
    plan = FaultPlan(seed=12, out_of_slots=0.9)  # slots taken by something else
    air = air_with(ws, plan)
    gw, outbox = gateway_on(tmp_path, air, ws, world, max_connections=1)
    reports = sync_until_drained(gw, ws)
    why = failures(reports)
    assert why and len(reports) > 1, "some syncs gave up, and a later pass made them"
    assert {w.split(":")[0] for w in why} == OUT_OF_SLOTS
    assert_exactly_ground_truth(outbox, ws)


def test_more_connections_than_the_adapter_holds(tmp_path):
    ws, world = wearables([4, 4])
    # The gateway is configured for three links, the controller holds one: the second
    # connect fails until the first sync is over (retried, or left for a later pass).
    plan = FaultPlan(seed=16, slots=1, delay_s=(0.002, 0.004))
    air = air_with(ws, plan)
    gw, outbox = gateway_on(tmp_path, air, ws, world, max_connections=3)
    reports = sync_until_drained(gw, ws)
    assert plan.counts["out_of_slots"] > 0 and air.peak_links == 1
    assert {w.split(":")[0] for w in failures(reports)} <= OUT_OF_SLOTS
    assert_exactly_ground_truth(outbox, ws)


def test_slot_limit_keeps_the_adapter_within_its_slots(tmp_path):
    ws, world = wearables([5, 5])
    plan = FaultPlan(seed=12, slots=2, delay_s=(0.0, 0.002))
    air = air_with(ws, plan)
    gw, outbox = gateway_on(tmp_path, air, ws, world, max_connections=2)
    reports = sync_until_drained(gw, ws)
    assert len(reports) == 1 and not failures(reports)
    assert plan.counts["out_of_slots"] == 0
    assert air.peak_links == 2, "two wearables synced at once, never three"
    assert_exactly_ground_truth(outbox, ws)


def test_in_progress_on_connect_is_retried(tmp_path):
    ws, world = wearables([4, 6])
    plan = FaultPlan(seed=28, in_progress=0.6, connect_abort=0.1)
    air = air_with(ws, plan)
    gw, outbox = gateway_on(tmp_path, air, ws, world, max_connections=1)
    reports = sync_until_drained(gw, ws)
    assert plan.counts["in_progress"] > 5 and air.connect_attempts > air.connections
    why = failures(reports)
    assert why, "some wearables stayed unreachable for all attempts of a pass"
    assert all(w.startswith("BleakConnectionError") and "progress" in w for w in why)
    assert_exactly_ground_truth(outbox, ws)


def test_adapter_wedged_in_progress_is_reset_after_repeated_failures(tmp_path):
    ws, world = wearables([4])
    plan = FaultPlan(seed=14, wedged_until_resets=1)
    air = air_with(ws, plan)
    gw, outbox = gateway_on(tmp_path, air, ws, world)
    reports = sync_until_drained(gw, ws)
    assert all("InProgress" in w or "already in progress" in w for w in failures(reports))
    assert air.resets == 1 and gw.link.health.resets == 1
    assert len(failures(reports)) == 3, "reset after three adapter-level failures"
    assert_exactly_ground_truth(outbox, ws)


def test_adapter_silence_is_recovered_by_a_reset_with_cooldown(tmp_path):
    ws, world = wearables([3, 4])
    plan = FaultPlan(seed=15, deaf_until_resets=2)  # the first reset does not cure it
    air = air_with(ws, plan)
    clock = FakeMonotonic()
    gw, outbox = gateway_on(tmp_path, air, ws, world, monotonic=clock, scan_timeout_s=0.02,
                            adapter_silence_s=0.05, adapter_cooldown_s=600)
    control_resets = []
    for _ in range(3):  # 0.06 s of silent scanning: the first reset
        report = asyncio.run(gw.sync_pass())
        control_resets.append(air.resets)
        assert sorted(report.missing) == sorted(w.id_hex for w in ws)
    assert control_resets == [0, 0, 1]
    for _ in range(5):  # still deaf, but within the cooldown: no second reset
        clock.now_s += 60
        asyncio.run(gw.sync_pass())
    assert air.resets == 1 and gw.link.health.silent_scan_s >= 0.05
    clock.now_s += 600
    asyncio.run(gw.sync_pass())  # cooldown over: reset again, which cures it
    assert air.resets == 2 and not plan.deaf
    sync_until_drained(gw, ws)
    assert gw.link.health.resets == 2
    assert_exactly_ground_truth(outbox, ws)


def clean_stream_bytes(tmp_path, sets) -> int:
    ws, world = wearables(sets, devices=DEVICES[:1])
    plan = FaultPlan(cut_after_bytes=10**9)  # counts, never cuts
    air = air_with(ws, plan)
    gw, _ = gateway_on(tmp_path, air, ws, world)
    asyncio.run(gw.sync_pass())
    assert drained(ws)
    return plan.notified_bytes


def fetch_starts(air: SimAir) -> list[int]:
    return [int.from_bytes(cmd[1:5], "little") for _addr, cmd in air.commands
            if cmd[0] == protocol.CMD_FETCH]


def test_a_transfer_cut_at_any_byte_resumes_from_the_last_acknowledged_record(tmp_path):
    sets = [3, 3]  # 8 records: two batches of 4
    (tmp_path / "clean").mkdir()
    total = clean_stream_bytes(tmp_path / "clean", sets)
    for cut in range(total):
        run = tmp_path / f"cut{cut}"
        run.mkdir()
        ws, world = wearables(sets, devices=DEVICES[:1])
        w = ws[0]
        plan = FaultPlan(cut_after_bytes=cut)
        air = air_with(ws, plan)
        gw, outbox = gateway_on(run, air, ws, world)
        first = asyncio.run(gw.sync_pass())
        assert first.failed, f"cut at byte {cut} of {total} went unnoticed"
        resume_after = max(w.log.acked_seq, outbox.committed_seq(w.id_hex))
        fetches_before = len(fetch_starts(air))
        sync_until_drained(gw, ws, max_passes=2)
        resumed = fetch_starts(air)[fetches_before:]
        if resume_after < w.log.last_seq:
            assert resumed[0] == resume_after + 1, f"cut at byte {cut}"
        assert_exactly_ground_truth(outbox, ws)
        outbox.close()


def test_stale_gatt_cache_after_a_firmware_update_is_dropped_and_the_sync_goes_on(tmp_path):
    ws, world = wearables([5, 3])
    plan = FaultPlan(seed=8, stale_gatt={ws[0].address})  # cached before the RTM service
    air = air_with(ws, plan)
    gw, outbox = gateway_on(tmp_path, air, ws, world)
    reports = sync_until_drained(gw, ws)
    assert plan.counts["stale_gatt"] == 1 and gw.link.services_forgotten == 1
    assert len(reports) == 1 and not failures(reports), "recovered within the same sync"
    assert_exactly_ground_truth(outbox, ws)


def test_a_stale_gatt_cache_that_cannot_be_dropped_fails_and_keeps_the_records(tmp_path):
    ws, world = wearables([4], devices=DEVICES[:1])
    plan = FaultPlan(seed=9, stale_gatt={ws[0].address})
    air = air_with(ws, plan)
    gw, outbox = gateway_on(tmp_path, air, ws, world)
    gw.link.adapter_control = None  # no BlueZ to ask
    report = asyncio.run(gw.sync_pass())
    assert "BleakCharacteristicNotFoundError" in report.failed[ws[0].id_hex]
    assert ws[0].log.acked_seq == 0 and outbox.depth() == 0
