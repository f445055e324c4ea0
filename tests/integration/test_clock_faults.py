"""Clock faults end to end (issue 7, "Proof of no data loss", part 3).

Virtual wearables (the real firmware core) -> the real gateway sync over the simulated BLE
backend -> its SQLite outbox -> the bridge's validation (`Bridge.handle_batch`, with its
clock injected) -> the SQLite store -> the clinic's day counts and billing rules. Ground
truth is the simulator's: every record born, with the world's time when it was made.

What the system promises (docs/architecture.md "Time", docs/protocol.md "Time"), and what
each test holds it to, record by record and exactly:

* no record is lost or stored twice, whatever the clocks do;
* a record is stored either dated right or flagged (time_valid false, on no day); the only
  wrong dates allowed are the documented limits, each bounded here exactly: a gateway
  clock wrong when it set the wearable (by its error, when the bridge cannot see it) and
  the wearable's RTC drift since the last SET_TIME (by drift x elapsed);
* the days with data, daily totals and 30-day billing codes read from the store equal
  those counted from the truth of what the store holds dated, in the clinic's zone, across
  midnight and DST changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from cloud_bridge.clinic import billing
from cloud_bridge.daily import count_daily, local_day
from cloud_bridge.payload import CLOCK_SKEW_MS
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.base import open_store
from cloud_bridge.subscriber import Bridge
from gateway.config import parse
from gateway.devices import DeviceRegistry
from gateway.gateway import Gateway
from gateway.outbox import Outbox
from simulators.ble_backend.air import SimAir
from simulators.wearable import SimClock, VirtualWearable
from tests.sim_helpers import tilt_set

pytestmark = pytest.mark.chaos

MIN_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass
class Born:
    """A record as the wearable made it, and what the store may hold for it."""

    device_id: str
    seq: int
    true_ms: int
    kind: str
    exercise: str
    partial: bool
    values: dict[str, int]
    # The error of the wearable's clock when it stamped the record (0: right), or None
    # for a record made without time; set at birth from the simulator's truth.
    clock_error_ms: int | None
    boot: int
    synced_in_boot: int | None = None  # the wearable's boot at the sync that fetched it
    received_ms: int = 0  # when the bridge took it (world time)
    gateway_error_ms: int = 0  # the gateway clock's error at that sync

    def expected(self) -> tuple[bool, int | None]:
        """(time_valid, t_ms) the bridge must store, t_ms None when flagged: the rules of
        docs/protocol.md "Time", applied to the truth."""
        latest = self.received_ms + CLOCK_SKEW_MS
        if self.clock_error_ms is not None:  # stamped by the wearable's clock
            t = self.true_ms + self.clock_error_ms
            return (False, None) if t > latest else (True, t)
        if self.boot == self.synced_in_boot and self.received_ms + self.gateway_error_ms \
                <= latest:  # dated from the triple, with the gateway's clock
            return True, self.true_ms + self.gateway_error_ms
        return False, None


@dataclass
class Pipeline:
    """One home: wearables, the real gateway, the bridge and a store, on one world clock.
    `gateway_error_ms` is how wrong the gateway's system clock is (NTP off, then stepped)."""

    tmp: Path
    zone: ZoneInfo
    world: SimClock
    n_wearables: int = 1
    gateway_error_ms: int = 0
    wearables: list[VirtualWearable] = field(default_factory=list)
    born: dict[tuple[str, int], Born] = field(default_factory=dict)
    failed_syncs: int = 0

    def __post_init__(self) -> None:
        self.air = SimAir()
        for i in range(self.n_wearables):
            w = VirtualWearable(bytes([0xA0, 0, 0, 0, 0, i]), self.world, log_id=1000 + i)
            self.air.add(w)
            self.wearables.append(w)
        cfg = parse({"gateway_id": "home-1", "outbox": "o.db",
                     "enrolled": [w.id_hex for w in self.wearables],
                     "sync": {"scan_timeout_s": 0.5, "response_timeout_s": 1.0}}, self.tmp)
        self.outbox = Outbox(cfg.outbox)
        self.devices = DeviceRegistry(cfg.outbox)
        scanner, client = self.air.backends()
        self.gateway = Gateway(cfg, self.outbox, scanner, client, clock_ms=self.gateway_ms,
                               devices=self.devices)
        self.store = open_store(f"sqlite:///{self.tmp / 'rtm.db'}", self.zone)
        self.bridge = Bridge(self.store, "127.0.0.1", 1, clock_ms=lambda: self.world.now_ms)

    def gateway_ms(self) -> int:
        return self.world.now_ms + self.gateway_error_ms

    def close(self) -> None:
        self.devices.close()
        self.outbox.close()
        self.store.close()

    # -- the world ------------------------------------------------------------------
    def exercise(self, w: VirtualWearable, at_ms: int, sets: int = 1, reps: int = 3) -> None:
        """A session starting at `at_ms` (world time), in the wearable's current boot."""
        self.world.advance_to(max(at_ms, self.world.now_ms))
        for _ in range(sets):
            before = len(w.born)
            t, acc, gyro = tilt_set(reps)
            assert w.perform_set("squat", t, acc, gyro, reps) == reps
            for raw, true_ms in w.born[before:]:
                self._remember(w, raw, true_ms)
            self.world.advance_to(self.world.now_ms + MIN_MS)

    def _remember(self, w: VirtualWearable, raw: bytes, true_ms: int) -> None:
        from firmware.core import codec
        from firmware.core.exercises import name_of

        f = codec.decode(raw)
        names = ("rep", "duration_ms", "rom_cdeg", "peak_dps") if f["kind"] == "rep" else (
            "reps", "partial_reps", "mean_rom_cdeg", "duration_s", "tempo_cv_pct", "rests")
        self.born[(w.id_hex, f["seq"])] = Born(
            w.id_hex, f["seq"], true_ms, f["kind"], name_of(f["exercise"]), f["partial"],
            {n: f[n] for n in names}, f["t_ms"] - true_ms if f["time_valid"] else None,
            f["boot"])

    def sync(self) -> bool:
        """One gateway pass, then the outbox delivered to the bridge (in order, at the
        world's time: no broker delay). True if every wearable synced."""
        unsynced = {w.id_hex: (w.clock.boot, w.log.acked_seq) for w in self.wearables}
        report = asyncio.run(self.gateway.sync_pass())
        for w in self.wearables:
            boot, acked = unsynced[w.id_hex]
            for seq in range(acked + 1, w.log.acked_seq + 1):
                b = self.born[(w.id_hex, seq)]
                b.synced_in_boot, b.received_ms = boot, self.world.now_ms
                b.gateway_error_ms = self.gateway_error_ms
        messages = self.outbox.pending(limit=10_000)
        done = self.bridge.handle_batch([(m.topic, m.payload) for m in messages])
        assert all(done)
        self.outbox.delete(*(m.id for m in messages))
        self.failed_syncs += len(report.failed)
        return not report.failed and len(report.synced) == len(self.wearables)

    # -- checks -----------------------------------------------------------------------
    def stored(self) -> dict[tuple[str, int], StoredRecord]:
        rows = self.store.query([w.id_hex for w in self.wearables], 0, 2**62)
        keys = [r.key for r in rows]
        assert len(keys) == len(set(keys)), "a record stored twice"
        return {r.key: r for r in rows}

    def check_complete(self) -> dict[tuple[str, int], StoredRecord]:
        """Every record born is stored once, with its own values: nothing lost, nothing
        duplicated, nothing invented."""
        stored = self.stored()
        assert sorted(stored) == sorted(self.born), "records lost or invented"
        for key, b in self.born.items():
            r = stored[key]
            assert (r.kind, r.exercise, r.partial, r.values) == (
                b.kind, b.exercise, b.partial, b.values), key
        return stored

    def check_dates(self, stored: dict[tuple[str, int], StoredRecord]) -> dict[str, int]:
        """Every record dated exactly as the rules say (right, or wrong by exactly the
        error the bridge cannot see), or flagged where they say; counts by outcome."""
        counts = {"records": len(self.born), "exact": 0, "flagged": 0, "misdated": 0}
        for key, b in self.born.items():
            r = stored[key]
            valid, t_ms = b.expected()
            assert r.time_valid == valid, (key, b, r)
            if not valid:
                counts["flagged"] += 1
                continue
            assert r.t_ms == t_ms, (key, b, r)
            counts["exact" if t_ms == b.true_ms else "misdated"] += 1
        undated = self.store.undated([w.id_hex for w in self.wearables], 0, 2**62)
        assert len(undated) == counts["flagged"]
        print(counts)
        return counts

    def check_days(self, stored: dict[tuple[str, int], StoredRecord],
                   first: date, last: date) -> None:
        """The store's daily totals and days with data equal those counted from what it
        holds dated, and the days of the records dated right are their true days."""
        devices = [w.id_hex for w in self.wearables]
        dated = [r for r in stored.values() if r.time_valid]
        assert self.store.daily_totals(devices, first, last) == [
            t for t in count_daily(dated, self.zone) if first <= t.day <= last]
        by_store = set().union(*self.store.days_with_data(devices, first, last).values())
        assert by_store == {local_day(r.t_ms, self.zone) for r in dated
                            if first <= local_day(r.t_ms, self.zone) <= last}


