"""How a StoredRecord maps to an InfluxDB point and back, shared by the 1.x and 2.x/3.x stores.

Schema (one point per record)::

    measurement  = kind                      "rep" | "set"
    tags         device=<device_id>, exercise=<exercise name>
    fields       seq (int), set_no (int), time_valid (bool), partial (bool),
                 plus the kind's value fields (REP_FIELDS or SET_FIELDS, ints)
    timestamp    t_ms * 1_000_000 + seq % 1_000_000   (ns, written with precision=ns)

Why the sub-millisecond part: InfluxDB identifies a point by (measurement, tag set, time) and
silently merges two points that share it. Records without a valid clock carry ms since boot,
so two records of one device from different boots can share t_ms; with the seq folded into
the nanoseconds they stay distinct, while rewriting the same (device_id, seq) still lands on
the same point (idempotent). Truncating the time to ms gives t_ms back exactly, which is what
`epoch=ms` in a query does.

Torn reads: InfluxDB 1.x makes a point visible field by field, so a query that runs while
a write is in flight can see a point with only some of its fields. Every record has all of
its kind's fields (check_record), so a row lacking any of them is skipped as not yet written;
once `write` has returned, its points are whole. The field lists in records.py are
append-only; if one ever grows, points written before lack the new field: list it in
FIELDS_ADDED_LATER so that such rows still count as whole.

Cardinality: series = measurements (2) x devices x exercises used by each device, at most
2 x 13 per wearable with today's exercise table: 1,000 enrolled wearables stay under 26,000
series. seq is a field, never a tag, so series do not grow with data. The daily totals add
the measurements daily, daily_dirty and daily_state (influx_daily); docs/storage.md has the
whole schema, its cardinality and retention.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.base import KIND_FIELDS, StoreError
from cloud_bridge.stores.influx_results import iter_series

TAG_DEVICE = "device"
TAG_EXERCISE = "exercise"
BASE_FIELDS = ("seq", "set_no", "time_valid", "partial")
_NS_PER_MS = 1_000_000
_INFLUX_MIN_NS = -(2**63) + 2  # InfluxQL's valid time range (models.MinNanoTime/MaxNanoTime)
_INFLUX_MAX_NS = 2**63 - 2
DEVICES_PER_QUERY = 100  # keeps the WHERE clause (and the GET URL) short
FIELDS_ADDED_LATER: frozenset[str] = frozenset()  # value fields old points may lack


def escape_key(text: str) -> str:
    """Escape a measurement, tag key, tag value or field key for line protocol."""
    return text.replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def timestamp_ns(rec: StoredRecord) -> int:
    """The point's time: t_ms in ms, seq in the ns below it (see the module docstring)."""
    return rec.t_ms * _NS_PER_MS + rec.seq % _NS_PER_MS


# Per kind, one %-template for a whole line after its series (the one formatting operation
# per record: the ingest's hot path) and a getter of its value fields, in the template's
# order.
_LINE_TEMPLATES = {
    kind: ("%sseq=%di,set_no=%di,time_valid=%s,partial=%s,"
           + ",".join(f"{escape_key(k)}=%di" for k in sorted(fields)) + " %d",
           itemgetter(*sorted(fields)))
    for kind, fields in KIND_FIELDS.items()
}
_BOOLEANS = ("false", "true")
# "kind,device=..,exercise=.. " per series: a record repeats its wearable's series.
_SERIES_PREFIXES: dict[tuple[str, str, str], str] = {}
_SERIES_PREFIXES_MAX = 100_000


def to_line(rec: StoredRecord) -> str:
    """One line of line protocol (no newline), precision ns. `rec` must pass check_record."""
    series = (rec.kind, rec.device_id, rec.exercise)
    prefix = _SERIES_PREFIXES.get(series)
    if prefix is None:
        prefix = (f"{escape_key(rec.kind)},{TAG_DEVICE}={escape_key(rec.device_id)},"
                  f"{TAG_EXERCISE}={escape_key(rec.exercise)} ")
        if len(_SERIES_PREFIXES) >= _SERIES_PREFIXES_MAX:
            _SERIES_PREFIXES.clear()
        _SERIES_PREFIXES[series] = prefix
    template, values = _LINE_TEMPLATES[rec.kind]
    return template % (prefix, rec.seq, rec.set_no, _BOOLEANS[rec.time_valid],
                       _BOOLEANS[rec.partial], *values(rec.values),
                       rec.t_ms * _NS_PER_MS + rec.seq % _NS_PER_MS)


