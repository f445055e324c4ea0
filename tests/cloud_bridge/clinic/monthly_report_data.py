"""One clinic for the monthly report's tests: P-1's March 2026 in New York, with its edges.

P-1 is monitored from Feb 10 (wearable A); wearable B is added on Mar 5. Periods: 1 is
Feb 10..Mar 11, 2 is Mar 12..Apr 10. Days with data: Feb 20..Mar 6 on A (Mar 5 on B too),
Mar 10 and Mar 12..20 on B, Mar 31 at 23:30 on B (April in UTC), Apr 2 on B. So March has
17 days with data; period 1 has 16 (7 in March), period 2 has 11 (10 in March).

Time in March: 12 min at 00:10 on Mar 1, 8 on Mar 15 (logged as a date, note with a
<script>), 25 at 23:50 on Mar 31 (a note that looks like a formula): 45 minutes. Outside
it: 30 min at 23:45 on Feb 28 (March in UTC), 20 at 00:05 on Apr 1. Communications: a call
at 00:20 on Mar 1, a video at 23:40 on Mar 31; a call at 23:55 on Feb 28 is February.
Program: version 1 from Feb 10, version 2 from Mar 16.

P-2: wearable C from Mar 20, data on Mar 25 only, nothing logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cloud_bridge.clinic import fees as fees_mod
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic import time_log
from cloud_bridge.clinic.billing import Month
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.monthly_report import MonthlyReport, build
from cloud_bridge.clinic.prescriptions import Item, Prescriptions
from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.device_state import DeviceState
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.sqlite_store import SQLiteStore

TZ = ZoneInfo("America/New_York")
DEV_A, DEV_B, DEV_C = "aaaaaaaaaaa1", "aaaaaaaaaaa2", "ccccccccccc1"
START = date(2026, 2, 10)
NOW = datetime(2026, 4, 15, 17, 0, tzinfo=UTC)
TODAY = date(2026, 4, 15)
MARCH = Month(2026, 3)
SCRIPT_NOTE = "<script>alert('x')</script> reviewed & adjusted"
FORMULA_NOTE = "=1+1 trend reviewed"
FEES = ("code,description,amount,currency\n98975,setup,11.00,USD\n98977,16+,22.00,USD\n"
        "98985,2-15,33.00,USD\n98979,10,44.00,USD\n98980,20,55.00,USD\n98981,+20,66.00,USD\n")
V1 = (Item("squat", 3, 10, 5, 60, 90), Item("heel_raise", 2, 15, 3))
V2 = (Item("squat", 3, 12, 5, 70, 100), Item("glute_bridge", 2, 10, 4))


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _rec(device: str, seq: int, when: datetime) -> StoredRecord:
    return StoredRecord(device, seq, "rep", "squat", 1, _ms(when), True, False,
                        {"rep": seq, "duration_ms": 900, "rom_cdeg": 4000, "peak_dps": 80})


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def make_clinic(tmp: Path) -> None:
    """rtm.db, reg.csv, clinic.db and fees.csv in `tmp`."""
    a = [at(d, 9) for d in _days(date(2026, 2, 20), date(2026, 3, 6))]
    b = [at(date(2026, 3, 5), 18), at(date(2026, 3, 10), 9)]
    b += [at(d, 9) for d in _days(date(2026, 3, 12), date(2026, 3, 20))]
    b += [at(date(2026, 3, 31), 23, 30), at(date(2026, 4, 2), 9)]
    store = SQLiteStore(tmp / "rtm.db", zone=TZ)
    store.write([_rec(DEV_A, i, t) for i, t in enumerate(a)]
                + [_rec(DEV_B, i, t) for i, t in enumerate(b)]
                + [_rec(DEV_C, 0, at(date(2026, 3, 25), 10))])
    store.close()
    Registry([Enrollment("P-1", DEV_A, START), Enrollment("P-1", DEV_B, date(2026, 3, 5)),
              Enrollment("P-2", DEV_C, date(2026, 3, 20))]).save(tmp / "reg.csv")
    (tmp / "fees.csv").write_text(FEES)
    conn = open_clinic_db(tmp / "clinic.db")
    time_log.ensure_schema(conn)
    for minutes, when, by, note in [
            (30, at(date(2026, 2, 28), 23, 45), "JD", "February"),
            (12, at(date(2026, 3, 1), 0, 10), "JD", "first day, after midnight"),
            (8, date(2026, 3, 15), "AB", SCRIPT_NOTE),
            (25, at(date(2026, 3, 31), 23, 50), "JD", FORMULA_NOTE),
            (20, at(date(2026, 4, 1), 0, 5), "JD", "April")]:
        time_log.log_minutes(conn, "P-1", minutes, when, TZ, clinician=by, note=note, now=NOW)
    for kind, when, by, note in [("call", at(date(2026, 2, 28), 23, 55), "JD", "February"),
                                 ("call", at(date(2026, 3, 1), 0, 20), "JD", "check-in"),
                                 ("video", at(date(2026, 3, 31), 23, 40), "AB", "ROM review")]:
        time_log.log_communication(conn, "P-1", kind, when, clinician=by, note=note, now=NOW)
    book = Prescriptions(conn)
    book.add("P-1", START, V1, 1)
    book.add("P-1", date(2026, 3, 16), V2, 2)
    conn.close()


class StoreWithStates(SQLiteStore):
    """Device states as the bridge will keep them: firmware known for wearable B only."""

    def device_states(self, device_ids: Sequence[str] | None) -> dict[str, DeviceState]:
        state = DeviceState(DEV_B, "gw-1", 0, None, None, 80, 10, 0, 0, "1.4.2")
        return {DEV_B: state} if device_ids is None or DEV_B in device_ids else {}


def reports(tmp: Path, patients: list[str], month: Month = MARCH,
            today: date = TODAY) -> list[MonthlyReport]:
    """monthly_report.build over make_clinic's files in `tmp`."""
    store = StoreWithStates(tmp / "rtm.db", zone=TZ)
    conn = time_log.open_time_log(tmp / "clinic.db")
    try:
        return build(store, registry_mod.load(tmp / "reg.csv"), conn, patients, month, today,
                     TZ, fees_mod.load(tmp / "fees.csv"))
    finally:
        store.close()
        conn.close()
