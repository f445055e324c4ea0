"""Logged minutes and communications: validation, and their days and months in the clinic's
time zone."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cloud_bridge.clinic import time_log
from cloud_bridge.clinic.time_log import TimeLogError

pytestmark = pytest.mark.rtm

NY = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = time_log.open_time_log(tmp_path / "clinic.db")
    yield c
    c.close()


def test_an_entry_late_on_jan_31_in_new_york_is_january_there(conn: sqlite3.Connection) -> None:
    at = datetime(2026, 1, 31, 23, 30, tzinfo=NY)  # Feb 1, 04:30 UTC
    time_log.log_minutes(conn, "P-1", 15, at, NY, clinician="JD", now=NOW)
    time_log.log_communication(conn, "P-1", "call", at, now=NOW)
    entries, comms = time_log.month_log(conn, "P-1", 2026, 1, NY)
    assert [(e.day, e.minutes, e.clinician) for e in entries] == [(date(2026, 1, 31), 15, "JD")]
    assert [(c.day, c.kind) for c in comms] == [(date(2026, 1, 31), "call")]
    assert time_log.month_log(conn, "P-1", 2026, 2, NY) == ([], [])
    # The same instant read for a clinic in UTC is February.
    feb_entries, feb_comms = time_log.month_log(conn, "P-1", 2026, 2, UTC_ZONE)
    assert [e.day for e in feb_entries] == [date(2026, 2, 1)] and len(feb_comms) == 1


def test_first_and_last_instants_of_a_month(conn: sqlite3.Connection) -> None:
    for at in (datetime(2026, 2, 1, 0, 0, tzinfo=NY), datetime(2026, 2, 28, 23, 59, 59, tzinfo=NY)):
        time_log.log_communication(conn, "P-1", "video", at, now=NOW)
    time_log.log_communication(conn, "P-1", "video", datetime(2026, 3, 1, tzinfo=NY), now=NOW)
    time_log.log_communication(conn, "P-1", "video", datetime(2026, 1, 31, 23, 59, 59,
                                                              tzinfo=NY), now=NOW)
    _, comms = time_log.month_log(conn, "P-1", 2026, 2, NY)
    assert [c.day for c in comms] == [date(2026, 2, 1), date(2026, 2, 28)]


def test_an_entry_logged_as_a_date_keeps_its_date_in_every_zone(
        conn: sqlite3.Connection) -> None:
    time_log.log_minutes(conn, "P-1", 20, date(2026, 1, 31), NY, now=NOW)
    for zone in (NY, UTC_ZONE, ZoneInfo("Pacific/Kiritimati")):
        entries, _ = time_log.month_log(conn, "P-1", 2026, 1, zone)
        assert [(e.day, e.at_ms) for e in entries] == [(date(2026, 1, 31), None)]


def test_dst_days_are_one_day_each(conn: sqlite3.Connection) -> None:
    # 2026-03-08: New York skips 02:00-03:00; 2026-11-01: 01:00-02:00 happens twice.
    spring_late = datetime(2026, 3, 8, 23, 30, tzinfo=NY)
    fall_second_1_30 = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY)  # EST, 06:30 UTC
    fall_late = datetime(2026, 11, 1, 23, 59, tzinfo=NY)
    for at in (spring_late, fall_second_1_30, fall_late):
        time_log.log_minutes(conn, "P-1", 5, at, NY, now=NOW)
    march, _ = time_log.month_log(conn, "P-1", 2026, 3, NY)
    assert [e.day for e in march] == [date(2026, 3, 8)]
    nov = time_log.time_entries(conn, "P-1", date(2026, 11, 1), date(2026, 11, 1), NY)
    assert [e.minutes for e in nov] == [5, 5]


def test_patients_are_kept_apart(conn: sqlite3.Connection) -> None:
    time_log.log_minutes(conn, "P-1", 10, date(2026, 5, 5), NY, now=NOW)
    time_log.log_minutes(conn, "P-2", 30, date(2026, 5, 5), NY, now=NOW)
    assert [e.minutes for e in time_log.month_log(conn, "P-2", 2026, 5, NY)[0]] == [30]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"minutes": 0}, "minutes must be a whole number from 1 to 480"),
    ({"minutes": 481}, "minutes must be a whole number from 1 to 480"),
    ({"minutes": 10.5}, "minutes must be a whole number"),
    ({"minutes": True}, "minutes must be a whole number"),
    ({"patient_id": "  "}, "patient id is empty"),
    ({"when": date(2026, 12, 2)}, "2026-12-02 is in the future"),
    ({"when": date(1999, 12, 31)}, "before 2000-01-01"),
    ({"when": datetime(2026, 12, 1, 12, 1, tzinfo=UTC)}, "is in the future"),
    ({"when": datetime(2026, 5, 5, 12, 0)}, "has no time zone"),
    ({"clinician": "x" * 65}, "clinician is longer than 64"),
    ({"note": "two\nlines"}, "note must be one line"),
    ({"note": "x" * 501}, "note is longer than 500"),
])
def test_bad_time_entries_are_refused_with_a_reason(conn: sqlite3.Connection,
                                                    kwargs: dict[str, object],
                                                    message: str) -> None:
    args: dict[str, object] = {"patient_id": "P-1", "minutes": 10,
                               "when": date(2026, 5, 5), "zone": NY, "now": NOW}
    args.update(kwargs)
    with pytest.raises(TimeLogError, match=message):
        time_log.log_minutes(conn, **args)  # type: ignore[arg-type]
    assert conn.execute("SELECT count(*) FROM time_entries").fetchone() == (0,)


def test_today_in_the_clinic_zone_is_not_the_future(conn: sqlite3.Connection) -> None:
    # 23:30 on Nov 30 in New York is already Dec 1 in UTC: Nov 30 is today there, Dec 1 is not.
    now = datetime(2026, 11, 30, 23, 30, tzinfo=NY)
    time_log.log_minutes(conn, "P-1", 10, date(2026, 11, 30), NY, now=now)
    with pytest.raises(TimeLogError, match="in the future"):
        time_log.log_minutes(conn, "P-1", 10, date(2026, 12, 1), NY, now=now)


def test_bad_communications_are_refused(conn: sqlite3.Connection) -> None:
    at = datetime(2026, 5, 5, 10, tzinfo=NY)
    with pytest.raises(TimeLogError, match="kind must be one of call, video, message"):
        time_log.log_communication(conn, "P-1", "fax", at, now=NOW)
    with pytest.raises(TimeLogError, match="has no time zone"):
        time_log.log_communication(conn, "P-1", "call", datetime(2026, 5, 5), now=NOW)
    with pytest.raises(TimeLogError, match="in the future"):
        time_log.log_communication(conn, "P-1", "call", datetime(2027, 1, 1, tzinfo=NY),
                                   now=NOW)
    assert conn.execute("SELECT count(*) FROM communications").fetchone() == (0,)


def test_the_tables_live_in_the_clinic_db_next_to_others(tmp_path: Path) -> None:
    path = tmp_path / "clinic.db"
    c = time_log.open_time_log(path)
    c.execute("CREATE TABLE other_module (x)")
    c.close()
    c = time_log.open_time_log(path)  # opening again keeps what is there
    tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"time_entries", "communications", "other_module"} <= tables
    c.close()
