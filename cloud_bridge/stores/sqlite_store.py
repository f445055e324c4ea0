"""Records in an embedded SQLite file: the default store, no server to run.

One table, one row per record, UNIQUE(device_id, seq): a write is one transaction of
upserts, so a redelivered batch changes nothing (a differently dated copy of a record keeps
the better date, see _insert_sql). WAL journal with synchronous=FULL:
`write` returns after the commit is fsynced. A thread beside the writes copies the WAL into
the file (sqlite_wal.Checkpointer), so that no write waits for a checkpoint. Each thread
that uses the store gets its own connection, kept until `close` (WAL lets a query thread
read while the MQTT callback thread writes); meant for a few long-lived threads, not a
thread per request.

Value fields are columns named after REP_FIELDS and SET_FIELDS (NULL where the kind has no
such field). A field added to records.py later is added as a column when the file is opened.

Device states (the latest per wearable, its gateway's report) live in a `device_states`
table (sqlite_states).

Daily totals live in a `daily` table updated in each write's transaction (sqlite_daily).
Opening a file whose totals were never computed (new, or from before they existed) computes
them for the store's zone; a file from before their ROM columns gets them, and all its
totals recomputed, once. A file whose totals are for another zone opens, but its writes and
daily_totals raise DailyZoneMismatch until rebuild_daily() ran. No retention: records stay
until someone deletes them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from cloud_bridge.daily import UTC, DailyTotal, dated_spans
from cloud_bridge.device_state import DeviceState
from cloud_bridge.records import REP_FIELDS, SET_FIELDS, StoredRecord
from cloud_bridge.sqlite_wal import (
    WRITER_AUTOCHECKPOINT_PAGES,
    Checkpointer,
    WriterLock,
    enable_wal,
)
from cloud_bridge.stores import sqlite_daily, sqlite_states
from cloud_bridge.stores.base import (
    KIND_FIELDS,
    Store,
    StoreError,
    StoreRejected,
    StoreUnavailable,
    check_records,
)
from cloud_bridge.stores.state_check import check_device_state

VALUE_COLUMNS = tuple(dict.fromkeys(REP_FIELDS + SET_FIELDS))
_BASE_COLUMNS = ("device_id", "seq", "kind", "exercise", "set_no", "t_ms", "time_valid",
                 "partial")
T = TypeVar("T")
_BUSY_TIMEOUT_S = 30.0  # another process (the clinician CLI) may hold the write lock briefly

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    device_id  TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('rep', 'set')),
    exercise   TEXT    NOT NULL,
    set_no     INTEGER NOT NULL,
    t_ms       INTEGER NOT NULL,
    time_valid INTEGER NOT NULL,
    partial    INTEGER NOT NULL,
    UNIQUE (device_id, seq)
);
CREATE INDEX IF NOT EXISTS records_device_time ON records (device_id, t_ms);
CREATE INDEX IF NOT EXISTS records_time ON records (t_ms);
-- Undated records are few: a partial index finds them without reading the dated ones.
CREATE INDEX IF NOT EXISTS records_undated ON records (device_id, t_ms) WHERE time_valid = 0;
"""


