"""A clinic with known numbers for the dashboard's tests: a SQLite store, a registry, a fee
table and clinic.db with logged time and one user; "now" is NOW (noon in New York).

P-1, monitoring since Jan 10 (periods Jan 10..Feb 8, Feb 9..Mar 10): one squat set on
each of Jan 10..25 (16 days: 98977 for the first period, final in February), then in the
last 14 days (Feb 7..20) the sets of SQUAT below and of HEEL_RAISE, one of them at 23:30
New York time on Feb 11, already Feb 12 in UTC. Logged: January 30 minutes and a video
call (98980, final), February 25 minutes and a call (98980, in progress). Prescribed: v1
from Jan 10 squat 2 x 10 five days a week (target 20 a day), v2 from Feb 16 squat 2 x 12
(24) and heel raise 1 x 10 (10), three days a week. Its wearable synced this morning with
its battery at 15% (STATES): its one reason for attention.
P-2, since Feb 1: one squat set on Feb 3, no prescription; its wearable last synced on
Feb 3. P-3, since Feb 15: no data, no prescription, no wearable state.
The worklist's order: P-2 (no data for 17 days, not synced for 17 days), P-3 (no data for
6 days), P-1 (battery).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic import time_log
from cloud_bridge.clinic.prescriptions import Item, Prescriptions
from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.clinic.web import users
from cloud_bridge.stores.sqlite_store import SQLiteStore
from tests.cloud_bridge.clinic.clinic_builder import TZ, Recorder, Sets, at, state, write_store

NOW = datetime(2026, 2, 20, 17, 0, tzinfo=UTC)  # 12:00 in New York
TODAY = date(2026, 2, 20)
DEV_1, DEV_2, DEV_3 = "a00000000001", "b00000000002", "c00000000003"
USER, PASSWORD = "jd", "correct horse battery"
FEES = ("code,description,amount,currency\n98975,setup,11.00,USD\n98977,16+,22.00,USD\n"
        "98985,2-15,33.00,USD\n98979,10,44.00,USD\n98980,20,55.00,USD\n98981,+20,66.00,USD\n")

# day -> that day's sets (clinic_builder.Sets)
SQUAT: dict[date, Sets] = {
    date(2026, 2, 9): [(10, 0, 4000), (10, 1, 4400)],  # 20 reps, ROM 42.0
    date(2026, 2, 10): [(12, 0, 4500)],
    date(2026, 2, 12): [(8, 2, 4600), (12, 0, 5100)],  # 20 reps, ROM (8*46+12*51)/20 = 49.0
    date(2026, 2, 13): [(15, 0, 5000)],
    date(2026, 2, 16): [(10, 0, 5200), (10, 0, 5300)],  # ROM 52.5
    date(2026, 2, 17): [(9, 1, 5400)],
    date(2026, 2, 19): [(14, 0, 5500)],
    date(2026, 2, 20): [(16, 0, 5600)],
}
HEEL_RAISE: dict[date, Sets] = {
    date(2026, 2, 11): [(5, 0, 3200)],  # at 23:30 New York time
    date(2026, 2, 16): [(8, 0, 3000)],
    date(2026, 2, 19): [(6, 2, 3100)],
}


SQUAT_V1 = Item("squat", 2, 10, 5, 40, 60)
SQUAT_V2 = Item("squat", 2, 12, 5, 45, 65)
HEEL_V2 = Item("heel_raise", 1, 10, 3)


@dataclass(frozen=True)
class Clinic:
    root: Path
    store: Path
    registry: Path
    clinic_db: Path
    fees: Path

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.store}"


def make_clinic(root: Path, extra_patients: list[Enrollment] | None = None) -> Clinic:
    c = Clinic(root, root / "rtm.db", root / "registry.csv", root / "clinic.db",
               root / "fees.csv")
    p1, p2 = Recorder(DEV_1), Recorder(DEV_2)
    start = date(2026, 1, 10)
    for n in range(16):
        p1.sets("squat", start + timedelta(days=n), [(10, 0, 4000)])
    for day, sets in SQUAT.items():
        p1.sets("squat", day, sets)
    for day, sets in HEEL_RAISE.items():
        late = day == date(2026, 2, 11)
        p1.sets("heel_raise", day, sets, hour=23 if late else 10, minute=30 if late else 0)
    p2.sets("squat", date(2026, 2, 3), [(10, 0, 4000)])
    write_store(c.store, p1, p2)
    Registry([Enrollment("P-1", DEV_1, start), Enrollment("P-2", DEV_2, date(2026, 2, 1)),
              Enrollment("P-3", DEV_3, date(2026, 2, 15)), *(extra_patients or [])]
             ).save(c.registry)
    c.fees.write_text(FEES)
    conn = time_log.open_time_log(c.clinic_db)
    try:
        users.ensure_schema(conn)
        users.add_user(conn, USER, PASSWORD, int(NOW.timestamp() * 1000) - 86_400_000)
        jan = datetime(2026, 1, 20, 10, 0, tzinfo=TZ)
        time_log.log_minutes(conn, "P-1", 30, jan, TZ, clinician="JD", now=NOW)
        time_log.log_communication(conn, "P-1", "video", jan, now=NOW)
        feb = datetime(2026, 2, 18, 10, 0, tzinfo=TZ)
        time_log.log_minutes(conn, "P-1", 25, feb, TZ, clinician="JD", now=NOW)
        time_log.log_communication(conn, "P-1", "call", feb, now=NOW)
        book = Prescriptions(conn)
        book.add("P-1", start, [SQUAT_V1], int(NOW.timestamp() * 1000))
        book.add("P-1", date(2026, 2, 16), [SQUAT_V2, HEEL_V2], int(NOW.timestamp() * 1000))
    finally:
        conn.close()
    return c


# The latest state of each wearable, for a store that keeps them (clinic_builder's
# StatesStore): the records store of make_clinic keeps none.
STATES = {
    DEV_1: state(DEV_1, at(TODAY, 3, 10), battery_pct=15, log_used_pct=12),
    DEV_2: state(DEV_2, at(date(2026, 2, 3), 22), battery_pct=70, log_used_pct=12,
                 consecutive_failures=4),
}


DEV_4 = "d00000000004"
LUNGE = Item("lunge", 2, 8, 3, 30, 50)
BRIDGE = Item("glute_bridge", 1, 10, 7)
SQUAT_P4 = Item("squat", 3, 10, 5, 60, 90)


def add_p4(c: Clinic) -> None:
    """P-4, monitoring since Feb 1, added to make_clinic's clinic (not there by default: the
    worklist's tests count on three patients). v1 from Feb 1: lunge 2 x 8 three days a week
    (ROM 30-50), glute_bridge 1 x 10 daily; v2 from today: squat 3 x 10 first, then
    glute_bridge and lunge as before. Done in the last 14 days: lunge 16 on Feb 10 and 12,
    glute_bridge 10 on Feb 9..13; step_up (Feb 10) and generic (Feb 12), never
    prescribed. As rtm-clinic patient has it: glute_bridge 5 of 13 exercise days, 38% of
    prescribed reps; lunge 2 of 5.6, 36%; squat prescribed from today only."""
    registry = registry_mod.load(c.registry)
    Registry([*registry.enrollments, Enrollment("P-4", DEV_4, date(2026, 2, 1))]
             ).save(c.registry)
    rec = Recorder(DEV_4)
    for n in (10, 12):
        rec.sets("lunge", date(2026, 2, n), [(8, 0, 4000), (8, 0, 4200)])
    for n in range(9, 14):
        rec.sets("glute_bridge", date(2026, 2, n), [(10, 0, 2500)], hour=11)
    rec.sets("step_up", date(2026, 2, 10), [(12, 0, 2000)], hour=12)
    rec.sets("generic", date(2026, 2, 12), [(5, 0, 1000)], hour=12)
    store = SQLiteStore(c.store, zone=TZ)
    try:
        store.write(rec.records)
    finally:
        store.close()
    conn = time_log.open_time_log(c.clinic_db)
    try:
        book = Prescriptions(conn)
        book.add("P-4", date(2026, 2, 1), [LUNGE, BRIDGE], int(NOW.timestamp() * 1000))
        book.add("P-4", TODAY, [SQUAT_P4, BRIDGE, LUNGE], int(NOW.timestamp() * 1000))
    finally:
        conn.close()
