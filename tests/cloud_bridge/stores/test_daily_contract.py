"""The daily totals contract, run against SQLite, InfluxDB 1.x, and the 2.x/3.x store's
queries (one statement per request) against the same real InfluxDB 1.x.

The reference is always the raw records: daily_totals must equal count_daily over what
`query` returns, however the records were written (twice, overlapping, re-dated): the
counts and the ROM of the set summaries alike."""

from __future__ import annotations

import time as time_mod
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.clinic.summary import summarize
from cloud_bridge.daily import (
    UTC,
    DailyTotal,
    count_daily,
    day_start_ms,
    days_between,
    local_day,
)
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.base import (
    DailyNotReady,
    DailyZoneMismatch,
    Store,
    StoreError,
    StoreUnavailable,
)
from cloud_bridge.stores.influx_http import Response
from cloud_bridge.stores.influx_results import iter_series
from cloud_bridge.stores.influx_v1 import InfluxV1Store
from cloud_bridge.stores.influx_v2 import InfluxV2Store
from cloud_bridge.stores.sqlite_store import SQLiteStore
from tests.cloud_bridge.stores.test_store_contract import DEV_A, DEV_B, DEV_C, rep, set_summary

NY = ZoneInfo("America/New_York")
EVERYTHING = (0, 2**62)
FIRST, LAST = date(2000, 1, 1), date(2100, 1, 1)

MakeStore = Callable[..., Store]


def at(day: date, hour: int, minute: int = 0, *, zone: ZoneInfo = NY, fold: int = 0,
       ms: int = 0) -> int:
    local = datetime.combine(day, time(hour, minute), tzinfo=zone).replace(fold=fold)
    return int(local.timestamp()) * 1000 + ms


def expected(store: Store, first: date = FIRST, last: date = LAST,
             devices: list[str] | None = None) -> list[DailyTotal]:
    return [t for t in count_daily(store.query(devices, *EVERYTHING), store.zone)
            if first <= t.day <= last]


@pytest.fixture(params=["sqlite", pytest.param("influxdb1", marks=pytest.mark.integration),
                        pytest.param("influxdb2", marks=pytest.mark.integration)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    """make_store(zone) opens the test's store (the same data each time) for a zone."""
    opened: list[Store] = []
    database = f"test_{uuid.uuid4().hex[:12]}"
    url = request.getfixturevalue("influxdb_server").url if request.param != "sqlite" else ""

    def make(zone: ZoneInfo = UTC) -> Store:
        store: Store
        if request.param == "sqlite":
            store = SQLiteStore(tmp_path / "daily.db", zone=zone)
        elif request.param == "influxdb1":
            store = InfluxV1Store(url, database, zone=zone, daily_refresh_s=None)
        else:
            store = InfluxV2Store(url, org="clinic", bucket=database, token="unused-by-1.x",
                                  zone=zone, daily_refresh_s=None)
            # 1.6.7 has no /api/v2/write: this store writes through 1.x's /write; every
            # query is its own (one statement per request, no chunking).
            writer = InfluxV1Store(url, database, daily_refresh_s=None)
            store._write_lines = writer._write_lines  # type: ignore[method-assign]
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
    if url:
        InfluxV1Store(url, database).drop_database()


def dst_records(device: str) -> list[StoredRecord]:
    """Reps, partials and sets around both 2026 DST changes in New York, on the edges of
    local days: 23- and 25-hour days, the repeated 01:00-02:00, midnight to the ms. Each
    time has a rep, a partial 1 ms later and a set 2 ms later, each set with its own full
    reps and mean ROM."""
    spring, fall = date(2026, 3, 8), date(2026, 11, 1)
    times = [
        day_start_ms(spring, NY) - 1, day_start_ms(spring, NY), at(spring, 1, 59),
        at(spring, 3, 0), at(spring, 23, 59, ms=59_999),
        day_start_ms(fall, NY) - 1, day_start_ms(fall, NY), at(fall, 1, 30, fold=0),
        at(fall, 1, 30, fold=1), at(fall, 23, 30), day_start_ms(fall + timedelta(days=1), NY),
    ]
    out = []
    for i, t in enumerate(times):
        seq = 100 + 3 * i
        exercise = "squat" if i % 2 else "heel_raise"
        out.append(rep(device, seq, t, exercise=exercise))
        out.append(rep(device, seq + 1, t + 1, exercise=exercise, partial=True))
        out.append(set_summary(device, seq + 2, t + 2, exercise=exercise, reps=5 + i,
                               mean_rom_cdeg=4000 + 150 * i))
    return out


def refreshed(store: Store) -> Store:
    store.refresh_daily()
    return store


# -- the contract ------------------------------------------------------------------------

def test_empty_store_has_no_days(make_store: MakeStore) -> None:
    store = make_store()
    assert store.daily_totals(None, FIRST, LAST) == []
    assert store.daily_totals([DEV_A], FIRST, LAST) == []
    assert store.undated(None, *EVERYTHING) == []
    assert store.refresh_daily() == 0


def test_daily_totals_equal_counting_the_records_across_dst(make_store: MakeStore) -> None:
    store = make_store(NY)
    store.write(dst_records(DEV_A) + dst_records(DEV_B))
    store.write([rep(DEV_C, 1, at(date(2026, 11, 1), 12), time_valid=False)])  # undated
    refreshed(store)
    got = store.daily_totals(None, FIRST, LAST)
    assert got == expected(store)
    assert {t.day for t in got} == {date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9),
                                    date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)}
    fall = [t for t in got if t.device_id == DEV_A and t.day == date(2026, 11, 1)]
    # The 25-hour day: 00:00 and 01:30 (second time) heel_raise, 01:30 (first time) and
    # 23:30 squat, and the partial and set of the squat at 23:59:59.999 the day before.
    assert [(t.exercise, t.reps, t.partial_reps, t.sets) for t in fall] == [
        ("heel_raise", 2, 2, 2), ("squat", 2, 3, 3)]
    # Its sets' ROM: times 6 and 8 (heel_raise), 5, 7 and 9 (squat), i = index of the time.
    assert [(t.rom_reps, t.rom_sum_cdeg) for t in fall] == [
        (11 + 13, 11 * 4900 + 13 * 5200),
        (10 + 12 + 14, 10 * 4750 + 12 * 5050 + 14 * 5350)]
    # Ranges of days and devices.
    nov = store.daily_totals([DEV_B], date(2026, 11, 1), date(2026, 11, 2))
    assert nov == expected(store, date(2026, 11, 1), date(2026, 11, 2), [DEV_B])
    assert store.daily_totals([DEV_C], FIRST, LAST) == []
    assert store.daily_totals([], FIRST, LAST) == []