def days(first: date, n: int) -> Iterator[date]:
    for i in range(n):
        yield first + timedelta(days=i)


def local(day: date, hour: int, minute: int, zone: ZoneInfo, second: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, second,
                        tzinfo=zone).timestamp() * 1000)


def true_days(p: Pipeline, only_dated_right: bool = False) -> set[date]:
    return {local_day(b.true_ms, p.zone) for b in p.born.values()
            if not only_dated_right or b.clock_error_ms is not None}


# -- 1. reboots without time ------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_power_losses_before_the_clock_is_set(tmp_path: Path, seed: int) -> None:
    """Power lost at random (the RTC stops), exercise before the next sync, in the boot the
    gateway then syncs in (the patient still wearing it awake: exact dates from the
    (boot, uptime, Unix time) triple) or in earlier boots (deep-sleep wakes in between:
    flagged). Zone with DST; three weeks over the spring change."""
    rng = np.random.default_rng(seed)
    zone = ZoneInfo("America/New_York")
    first = date(2026, 2, 27)
    world = SimClock(local(first, 0, 30, zone))
    p = Pipeline(tmp_path, zone, world, n_wearables=2)
    p.sync()
    expected_flagged: set[tuple[str, int]] = set()
    for day in days(first, 21):
        for w in p.wearables:
            for hour in (8, 13, 19, 23):
                at = local(day, hour, int(rng.integers(0, 50)), zone)
                p.world.advance_to(max(at, p.world.now_ms))
                if rng.random() < 0.2:
                    w.reboot()  # battery out: time lost
                elif rng.random() < 0.5:
                    w.wake_from_deep_sleep()  # the button wakes it: a new boot
                if rng.random() < 0.7:
                    p.exercise(w, at + int(rng.integers(0, 10)) * MIN_MS)
        # Some nights the wearable is synced as it is (awake on its charger), others after
        # its timer wake (a new boot with nothing in it yet).
        p.world.advance_to(local(day + timedelta(days=1), 1, 30, zone))
        for w in p.wearables:
            if rng.random() < 0.5:
                w.wake_from_deep_sleep()
        p.world.advance_to(p.world.now_ms + int(rng.integers(0, 60)) * MIN_MS)
        assert p.sync()
    for key, b in p.born.items():
        if b.clock_error_ms is None and b.boot != b.synced_in_boot:
            expected_flagged.add(key)
    stored = p.check_complete()
    counts = p.check_dates(stored)
    assert counts["misdated"] == 0  # the gateway's clock is right: right or flagged
    assert {k for k, r in stored.items() if not r.time_valid} == expected_flagged
    assert 0 < len(expected_flagged) < len(p.born)
    assert any(b.clock_error_ms is None and key not in expected_flagged
               for key, b in p.born.items()), "no record dated by the triple"
    last = first + timedelta(days=21)
    p.check_days(stored, first, last)
    # Days lost to billing are exactly the days whose every record is flagged.
    assert true_days(p) - {local_day(r.t_ms, zone) for r in stored.values() if r.time_valid} \
        == true_days(p) - {local_day(p.born[k].true_ms, zone) for k in p.born
                           if k not in expected_flagged}
    p.close()


