"""A clinic for the worklist and the patient report, with known reasons. Today is Friday
2026-03-20 in New York: the trend windows are Mar 13..19 (recent) and Mar 6..12.

P-1: squat 3 x 10 five days a week (ROM 60-90) and heel raise 2 x 15 three days a week,
  since Feb 1. Every prescribed day done (squat on weekdays, heel raise Mon/Wed/Fri) up to
  Mar 12, squat sets of 10 full + 1 partial reps at 60 degrees. Then only Mon 16 and Tue 17:
  squat sets of 7 full + 3 partial at 48 degrees, heel raise on Mon 16, and 12 lunges on
  Tue 17 (not prescribed). Adherence 100% -> 31%, ROM of squat 60 -> 48 degrees, partial
  reps 9% -> 30%; last data Tue 17 (3 days: not yet "no data").
P-2: squat 2 x 10 every day since Mar 1, done every day to today at 70 degrees: fine.
P-3: like P-2 but nothing after Sat Mar 14; its wearable last synced Mon Mar 16 and
  reports battery 12%, storage 85% full and 5 failed syncs.
P-4: two wearables, monitoring since Wed Mar 18, no prescription; 12 generic reps on
  Mar 19 on DEV_4, whose battery is at 15%; DEV_5 has sent nothing (taken as replaced).
P-5: monitoring starts on Apr 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.prescriptions import Item, Prescriptions
from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.daily import DailyTotal, days_between
from cloud_bridge.device_state import DeviceState
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.sqlite_store import SQLiteStore

TZ = ZoneInfo("America/New_York")
TODAY = date(2026, 3, 20)
DEV_1, DEV_2, DEV_3, DEV_4, DEV_5, DEV_6 = (f"d0000000000{i}" for i in range(1, 7))
SQUAT_P1 = Item("squat", 3, 10, 5, 60, 90)
HEEL_P1 = Item("heel_raise", 2, 15, 3)
SQUAT_DAILY = Item("squat", 2, 10, 7)


def at(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).timestamp()
               * 1000)


class Recorder:
    """Records as a wearable makes them: each set's reps, then its summary."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.seq = 0
        self.records: list[StoredRecord] = []

    def sets(self, exercise: str, day: date, sets: Sequence[tuple[int, int, int]],
             hour: int = 9) -> None:
        """`sets`: (full reps, partial reps, ROM in centidegrees) each."""
        t = at(day, hour)
        for set_no, (full, partial, rom) in enumerate(sets, start=1):
            for i in range(full + partial):
                t += 3000
                self._add("rep", exercise, set_no, t, i >= full,
                          {"rep": i + 1, "duration_ms": 2500, "rom_cdeg": rom,
                           "peak_dps": 90})
            t += 1000
            self._add("set", exercise, set_no, t, False,
                      {"reps": full, "partial_reps": partial, "mean_rom_cdeg": rom,
                       "duration_s": 30, "tempo_cv_pct": 5, "rests": 0})
            t += 60_000

    def _add(self, kind: str, exercise: str, set_no: int, t_ms: int, partial: bool,
             values: dict[str, int]) -> None:
        self.seq += 1
        self.records.append(StoredRecord(self.device, self.seq, kind, exercise, set_no, t_ms,
                                         True, partial, values))


class StatesStore(SQLiteStore):
    """SQLite with the device states given (the store keeps none until the device-state
    work lands), counting the reads the clinic's tools make."""

    def __init__(self, path: str | Path, *, zone: ZoneInfo,
                 states: dict[str, DeviceState] | None = None) -> None:
        super().__init__(path, zone=zone)
        self.states = dict(states or {})
        self.calls: Counter[str] = Counter()

    def device_states(self, device_ids: Sequence[str] | None, *,
                      recent_ms: int | None = None) -> dict[str, DeviceState]:
        self.calls["device_states"] += 1
        return {d: s for d, s in self.states.items() if device_ids is None or d in device_ids}

    def daily_totals(self, device_ids: Sequence[str] | None, first_day: date,
                     last_day: date) -> list[DailyTotal]:
        self.calls["daily_totals"] += 1
        return super().daily_totals(device_ids, first_day, last_day)

    def days_with_data(self, device_ids: Sequence[str] | None, first_day: date,
                       last_day: date) -> dict[str, set[date]]:
        self.calls["days_with_data"] += 1
        return super().days_with_data(device_ids, first_day, last_day)

    def last_days(self, device_ids: Sequence[str] | None, until: date) -> dict[str, date]:
        self.calls["last_days"] += 1
        return super().last_days(device_ids, until)

    def query(self, device_ids: Sequence[str] | None, start_ms: int,
              end_ms: int) -> list[StoredRecord]:
        self.calls["query"] += 1
        return super().query(device_ids, start_ms, end_ms)

    def undated(self, device_ids: Sequence[str] | None, start_ms: int,
                end_ms: int) -> list[StoredRecord]:
        self.calls["undated"] += 1
        return super().undated(device_ids, start_ms, end_ms)


