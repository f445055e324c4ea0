"""Local days and the reference count every store's daily totals must equal."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cloud_bridge.daily import (
    DailyTotal,
    count_daily,
    dated_spans,
    day_range_ms,
    day_start_ms,
    days_between,
    local_day,
)
from cloud_bridge.records import StoredRecord

ZONES = [
    "UTC",
    "America/New_York",  # DST at 02:00
    "America/Santiago",  # DST changes at midnight: some days have no 00:00
    "America/Havana",  # DST at midnight / 01:00
    "Asia/Beirut",  # DST at midnight
    "Asia/Kathmandu",  # +05:45
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Apia",  # skipped a whole day (2011-12-30)
]


@pytest.mark.parametrize("name", ZONES)
def test_days_tile_time_and_local_day_agrees_with_day_ranges(name: str) -> None:
    zone = ZoneInfo(name)
    day = date(2009, 1, 1)
    start = day_start_ms(day, zone)
    lengths = set()
    while day < date(2031, 1, 1):
        end = day_start_ms(day + timedelta(days=1), zone)
        assert day_range_ms(day, zone) == (start, end)
        if end > start:  # Apia's 2011-12-30 never happened: an empty day
            assert local_day(start, zone) == day
            assert local_day(end - 1, zone) == day
            lengths.add((end - start) // 60_000)
        day += timedelta(days=1)
        start = end
    assert 24 * 60 in lengths


@pytest.mark.parametrize("name", ["UTC", "America/New_York", "Australia/Lord_Howe"])
def test_dated_spans_are_each_device_days_first_and_last_record(name: str) -> None:
    """The per-run shortcut equals the per-record definition, whatever the order: runs of
    one device crossing midnight and DST changes, devices interleaved, undated records."""
    import random

    zone = ZoneInfo(name)
    rng = random.Random(name)
    around = [day_start_ms(date(2026, m, d), zone) for m, d in ((3, 8), (4, 5), (10, 4),
                                                                (11, 1), (6, 1))]
    records = []
    for i in range(3000):
        device = rng.choice(["a1b2c3d4e5f6", "0a0b0c0d0e0f", "ffffffffffff"])
        t_ms = rng.choice(around) + rng.randrange(-3 * 3_600_000, 3 * 3_600_000)
        records.append(StoredRecord(device, i + 1, "rep", "squat", 1, t_ms,
                                    rng.random() < 0.9, False, {}))
    # runs: sorted by device then time, as messages come; and shuffled, as they may not
    for batch in (sorted(records, key=lambda r: (r.device_id, r.t_ms)), records):
        expected: dict[tuple[str, date], tuple[int, int]] = {}
        for r in batch:
            if r.time_valid:
                key = (r.device_id, local_day(r.t_ms, zone))
                first, last = expected.get(key, (r.t_ms, r.t_ms))
                expected[key] = (min(first, r.t_ms), max(last, r.t_ms))
        assert dated_spans(batch, zone) == expected
    assert dated_spans([], zone) == {}


def test_dst_days_are_23_and_25_hours_long() -> None:
    ny = ZoneInfo("America/New_York")
    hours = [
        (b - a) / 3_600_000
        for a, b in (day_range_ms(d, ny) for d in (date(2026, 3, 8), date(2026, 11, 1)))
    ]
    assert hours == [23, 25]
    # 01:30 happens twice on Nov 1: both are on Nov 1.
    for fold in (0, 1):
        t = int(datetime(2026, 11, 1, 1, 30, fold=fold, tzinfo=ny).timestamp() * 1000)
        assert local_day(t, ny) == date(2026, 11, 1)


def test_days_between() -> None:
    assert list(days_between(date(2026, 2, 27), date(2026, 3, 1))) == [
        date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)]
    assert list(days_between(date(2026, 3, 1), date(2026, 2, 27))) == []


def _rec(seq: int, t_ms: int, kind: str = "rep", *, partial: bool = False,
         time_valid: bool = True, exercise: str = "squat") -> StoredRecord:
    return StoredRecord("a1b2c3d4e5f6", seq, kind, exercise, 1, t_ms, time_valid, partial, {})


def test_count_daily_counts_reps_partials_and_sets_of_dated_records_only() -> None:
    utc = ZoneInfo("UTC")
    t = day_start_ms(date(2026, 5, 4), utc)
    records = [
        _rec(1, t), _rec(2, t + 1), _rec(3, t + 2, partial=True), _rec(4, t + 3, "set"),
        _rec(5, t + 4, time_valid=False),  # undated: on no day
        _rec(6, t - 1, exercise="heel_raise"),  # the day before
    ]
    assert count_daily(records, utc) == [
        DailyTotal("a1b2c3d4e5f6", date(2026, 5, 3), "heel_raise", 1, 0, 0),
        DailyTotal("a1b2c3d4e5f6", date(2026, 5, 4), "squat", 2, 1, 1),
    ]


@pytest.mark.parametrize("name", ["America", "", "Foo/Bar", "../etc/passwd", "a" * 300])
def test_a_bad_zone_name_is_one_clear_error(name: str) -> None:
    from cloud_bridge.daily import zone_named

    with pytest.raises(ValueError, match="unknown time zone"):
        zone_named(name)
    assert zone_named("America/New_York").key == "America/New_York"
