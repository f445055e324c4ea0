"""The store front: the contract every record store keeps, its errors, and `open_store`.

A store keeps StoredRecords for the clinic. The bridge writes what arrives over MQTT and
acknowledges the message only after `write` returned; the clinician CLI reads time ranges.
Backends live in sibling modules and are imported lazily by `open_store`, so a bridge that
uses SQLite never imports the InfluxDB client.

Errors sort into two types, so callers decide with a type, not by parsing messages:

* `StoreUnavailable`: try the same data again later (connection refused, timeout, HTTP 5xx
  or 429, locked or full disk, wrong credentials). `retry_after_s` carries the server's hint.
* `StoreRejected`: the data itself is bad (HTTP 400/422, a record that fails `check_record`);
  retrying cannot help, the caller dead-letters the batch.

Anything else a store raises on purpose is a plain `StoreError` (e.g. a query answer that
cannot be read).

Store URLs (`open_store`):

Every store is opened for the clinic's time zone (`zone`, default UTC): the days of its daily
totals (cloud_bridge/daily.py) are local days in that zone. The store records the zone its
totals were computed in; opened with another zone it refuses to answer or maintain them
(DailyZoneMismatch) until `rebuild_daily()` recomputed them for the new zone. Refusing, not
rebuilding on open, because the clinician CLI opens stores too: a CLI run with another
--tz must not silently flip the days under a running bridge. See docs/storage.md.

* ``sqlite:///rtm.db`` -- the default backend, a file relative to the working directory;
  ``sqlite:////var/lib/rtm/rtm.db`` (four slashes) for an absolute path, as in SQLAlchemy:
  the path is everything after ``sqlite:///``. A bare path without scheme works too.
* ``influxdb1://[user:password@]host[:port]/dbname[?timeout_s=10]`` -- InfluxDB 1.x
  over HTTP (``influxdb1s://`` for HTTPS); port defaults to 8086; percent-encode special
  characters in user and password.
* ``influxdb2://host[:port]?org=ORG&bucket=BUCKET[&token=TOKEN][&timeout_s=10]`` --
  InfluxDB 2.x or 3.x (``influxdb2s://`` for HTTPS); port defaults to 8086 (3.x listens on
  8181 by default: give the port); for 3.x, bucket is the database name; without
  ``token=`` the token is read from the environment variable INFLUX_TOKEN, which keeps it
  out of process listings and logs.

Both InfluxDB schemes also take ``daily_refresh_s=60``: seconds between the background
refreshes of the daily totals (see influx_daily).
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import date
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from cloud_bridge.daily import UTC, DailyTotal
from cloud_bridge.device_state import DeviceState
from cloud_bridge.records import REP_FIELDS, SET_FIELDS, StoredRecord

KIND_FIELDS: Mapping[str, tuple[str, ...]] = {"rep": REP_FIELDS, "set": SET_FIELDS}
INT64_MAX = 2**63 - 1
# InfluxDB keeps time as int64 ns; all stores accept the same range so they stay swappable.
MAX_T_MS = INT64_MAX // 1_000_000  # 2262-04-11
_TAG_VALUE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,256}")  # printable ASCII except backslash
TOKEN_ENV = "INFLUX_TOKEN"
SQLITE_PREFIX = "sqlite:///"


class StoreError(Exception):
    """Root of every error a store raises on purpose."""


class StoreUnavailable(StoreError):
    """Transient: the store could not take or give the data now; try again later.

    `retry_after_s` is the server's Retry-After hint in seconds, or None if it gave none.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreRejected(StoreError):
    """Permanent: the store refused the data as bad. Retrying the same data cannot help.

    `status` is the HTTP status when a server said so, None for a local check.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DailyZoneMismatch(StoreUnavailable):
    """The store's daily totals were computed for days in another time zone than the one it
    was opened with. A configuration error, like wrong credentials: the data is fine."""

    def __init__(self, recorded: str, wanted: str) -> None:
        super().__init__(
            f"the daily totals in this store are for days in {recorded!r}, but it was opened "
            f"for {wanted!r}: open it with the same zone (rtm-bridge --clinic-tz / rtm-clinic "
            f"--tz {recorded}), or recompute the totals for {wanted!r} once with "
            f"`rtm-bridge rebuild-daily --store URL --clinic-tz {wanted}` and run the bridge "
            f"with --clinic-tz {wanted}"
        )
        self.recorded = recorded
        self.wanted = wanted


class DailyNotReady(StoreUnavailable):
    """The store holds records but its daily totals were never computed yet, or were
    computed by an older version that did not keep all of their fields (InfluxDB: before
    the ROM fields); `rtm-bridge rebuild-daily` recomputes them."""


class Store(ABC):
    """Where the clinic keeps records. Implementations must be usable from two threads at
    once (a paho callback thread writing, another thread querying).

    `zone` is the clinic's time zone: the one the days of `daily_totals` are in."""

    zone: ZoneInfo = UTC

    # True for a store whose `write` mostly waits for a server's answer (the GIL is free
    # meanwhile): the bridge then validates its next batch during the write.
    write_waits_on_server = False

    @abstractmethod
    def write(self, records: Sequence[StoredRecord]) -> None:
        """Store `records` durably; return only once the store has accepted all of them.

        Idempotent by (device_id, seq): writing the same record again leaves one copy.
        Rewriting a key with *different* data is not supported (which copy wins differs
        between backends). Raises StoreRejected, before any I/O, for a record that fails
        `check_record`; StoreUnavailable when the data should be written again later.
        """

    @abstractmethod
    def query(
        self, device_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> list[StoredRecord]:
        """All records with start_ms <= t_ms < end_ms, of the given devices (None: all),
        sorted by (device_id, seq), every field equal to what was written."""

    @abstractmethod
    def daily_totals(
        self, device_ids: Sequence[str] | None, first_day: date, last_day: date
    ) -> list[DailyTotal]:
        """Per (device, exercise, local day in `zone`), first_day..last_day inclusive, of the
        given devices (None: all): the counts of time_valid records, one per (device_id,
        seq), and the ROM of their set summaries (daily.set_rom), exactly as count_daily
        computes them from what `query` returns; sorted; no all-zero rows.

        Read from stored daily totals, never from the records, so a year costs days, not
        reps. They may trail `write` until `refresh_daily` ran (InfluxDB: within
        daily_refresh_s). Raises DailyZoneMismatch if they are for another zone."""

    @abstractmethod
    def last_days(self, device_ids: Sequence[str] | None, until: date) -> dict[str, date]:
        """Per device (None: all) that has any daily totals on or before `until`, the last
        of those days: what max(t.day) over daily_totals(device_ids, <ever>, until) would
        give, without reading every day (the worklist asks it for every patient, some
        silent for months). Same freshness and errors as daily_totals."""

    def days_with_data(
        self, device_ids: Sequence[str] | None, first_day: date, last_day: date
    ) -> dict[str, set[date]]:
        """Per device (None: all) with any, the days first_day..last_day that daily_totals
        has rows for: for what needs only whether there was data (the days of a 30-day
        period), at a fraction of the cost of the totals on InfluxDB."""
        out: dict[str, set[date]] = {}
        for t in self.daily_totals(device_ids, first_day, last_day):
            out.setdefault(t.device_id, set()).add(t.day)
        return out

    @abstractmethod
    def undated(
        self, device_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> list[StoredRecord]:
        """Records whose time is unknown (time_valid False: made before a power loss, dated
        at the sync that brought them), with start_ms <= t_ms < end_ms, sorted by
        (device_id, seq). A record that also has a copy with a known time is not undated."""

    def write_device_states(self, states: Sequence[DeviceState]) -> None:
        """Keep each state as its device's latest unless the store holds a later report
        (by reported_ms) already. Idempotent."""
        raise NotImplementedError(f"{type(self).__name__} keeps no device states yet")

    def device_states(self, device_ids: Sequence[str] | None, *,
                      recent_ms: int | None = None) -> dict[str, DeviceState]:
        """The latest state of each of the devices (None: all) that has one.

        `recent_ms`: a time since which most of them are expected to have reported (their
        gateways report every night); a store that keeps every report may look there first,
        and further back only for the devices it did not find. The answer is the same."""
        return {}

    def refresh_daily(self) -> int:
        """Bring the daily totals up to date with every write that returned; the number of
        daily rows written. Stores that keep them in the write itself have nothing to do."""
        return 0

    @abstractmethod
    def rebuild_daily(self, since: date | None = None) -> int:
        """Recompute the daily totals from the records, for every day from `since` (None:
        all days), in `zone`, and record that zone; the number of daily rows written.

        Switching the store to another zone needs since=None (otherwise StoreError): days
        before `since` would stay in the old zone."""

    @abstractmethod
    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_KIND_KEYS = {kind: frozenset(fields) for kind, fields in KIND_FIELDS.items()}
# Tag values seen to be good: a record repeats its wearable's id and one of a dozen
# exercise names, so the regular expression runs once per value, not once per record.
_GOOD_TAGS: set[str] = set()
_GOOD_TAGS_MAX = 200_000


def check_record(rec: StoredRecord) -> None:
    """Raise StoreRejected unless every store can keep `rec` exactly as it is.

    `values` must hold exactly the kind's fields (REP_FIELDS or SET_FIELDS), as the decoder
    makes them: a reader can then tell a complete record from one still being written.

    Tag-like strings (device_id, exercise) must be 1-256 printable ASCII characters without
    backslash: InfluxDB's line protocol cannot round-trip a value ending in a backslash, and
    an empty tag value is silently dropped.
    """
    # The fast path (the bridge checks every record it receives): all good, or find out
    # below what is wrong.
    seq, set_no, t_ms, values = rec.seq, rec.set_no, rec.t_ms, rec.values
    keys = _KIND_KEYS.get(rec.kind)
    if (keys is not None and rec.device_id in _GOOD_TAGS and rec.exercise in _GOOD_TAGS
            and type(seq) is int and 0 <= seq <= INT64_MAX
            and type(set_no) is int and 0 <= set_no <= INT64_MAX
            and type(t_ms) is int and 0 <= t_ms <= MAX_T_MS
            and type(rec.time_valid) is bool and type(rec.partial) is bool
            and keys == values.keys()):
        for v in values.values():
            if type(v) is not int or not -INT64_MAX - 1 <= v <= INT64_MAX:
                break
        else:
            return
    _check_record_slowly(rec)
    if len(_GOOD_TAGS) >= _GOOD_TAGS_MAX:
        _GOOD_TAGS.clear()
    _GOOD_TAGS.add(rec.device_id)
    _GOOD_TAGS.add(rec.exercise)


class CheckedRecords(list[StoredRecord]):
    """Records known to pass check_record by how they were made: the bridge's parser builds
    them from the codec's fixed-width fields, the exercise table and the topic's device id,
    with t_ms in range (tests/cloud_bridge/test_payload.py checks every record the codec can
    carry). A store does not check them again: that was a fifth of the bridge's time per
    record. Concatenating such lists keeps the guarantee; anything else is checked."""

    @staticmethod
    def join(lists: Sequence[Sequence[StoredRecord]]) -> list[StoredRecord]:
        """All the records in one list: CheckedRecords if every list is."""
        joined = [rec for records in lists for rec in records]
        if all(type(records) is CheckedRecords for records in lists):
            return CheckedRecords(joined)
        return joined


def check_records(records: Sequence[StoredRecord]) -> None:
    """check_record for each record, unless they are CheckedRecords."""
    if type(records) is CheckedRecords:
        return
    for rec in records:
        check_record(rec)


def _check_record_slowly(rec: StoredRecord) -> None:
    where = f"record ({rec.device_id!r}, {rec.seq!r})"
    if rec.kind not in KIND_FIELDS:
        raise StoreRejected(f"{where}: kind must be 'rep' or 'set', got {rec.kind!r}")
    for name in ("device_id", "exercise"):
        value = getattr(rec, name)
        if not isinstance(value, str) or not _TAG_VALUE.fullmatch(value):
            raise StoreRejected(
                f"{where}: {name} must be 1-256 printable ASCII characters without "
                f"backslash, got {value!r}"
            )
    _check_int(where, "seq", rec.seq, INT64_MAX)
    _check_int(where, "set_no", rec.set_no, INT64_MAX)
    _check_int(where, "t_ms", rec.t_ms, MAX_T_MS)
    for name in ("time_valid", "partial"):
        if not isinstance(getattr(rec, name), bool):
            raise StoreRejected(f"{where}: {name} must be a bool")
    expected = KIND_FIELDS[rec.kind]
    if set(rec.values) != set(expected):
        raise StoreRejected(
            f"{where}: a {rec.kind} needs exactly the values {', '.join(expected)}; "
            f"got {', '.join(sorted(rec.values)) or 'none'}"
        )
    for key, value in rec.values.items():
        if type(value) is not int or not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise StoreRejected(f"{where}: value {key}={value!r} must be a 64-bit int")


def _check_int(where: str, name: str, value: object, maximum: int) -> None:
    if type(value) is not int or not 0 <= value <= maximum:
        raise StoreRejected(f"{where}: {name} must be an int in 0..{maximum}, got {value!r}")


def open_store(url: str, zone: ZoneInfo = UTC) -> Store:
    """Open the store that `url` names (formats in the module docstring), for days in `zone`.

    Checks the URL before any I/O and raises ValueError naming what is wrong with it.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite" or (scheme == "" and url):
        return _open_sqlite(url, zone)
    if scheme in ("influxdb1", "influxdb1s"):
        return _open_influx_v1(url, scheme, zone)
    if scheme in ("influxdb2", "influxdb2s"):
        return _open_influx_v2(url, scheme, zone)
    raise ValueError(
        f"store URL {url!r}: unknown scheme {urlsplit(url).scheme!r}; use sqlite:///PATH.db, "
        "influxdb1://HOST:PORT/DBNAME or influxdb2://HOST:PORT?org=..&bucket=.."
    )


def _open_sqlite(url: str, zone: ZoneInfo) -> Store:
    if urlsplit(url).scheme == "":
        path = url
    elif url[: len(SQLITE_PREFIX)].lower() == SQLITE_PREFIX:
        path = url[len(SQLITE_PREFIX) :]
    else:
        raise ValueError(
            f"store URL {url!r}: write sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db (no host, the path after three slashes)"
        )
    if not path:
        raise ValueError(f"store URL {url!r}: no database file path")
    if "?" in path or "#" in path:
        raise ValueError(f"store URL {url!r}: sqlite takes no ?parameters")
    from cloud_bridge.stores.sqlite_store import SQLiteStore

    return SQLiteStore(unquote(path), zone=zone)


def _influx_params(url: str, query: str, allowed: set[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, values in parse_qs(query, keep_blank_values=True, strict_parsing=False).items():
        if key not in allowed:
            raise ValueError(
                f"store URL {_redact(url)!r}: unknown parameter {key!r} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        if len(values) != 1 or not values[0]:
            raise ValueError(f"store URL {_redact(url)!r}: {key} needs exactly one value")
        params[key] = values[0]
    return params


def _seconds(url: str, params: Mapping[str, str], name: str, default: str) -> float:
    raw = params.get(name, default)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ValueError(f"store URL {_redact(url)!r}: {name} must be a positive number")
    return seconds


def _timeout_s(url: str, params: Mapping[str, str]) -> float:
    return _seconds(url, params, "timeout_s", "10")


def _daily_refresh_s(url: str, params: Mapping[str, str]) -> float:
    return _seconds(url, params, "daily_refresh_s", "60")


def _base_url(url: str, scheme: str) -> str:
    parts = urlsplit(url)
    try:
        port = parts.port or 8086
    except ValueError as exc:
        raise ValueError(f"store URL {_redact(url)!r}: bad port ({exc})") from None
    if not parts.hostname:
        raise ValueError(f"store URL {_redact(url)!r}: no host")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    http = "https" if scheme.endswith("s") else "http"
    return f"{http}://{host}:{port}"


def _open_influx_v1(url: str, scheme: str, zone: ZoneInfo) -> Store:
    parts = urlsplit(url)
    base = _base_url(url, scheme)
    database = unquote(parts.path.strip("/"))
    if not database or "/" in database:
        raise ValueError(
            f"store URL {_redact(url)!r}: name the database as the path, e.g. "
            "influxdb1://localhost:8086/rtm"
        )
    params = _influx_params(url, parts.query, {"timeout_s", "daily_refresh_s"})
    if (parts.username is None) != (parts.password is None):
        raise ValueError(f"store URL {_redact(url)!r}: give both user and password, or none")
    from cloud_bridge.stores.influx_v1 import InfluxV1Store

    return InfluxV1Store(
        base,
        database,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        timeout_s=_timeout_s(url, params),
        zone=zone,
        daily_refresh_s=_daily_refresh_s(url, params),
    )


def _open_influx_v2(url: str, scheme: str, zone: ZoneInfo) -> Store:
    parts = urlsplit(url)
    base = _base_url(url, scheme)
    if parts.path.strip("/"):
        raise ValueError(
            f"store URL {_redact(url)!r}: influxdb2 takes no path; give ?org=..&bucket=.."
        )
    if parts.username is not None:
        raise ValueError(f"store URL {_redact(url)!r}: influxdb2 takes a token=, not user:pass@")
    params = _influx_params(
        url, parts.query, {"org", "bucket", "token", "timeout_s", "daily_refresh_s"}
    )
    for required in ("org", "bucket"):
        if required not in params:
            raise ValueError(f"store URL {_redact(url)!r}: missing ?{required}=")
    token = params.get("token") or os.environ.get(TOKEN_ENV)
    if not token:
        raise ValueError(
            f"store URL {_redact(url)!r}: no token; add &token=.. or set {TOKEN_ENV}"
        )
    from cloud_bridge.stores.influx_v2 import InfluxV2Store

    return InfluxV2Store(
        base, org=params["org"], bucket=params["bucket"], token=token,
        timeout_s=_timeout_s(url, params), zone=zone,
        daily_refresh_s=_daily_refresh_s(url, params),
    )


def _redact(url: str) -> str:
    """The URL with password and token masked, for error messages."""
    url = re.sub(r"(token=)[^&]*", r"\1***", url)
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
