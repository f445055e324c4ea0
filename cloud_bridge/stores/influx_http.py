"""HTTP to InfluxDB with the standard library, and what each answer means for the caller.

Status classification (as telegraf's InfluxDB outputs do it, except that nothing is dropped
here: the caller dead-letters what is rejected):

* 2xx: done.
* 400, 422 (and 413 for a single line): the data is bad -> StoreRejected with the server's
  reason. 413 for a batch is split by the store before it gets here.
* 429, 5xx, connection errors, timeouts: StoreUnavailable, with Retry-After in seconds.
* Anything else (401/403 credentials, 404 wrong URL, database or bucket): StoreUnavailable
  too. The data is fine, the configuration is not; dead-lettering it would lose good data.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.base import StoreError, StoreRejected, StoreUnavailable
from cloud_bridge.stores.influx_results import Series, iter_series
from cloud_bridge.stores.influx_schema import parse_query_body

REJECTED_STATUSES = frozenset({400, 413, 422})
MAX_JOINED_QUERY_CHARS = 16_000  # statements sent together stay far below URL limits
# Requests in flight at once for one large read (query_series' `parallel`): InfluxDB runs
# the statements of one request one after the other, on one core.
READ_REQUESTS = 4


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        return error_message(self.body, self.headers, self.reason)


def error_message(body: str, headers: Mapping[str, str], reason: str) -> str:
    """The server's own words: JSON "error" (1.x) or "message" (2.x/3.x), a header, or text."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        for key in ("error", "message"):
            if doc.get(key):
                return str(doc[key])
    for header in ("X-Influxdb-Error", "X-Platform-Error-Code"):
        value = _header(headers, header)
        if value:
            return value
    return body.strip()[:500] or reason