# -- 2. the gateway's clock wrong, then stepped back right -------------------------------
# Nightly errors of the gateway's system clock (0: right). A Pi without RTC at 1970 before
# NTP, a day ahead, hours behind, two days ahead, then right again.
GATEWAY_ERRORS_MS = (0, DAY_MS, 0, -3 * HOUR_MS, 0, 2 * DAY_MS, -DAY_MS, 0, 3 * HOUR_MS, 0,
                     None, 0, 20 * MIN_MS, 0)


@pytest.mark.parametrize("reboot_before_wrong_sync", [False, True])
def test_gateway_clock_steps(tmp_path: Path, reboot_before_wrong_sync: bool) -> None:
    """The gateway sets the wearable's clock from its own at every sync. While its clock is
    wrong by E, the records it dates (from the triple) and those the wearable dates until
    the next sync are wrong by E unless the bridge sees it: a record dated after it reached
    the bridge is flagged, and a message clock ahead of the bridge dates nothing. Never
    lost, never stored twice; a wrong date is exactly E, and only where E could not be
    seen (behind, or ahead by less than the time until the next sync)."""
    zone = ZoneInfo("Europe/Berlin")
    first = date(2026, 3, 20)
    world = SimClock(local(first, 0, 10, zone))
    p = Pipeline(tmp_path, zone, world)
    w = p.wearables[0]
    assert p.sync()
    for i, error in enumerate(GATEWAY_ERRORS_MS):
        day = first + timedelta(days=i)
        w.wake_from_deep_sleep()
        p.exercise(w, local(day, 9, 0, zone), sets=2)
        w.wake_from_deep_sleep()
        p.exercise(w, local(day, 18, 30, zone))
        if reboot_before_wrong_sync:
            w.reboot()  # its records of this boot are then dated from the gateway's clock
            p.exercise(w, local(day, 23, 40, zone))
        p.world.advance_to(local(day + timedelta(days=1), 2, 0, zone))
        # 1970-01-02 for a Pi before NTP: the sync is refused, nothing fetched.
        p.gateway_error_ms = (86_400_000 - p.world.now_ms) if error is None else error
        assert p.sync() == (error is not None)
        p.gateway_error_ms = 0
    p.world.advance_to(p.world.now_ms + HOUR_MS)
    assert p.sync()  # a last sync with the clock right brings whatever waited
    assert p.failed_syncs == 1
    stored = p.check_complete()
    counts = p.check_dates(stored)
    # The day-ahead and two-days-ahead nights are seen and flagged. A clock behind (3 h, a
    # day) is not seen, nor one ahead by less than the time until the next sync (20 min; 3 h
    # for records made more than 3 h before it): those records are wrong by exactly the
    # error (the documented limit), never by anything else.
    assert counts["flagged"] > 0 and counts["misdated"] > 0
    errors = {r.t_ms - p.born[k].true_ms for k, r in stored.items() if r.time_valid}
    assert errors == {0, -3 * HOUR_MS, -DAY_MS, 3 * HOUR_MS, 20 * MIN_MS}, errors
    assert not {r.t_ms - p.born[k].true_ms for k, r in stored.items() if r.time_valid
                } & {DAY_MS, 2 * DAY_MS}, "an error the bridge can see went unflagged"
    p.check_days(stored, first, first + timedelta(days=len(GATEWAY_ERRORS_MS) + 1))
    p.close()


