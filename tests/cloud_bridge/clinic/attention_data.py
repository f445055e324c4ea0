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

from datetime import date, timedelta
from pathlib import Path

from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.prescriptions import Item, Prescriptions
from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.daily import days_between
from tests.cloud_bridge.clinic.clinic_builder import Recorder, at, state, write_store

TODAY = date(2026, 3, 20)
DEV_1, DEV_2, DEV_3, DEV_4, DEV_5, DEV_6 = (f"d0000000000{i}" for i in range(1, 7))
SQUAT_P1 = Item("squat", 3, 10, 5, 60, 90)
HEEL_P1 = Item("heel_raise", 2, 15, 3)
SQUAT_DAILY = Item("squat", 2, 10, 7)

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
    p1, p2, p3, p4 = (Recorder(d, set_duration_s=30) for d in (DEV_1, DEV_2, DEV_3, DEV_4))
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
    write_store(root / "rtm.db", p1, p2, p3, p4)
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