def state(device: str, last_sync: int | None, **kw: object) -> DeviceState:
    values: dict[str, object] = {
        "device_id": device, "gateway_id": "home-" + device[-1], "reported_ms": last_sync or 0,
        "last_sync_ms": last_sync, "last_attempt_ms": last_sync, "battery_pct": 80,
        "log_used_pct": 5, "refused": 0, "consecutive_failures": 0, "firmware": "1.2.0"}
    values.update(kw)
    return DeviceState(**values)  # type: ignore[arg-type]


STATES = {
    DEV_1: state(DEV_1, at(TODAY, 3, 10)),
    DEV_2: state(DEV_2, at(TODAY, 3, 20)),
    DEV_3: state(DEV_3, at(date(2026, 3, 16), 3, 5), last_attempt_ms=at(TODAY, 4),
                 battery_pct=12, log_used_pct=85, consecutive_failures=5),
    DEV_4: state(DEV_4, at(TODAY, 2, 0), battery_pct=15),
    DEV_5: state(DEV_5, None, battery_pct=None, log_used_pct=None, consecutive_failures=9),
}


def make_clinic(root: Path) -> dict[str, Path]:
    """The store (rtm.db), the registry (registry.csv) and clinic.db under `root`."""
    p1, p2, p3, p4 = Recorder(DEV_1), Recorder(DEV_2), Recorder(DEV_3), Recorder(DEV_4)
    for day in days_between(date(2026, 2, 2), date(2026, 3, 12)):
        if day.weekday() < 5:
            p1.sets("squat", day, [(10, 1, 6000)] * 3)
        if day.weekday() in (0, 2, 4):
            p1.sets("heel_raise", day, [(15, 0, 500)] * 2, hour=10)
    for day in (date(2026, 3, 16), date(2026, 3, 17)):
        p1.sets("squat", day, [(7, 3, 4800)] * 3)
    p1.sets("heel_raise", date(2026, 3, 16), [(15, 0, 500)] * 2, hour=10)
    p1.sets("lunge", date(2026, 3, 17), [(12, 0, 7000)], hour=11)
    for day in days_between(date(2026, 3, 1), TODAY):
        p2.sets("squat", day, [(10, 0, 7000)] * 2)
    for day in days_between(date(2026, 3, 1), date(2026, 3, 14)):
        p3.sets("squat", day, [(10, 0, 7000)] * 2)
    p4.sets("generic", date(2026, 3, 19), [(12, 0, 3000)])
    store = SQLiteStore(root / "rtm.db", zone=TZ)
    store.write(p1.records + p2.records + p3.records + p4.records)
    store.close()
    Registry([Enrollment("P-1", DEV_1, date(2026, 2, 1)),
              Enrollment("P-2", DEV_2, date(2026, 3, 1)),
              Enrollment("P-3", DEV_3, date(2026, 3, 1)),
              Enrollment("P-4", DEV_4, date(2026, 3, 18)),
              Enrollment("P-4", DEV_5, date(2026, 3, 18)),
              Enrollment("P-5", DEV_6, date(2026, 4, 1))]).save(root / "registry.csv")
    conn = open_clinic_db(root / "clinic.db")
    try:
        book = Prescriptions(conn)
        book.add("P-1", date(2026, 2, 1), [SQUAT_P1, HEEL_P1], 1)
        book.add("P-2", date(2026, 3, 1), [SQUAT_DAILY], 2)
        book.add("P-3", date(2026, 3, 1), [SQUAT_DAILY], 3)
    finally:
        conn.close()
    return {"store": root / "rtm.db", "registry": root / "registry.csv",
            "clinic_db": root / "clinic.db"}


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)
