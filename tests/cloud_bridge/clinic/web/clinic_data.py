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

from cloud_bridge.clinic import time_log
from cloud_bridge.clinic.prescriptions import Item, Prescriptions
from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.clinic.web import users
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