# -- 3. the wearable's RTC drifting ----------------------------------------------------
@pytest.mark.parametrize("drift_ppm", [50_000, -30_000, 20])
def test_rtc_drift(tmp_path: Path, drift_ppm: int) -> None:
    """The RTC's slow clock runs a few per cent fast or slow through deep sleep (a crystal:
    tens of ppm); every sync sets it again. A record is wrong by the drift since the last
    SET_TIME, never more; one dated after it reached the bridge (a fast clock, exercise
    just before the sync) is flagged. A record changes day only within that error of
    midnight."""
    zone = ZoneInfo("America/Chicago")
    first = date(2026, 10, 20)  # over the fall-back change
    world = SimClock(local(first, 1, 0, zone))
    p = Pipeline(tmp_path, zone, world)
    w = p.wearables[0]
    w.rtc_drift_ppm = drift_ppm
    assert p.sync()
    max_gap_ms = 0
    last_sync = world.now_ms
    for day in days(first, 20):
        for hour, minute in ((8, 0), (19, 0), (23, 45), (23, 59)):
            w.wake_from_deep_sleep()
            p.exercise(w, local(day, hour, minute, zone))
        p.world.advance_to(local(day + timedelta(days=1), 0, 20, zone))
        w.wake_from_deep_sleep()
        p.exercise(w, p.world.now_ms)  # just after midnight, then the nightly sync
        p.world.advance_to(local(day + timedelta(days=1), 0, 55, zone))
        w.wake_from_deep_sleep()
        max_gap_ms = max(max_gap_ms, p.world.now_ms - last_sync)
        last_sync = p.world.now_ms
        assert p.sync()
    stored = p.check_complete()
    counts = p.check_dates(stored)
    bound_ms = abs(drift_ppm) * max_gap_ms // 1_000_000 + 1
    moved = 0
    for key, r in stored.items():
        b = p.born[key]
        assert abs(b.clock_error_ms or 0) <= bound_ms, (key, b.clock_error_ms, bound_ms)
        if r.time_valid and local_day(r.t_ms, zone) != local_day(b.true_ms, zone):
            moved += 1
            true_day = local_day(b.true_ms, zone)
            edges = (local(true_day, 0, 0, zone), local(true_day + timedelta(days=1), 0, 0,
                                                         zone))
            assert min(abs(b.true_ms - e) for e in edges) <= abs(r.t_ms - b.true_ms)
    print({"drift_ppm": drift_ppm, "bound_ms": bound_ms, "moved_day": moved, **counts})
    if abs(drift_ppm) >= 10_000:
        assert counts["misdated"] > 0 and moved > 0
    else:
        assert moved == 0  # a crystal's error is milliseconds
    if drift_ppm >= 10_000:
        assert counts["flagged"] > 0  # the 00:20 records, fast by ~1 h, are after the sync
    p.check_days(stored, first, first + timedelta(days=21))
    p.close()