class SQLiteStore(Store):
    def __init__(self, path: str | Path, *, zone: ZoneInfo = UTC) -> None:
        self.path = str(path)
        self.zone = zone
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writers = WriterLock(self.path)
        self._checkpointer = Checkpointer(self.path) if self.path != ":memory:" else None
        self._closed = False
        with self._errors(f"open {self.path}"):
            conn = self._conn()
            enable_wal(conn, timeout_s=_BUSY_TIMEOUT_S)
            # Under the write lock: bridges started together on one file (scale-out) would
            # otherwise both see a column missing and both add it.
            with _immediate(conn):
                for statement in (_SCHEMA + sqlite_daily.SCHEMA
                                  + sqlite_states.SCHEMA).split(";"):
                    if statement.strip():
                        conn.execute(statement)
                have = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
                for column in VALUE_COLUMNS:
                    if column not in have:
                        conn.execute(f'ALTER TABLE records ADD COLUMN "{column}" INTEGER')
                sqlite_daily.add_rom_columns(conn)  # a file from before the ROM columns
                if sqlite_daily.recorded_zone(conn) is None:
                    sqlite_daily.rebuild(conn, zone, None)
        columns = ", ".join(f'"{c}"' for c in _BASE_COLUMNS + VALUE_COLUMNS)
        marks = ", ".join("?" for _ in _BASE_COLUMNS + VALUE_COLUMNS)
        # A second copy of a record replaces the first only if it is better dated (a known
        # time over an unknown one, then the earlier): the same rule as the InfluxDB stores'
        # one_per_key, so both stores answer alike when a record was fetched twice.
        self._insert_sql = (
            f"INSERT INTO records ({columns}) VALUES ({marks}) "
            "ON CONFLICT(device_id, seq) DO UPDATE SET "
            "t_ms = excluded.t_ms, time_valid = excluded.time_valid "
            "WHERE (excluded.time_valid > records.time_valid) OR "
            "(excluded.time_valid = records.time_valid AND excluded.t_ms < records.t_ms)"
        )
        self._select_sql = f"SELECT {columns} FROM records"

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so that close() may close every thread's
            # connection; each is otherwise used by the thread that made it.
            conn = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False,
                isolation_level="DEFERRED",
            )
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (sqlite3.IntegrityError, sqlite3.DataError) as exc:
            raise StoreRejected(f"SQLite {what}: {exc}") from exc
        except (sqlite3.Error, OSError) as exc:  # locked, disk full, I/O error, unreadable
            raise StoreUnavailable(f"SQLite {what}: {exc}") from exc

    def write(self, records: Sequence[StoredRecord]) -> None:
        check_records(records)
        rows = [_row_of(rec) for rec in records]
        days = set(dated_spans(records, self.zone))
        with self._errors(f"write to {self.path}"):
            conn = self._conn()
            # one transaction: all rows and their daily totals, or none
            with self._writers, _immediate(conn):
                sqlite_daily.check_zone(conn, self.zone)
                days |= sqlite_daily.valid_days_of_keys(conn, records, self.zone)
                conn.executemany(self._insert_sql, rows)
                sqlite_daily.recount(conn, days, self.zone)
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    def query(
        self, device_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> list[StoredRecord]:
        return self._select("1", device_ids, start_ms, end_ms)

    def _select(
        self, condition: str, device_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> list[StoredRecord]:
        sql = f"{self._select_sql} WHERE {condition} AND t_ms >= ? AND t_ms < ?"
        params: list[object] = [start_ms, end_ms]
        if device_ids is not None:
            unique = sorted(set(device_ids))
            if not unique:
                return []
            # json_each keeps the statement fixed however many devices are asked for.
            sql += " AND device_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(unique))
        sql += " ORDER BY device_id, seq"
        with self._errors(f"query of {self.path}"):
            rows = self._conn().execute(sql, params).fetchall()
        return [_record_of(row) for row in rows]

    def daily_totals(
        self, device_ids: Sequence[str] | None, first_day: date, last_day: date
    ) -> list[DailyTotal]:
        if device_ids is not None and not device_ids:
            return []
        return self._read_days(
            lambda conn: sqlite_daily.totals(conn, device_ids, first_day, last_day))

    def days_with_data(
        self, device_ids: Sequence[str] | None, first_day: date, last_day: date
    ) -> dict[str, set[date]]:
        if device_ids is not None and not device_ids:
            return {}
        return self._read_days(
            lambda conn: sqlite_daily.days_with_data(conn, device_ids, first_day, last_day))

    def last_days(self, device_ids: Sequence[str] | None, until: date) -> dict[str, date]:
        if device_ids is not None and not device_ids:
            return {}
        return self._read_days(lambda conn: sqlite_daily.last_days(conn, device_ids, until))

    def _read_days(self, read: Callable[[sqlite3.Connection], T]) -> T:
        """A read of the daily table, checked to be in this store's zone: the zone and the
        rows from one snapshot."""
        with self._errors(f"query of {self.path}"):
            conn = self._conn()
            with _immediate(conn, write=False):
                sqlite_daily.check_zone(conn, self.zone)
                return read(conn)

    def undated(
        self, device_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> list[StoredRecord]:
        # One row per key, already the best dated copy: a flagged row has no dated copy.
        return self._select("time_valid = 0", device_ids, start_ms, end_ms)

    def write_device_states(self, states: Sequence[DeviceState]) -> None:
        for state in states:
            check_device_state(state)
        if not states:
            return
        with self._errors(f"write of device states to {self.path}"):
            conn = self._conn()
            with self._writers, _immediate(conn):
                sqlite_states.write(conn, states)

    def device_states(self, device_ids: Sequence[str] | None, *,
                      recent_ms: int | None = None) -> dict[str, DeviceState]:
        # One row per device: nothing to look for first.
        with self._errors(f"query of {self.path}"):
            conn = self._conn()
            with _immediate(conn, write=False):
                return sqlite_states.read(conn, device_ids)

    def rebuild_daily(self, since: date | None = None) -> int:
        with self._errors(f"rebuild of the daily totals in {self.path}"):
            conn = self._conn()
            with _immediate(conn):
                return sqlite_daily.rebuild(conn, self.zone, since)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._writers.close()
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"


@contextmanager
def _immediate(conn: sqlite3.Connection, *, write: bool = True) -> Iterator[None]:
    """One explicit transaction. BEGIN IMMEDIATE takes the write lock up front: a deferred
    transaction that reads (the zone, old rows) before writing could not upgrade once
    another connection committed, and would fail instead of waiting (WAL snapshots)."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def _value_cells(fields: tuple[str, ...]) -> tuple[Callable[[dict[str, int]], tuple], int, int]:
    """A kind's values as cells of VALUE_COLUMNS, where they are one run: (getter, empty
    cells before, empty cells after)."""
    first = VALUE_COLUMNS.index(fields[0])
    assert VALUE_COLUMNS[first:first + len(fields)] == fields, "a kind's columns are one run"
    return itemgetter(*fields), first, len(VALUE_COLUMNS) - first - len(fields)


_CELLS = {kind: _value_cells(fields) for kind, fields in KIND_FIELDS.items()}


def _row_of(rec: StoredRecord) -> tuple[object, ...]:
    # bools are ints to sqlite3: stored as 0/1
    values, before, after = _CELLS[rec.kind]
    return (rec.device_id, rec.seq, rec.kind, rec.exercise, rec.set_no, rec.t_ms,
            rec.time_valid, rec.partial, *(None,) * before, *values(rec.values),
            *(None,) * after)


def _record_of(row: Sequence[Any]) -> StoredRecord:
    device_id, seq, kind, exercise, set_no, t_ms, time_valid, partial = row[: len(_BASE_COLUMNS)]
    cells = zip(VALUE_COLUMNS, row[len(_BASE_COLUMNS) :], strict=True)
    return StoredRecord(
        device_id=device_id, seq=seq, kind=kind, exercise=exercise, set_no=set_no, t_ms=t_ms,
        time_valid=bool(time_valid), partial=bool(partial),
        values={k: v for k, v in cells if v is not None and k in KIND_FIELDS[kind]},
    )