def test_records_written_twice_or_overlapping_count_once(make_store: MakeStore) -> None:
    store = make_store(NY)
    day = date(2026, 6, 10)
    records = [rep(DEV_A, seq, at(day, 9) + seq * 1000, partial=seq % 7 == 0)
               for seq in range(1, 61)] + [set_summary(DEV_A, 61, at(day, 9, 30))]
    store.write(records[:40])
    refreshed(store)
    store.write(records[30:])
    store.write(records[10:50])  # a redelivery, overlapping both
    refreshed(store)
    store.write(records)  # all again, after a refresh: recounted, not added
    refreshed(store)
    assert store.daily_totals(None, FIRST, LAST) == expected(store) == [
        DailyTotal(DEV_A, day, "squat", 52, 8, 1, 10 * 8800, 10)]


def test_a_record_rewritten_with_a_better_date_moves_from_undated_to_its_day(
    make_store: MakeStore,
) -> None:
    store = make_store(NY)
    day = date(2026, 6, 10)
    dated = rep(DEV_A, 41, at(day, 23, 50))
    flagged = replace(dated, t_ms=at(day + timedelta(days=2), 8), time_valid=False)
    store.write([flagged])
    refreshed(store)
    assert store.undated([DEV_A], *EVERYTHING) == [flagged]
    assert store.daily_totals(None, FIRST, LAST) == []
    store.write([dated])
    store.write([flagged])  # the flagged copy again: the dated one still wins
    refreshed(store)
    assert store.daily_totals(None, FIRST, LAST) == expected(store) == [
        DailyTotal(DEV_A, day, "squat", 1, 0, 0)]
    assert store.undated([DEV_A], *EVERYTHING) == []


def test_two_dated_copies_on_one_day_count_once(make_store: MakeStore) -> None:
    # Dated by two syncs whose clocks differ by a few ms: two points in InfluxDB.
    store = make_store(NY)
    first = rep(DEV_A, 7, at(date(2026, 6, 10), 12))
    store.write([first])
    store.write([replace(first, t_ms=first.t_ms + 3)])
    refreshed(store)
    assert store.daily_totals(None, FIRST, LAST) == expected(store) == [
        DailyTotal(DEV_A, date(2026, 6, 10), "squat", 1, 0, 0)]