# -- 4. day boundaries and DST in the clinic's zone ------------------------------------
def _transitions(zone: ZoneInfo, year: int) -> list[date]:
    """The local days in `year` on which the zone's UTC offset changes."""
    out = []
    d = date(year, 1, 1)
    while d.year == year:
        a = datetime(d.year, d.month, d.day, tzinfo=zone).utcoffset()
        e = datetime.fromtimestamp(local(d, 0, 0, zone) // 1000 + 86_400 + 7_200, zone)
        if e.utcoffset() != a and (not out or d - out[-1] > timedelta(days=1)):
            out.append(d)
        d += timedelta(days=1)
    return out


ZONES = ("America/New_York", "Europe/London", "America/Santiago", "America/Havana",
         "Australia/Lord_Howe", "Asia/Kolkata")


@pytest.mark.parametrize("zone_name", ZONES)
def test_day_counts_across_midnight_and_dst(tmp_path: Path, zone_name: str) -> None:
    """Exercise at the edges of local days (a minute either side of midnight) and inside
    the DST changes (the skipped and repeated hours; Santiago and Havana change at
    midnight, Lord Howe by 30 minutes), with power losses so that some records are dated
    from the gateway's triple: the days with data, the daily totals and the 30-day billing
    code equal those counted from the truth, exactly."""
    zone = ZoneInfo(zone_name)
    rng = np.random.default_rng(len(zone_name))
    changes = _transitions(zone, 2026) or [date(2026, 3, 29)]
    for n, change in enumerate(changes):
        start = change - timedelta(days=14)
        sub = tmp_path / str(n)
        sub.mkdir()
        world = SimClock(local(start, 0, 0, zone) - 3 * HOUR_MS)
        p = Pipeline(sub, zone, world)
        w = p.wearables[0]
        assert p.sync()
        for day in days(start, 30):
            if rng.random() < 0.35:
                continue  # a day without exercise
            for at in sorted({local(day, 0, 0, zone, 30), local(day, 0, 59, zone),
                              local(day, 1, 30, zone), local(day, 2, 30, zone),
                              local(day, 23, 58, zone)}):
                if rng.random() < 0.5:
                    continue
                if at < p.world.now_ms:
                    continue
                if rng.random() < 0.15:
                    p.world.advance_to(at - MIN_MS)
                    w.reboot()  # dated from the triple at the next sync (same boot)
                else:
                    w.wake_from_deep_sleep()
                p.exercise(w, at, reps=2)
            p.world.advance_to(local(day + timedelta(days=1), 3, 30, zone))
            assert p.sync()
        stored = p.check_complete()
        counts = p.check_dates(stored)
        assert counts["misdated"] == 0  # right, or flagged (made in an earlier boot)
        last = start + timedelta(days=29)
        p.check_days(stored, start, last)
        # The truth of what can be dated: every record but those of an earlier boot.
        datable = [b for b in p.born.values() if b.expected()[0]]
        truth = [StoredRecord(b.device_id, b.seq, b.kind, b.exercise, 1, b.true_ms, True,
                              b.partial, b.values) for b in datable]
        truth_days = {local_day(b.true_ms, zone) for b in datable}
        device = w.id_hex
        assert [(t.day, t.reps, t.partial_reps, t.sets) for t in
                p.store.daily_totals([device], start, last)] == \
            [(t.day, t.reps, t.partial_reps, t.sets) for t in count_daily(truth, zone)
             if start <= t.day <= last]
        store_days = p.store.days_with_data([device], start, last).get(device, set())
        assert store_days == {d for d in truth_days if start <= d <= last}
        for today in (change, last + timedelta(days=1)):
            by_store = billing.supply_period(start, 0, store_days, today)
            by_truth = billing.supply_period(start, 0, truth_days, today)
            assert (by_store.days_with_data, by_store.code, by_store.status) == (
                by_truth.days_with_data, by_truth.code, by_truth.status)
        assert billing.setup(start, store_days, last) == billing.setup(start, truth_days, last)
        print({"zone": zone_name, "change": str(change), "days": len(store_days),
               "code": billing.supply_code(len(store_days)), **counts})
        p.close()
