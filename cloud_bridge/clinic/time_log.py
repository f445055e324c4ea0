"""Logged treatment-management time and interactive communications, in the clinic's own
SQLite file (clinic_db): what RTM treatment management is billed from (billing.py).

A time entry is dated either by a local date (the clinician logs "15 minutes on March 3")
or by an instant (logged now, or `--at` a time). Both are kept exactly as given, and an
instant's local day is worked out when reading, in the zone asked for: the same rule as the
store's days with data, so both sides of a bill count days in the clinic's zone. A
communication always has an instant.

Every communication logged here is taken as an interactive one (billing needs one per
month), whatever its kind; `kind` says how it happened (billing.py on why kinds are not
told apart yet).
"""

from __future__ import annotations

import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.daily import day_start_ms, local_day

KINDS = ("call", "video", "message", "in-person")
# One entry is one sitting or one day's work for a patient; more than 8 hours is a typo.
MAX_MINUTES = 480
MAX_NAME = 64
MAX_NOTE = 500
# Before this nothing was monitored by this system; older dates are typos.
EARLIEST = date(2000, 1, 1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS time_entries (
    id           INTEGER PRIMARY KEY,
    patient_id   TEXT    NOT NULL,
    day          TEXT,              -- local date as logged (YYYY-MM-DD), or NULL
    at_ms        INTEGER,           -- the instant as logged (Unix ms), or NULL
    minutes      INTEGER NOT NULL CHECK (minutes BETWEEN 1 AND 480),
    clinician    TEXT    NOT NULL,
    note         TEXT    NOT NULL,
    logged_at_ms INTEGER NOT NULL,
    CHECK ((day IS NULL) <> (at_ms IS NULL))
);
CREATE INDEX IF NOT EXISTS time_entries_patient ON time_entries (patient_id, day, at_ms);
CREATE TABLE IF NOT EXISTS communications (
    id           INTEGER PRIMARY KEY,
    patient_id   TEXT    NOT NULL,
    at_ms        INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    clinician    TEXT    NOT NULL,
    note         TEXT    NOT NULL,
    logged_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS communications_patient ON communications (patient_id, at_ms);
"""


class TimeLogError(ValueError):
    """Input that cannot be logged; the message says what is wrong."""


@dataclass(frozen=True)
class TimeEntry:
    id: int
    patient_id: str
    day: date  # local day in the zone it was read for
    at_ms: int | None  # None: logged as a date
    minutes: int
    clinician: str
    note: str


@dataclass(frozen=True)
class Communication:
    id: int
    patient_id: str
    day: date  # local day in the zone it was read for
    at_ms: int
    kind: str
    clinician: str
    note: str


def open_time_log(path: str | Path) -> sqlite3.Connection:
    conn = open_clinic_db(path)
    ensure_schema(conn)
    return conn


def ensure_schema(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def _text(what: str, value: str, limit: int) -> str:
    value = value.strip()
    if len(value) > limit:
        raise TimeLogError(f"{what} is longer than {limit} characters")
    # One line each: they are printed in tables and CSV rows.
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise TimeLogError(f"{what} must be one line of printable text")
    return value


def _patient(patient_id: str) -> str:
    patient_id = _text("patient id", patient_id, MAX_NAME)
    if not patient_id:
        raise TimeLogError("patient id is empty")
    return patient_id


def _instant(at: datetime, now: datetime) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise TimeLogError(f"time {at.isoformat()} has no time zone")
    if at > now:
        raise TimeLogError(f"{at.isoformat()} is in the future")
    if at.astimezone(UTC).date() < EARLIEST:
        raise TimeLogError(f"{at.isoformat()} is before {EARLIEST}")
    return int(at.timestamp() * 1000)


def _now_ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


def log_minutes(conn: sqlite3.Connection, patient_id: str, minutes: int, when: date | datetime,
                zone: ZoneInfo, *, clinician: str = "", note: str = "",
                now: datetime | None = None) -> int:
    """Log `minutes` of treatment management for a patient, dated by a local date in `zone`
    or by an aware datetime; returns the entry's id."""
    now = now or datetime.now(UTC)
    patient_id = _patient(patient_id)
    if type(minutes) is not int or not 1 <= minutes <= MAX_MINUTES:
        raise TimeLogError(f"minutes must be a whole number from 1 to {MAX_MINUTES}, "
                           f"got {minutes!r}")
    clinician = _text("clinician", clinician, MAX_NAME)
    note = _text("note", note, MAX_NOTE)
    day: str | None = None
    at_ms: int | None = None
    if isinstance(when, datetime):
        at_ms = _instant(when, now)
    else:
        today = now.astimezone(zone).date()
        if when > today:
            raise TimeLogError(f"{when} is in the future (today is {today} in {zone.key})")
        if when < EARLIEST:
            raise TimeLogError(f"{when} is before {EARLIEST}")
        day = when.isoformat()
    cur = conn.execute(
        "INSERT INTO time_entries (patient_id, day, at_ms, minutes, clinician, note, "
        "logged_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (patient_id, day, at_ms, minutes, clinician, note, _now_ms(now)))
    assert cur.lastrowid is not None
    return cur.lastrowid


def log_communication(conn: sqlite3.Connection, patient_id: str, kind: str, at: datetime, *,
                      clinician: str = "", note: str = "",
                      now: datetime | None = None) -> int:
    """Log an interactive communication with a patient at `at` (aware); returns its id."""
    now = now or datetime.now(UTC)
    patient_id = _patient(patient_id)
    if kind not in KINDS:
        raise TimeLogError(f"communication kind must be one of {', '.join(KINDS)}; "
                           f"got {kind!r}")
    at_ms = _instant(at, now)
    clinician = _text("clinician", clinician, MAX_NAME)
    note = _text("note", note, MAX_NOTE)
    cur = conn.execute(
        "INSERT INTO communications (patient_id, at_ms, kind, clinician, note, logged_at_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (patient_id, at_ms, kind, clinician, note, _now_ms(now)))
    assert cur.lastrowid is not None
    return cur.lastrowid


def time_entries(conn: sqlite3.Connection, patient_id: str, first: date, last: date,
                 zone: ZoneInfo) -> list[TimeEntry]:
    """A patient's entries on local days first..last in `zone`, by day then time."""
    lo, hi = day_start_ms(first, zone), day_start_ms(last + timedelta(days=1), zone)
    rows = conn.execute(
        "SELECT id, day, at_ms, minutes, clinician, note FROM time_entries "
        "WHERE patient_id = ? AND ((day BETWEEN ? AND ?) OR (at_ms >= ? AND at_ms < ?))",
        (patient_id, first.isoformat(), last.isoformat(), lo, hi)).fetchall()
    out = [TimeEntry(id_, patient_id,
                     date.fromisoformat(day) if day is not None else local_day(at_ms, zone),
                     at_ms, minutes, clinician, note)
           for id_, day, at_ms, minutes, clinician, note in rows]
    return sorted(out, key=lambda e: (e.day, e.at_ms is not None, e.at_ms or 0, e.id))


def communications(conn: sqlite3.Connection, patient_id: str, first: date, last: date,
                   zone: ZoneInfo) -> list[Communication]:
    """A patient's communications on local days first..last in `zone`, by time."""
    lo, hi = day_start_ms(first, zone), day_start_ms(last + timedelta(days=1), zone)
    rows = conn.execute(
        "SELECT id, at_ms, kind, clinician, note FROM communications "
        "WHERE patient_id = ? AND at_ms >= ? AND at_ms < ? ORDER BY at_ms, id",
        (patient_id, lo, hi)).fetchall()
    return [Communication(id_, patient_id, local_day(at_ms, zone), at_ms, kind, clinician, note)
            for id_, at_ms, kind, clinician, note in rows]


def month_log(conn: sqlite3.Connection, patient_id: str, year: int, month: int,
              zone: ZoneInfo) -> tuple[list[TimeEntry], list[Communication]]:
    """A patient's entries and communications in one calendar month in `zone`."""
    first = date(year, month, 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return (time_entries(conn, patient_id, first, last, zone),
            communications(conn, patient_id, first, last, zone))