def test_sqlite_earlier_copies_of_far_apart_records_leave_their_old_days_in_one_write(
    tmp_path: Path,
) -> None:
    # The SQLite store finds a rewritten record's old day by ranges of close seqs: seqs far
    # apart, of two devices, in one write must each be found. (InfluxDB counts a record
    # dated on two days on both, documented in influx_daily.py: not tested here.)
    store = SQLiteStore(tmp_path / "daily.db", zone=NY)
    late, early = date(2026, 6, 12), date(2026, 6, 10)
    keys = [(DEV_A, 5), (DEV_A, 6), (DEV_A, 500), (DEV_A, 100_000), (DEV_B, 5)]
    # Each on an old day of its own: each must be found for its old day to be recounted.
    store.write([rep(device, seq, at(late + timedelta(days=i), 9))
                 for i, (device, seq) in enumerate(keys)])
    store.write([rep(device, seq, at(early, 9) + seq) for device, seq in keys])
    assert store.daily_totals(None, FIRST, LAST) == expected(store) == sorted([
        DailyTotal(DEV_A, early, "squat", 4, 0, 0), DailyTotal(DEV_B, early, "squat", 1, 0, 0)])


def test_rom_is_the_sets_full_reps_and_their_mean_rom(make_store: MakeStore) -> None:
    """Each set counts once with its full reps x mean ROM, on its day; sets without full
    reps, undated, or with values no wearable can send (beyond u16) carry none."""
    store = make_store(NY)
    day, next_day = date(2026, 6, 10), date(2026, 6, 11)
    moved = set_summary(DEV_A, 7, at(next_day, 0, 10), reps=4, mean_rom_cdeg=3000)
    store.write([
        set_summary(DEV_A, 1, at(day, 9), reps=10, mean_rom_cdeg=6000),
        set_summary(DEV_A, 2, at(day, 9, 5), reps=8, mean_rom_cdeg=5500),
        set_summary(DEV_A, 3, at(day, 9, 10), reps=0, mean_rom_cdeg=0),  # all partial
        set_summary(DEV_A, 4, at(day, 9, 15), reps=70_000, mean_rom_cdeg=5000),
        set_summary(DEV_A, 5, at(day, 9, 20), reps=5, mean_rom_cdeg=-1),
        set_summary(DEV_A, 6, at(day, 9, 25), reps=9, mean_rom_cdeg=9000, time_valid=False),
        set_summary(DEV_A, 8, at(day, 10), exercise="heel_raise", reps=15,
                    mean_rom_cdeg=65_535),
        replace(moved, t_ms=at(next_day, 8), time_valid=False),
        set_summary(DEV_B, 1, at(day, 23, 59, ms=59_999), reps=3, mean_rom_cdeg=100),
    ])
    # A second dated copy of set 1, 3 ms off (another sync's clock): once.
    store.write([set_summary(DEV_A, 1, at(day, 9) + 3, reps=10, mean_rom_cdeg=6000)])
    refreshed(store)
    assert store.daily_totals(None, FIRST, LAST) == expected(store) == [
        DailyTotal(DEV_B, day, "squat", 0, 0, 1, 300, 3),
        DailyTotal(DEV_A, day, "heel_raise", 0, 0, 1, 15 * 65_535, 15),
        DailyTotal(DEV_A, day, "squat", 0, 0, 5, 10 * 6000 + 8 * 5500, 18)]
    store.write([moved])  # dated now: its ROM is on the 11th
    refreshed(store)
    assert store.daily_totals(None, next_day, next_day) == expected(store, next_day) == [
        DailyTotal(DEV_A, next_day, "squat", 0, 0, 1, 4 * 3000, 4)]


