"""The Store contract, run against every backend that can run here: SQLite and a real
InfluxDB 1.x (tests/services.py). InfluxDB 2.x/3.x cannot be installed on these machines."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cloud_bridge.records import SET_FIELDS, StoredRecord
from cloud_bridge.stores.base import Store, StoreRejected, StoreUnavailable
from cloud_bridge.stores.influx_v1 import InfluxV1Store
from cloud_bridge.stores.influx_v2 import InfluxV2Store
from cloud_bridge.stores.sqlite_store import SQLiteStore
from tests.services import InfluxDB1, free_port

T0 = 1_764_200_000_000  # 2025-11-26T23:33:20Z, in ms
DEV_A = "a1b2c3d4e5f6"
DEV_B = "0123456789ab"
DEV_C = "ffffffffffff"
EVERYTHING = (0, 2**62)


def rep(device: str, seq: int, t_ms: int, *, exercise: str = "squat", set_no: int = 1,
        partial: bool = False, time_valid: bool = True, n: int = 1) -> StoredRecord:
    return StoredRecord(
        device_id=device, seq=seq, kind="rep", exercise=exercise, set_no=set_no, t_ms=t_ms,
        time_valid=time_valid, partial=partial,
        values={"rep": n, "duration_ms": 1500 + seq, "rom_cdeg": 9000, "peak_dps": 120},
    )


def set_summary(device: str, seq: int, t_ms: int, *, exercise: str = "squat",
                set_no: int = 1, reps: int = 10, mean_rom_cdeg: int = 8800,
                time_valid: bool = True) -> StoredRecord:
    return StoredRecord(
        device_id=device, seq=seq, kind="set", exercise=exercise, set_no=set_no, t_ms=t_ms,
        time_valid=time_valid, partial=False,
        values={"reps": reps, "partial_reps": 2, "mean_rom_cdeg": mean_rom_cdeg,
                "duration_s": 45, "tempo_cv_pct": 12, "rests": 1},
    )


def by_key(records: list[StoredRecord]) -> list[StoredRecord]:
    return sorted(records, key=lambda r: (r.device_id, r.seq))


@pytest.fixture(params=["sqlite", pytest.param("influxdb1", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        sqlite = SQLiteStore(tmp_path / "records.db")
        yield sqlite
        sqlite.close()
    else:
        yield request.getfixturevalue("influx_store")


# -- the contract ------------------------------------------------------------------------

def test_empty_store_returns_nothing(store: Store) -> None:
    assert store.query(None, *EVERYTHING) == []
    assert store.query([DEV_A], *EVERYTHING) == []


def test_records_read_back_field_for_field(store: Store) -> None:
    written = [
        rep(DEV_A, 1, T0 + 1),
        rep(DEV_A, 2, T0 + 2_345, partial=True, n=1),
        rep(DEV_A, 3, T0 + 4_999, set_no=2, exercise="heel_raise", n=2),
        set_summary(DEV_A, 4, T0 + 9_999, set_no=2, exercise="heel_raise"),
        # No valid clock: t_ms is ms since boot; must come back as written.
        rep(DEV_B, 7, 61_000, time_valid=False),
        set_summary(DEV_B, 8, 0),
        replace(rep(DEV_B, 9, 62_000),
                values={"rep": 65535, "duration_ms": 0, "rom_cdeg": 65535, "peak_dps": 0}),
        replace(set_summary(DEV_B, 10, 63_000), values=dict.fromkeys(SET_FIELDS, 0)),
        rep(DEV_C, 2**32 - 1, T0 + 100, set_no=255),
    ]
    store.write(list(reversed(written)))
    got = store.query(None, *EVERYTHING)
    assert got == by_key(written)
    for g, w in zip(got, by_key(written), strict=True):  # same types, not only equal values
        assert type(g.time_valid) is bool and type(g.partial) is bool
        assert all(type(v) is int for v in g.values.values())
        assert g.values == w.values


def test_writing_the_same_records_twice_keeps_one_each(store: Store) -> None:
    batch = [rep(DEV_A, seq, T0 + seq * 1000) for seq in range(1, 11)]
    store.write(batch)
    store.write(batch)
    assert store.query(None, *EVERYTHING) == batch


def test_overlapping_batches_keep_one_each(store: Store) -> None:
    records = [rep(DEV_A, seq, T0 + seq * 1000) for seq in range(1, 21)]
    store.write(records[:12])
    store.write(records[8:])
    store.write(records[5:15])
    assert store.query(None, *EVERYTHING) == records


def test_records_sharing_a_millisecond_stay_apart(store: Store) -> None:
    # Two boots without a clock can stamp the same uptime: distinct seq, same everything else.
    first = rep(DEV_A, 5, 30_000, time_valid=False, n=1)
    second = rep(DEV_A, 105, 30_000, time_valid=False, n=2)
    store.write([first, second])
    assert store.query([DEV_A], 30_000, 30_001) == [first, second]


def test_time_range_is_start_inclusive_end_exclusive(store: Store) -> None:
    before, at_start, inside, last_in, at_end = (
        rep(DEV_A, 1, T0 - 1), rep(DEV_A, 2, T0), rep(DEV_A, 3, T0 + 500),
        rep(DEV_A, 4, T0 + 999), rep(DEV_A, 5, T0 + 1000),
    )
    store.write([before, at_start, inside, last_in, at_end])
    assert store.query(None, T0, T0 + 1000) == [at_start, inside, last_in]
    assert store.query(None, T0 + 1, T0 + 999) == [inside]
    assert store.query(None, T0 + 1000, T0 + 1001) == [at_end]
    assert store.query(None, T0, T0) == []
    assert store.query(None, T0 + 1000, T0) == []


def test_device_filter_and_many_devices(store: Store) -> None:
    devices = [f"{i:012x}" for i in range(1, 31)]
    records = [rep(d, seq, T0 + i * 10 + seq) for i, d in enumerate(devices) for seq in (1, 2)]
    store.write(records)
    assert store.query(None, *EVERYTHING) == by_key(records)
    wanted = [devices[3], devices[17], devices[29]]
    assert store.query(wanted, *EVERYTHING) == by_key([r for r in records if r.device_id in wanted])
    assert store.query([devices[0], devices[0]], *EVERYTHING) == records[:2]
    assert store.query([], *EVERYTHING) == []
    assert store.query(["000000000000"], *EVERYTHING) == []


def test_device_filter_over_many_queries_worth_of_devices(store: Store) -> None:
    devices = [f"{i:012x}" for i in range(250)]  # more than one InfluxQL statement's worth
    records = [rep(d, 1, T0 + i) for i, d in enumerate(devices)]
    store.write(records)
    assert store.query(devices[5:240], *EVERYTHING) == by_key(records[5:240])


@pytest.mark.parametrize("exercise", [
    "heel raise", "a,b", "x=y", "all ,= three", "trailing ", " leading", "quote'single",
    'quote"double', "semi;colon", "slash/path", "hash#tag", "brace{}", "star*",
])
def test_tricky_names_round_trip(store: Store, exercise: str) -> None:
    odd_device = "dev 'x',=y"
    records = [
        rep(DEV_A, 1, T0, exercise=exercise),
        set_summary(DEV_A, 2, T0 + 1, exercise=exercise),
        rep(odd_device, 3, T0 + 2, exercise=exercise),
    ]
    store.write(records)
    assert store.query(None, *EVERYTHING) == by_key(records)
    assert store.query([odd_device], *EVERYTHING) == [records[2]]


def test_five_thousand_records_in_one_batch(store: Store) -> None:
    records = [
        rep(f"{d:012x}", seq, T0 + seq * 1_000 + d, set_no=1 + seq // 50, n=seq % 50 + 1)
        if seq % 50 else set_summary(f"{d:012x}", seq, T0 + seq * 1_000 + d, set_no=seq // 50)
        for d in range(5)
        for seq in range(1, 1001)
    ]
    store.write(records)
    assert store.query(None, *EVERYTHING) == by_key(records)
    store.write(records)  # redelivered: still one each
    assert len(store.query(None, *EVERYTHING)) == 5000


@pytest.mark.parametrize("bad", [
    replace(rep(DEV_A, 1, T0), kind="sample"),
    replace(rep(DEV_A, 1, T0), exercise=""),
    replace(rep(DEV_A, 1, T0), exercise="back\\slash"),
    replace(rep(DEV_A, 1, T0), exercise="new\nline"),
    replace(rep(DEV_A, 1, T0), device_id=""),
    replace(rep(DEV_A, 1, T0), t_ms=-1),
    replace(rep(DEV_A, 1, T0), seq=-5),
    replace(rep(DEV_A, 1, T0), partial=1),  # type: ignore[arg-type]
    replace(rep(DEV_A, 1, T0), values=dict.fromkeys(SET_FIELDS, 1)),  # a set's values
    replace(rep(DEV_A, 1, T0), values={"rep": 1}),  # some missing
    replace(rep(DEV_A, 1, T0), values={**rep(DEV_A, 1, T0).values, "extra": 1}),
    replace(rep(DEV_A, 1, T0), values={**rep(DEV_A, 1, T0).values, "rep": True}),
    replace(rep(DEV_A, 1, T0), values={**rep(DEV_A, 1, T0).values, "rep": 1.5}),  # type: ignore[dict-item]
    replace(rep(DEV_A, 1, T0), values={**rep(DEV_A, 1, T0).values, "rep": 2**63}),
])
def test_bad_records_are_rejected_and_nothing_of_their_batch_is_stored(
    store: Store, bad: StoredRecord
) -> None:
    good = rep(DEV_B, 1, T0)
    with pytest.raises(StoreRejected):
        store.write([good, bad])
    assert store.query(None, *EVERYTHING) == []


def test_writes_from_one_thread_while_another_queries(store: Store) -> None:
    records = [rep(DEV_A, seq, T0 + seq) for seq in range(1, 401)]
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(0, len(records), 20):
                store.write(records[i : i + 20])
        except Exception as exc:
            errors.append(exc)  # reported by the main thread

    thread = threading.Thread(target=writer)
    thread.start()
    seen = 0
    while thread.is_alive():
        now = len(store.query([DEV_A], *EVERYTHING))
        assert now >= seen  # never goes backwards
        seen = now
    thread.join()
    assert errors == []
    assert store.query([DEV_A], *EVERYTHING) == records


# -- backend specifics ---------------------------------------------------------------------

def test_sqlite_keeps_records_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    with SQLiteStore(path) as first:
        first.write([rep(DEV_A, 1, T0)])
    with SQLiteStore(path) as second:
        assert second.query(None, *EVERYTHING) == [rep(DEV_A, 1, T0)]


@pytest.mark.integration
def test_influx_unreachable_is_unavailable() -> None:
    store = InfluxV1Store(f"http://127.0.0.1:{free_port()}", "rtm", timeout_s=2)
    with pytest.raises(StoreUnavailable, match=r"Connection refused|ConnectionRefused"):
        store.write([rep(DEV_A, 1, T0)])
    with pytest.raises(StoreUnavailable):
        store.query(None, *EVERYTHING)


@pytest.mark.integration
def test_influx_field_type_conflict_is_rejected_with_the_servers_reason(
    influx_store: InfluxV1Store, influxdb_server: InfluxDB1
) -> None:
    influx_store.create_database()
    # Someone else wrote seq as a float into the same measurement (and shard: 1.x keeps
    # field types per shard, a week of time by default) first.
    conn = http.client.HTTPConnection("127.0.0.1", influxdb_server.http_port, timeout=5)
    conn.request("POST", f"/write?db={influx_store.database}&precision=ms",
                 body=f"rep,device=x,exercise=y seq=1.5 {T0}".encode())
    assert conn.getresponse().status == 204
    conn.close()
    with pytest.raises(StoreRejected, match=r'field type conflict.*"seq"') as caught:
        influx_store.write([rep(DEV_A, 1, T0)])
    assert caught.value.status == 400


@pytest.mark.integration
def test_influx_database_dropped_behind_the_stores_back_is_created_again(
    influx_store: InfluxV1Store, influxdb_server: InfluxDB1
) -> None:
    influx_store.write([rep(DEV_A, 1, T0)])
    InfluxV1Store(influxdb_server.url, influx_store.database).drop_database()
    influx_store.write([rep(DEV_A, 2, T0 + 1)])
    assert influx_store.query(None, *EVERYTHING) == [rep(DEV_A, 2, T0 + 1)]


@pytest.mark.integration
def test_influx_chunked_query_joins_chunks(influxdb_server: InfluxDB1) -> None:
    store = InfluxV1Store(influxdb_server.url, "test_chunks", query_chunk_size=7)
    try:
        records = [rep(DEV_A, seq, T0 + seq) for seq in range(1, 101)]
        store.write(records)
        assert store.query(None, *EVERYTHING) == records
    finally:
        store.drop_database()


@pytest.mark.integration
def test_influx_v2_store_reads_through_influxql(
    influx_store: InfluxV1Store, influxdb_server: InfluxDB1
) -> None:
    # 1.x answers the same /query the 2.x/3.x store reads with; writes need /api/v2 (below).
    records = [rep(DEV_A, 1, T0), set_summary(DEV_B, 2, T0 + 1)]
    influx_store.write(records)
    v2 = InfluxV2Store(influxdb_server.url, org="clinic", bucket=influx_store.database,
                       token="unused-by-1.x")
    try:
        assert v2.query(None, *EVERYTHING) == by_key(records)
        assert v2.query([DEV_B], *EVERYTHING) == [records[1]]
    finally:
        v2.close()


@pytest.mark.integration
def test_influx_v2_store_against_a_1x_server_is_unavailable_not_rejected(
    influx_store: InfluxV1Store, influxdb_server: InfluxDB1
) -> None:
    # 1.6.7 has no /api/v2/write: a configuration error must not dead-letter good data.
    v2 = InfluxV2Store(influxdb_server.url, org="clinic", bucket=influx_store.database,
                       token="t")
    try:
        with pytest.raises(StoreUnavailable, match="HTTP 404"):
            v2.write([rep(DEV_A, 1, T0)])
    finally:
        v2.close()


def test_influx_v2_unreachable_is_unavailable() -> None:
    v2 = InfluxV2Store(f"http://127.0.0.1:{free_port()}", org="clinic", bucket="rtm",
                       token="t", timeout_s=2)
    try:
        with pytest.raises(StoreUnavailable):
            v2.write([rep(DEV_A, 1, T0)])
        with pytest.raises(StoreUnavailable):
            v2.query(None, *EVERYTHING)
    finally:
        v2.close()


def test_a_record_stored_twice_with_different_dates_keeps_the_better_one(store: Store) -> None:
    """A record fetched again after a lost ACK can be dated differently: a flagged copy
    (time unknown, dated at the sync) and a dated one. Every store answers one record,
    with the known time."""
    from dataclasses import replace

    dated = rep("a1b2c3d4e5f6", 41, 1_790_000_000_000)
    flagged = replace(dated, t_ms=1_790_000_500_000, time_valid=False)
    store.write([flagged])
    store.write([dated])
    store.write([flagged])
    assert store.query(["a1b2c3d4e5f6"], 0, 2**62) == [dated]
