"""Records in InfluxDB 1.x, over its HTTP API with the standard library only.

Writes: POST /write?db=..&precision=ns with line protocol (schema and cardinality in
influx_schema), in batches of `batch_lines`; a 413 splits the batch in halves. InfluxDB 1.x
answers 204 once the points are in its write-ahead log (fsynced unless the server sets
wal-fsync-delay), which is what "durably accepted" means here.
Reads: GET /query with InfluxQL and epoch=ms, chunked so that no max-row-limit truncates them.
The database is created on first write (CREATE DATABASE is idempotent); a user without admin
rights needs it created beforehand. Authentication, if given, is HTTP Basic.

Idempotency comes from InfluxDB itself: a point with the same measurement, tag set and time
overwrites the previous one, and (device_id, seq) always maps to the same point.
Status classification: see influx_http.

Daily totals (influx_daily): each write's last request also carries its `daily_dirty`
markers; a background thread, started by the first write, recounts the marked days every
`daily_refresh_s` (None: only when refresh_daily() is called); close() refreshes once more.
Several statements go in one /query request (1.x answers each with its statement_id).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from cloud_bridge.daily import UTC
from cloud_bridge.device_state import DeviceState
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores import influx_states
from cloud_bridge.stores.base import StoreError, check_records
from cloud_bridge.stores.influx_common import InfluxDailyStore
from cloud_bridge.stores.influx_daily import InfluxDaily
from cloud_bridge.stores.influx_http import READ_REQUESTS, InfluxHTTP, error_for
from cloud_bridge.stores.influx_results import Series
from cloud_bridge.stores.influx_schema import one_per_key, select_statements, to_line
from cloud_bridge.stores.influx_undated import undated_records
from cloud_bridge.stores.refresher import Refresher
from cloud_bridge.stores.state_check import check_device_state

log = logging.getLogger(__name__)




class InfluxV1Store(InfluxDailyStore):
    def __init__(
        self,
        base_url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        batch_lines: int = 5000,
        query_chunk_size: int = 10_000,
        zone: ZoneInfo = UTC,
        daily_refresh_s: float | None = 60.0,
    ) -> None:
        auth = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            auth = f"Basic {token}"
        self._http = InfluxHTTP(base_url, auth_header=auth, timeout_s=timeout_s)
        self.database = database
        self._batch_lines = batch_lines
        self._query_chunk_size = query_chunk_size
        self._database_created = threading.Event()
        self._closed = False
        self.zone = zone
        self._daily = InfluxDaily(
            zone=zone, run=self._run_statements, write=self._write_daily_lines,
            lag_s=max(30.0, 3 * timeout_s), read=self._read_statements,
        )
        self._refresher = (
            Refresher(self.refresh_daily, daily_refresh_s, f"daily-refresh {database}")
            if daily_refresh_s is not None else None
        )

    def write(self, records: Sequence[StoredRecord]) -> None:
        self._check_open()
        check_records(records)
        if not records:
            return
        lines = [to_line(rec) for rec in records]
        if not self._database_created.is_set():
            self.create_database()
        for i in range(0, len(lines), self._batch_lines):
            batch = lines[i : i + self._batch_lines]
            if i + self._batch_lines >= len(lines):
                # Last: a marker must not become visible before the records it names.
                batch += self._daily.marker_lines(records)
            self._write_lines(batch)
        if self._refresher is not None:
            self._refresher.start()

    def _write_daily_lines(self, lines: Sequence[str]) -> None:
        # Never creates the database: a refresh after a DROP must not bring it back.
        for i in range(0, len(lines), self._batch_lines):
            self._write_lines(lines[i : i + self._batch_lines], may_create=False)

    def _run_statements(self, statements: Sequence[str]) -> list[list[Series]]:
        return self._http.query_series(
            self.database, statements, chunk_size=self._query_chunk_size, join=True,
        )

    def _read_statements(self, statements: Sequence[str], epoch: str = "ns"
                         ) -> list[list[Series]]:
        """For the clinic's reads of many devices: several requests at once."""
        return self._http.query_series(
            self.database, statements, chunk_size=self._query_chunk_size, join=True,
            epoch=epoch, parallel=READ_REQUESTS,
        )

    def _write_lines(self, lines: Sequence[str], *, may_create: bool = True) -> None:
        resp = self._http.request(
            "POST",
            "/write",
            {"db": self.database, "precision": "ns"},
            body="\n".join(lines).encode(),
            content_type="text/plain; charset=utf-8",
        )
        if resp.ok:
            return
        if resp.status == 413 and len(lines) > 1:
            half = len(lines) // 2
            self._write_lines(lines[:half], may_create=may_create)
            self._write_lines(lines[half:], may_create=may_create)
            return
        if resp.status == 404 and "database not found" in resp.message and may_create:
            # Dropped behind our back since we created it: create again, once.
            self.create_database()
            self._write_lines(lines, may_create=False)
            return
        raise error_for(resp.status, resp.message, resp.headers, self._what("write"))

    def create_database(self) -> None:
        """CREATE DATABASE (a no-op if it exists). Without admin rights (401/403) the write
        that follows says whether the database is there."""
        name = self.database.replace("\\", "\\\\").replace('"', '\\"')
        resp = self._http.request(
            "POST", "/query", {"q": f'CREATE DATABASE "{name}"'},
        )
        if resp.status in (401, 403):
            return
        if not resp.ok:
            raise error_for(resp.status, resp.message, resp.headers, self._what("create"))
        if '"error"' in resp.body:
            raise StoreError(f"{self._what('create')} failed: {resp.message}")
        self._database_created.set()

    def drop_database(self) -> None:
        """DROP DATABASE: all records gone. For tests and tools, never called by the bridge."""
        name = self.database.replace("\\", "\\\\").replace('"', '\\"')
        resp = self._http.request("POST", "/query", {"q": f'DROP DATABASE "{name}"'})
        if not resp.ok:
            raise error_for(resp.status, resp.message, resp.headers, self._what("drop"))
        self._database_created.clear()

    def query(
        self, device_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> list[StoredRecord]:
        self._check_open()
        statements = select_statements(device_ids, start_ms, end_ms)
        records = self._http.query_records(
            self.database, statements, chunk_size=self._query_chunk_size
        )
        return one_per_key(records)

    def undated(
        self, device_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> list[StoredRecord]:
        self._check_open()
        return undated_records(
            lambda statements: self._http.query_records(
                self.database, statements, chunk_size=self._query_chunk_size),
            lambda statements: self._http.query_series(
                self.database, statements, chunk_size=self._query_chunk_size, join=True,
                epoch="ms"),
            device_ids, start_ms, end_ms,
        )

    def write_device_states(self, states: Sequence[DeviceState]) -> None:
        self._check_open()
        for state in states:
            check_device_state(state)
        if not states:
            return
        lines = [influx_states.to_line(state) for state in states]
        if not self._database_created.is_set():
            self.create_database()
        for i in range(0, len(lines), self._batch_lines):
            self._write_lines(lines[i : i + self._batch_lines])

    def close(self) -> None:
        if self._closed:
            return
        self._close_daily()
        self._closed = True
        self._http.close()

    def _what(self, action: str) -> str:
        return f"{action} of database {self.database!r} at {self._http.base_url}"

    def __repr__(self) -> str:
        return f"InfluxV1Store({self._http.base_url!r}, {self.database!r})"