def test_last_days_with_data_per_device(make_store: MakeStore) -> None:
    store = make_store(NY)
    assert store.last_days(None, LAST) == {} and store.last_days([DEV_A], LAST) == {}
    store.write([*dst_records(DEV_A), rep(DEV_B, 1, at(date(2026, 6, 10), 23, 59)),
                 set_summary(DEV_B, 2, at(date(2025, 1, 2), 8)),
                 rep(DEV_C, 1, at(date(2026, 7, 1), 12), time_valid=False)])  # undated only
    refreshed(store)

    def reference(until: date) -> dict[str, date]:
        out: dict[str, date] = {}
        for t in expected(store, FIRST, until):
            out[t.device_id] = max(out.get(t.device_id, t.day), t.day)
        return out

    assert store.last_days(None, LAST) == reference(LAST) == {
        DEV_A: date(2026, 11, 2), DEV_B: date(2026, 6, 10)}
    for until in (date(2026, 11, 1), date(2026, 6, 10), date(2026, 6, 9), date(2025, 1, 1)):
        assert store.last_days([DEV_A, DEV_B, DEV_C], until) == reference(until)
    assert store.last_days([DEV_B], date(2026, 6, 9)) == {DEV_B: date(2025, 1, 2)}
    assert store.last_days([DEV_C], LAST) == {} and store.last_days([], LAST) == {}


def test_days_with_data_are_the_days_of_the_totals(make_store: MakeStore) -> None:
    store = make_store(NY)
    assert store.days_with_data(None, FIRST, LAST) == {}
    store.write([*dst_records(DEV_A), *dst_records(DEV_B)[:9],
                 set_summary(DEV_B, 900, at(date(2026, 6, 10), 12)),
                 rep(DEV_C, 1, at(date(2026, 7, 1), 12), time_valid=False)])  # undated only
    refreshed(store)

    def reference(devices: list[str] | None, first: date, last: date) -> dict[str, set[date]]:
        out: dict[str, set[date]] = {}
        for t in expected(store, first, last, devices):
            out.setdefault(t.device_id, set()).add(t.day)
        return out

    for devices, first, last in [(None, FIRST, LAST), ([DEV_A, DEV_C], FIRST, LAST),
                                 ([DEV_B], date(2026, 3, 8), date(2026, 11, 1)),
                                 (None, date(2026, 11, 1), date(2026, 11, 1)),
                                 ([DEV_A, DEV_B], date(2026, 3, 10), date(2026, 6, 9))]:
        assert store.days_with_data(devices, first, last) == reference(devices, first, last)
    assert store.days_with_data(None, FIRST, LAST)[DEV_B] >= {date(2026, 6, 10)}
    assert store.days_with_data([], FIRST, LAST) == {}
    assert store.days_with_data(None, LAST, FIRST) == {}


def test_reads_of_more_devices_than_one_statement_takes(make_store: MakeStore) -> None:
    # 250 devices: three statements per read on InfluxDB, sent as parallel requests, whose
    # answers must come back in the order asked (the zone's state first).
    store = make_store(NY)
    devices = [f"{i:012x}" for i in range(1, 251)]
    day = date(2026, 6, 10)
    store.write([set_summary(d, 1, at(day - timedelta(days=i % 40), 9), reps=i % 7 + 1)
                 for i, d in enumerate(devices)])
    refreshed(store)
    got = store.daily_totals(devices, FIRST, LAST)
    assert got == expected(store) and len(got) == 250
    assert store.days_with_data(devices[10:], FIRST, LAST) == {
        t.device_id: {t.day} for t in got[10:]}
    assert store.last_days(devices[5:], day) == {t.device_id: t.day for t in got[5:]}


def test_undated_records(make_store: MakeStore) -> None:
    store = make_store(NY)
    t = at(date(2026, 6, 10), 12)
    undated = [rep(DEV_A, 1, t, time_valid=False), rep(DEV_A, 2, t + 5, time_valid=False,
                                                       partial=True),
               rep(DEV_B, 3, t + 9, time_valid=False)]
    store.write([*undated, rep(DEV_A, 4, t + 1), rep(DEV_A, 5, t + 2, time_valid=False)])
    store.write([rep(DEV_A, 5, t - 3_600_000)])  # 5 has a dated copy: not undated
    assert store.undated(None, *EVERYTHING) == sorted(undated, key=lambda r: r.key)
    assert store.undated([DEV_A], t, t + 5) == undated[:1]
    assert store.undated([DEV_B], 0, t) == []


