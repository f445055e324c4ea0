"""The SQLite store's daily totals: a `daily` table kept in the same transaction as the
records it counts, so it is exact the moment `write` returns and can never lag or be lost.

    daily(device_id, day 'YYYY-MM-DD', exercise, reps, partial_reps, sets,
          rom_sum_cdeg, rom_reps)
        PRIMARY KEY (device_id, day, exercise), rows only for days with records
    meta(key, value): 'daily_zone' = the IANA zone the days are in

A write recomputes (never increments) each (device, local day) it touched, from the records
table: the days of the written records, and the old day of a record whose upsert moved it
to a better date. Recomputing makes redeliveries and re-dated copies harmless: the table
always equals what count_daily counts from the records.

The ROM columns came later: a file whose `daily` table lacks them gets them, and all its
daily rows recomputed once, when a store opens it (`add_rom_columns`).

All functions run inside the caller's transaction (BEGIN IMMEDIATE) on its connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from cloud_bridge.daily import (
    ROM_VALUE_MAX,
    DailyCounter,
    DailyTotal,
    day_start_ms,
    local_day,
    set_rom,
)
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.base import DailyZoneMismatch, StoreError

ZONE_KEY = "daily_zone"

SCHEMA = """
CREATE TABLE IF NOT EXISTS daily (
    device_id    TEXT    NOT NULL,
    day          TEXT    NOT NULL,
    exercise     TEXT    NOT NULL,
    reps         INTEGER NOT NULL,
    partial_reps INTEGER NOT NULL,
    sets         INTEGER NOT NULL,
    rom_sum_cdeg INTEGER NOT NULL DEFAULT 0,
    rom_reps     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, day, exercise)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""

ROM_COLUMNS = ("rom_sum_cdeg", "rom_reps")
# daily.set_rom in SQL: a set's full reps and their ROM sum, 0 outside the u16 range.
_SET_ROM = (f"kind = 'set' AND reps BETWEEN 1 AND {ROM_VALUE_MAX} "
            f"AND mean_rom_cdeg BETWEEN 0 AND {ROM_VALUE_MAX}")
_RECOUNT_DAY = f"""
INSERT INTO daily (device_id, day, exercise, reps, partial_reps, sets, rom_sum_cdeg, rom_reps)
SELECT :device, :day, exercise,
       sum(kind = 'rep' AND NOT partial), sum(kind = 'rep' AND partial), sum(kind = 'set'),
       sum(CASE WHEN {_SET_ROM} THEN reps * mean_rom_cdeg ELSE 0 END),
       sum(CASE WHEN {_SET_ROM} THEN reps ELSE 0 END)
FROM records
WHERE device_id = :device AND time_valid = 1 AND t_ms >= :start AND t_ms < :end
GROUP BY exercise
"""


def recorded_zone(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (ZONE_KEY,)).fetchone()
    return None if row is None else str(row[0])


def add_rom_columns(conn: sqlite3.Connection) -> bool:
    """Bring a `daily` table from before the ROM columns up to date: add them and recompute
    every row, in the zone it is in (a store opened for another zone still refuses, as
    before). Whether it had to. Runs when a store opens the file, under the write lock."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(daily)")}
    if all(c in have for c in ROM_COLUMNS):
        return False
    for column in ROM_COLUMNS:
        if column not in have:
            conn.execute(f"ALTER TABLE daily ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    recorded = recorded_zone(conn)
    if recorded is not None:  # None: never computed, the caller builds them anyway
        rebuild(conn, ZoneInfo(recorded), None)
    return True


def check_zone(conn: sqlite3.Connection, zone: ZoneInfo) -> None:
    """Raise DailyZoneMismatch unless the table's days are in `zone`."""
    recorded = recorded_zone(conn)
    if recorded != zone.key:
        raise DailyZoneMismatch(recorded or "(none)", zone.key)


def valid_days_of_keys(
    conn: sqlite3.Connection, records: Sequence[StoredRecord], zone: ZoneInfo
) -> set[tuple[str, date]]:
    """(device, day) of the stored rows with these records' keys that have a known time:
    read before an upsert, in case it moves them to another day.

    One range read per run of close sequence numbers of a device (a message's records are
    consecutive), on the (device_id, seq) index: for new records, the usual case, each
    finds nothing at once."""
    seqs_of: dict[str, set[int]] = {}
    for r in records:
        seqs_of.setdefault(r.device_id, set()).add(r.seq)
    days: set[tuple[str, date]] = set()
    for device, seqs in seqs_of.items():
        for low, high in _runs(sorted(seqs)):
            for seq, t_ms in conn.execute(_STORED_TIMES, (device, low, high)):
                if seq in seqs:
                    days.add((device, local_day(t_ms, zone)))
    return days


_STORED_TIMES = ("SELECT seq, t_ms FROM records WHERE device_id = ? AND seq BETWEEN ? AND ? "
                 "AND time_valid = 1")
_RUN_GAP = 64  # a range read skips over at most this many seqs not asked for


def _runs(seqs: list[int]) -> list[tuple[int, int]]:
    """Sorted seqs as (low, high) ranges, split where two are more than _RUN_GAP apart."""
    runs: list[tuple[int, int]] = []
    low = prev = seqs[0]
    for seq in seqs[1:]:
        if seq - prev > _RUN_GAP:
            runs.append((low, prev))
            low = seq
        prev = seq
    runs.append((low, prev))
    return runs


