"""Records in InfluxDB 2.x or 3.x: writes through `influxdb-client`, reads through InfluxQL.

Same points as the 1.x store (schema and cardinality in influx_schema). Writes go through the
client's synchronous write API to /api/v2/write (precision ns), which both 2.x and 3.x
accept; it returns once the server acknowledged the batch. A 413 splits the batch in halves.
The bucket must exist (2.x; 3.x creates a database on first write): creating buckets needs
an all-access token, which a bridge should not hold.

Reads use InfluxQL on the v1-compatible GET /query (db = bucket, epoch=ms), not Flux: 3.x
has no Flux at all, while 2.x answers /query through the bucket's DBRP mapping (recent 2.x
give every bucket a "virtual" one named after it; older 2.x need `influx v1 dbrp create`).
One language for 1.x, 2.x and 3.x also means one parser and one set of tests for reading
points back (influx_schema).

Daily totals (influx_daily) as in the 1.x store, with one statement per /query request:
3.x answers only the first of several. The write path is this store's own; the queries are
tested against 1.x with this store's single-statement requests.

Not tested against a real 2.x/3.x server: none can be installed on the project's machines
(Debian ships InfluxDB 1.6.7, which lacks /api/v2/write). Tests cover the shared line
protocol and query parsing, and this module's error mapping against real refusals.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from cloud_bridge.daily import UTC
from cloud_bridge.device_state import DeviceState
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores import influx_states
from cloud_bridge.stores.base import StoreUnavailable, check_records
from cloud_bridge.stores.influx_common import InfluxDailyStore
from cloud_bridge.stores.influx_daily import InfluxDaily
from cloud_bridge.stores.influx_http import (
    READ_REQUESTS,
    InfluxHTTP,
    error_for,
    error_message,
)
from cloud_bridge.stores.influx_results import Series
from cloud_bridge.stores.influx_schema import one_per_key, select_statements, to_line
from cloud_bridge.stores.influx_undated import undated_records
from cloud_bridge.stores.refresher import Refresher
from cloud_bridge.stores.state_check import check_device_state

log = logging.getLogger(__name__)




class InfluxV2Store(InfluxDailyStore):
    def __init__(
        self,
        base_url: str,
        *,
        org: str,
        bucket: str,
        token: str,
        timeout_s: float = 10.0,
        batch_lines: int = 5000,
        zone: ZoneInfo = UTC,
        daily_refresh_s: float | None = 60.0,
    ) -> None:
        self.org = org
        self.bucket = bucket
        self._base_url = base_url
        self._batch_lines = batch_lines
        self._client = InfluxDBClient(
            url=base_url, token=token, org=org, timeout=int(timeout_s * 1000)
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._http = InfluxHTTP(base_url, auth_header=f"Token {token}", timeout_s=timeout_s)
        self._closed = False
        self.zone = zone
        self._daily = InfluxDaily(
            zone=zone, run=self._run_statements, write=self._write_daily_lines,
            lag_s=max(30.0, 3 * timeout_s), read=self._read_statements,
        )
        self._refresher = (
            Refresher(self.refresh_daily, daily_refresh_s, f"daily-refresh {bucket}")
            if daily_refresh_s is not None else None
        )

    def write(self, records: Sequence[StoredRecord]) -> None:
        self._check_open()
        check_records(records)
        lines = [to_line(rec) for rec in records]
        for i in range(0, len(lines), self._batch_lines):
            batch = lines[i : i + self._batch_lines]
            if i + self._batch_lines >= len(lines):
                # Last: a marker must not become visible before the records it names.
                batch += self._daily.marker_lines(records)
            self._write_lines(batch)
        if records and self._refresher is not None:
            self._refresher.start()

    def _write_daily_lines(self, lines: Sequence[str]) -> None:
        for i in range(0, len(lines), self._batch_lines):
            self._write_lines(lines[i : i + self._batch_lines])

    def _run_statements(self, statements: Sequence[str]) -> list[list[Series]]:
        return self._http.query_series(self.bucket, statements, chunk_size=None, join=False)

    def _read_statements(self, statements: Sequence[str], epoch: str = "ns"
                         ) -> list[list[Series]]:
        """For the clinic's reads of many devices: several requests at once."""
        return self._http.query_series(self.bucket, statements, chunk_size=None, join=False,
                                       epoch=epoch, parallel=READ_REQUESTS)

    def _write_lines(self, lines: Sequence[str]) -> None:
        what = f"write to bucket {self.bucket!r} at {self._base_url}"
        try:
            self._write_api.write(
                bucket=self.bucket,
                org=self.org,
                record="\n".join(lines).encode(),
                # The client's annotation wants the class; its constants are plain str.
                write_precision=WritePrecision.NS,  # type: ignore[arg-type]
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            if status == 413 and len(lines) > 1:
                half = len(lines) // 2
                self._write_lines(lines[:half])
                self._write_lines(lines[half:])
                return
            headers = _headers_of(exc.headers)
            message = error_message(_text(exc.body), headers, str(exc.reason or ""))
            raise error_for(status, message, headers, what) from exc
        except (Urllib3Error, OSError) as exc:
            raise StoreUnavailable(f"{what}: {exc!r}") from exc

    def query(
        self, device_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> list[StoredRecord]:
        self._check_open()
        statements = select_statements(device_ids, start_ms, end_ms)
        # No chunking: 3.x's /query does not promise it; a truncated answer raises StoreError.
        records = self._http.query_records(self.bucket, statements, chunk_size=None)
        return one_per_key(records)

    def undated(
        self, device_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> list[StoredRecord]:
        self._check_open()
        return undated_records(
            lambda statements: self._http.query_records(self.bucket, statements, chunk_size=None),
            lambda statements: self._http.query_series(
                self.bucket, statements, chunk_size=None, join=False, epoch="ms"),
            device_ids, start_ms, end_ms,
        )

    def write_device_states(self, states: Sequence[DeviceState]) -> None:
        self._check_open()
        for state in states:
            check_device_state(state)
        if not states:
            return
        lines = [influx_states.to_line(state) for state in states]
        for i in range(0, len(lines), self._batch_lines):
            self._write_lines(lines[i : i + self._batch_lines])

    def close(self) -> None:
        if self._closed:
            return
        self._close_daily()
        self._closed = True
        self._http.close()
        self._write_api.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]

    def __repr__(self) -> str:
        return f"InfluxV2Store({self._base_url!r}, org={self.org!r}, bucket={self.bucket!r})"


def _headers_of(headers: Any) -> Mapping[str, str]:
    if headers is None:
        return {}
    return {str(k): str(v) for k, v in dict(headers).items()}


def _text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    return str(body)