def test_a_store_opened_for_another_zone_refuses_until_rebuilt(make_store: MakeStore) -> None:
    utc_store = make_store(UTC)
    records = dst_records(DEV_A)
    utc_store.write(records)
    refreshed(utc_store)
    assert utc_store.daily_totals(None, FIRST, LAST) == expected(utc_store)
    ny_store = make_store(NY)
    with pytest.raises(DailyZoneMismatch, match=r"UTC.*America/New_York.*rebuild-daily"):
        ny_store.daily_totals(None, FIRST, LAST)
    with pytest.raises(StoreError, match="leave out --since"):
        ny_store.rebuild_daily(date(2026, 1, 1))
    assert ny_store.rebuild_daily() > 0
    assert ny_store.daily_totals(None, FIRST, LAST) == expected(ny_store)
    assert expected(ny_store) != expected(utc_store)  # the days did change
    with pytest.raises(DailyZoneMismatch):
        utc_store.daily_totals(None, FIRST, LAST)
    # Kept up to date in the new zone; a repair of recent days keeps the others.
    ny_store.write([rep(DEV_A, 999, at(date(2026, 11, 2), 23, 59))])
    refreshed(ny_store)
    assert ny_store.rebuild_daily(date(2026, 11, 1)) > 0
    assert ny_store.daily_totals(None, FIRST, LAST) == expected(ny_store)


def test_rebuilding_changes_nothing_that_was_right(make_store: MakeStore) -> None:
    store = make_store(NY)
    store.write([*dst_records(DEV_A), rep(DEV_B, 1, 0), set_summary(DEV_B, 2, 5)])  # 1970 too
    refreshed(store)
    before = store.daily_totals(None, date(1960, 1, 1), LAST)
    assert before == expected(store, date(1960, 1, 1))
    store.rebuild_daily()
    assert store.daily_totals(None, date(1960, 1, 1), LAST) == before


# -- backend specifics ---------------------------------------------------------------------

def test_sqlite_totals_are_kept_in_the_write_and_refused_in_another_zone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    with SQLiteStore(path, zone=NY) as store:
        store.write(dst_records(DEV_A))
        assert store.daily_totals(None, FIRST, LAST) == expected(store)  # no refresh needed
    with SQLiteStore(path, zone=UTC) as other:
        with pytest.raises(DailyZoneMismatch) as caught:
            other.write([rep(DEV_A, 1, 0)])
        assert isinstance(caught.value, StoreUnavailable)  # the bridge retries, never drops
        assert other.query([DEV_A], 0, 1) == []  # nothing of the refused write stayed
        other.rebuild_daily()
        other.write([rep(DEV_A, 1, 0)])
        got = other.daily_totals(None, date(1970, 1, 1), LAST)
        assert got == expected(other, date(1970, 1, 1))
        assert got[0] == DailyTotal(DEV_A, date(1970, 1, 1), "squat", 1, 0, 0)


def test_sqlite_file_from_before_daily_totals_gets_them_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with SQLiteStore(path, zone=NY) as store:
        store.write(dst_records(DEV_A))
        conn = store._conn()
        conn.execute("DROP TABLE daily")
        conn.execute("DROP TABLE meta")
        conn.commit()
    with SQLiteStore(path, zone=NY) as store:
        assert store.daily_totals(None, FIRST, LAST) == expected(store) != []


def test_sqlite_file_from_before_the_rom_columns_gets_them_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with SQLiteStore(path, zone=NY) as store:
        store.write(dst_records(DEV_A))
        conn = store._conn()
        # The table as it was: counts only.
        conn.executescript("""
            CREATE TABLE old_daily (device_id TEXT NOT NULL, day TEXT NOT NULL,
                exercise TEXT NOT NULL, reps INTEGER NOT NULL, partial_reps INTEGER NOT NULL,
                sets INTEGER NOT NULL, PRIMARY KEY (device_id, day, exercise)) WITHOUT ROWID;
            INSERT INTO old_daily SELECT device_id, day, exercise, reps, partial_reps, sets
                FROM daily;
            DROP TABLE daily;
            ALTER TABLE old_daily RENAME TO daily;
        """)
    # Opened for another zone: brought up to date in its own, and still refused.
    with SQLiteStore(path, zone=UTC) as other, pytest.raises(DailyZoneMismatch):
        other.daily_totals(None, FIRST, LAST)
    with SQLiteStore(path, zone=NY) as store:
        got = store.daily_totals(None, FIRST, LAST)
        assert got == expected(store) and sum(t.rom_reps for t in got) > 0
        store.write([set_summary(DEV_A, 999, at(date(2026, 6, 1), 9))])  # kept up to date
        assert store.daily_totals(None, FIRST, LAST) == expected(store)