def recount(conn: sqlite3.Connection, days: Iterable[tuple[str, date]], zone: ZoneInfo) -> None:
    """Recompute the daily rows of each (device, day) from the records table."""
    for device, day in sorted(days):
        iso = day.isoformat()
        conn.execute("DELETE FROM daily WHERE device_id = ? AND day = ?", (device, iso))
        conn.execute(_RECOUNT_DAY, {
            "device": device, "day": iso, "start": day_start_ms(day, zone),
            "end": day_start_ms(day + timedelta(days=1), zone),
        })


def rebuild(conn: sqlite3.Connection, zone: ZoneInfo, since: date | None) -> int:
    """Recompute every daily row from `since` (None: all) in `zone` and record the zone.
    Folds one device at a time (records come in device order), so memory stays bounded."""
    recorded = recorded_zone(conn)
    if since is not None and recorded != zone.key:
        raise StoreError(
            f"the daily totals are for {recorded or 'no zone yet'}, not {zone.key}: a first "
            "build or a change of zone recomputes all days (leave out --since)"
        )
    if since is None:
        conn.execute("DELETE FROM daily")
        start_ms = None
    else:
        conn.execute("DELETE FROM daily WHERE day >= ?", (since.isoformat(),))
        start_ms = day_start_ms(since, zone)
    sql = ("SELECT device_id, exercise, kind, partial, t_ms, reps, mean_rom_cdeg FROM records "
           "WHERE time_valid = 1")
    params: tuple[int, ...] = ()
    if start_ms is not None:
        sql += " AND t_ms >= ?"
        params = (start_ms,)
    written = 0
    counter, device = DailyCounter(zone), None
    # Iterating while inserting is fine: the reads are of `records`, the writes of `daily`.
    for row in conn.execute(sql + " ORDER BY device_id, t_ms", params):
        if row[0] != device:
            written += _insert(conn, counter.totals())
            counter, device = DailyCounter(zone), row[0]
        rom = set_rom({"reps": row[5], "mean_rom_cdeg": row[6]}) if row[2] == "set" else (0, 0)
        counter.add(row[0], row[1], row[2], bool(row[3]), row[4], rom)
    written += _insert(conn, counter.totals())
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (ZONE_KEY, zone.key))
    return written


def _insert(conn: sqlite3.Connection, totals: list[DailyTotal]) -> int:
    conn.executemany(
        "INSERT INTO daily (device_id, day, exercise, reps, partial_reps, sets, rom_sum_cdeg, "
        "rom_reps) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(t.device_id, t.day.isoformat(), t.exercise, t.reps, t.partial_reps, t.sets,
          t.rom_sum_cdeg, t.rom_reps) for t in totals],
    )
    return len(totals)


def totals(
    conn: sqlite3.Connection, device_ids: Sequence[str] | None, first: date, last: date
) -> list[DailyTotal]:
    sql = ("SELECT device_id, day, exercise, reps, partial_reps, sets, rom_sum_cdeg, rom_reps "
           "FROM daily WHERE day >= ? AND day <= ?")
    params: list[object] = [first.isoformat(), last.isoformat()]
    if device_ids is not None:
        sql += " AND device_id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(sorted(set(device_ids))))
    sql += " ORDER BY device_id, day, exercise"
    days: dict[str, date] = {}  # a day's date object made once, not once per row
    return [
        DailyTotal.fast(device, days.get(day) or days.setdefault(day, date.fromisoformat(day)),
                        exercise, reps, partial, sets, rom_sum, rom_reps)
        for device, day, exercise, reps, partial, sets, rom_sum, rom_reps
        in conn.execute(sql, params)
        if reps or partial or sets
    ]


def days_with_data(conn: sqlite3.Connection, device_ids: Sequence[str] | None, first: date,
                   last: date) -> dict[str, set[date]]:
    """Per device, its days first..last with daily rows (every row has a count above 0)."""
    sql = "SELECT DISTINCT device_id, day FROM daily WHERE day >= ? AND day <= ?"
    params: list[object] = [first.isoformat(), last.isoformat()]
    if device_ids is not None:
        sql += " AND device_id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(sorted(set(device_ids))))
    out: dict[str, set[date]] = {}
    days: dict[str, date] = {}
    for device, day in conn.execute(sql, params):
        out.setdefault(device, set()).add(days.get(day) or days.setdefault(
            day, date.fromisoformat(day)))
    return out


def last_days(conn: sqlite3.Connection, device_ids: Sequence[str] | None,
              until: date) -> dict[str, date]:
    """Per device with daily rows up to `until`, its last such day."""
    # One max() per device, each a descent of the primary key (the min/max optimisation):
    # a GROUP BY would read every row of every device instead.
    if device_ids is None:
        devices = "SELECT DISTINCT device_id AS value FROM daily"
        params: list[object] = [until.isoformat()]
    else:
        devices = "SELECT value FROM json_each(?)"
        params = [until.isoformat(), json.dumps(sorted(set(device_ids)))]
    sql = (f"SELECT value, (SELECT max(day) FROM daily WHERE device_id = value AND day <= ?) "
           f"FROM ({devices})")
    return {device: date.fromisoformat(day) for device, day in conn.execute(sql, params)
            if day is not None}