def retry_after_s(value: str | None, *, now_s: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now_s is None else now_s
    return max(0.0, when.timestamp() - now)


def error_for(status: int, message: str, headers: Mapping[str, str], what: str) -> StoreError:
    """The exception for a non-2xx answer to `what` (e.g. "write to InfluxDB at ...")."""
    if status in REJECTED_STATUSES:
        return StoreRejected(f"{what} rejected (HTTP {status}): {message}", status=status)
    hint = ""
    if status in (401, 403):
        hint = " (check the credentials or token)"
    elif status == 404:
        hint = " (check the URL, the database or bucket, and the server version)"
    return StoreUnavailable(
        f"{what} failed (HTTP {status}){hint}: {message}",
        retry_after_s=retry_after_s(_header(headers, "Retry-After")),
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


# Idle connections kept for the next request: one per thread that writes or reads at once
# (the bridge's store thread, the daily refresh, READ_REQUESTS for a large read).
IDLE_CONNECTIONS = READ_REQUESTS + 2
# A kept connection the server has closed meanwhile fails like this, before any answer: the
# request is sent again, once, on a new connection (the server closed it idle, so it did not
# see the request; and were it otherwise, writes are idempotent).
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
          ConnectionAbortedError)


class InfluxHTTP:
    """One InfluxDB server's HTTP API, safe to use from several threads.

    Connections are kept alive and reused: a new one per request cost InfluxDB and the
    bridge a TCP (or TLS) handshake every write. A connection is used by one request at a
    time, then goes back to a small pool."""

    def __init__(self, base_url: str, *, auth_header: str | None, timeout_s: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"InfluxDB base URL must be http(s)://host:port, got {base_url!r}")
        self.base_url = base_url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or 8086
        self._auth_header = auth_header
        self._timeout_s = timeout_s
        self._idle: list[http.client.HTTPConnection] = []
        self._idle_lock = threading.Lock()
        self._closed = False

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> Response:
        """Send one request; StoreUnavailable if no answer came (refused, reset, timeout)."""
        headers = {"Accept": "application/json"}
        if self._auth_header:
            headers["Authorization"] = self._auth_header
        if content_type:
            headers["Content-Type"] = content_type
        url = f"{path}?{urlencode(params)}"
        conn, reused = self._connection()
        try:
            try:
                resp, data = self._exchange(conn, method, url, body, headers)
            except _STALE:
                if not reused:
                    raise
                conn.close()
                conn = self._new_connection()
                resp, data = self._exchange(conn, method, url, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            what = f"InfluxDB at {self.base_url}: {method} {path}"
            raise StoreUnavailable(f"{what}: {exc!r}") from exc
        if resp.will_close:
            conn.close()
        else:
            self._keep(conn)
        return Response(
            status=resp.status,
            reason=resp.reason,
            headers=dict(resp.getheaders()),
            body=data.decode("utf-8", errors="replace"),
        )

    @staticmethod
    def _exchange(conn: http.client.HTTPConnection, method: str, url: str,
                  body: bytes | None, headers: dict[str, str]
                  ) -> tuple[http.client.HTTPResponse, bytes]:
        conn.request(method, url, body=body, headers=headers)
        resp = conn.getresponse()
        return resp, resp.read()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (reused: True) or a new one."""
        with self._idle_lock:
            if self._idle:
                return self._idle.pop(), True
        return self._new_connection(), False

    def _new_connection(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout_s)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)

    def _keep(self, conn: http.client.HTTPConnection) -> None:
        with self._idle_lock:
            if not self._closed and len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections; one still in use is closed when its request ends."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
            self._closed = True
        for conn in idle:
            conn.close()

    def query_records(
        self,
        database: str,
        statements: Sequence[str],
        *,
        chunk_size: int | None,
    ) -> list[StoredRecord]:
        """Run InfluxQL SELECTs built by influx_schema with epoch=ms; their records, unsorted.

        `chunk_size` asks for a chunked answer (InfluxDB 1.x), which no server row limit
        truncates; None asks for one document (all that 2.x/3.x promise on /query).
        """
        records: list[StoredRecord] = []
        for statement in statements:
            params = {"db": database, "q": statement, "epoch": "ms"}
            if chunk_size is not None:
                params.update(chunked="true", chunk_size=str(chunk_size))
            resp = self.request("GET", "/query", params)
            if not resp.ok:
                raise error_for(resp.status, resp.message, resp.headers,
                                f"query to InfluxDB at {self.base_url}")
            records.extend(parse_query_body(resp.body, chunked=chunk_size is not None))
        return records

    def query_series(
        self,
        database: str,
        statements: Sequence[str],
        *,
        chunk_size: int | None,
        join: bool,
        epoch: str = "ns",
        parallel: int = 1,
    ) -> list[list[Series]]:
        """Run InfluxQL SELECTs; the series of each, in the statements' order.

        `join` sends several statements in one request, separated by semicolons (1.x
        answers each with its statement_id); 3.x's /query runs one statement per request,
        so the 2.x/3.x store sends them singly. GET, not POST: 3.x reads the query from the
        URL only. `parallel`: the statements go in up to this many groups, each in its own
        requests at the same time (for the clinic's reads of many devices: 30 days of
        1,000 patients' daily totals, 0.5 s in one request, take half that in four on a
        2-core server).
        """
        if parallel > 1 and len(statements) > 1:
            size = -(-len(statements) // min(parallel, len(statements)))
            groups = [statements[i:i + size] for i in range(0, len(statements), size)]
            with ThreadPoolExecutor(len(groups)) as pool:
                parts = list(pool.map(lambda group: self.query_series(
                    database, group, chunk_size=chunk_size, join=join, epoch=epoch), groups))
            return [series for part in parts for series in part]
        out: list[list[Series]] = [[] for _ in statements]
        start = 0
        while start < len(statements):
            end = start + 1
            if join:
                size = len(statements[start])
                while (end < len(statements)
                       and size + len(statements[end]) + 1 <= MAX_JOINED_QUERY_CHARS):
                    size += len(statements[end]) + 1
                    end += 1
            params = {"db": database, "q": ";".join(statements[start:end]), "epoch": epoch}
            if chunk_size is not None:
                params.update(chunked="true", chunk_size=str(chunk_size))
            resp = self.request("GET", "/query", params)
            if not resp.ok:
                raise error_for(resp.status, resp.message, resp.headers,
                                f"query to InfluxDB at {self.base_url}")
            for statement_id, series in iter_series(resp.body, chunked=chunk_size is not None):
                if not 0 <= statement_id < end - start:
                    raise StoreError(f"InfluxDB query: answer to a statement never asked "
                                     f"({statement_id})")
                out[start + statement_id].append(series)
            start = end
        return out