@pytest.mark.integration
def test_influx_totals_from_before_rom_are_refused_until_recomputed(
    influx_store: InfluxV1Store,
) -> None:
    store = InfluxV1Store(influx_store._http.base_url, influx_store.database, zone=NY,
                          daily_refresh_s=None)
    store.write(dst_records(DEV_A))
    store.refresh_daily()
    # As an older bridge left them: daily points and a state without ROM or version.
    for measurement in ("daily", "daily_state"):
        store._http.request("POST", "/query", {"db": store.database,
                                                "q": f'DROP MEASUREMENT "{measurement}"'})
    old = [f"daily,device={t.device_id},exercise={t.exercise},zone={NY.key} reps={t.reps}i,"
           f"partial_reps={t.partial_reps}i,sets={t.sets}i {day_start_ms(t.day, NY) * 10**6}"
           for t in expected(store)]
    store._write_lines([*old, f'daily_state zone="{NY.key}",refreshed_to=1i 1000'])
    with pytest.raises(DailyNotReady, match=r"older version.*rebuild-daily"):
        store.daily_totals(None, FIRST, LAST)
    with pytest.raises(DailyNotReady, match="older version"):
        store.last_days(None, LAST)
    with pytest.raises(DailyNotReady, match="older version"):
        store.days_with_data(None, FIRST, LAST)
    with pytest.raises(StoreError, match="leave out --since"):
        store.rebuild_daily(date(2026, 11, 1))
    assert store.refresh_daily() > 0  # the next refresh recomputes every day
    got = store.daily_totals(None, FIRST, LAST)
    assert got == expected(store) and sum(t.rom_reps for t in got) > 0
    store.close()


@pytest.mark.integration
def test_influx_totals_follow_writes_only_after_a_refresh(
    influx_store: InfluxV1Store,
) -> None:
    store = InfluxV1Store(influx_store._http.base_url, influx_store.database, zone=NY,
                          daily_refresh_s=None)
    store.write([rep(DEV_A, 1, at(date(2026, 6, 10), 9))])
    with pytest.raises(DailyNotReady, match="rebuild-daily"):
        store.daily_totals(None, FIRST, LAST)
    store.refresh_daily()
    day = [DailyTotal(DEV_A, date(2026, 6, 10), "squat", 1, 0, 0)]
    assert store.daily_totals(None, FIRST, LAST) == day
    store.write([rep(DEV_A, 2, at(date(2026, 6, 10), 10))])
    assert store.daily_totals(None, FIRST, LAST) == day  # not yet
    assert store.refresh_daily() == 1  # one (device, exercise, day) recounted
    assert store.daily_totals(None, FIRST, LAST) == [replace(day[0], reps=2)]
    assert store.refresh_daily() == 1  # the marker is re-read for `lag`: harmless
    store.close()


@pytest.mark.integration
def test_influx_refresh_after_a_crash_catches_up_from_the_markers(
    influx_store: InfluxV1Store,
) -> None:
    url, db = influx_store._http.base_url, influx_store.database
    first = InfluxV1Store(url, db, zone=NY, daily_refresh_s=None)
    first.write(dst_records(DEV_A)[:6])
    first.refresh_daily()
    first.write(dst_records(DEV_A)[6:] + dst_records(DEV_B))
    # The bridge dies here: never refreshed, never closed.
    restarted = InfluxV1Store(url, db, zone=NY, daily_refresh_s=None)
    assert restarted.daily_totals(None, FIRST, LAST) != expected(restarted)
    assert restarted.refresh_daily() > 0
    assert restarted.daily_totals(None, FIRST, LAST) == expected(restarted)
    restarted.close()


@pytest.mark.integration
def test_influx_database_from_before_daily_totals_is_built_by_the_first_refresh(
    influx_store: InfluxV1Store,
) -> None:
    store = InfluxV1Store(influx_store._http.base_url, influx_store.database, zone=NY,
                          daily_refresh_s=None)
    store.write(dst_records(DEV_A))
    # No markers, no state: as written by a bridge without daily totals.
    store._http.request("POST", "/query", {"db": store.database,
                                            "q": 'DROP MEASUREMENT "daily_dirty"'})
    assert store.refresh_daily() > 0
    assert store.daily_totals(None, FIRST, LAST) == expected(store)
    store.close()


