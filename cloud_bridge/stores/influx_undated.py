"""Undated records in InfluxDB: the copies flagged time_valid=false in a time range, minus
the records that have a better copy anywhere (a dated one, or an earlier flagged one).

Flagged records are rare (a power loss before a sync), so this reads little: the flagged
points of the range (a field filter the server applies), then, only for the keys found, all
copies of those keys, over all time: a record first stored flagged and later dated (or the
other way round) may have its dated copy on any day. The answer equals the SQLite store's,
where an upsert keeps only the best copy of each key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.influx_results import Series
from cloud_bridge.stores.influx_schema import (
    TAG_DEVICE,
    one_per_key,
    quote_string,
    select_statements,
)

SEQS_PER_QUERY = 100
_RAW = '"rep","set"'
_ALL_TIME = "time >= -9223372036854775806 AND time <= 9223372036854775806"


def undated_records(
    read_records: Callable[[Sequence[str]], list[StoredRecord]],
    read_series: Callable[[Sequence[str]], list[list[Series]]],
    device_ids: Sequence[str] | None,
    start_ms: int,
    end_ms: int,
) -> list[StoredRecord]:
    """`read_records` runs record SELECTs (influx_schema); `read_series` runs other
    statements with epoch=ms."""
    statements = select_statements(device_ids, start_ms, end_ms, where='"time_valid" = false')
    flagged = [r for r in read_records(statements) if not r.time_valid]
    if not flagged:
        return []
    seqs: dict[str, list[int]] = {}
    for rec in flagged:
        seqs.setdefault(rec.device_id, []).append(rec.seq)
    statements, devices = [], []
    for device, device_seqs in sorted(seqs.items()):
        unique = sorted(set(device_seqs))
        for i in range(0, len(unique), SEQS_PER_QUERY):
            match = " OR ".join(f'"seq" = {seq}' for seq in unique[i : i + SEQS_PER_QUERY])
            statements.append(
                f'SELECT "seq", "time_valid" FROM {_RAW} WHERE {_ALL_TIME} '
                f'AND "{TAG_DEVICE}" = {quote_string(device)} AND ({match})'
            )
            devices.append(device)
    # The best copy of each key, by one_per_key's rule: a known time first, then the earliest.
    best: dict[tuple[str, int], tuple[bool, int]] = {}
    for device, series_list in zip(devices, read_series(statements), strict=True):
        for series in series_list:
            for row in series.rows():
                if row.get("seq") is None or row.get("time_valid") is None:
                    continue  # a copy still being written
                key = (device, int(row["seq"]))
                rank = (not row["time_valid"], int(row["time"]))
                best[key] = min(best.get(key, rank), rank)
    return one_per_key(r for r in flagged if best.get(r.key, (True, r.t_ms)) == (True, r.t_ms))
