"""Records made before the wearable knew the time: those of the boot the gateway syncs in
are dated exactly from the (boot, uptime, Unix time) triple; those of an earlier boot cannot
be, and are flagged (time_valid false), never put on a wrong date. Through the simulator:
virtual wearable -> gateway sync -> outbox payload -> the bridge's validation."""

import asyncio

from cloud_bridge.payload import parse_message
from gateway.config import parse
from gateway.gateway import Gateway
from gateway.outbox import Outbox
from simulators.ble_backend.air import SimAir
from simulators.wearable import SimClock, VirtualWearable
from tests.sim_helpers import T0_MS, tilt_set

DEV = "a1b2c3d4e5f6"
HOUR_MS = 3_600_000


def perform(w: VirtualWearable, reps: int) -> None:
    t, acc, gyro = tilt_set(reps)
    assert w.perform_set("squat", t, acc, gyro, reps) == reps
    w.world.advance_to(w.world.now_ms + 60_000)


def gateway_for(tmp_path, w: VirtualWearable, clock_ms) -> tuple[Gateway, Outbox]:
    """A gateway with `w` in range, its outbox, and its clock."""
    air = SimAir()
    air.add(w)
    cfg = parse({"gateway_id": "home-1", "outbox": "o.db", "enrolled": [DEV],
                 "sync": {"scan_timeout_s": 0.5, "response_timeout_s": 1.0}}, tmp_path)
    outbox = Outbox(cfg.outbox)
    scanner, client = air.backends()
    return Gateway(cfg, outbox, scanner, client, clock_ms=clock_ms), outbox


def bridge_view(outbox: Outbox) -> dict[int, object]:
    """The bridge's view of every record in the outbox, by seq."""
    stored = {}
    for m in outbox.pending(limit=1000):
        parsed = parse_message(m.topic, m.payload)
        assert not parsed.rejected
        stored.update({r.seq: r for r in parsed.records})
    return stored


def sync_and_store(tmp_path, w: VirtualWearable) -> dict[int, object]:
    """One gateway pass; the bridge's view of every record, by seq."""
    gateway, outbox = gateway_for(tmp_path, w, lambda: w.world.now_ms)
    report = asyncio.run(gateway.sync_pass())
    assert not report.failed and report.synced
    stored = bridge_view(outbox)
    outbox.close()
    return stored


def truth(w: VirtualWearable) -> dict[int, dict]:
    return {r["seq"]: r for r in w.born_records()}


def test_records_of_the_current_boot_without_time_are_dated_exactly(tmp_path) -> None:
    world = SimClock(T0_MS)
    w = VirtualWearable(bytes.fromhex(DEV), world)
    world.advance_to(T0_MS + 5 * HOUR_MS)  # powered up hours ago, never synced
    perform(w, 4)
    perform(w, 3)
    assert not w.clock.time_valid
    assert all(not r["time_valid"] for r in truth(w).values())
    world.advance_to(world.now_ms + 2 * HOUR_MS)  # the gateway comes by later
    stored = sync_and_store(tmp_path, w)
    assert sorted(stored) == sorted(truth(w)) and len(stored) == 9
    for seq, rec in truth(w).items():
        assert stored[seq].time_valid, seq
        assert stored[seq].t_ms == rec["true_t_ms"], seq


def test_records_of_an_earlier_boot_are_flagged_not_misdated(tmp_path) -> None:
    world = SimClock(T0_MS)
    w = VirtualWearable(bytes.fromhex(DEV), world)
    world.advance_to(T0_MS + HOUR_MS)
    perform(w, 4)  # boot 1, no time
    first_boot = set(truth(w))
    world.advance_to(world.now_ms + 3 * HOUR_MS)
    w.reboot()  # power lost: boot 2, still no time
    world.advance_to(world.now_ms + 10 * 60_000)
    perform(w, 3)
    w.reboot()  # and again: boot 3
    world.advance_to(world.now_ms + HOUR_MS)
    perform(w, 2)
    sync_at = world.now_ms + 30 * 60_000
    world.advance_to(sync_at)
    stored = sync_and_store(tmp_path, w)
    boots = {seq: rec["boot"] for seq, rec in truth(w).items()}
    current = max(boots.values())
    assert len(set(boots.values())) == 3
    for seq, rec in truth(w).items():
        if rec["boot"] == current:
            assert stored[seq].time_valid and stored[seq].t_ms == rec["true_t_ms"]
        else:
            # Dated from this boot's uptime they would land on a wrong (even future) time:
            # they are kept, flagged, at the sync's time.
            assert not stored[seq].time_valid, seq
            assert stored[seq].t_ms == sync_at
            assert stored[seq].t_ms != rec["true_t_ms"]
    assert first_boot <= {s for s, r in stored.items() if not r.time_valid}


def test_records_after_the_first_sync_carry_unix_time(tmp_path) -> None:
    world = SimClock(T0_MS)
    w = VirtualWearable(bytes.fromhex(DEV), world)
    perform(w, 2)
    (tmp_path / "a").mkdir()
    sync_and_store(tmp_path / "a", w)
    assert w.clock.time_valid
    perform(w, 3)
    new = {s: r for s, r in truth(w).items() if s > 3}
    assert all(r["time_valid"] for r in new.values())
    w.wake_from_deep_sleep()  # a new boot; the RTC kept the time
    perform(w, 2)
    (tmp_path / "b").mkdir()
    stored = sync_and_store(tmp_path / "b", w)
    for seq, rec in truth(w).items():
        if seq in stored:
            assert stored[seq].time_valid and stored[seq].t_ms == rec["true_t_ms"]


def test_a_gateway_clock_out_of_range_syncs_nothing_until_it_is_right(tmp_path) -> None:
    """A clock the bridge would refuse (after 2100: a message dated so is rejected whole,
    its records lost to the store after the wearable let go of them) or the wearable would
    (before Sept 2020) fails the sync before anything is fetched or acknowledged: the
    records wait on the wearable for a gateway with a plausible clock."""
    world = SimClock(T0_MS)
    w = VirtualWearable(bytes.fromhex(DEV), world)
    perform(w, 3)
    wrong: dict[str, int | None] = {"ms": None}  # None: the world's time
    gateway, outbox = gateway_for(
        tmp_path, w, lambda: w.world.now_ms if wrong["ms"] is None else wrong["ms"])
    for wrong_ms in (4_200_000_000_000, 86_400_000):  # 2103, and a Pi's 1970 after boot
        wrong["ms"] = wrong_ms
        report = asyncio.run(gateway.sync_pass())
        assert report.failed and not report.synced
        assert outbox.pending() == [] and w.log.acked_seq == 0
    wrong["ms"] = None
    report = asyncio.run(gateway.sync_pass())
    assert report.synced and not report.failed
    stored = bridge_view(outbox)
    assert sorted(stored) == sorted(truth(w))
    assert all(stored[s].t_ms == r["true_t_ms"] for s, r in truth(w).items())
    outbox.close()