@pytest.mark.integration
def test_influx_refresh_out_of_time_stops_and_the_next_one_goes_on(
    influx_store: InfluxV1Store,
) -> None:
    """A stop must not wait for a long recount: a refresh past its budget (or interrupted
    by close) stops between passes, and the next one recounts from the same markers."""
    url, db = influx_store._http.base_url, influx_store.database
    store = InfluxV1Store(url, db, zone=NY, daily_refresh_s=None)
    store.write(dst_records(DEV_A))
    store.refresh_daily()
    store.write(dst_records(DEV_B))
    assert store._daily.refresh(budget_s=0.0) == 0  # out of time before its first pass
    assert store._daily.pending
    store._daily.interrupt()
    assert store._daily.refresh() == 0
    store._daily.resume()
    assert store.daily_totals(None, FIRST, LAST) != expected(store)
    assert store.refresh_daily() > 0
    assert store.daily_totals(None, FIRST, LAST) == expected(store)
    store.close()


@pytest.mark.integration
def test_influx_background_refresh_and_the_last_one_at_close(
    influx_store: InfluxV1Store,
) -> None:
    url, db = influx_store._http.base_url, influx_store.database
    fast = InfluxV1Store(url, db, zone=NY, daily_refresh_s=0.2)
    fast.write([rep(DEV_A, 1, at(date(2026, 6, 10), 9))])
    deadline = datetime.now() + timedelta(seconds=10)
    while True:
        try:
            if fast.daily_totals(None, FIRST, LAST):
                break
        except DailyNotReady:
            pass
        assert datetime.now() < deadline, "the background refresh never ran"
        time_mod.sleep(0.05)
    fast.close()
    slow = InfluxV1Store(url, db, zone=NY, daily_refresh_s=3600)
    slow.write([rep(DEV_A, 2, at(date(2026, 6, 11), 9))])
    slow.close()  # refreshes once more
    reader = InfluxV1Store(url, db, zone=NY, daily_refresh_s=None)
    assert reader.daily_totals(None, FIRST, LAST) == expected(reader)
    assert len(expected(reader)) == 2


@pytest.mark.integration
def test_a_year_of_one_patient_is_read_as_days_not_reps(influx_store: InfluxV1Store) -> None:
    store = InfluxV1Store(influx_store._http.base_url, influx_store.database, zone=NY,
                          daily_refresh_s=None)
    first, last = date(2025, 1, 1), date(2025, 12, 31)
    records, seq = [], 0
    for day in days_between(first, last):
        if day.weekday() == 6:
            continue  # Sundays off
        exercises = ["squat", "heel_raise"] if day.day % 2 else ["squat"]
        for k, exercise in enumerate(exercises):
            start = at(day, 8 + 10 * k)
            for n in range(30):
                seq += 1
                records.append(rep(DEV_A, seq, start + n * 2000, exercise=exercise,
                                   partial=n == 29))
            seq += 1
            records.append(set_summary(DEV_A, seq, start + 70_000, exercise=exercise))
    store.write(records)
    store.refresh_daily()

    answers: list[tuple[str, str]] = []
    request = store._http.request

    def spy(method: str, path: str, params: dict[str, str], *args: object,
            **kwargs: object) -> Response:
        resp = request(method, path, params, *args, **kwargs)  # type: ignore[arg-type]
        answers.append((params.get("q", ""), resp.body))
        return resp

    store._http.request = spy  # type: ignore[method-assign]
    totals = store.daily_totals([DEV_A], first, last)
    assert totals == expected(store, first, last)
    rows = sum(len(series.values) for _, body in answers
               for _, series in iter_series(body, chunked=True) if series.name == "daily")
    active = {(r.device_id, r.exercise, local_day(r.t_ms, NY)) for r in records}
    assert rows == len(totals) == len(active) > 300
    assert len(records) > 30 * rows

    # The clinician's summary of that year reads days too: the only statements that touch
    # rep or set points ask for the undated ones.
    answers.clear()
    registry = Registry([Enrollment("P-1", DEV_A, first)])
    [summary] = summarize(store, registry, first, last, last, NY)
    assert sum(c.reps for d in summary.days.values() for c in d.values()) == sum(
        1 for r in records if r.kind == "rep" and not r.partial)
    assert summary.last_active == date(2025, 12, 31)
    raw = [q for q, _ in answers if '"rep"' in q or '"set"' in q]
    assert raw and all('"time_valid" = false' in q for q in raw)
    store.close()