def quote_string(text: str) -> str:
    """An InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def select_statements(
    device_ids: Sequence[str] | None, start_ms: int, end_ms: int, *, where: str = ""
) -> list[str]:
    """InfluxQL SELECTs that together return every point of the query, both measurements;
    `where` adds a condition (e.g. on a field)."""
    start_ns = max(start_ms * _NS_PER_MS, _INFLUX_MIN_NS)
    end_ns = min(end_ms * _NS_PER_MS, _INFLUX_MAX_NS)
    if start_ns >= end_ns:
        return []
    measurements = ", ".join(f'"{kind}"' for kind in KIND_FIELDS)
    base = f"SELECT * FROM {measurements} WHERE time >= {start_ns} AND time < {end_ns}"
    if where:
        base += f" AND {where}"
    return [base + match for match in device_matches(device_ids)]


def device_matches(device_ids: Sequence[str] | None) -> list[str]:
    """WHERE-clause tails (" AND (device = .. OR ..)") that together cover `device_ids` in
    chunks of DEVICES_PER_QUERY; [""] for all devices, [] for none."""
    if device_ids is None:
        return [""]
    unique = sorted(set(device_ids))
    tails = []
    for i in range(0, len(unique), DEVICES_PER_QUERY):
        chunk = unique[i : i + DEVICES_PER_QUERY]
        tails.append(" AND (" + " OR ".join(
            f'"{TAG_DEVICE}" = {quote_string(d)}' for d in chunk) + ")")
    return tails


def parse_query_body(body: str, *, chunked: bool) -> Iterator[StoredRecord]:
    """Whole records from a /query response made with epoch=ms (one JSON document, or one per
    chunk when `chunked`). Raises StoreError for a statement error or a truncated result."""
    for _, series in iter_series(body, chunked=chunked):
        for row in series.values:
            rec = record_from_row(series.name, series.columns, row)
            if rec is not None:
                yield rec


def record_from_row(
    measurement: str, columns: Sequence[str], row: Sequence[Any]
) -> StoredRecord | None:
    """Rebuild a record from one row of `SELECT *` (time in ms, as epoch=ms returns it);
    None for a point still being written (see "Torn reads" above). Fields that are not the
    kind's (written by someone else) are ignored."""
    fields = KIND_FIELDS.get(measurement)
    if fields is None:
        raise StoreError(f"InfluxDB query: unexpected measurement {measurement!r}")
    cells = dict(zip(columns, row, strict=True))
    for name in (*BASE_FIELDS, *fields):
        if cells.get(name) is None and name not in FIELDS_ADDED_LATER:
            return None
    try:
        return StoredRecord(
            device_id=str(cells[TAG_DEVICE]),
            seq=int(cells["seq"]),
            kind=measurement,
            exercise=str(cells[TAG_EXERCISE]),
            set_no=int(cells["set_no"]),
            t_ms=int(cells["time"]),
            time_valid=bool(cells["time_valid"]),
            partial=bool(cells["partial"]),
            values={k: int(cells[k]) for k in fields if cells.get(k) is not None},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(
            f"InfluxDB query: a {measurement} point is not a record ({exc!r}): {cells}"
        ) from None


def one_per_key(records: Iterable[StoredRecord]) -> list[StoredRecord]:
    """One record per (device_id, seq), sorted by that key.

    InfluxDB identifies a point by its time, and a record fetched twice (a lost ACK, a
    second gateway) can be dated differently the second time if it was made before the
    wearable knew the time: two points, one record. Keep the best dated copy: a known time
    over an unknown one, then the earliest.
    """
    best: dict[tuple[str, int], StoredRecord] = {}
    for rec in records:
        have = best.get(rec.key)
        if have is None or (not have.time_valid, have.t_ms) > (not rec.time_valid, rec.t_ms):
            best[rec.key] = rec
    return [best[k] for k in sorted(best)]
