from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.clinic.summary import current_period_start, format_summary, summarize
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.sqlite_store import SQLiteStore

TZ = ZoneInfo("America/New_York")
DEV = "a1b2c3d4e5f6"


def at(day, hour, minute=0):
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).timestamp() * 1000)


def rep(seq, t_ms, exercise="squat", partial=False):
    return StoredRecord(DEV, seq, "rep", exercise, 1, t_ms, True, partial,
                        {"rep": seq, "duration_ms": 900, "rom_cdeg": 4000, "peak_dps": 80})


def test_reps_are_counted_per_local_day_and_exercise(tmp_path):
    store = SQLiteStore(tmp_path / "s.db", zone=TZ)
    d1, d2 = date(2026, 11, 2), date(2026, 11, 3)
    store.write([
        rep(1, at(d1, 23, 30)),  # 23:30 in New York is already Nov 3 in UTC
        rep(2, at(d1, 23, 31)),
        rep(3, at(d2, 0, 10)),
        rep(4, at(d2, 9), exercise="heel_raise"),
        rep(5, at(d2, 9, 1), exercise="heel_raise", partial=True),
        StoredRecord(DEV, 6, "set", "heel_raise", 1, at(d2, 9, 2), True, False,
                     {"reps": 1, "partial_reps": 1, "mean_rom_cdeg": 4000, "duration_s": 30,
                      "tempo_cv_pct": 0, "rests": 0}),
    ])
    reg = Registry([Enrollment("P-1", DEV, date(2026, 10, 20))])
    [s] = summarize(store, reg, d1, d2, today=d2, tz=TZ)
    assert s.days[d1]["squat"].reps == 2
    assert s.days[d2]["squat"].reps == 1
    hr = s.days[d2]["heel_raise"]
    assert (hr.reps, hr.partial, hr.sets) == (1, 1, 1)
    assert s.last_active == d2
    assert s.period_start == date(2026, 10, 20) and s.period_days_with_data == 2
    text = format_summary([s], d1, d2)
    assert "P-1: last active 2026-11-03" in text
    assert "heel_raise 1 reps in 1 sets (+1 partial)" in text


def test_thirty_day_periods_count_from_the_start_of_monitoring():
    start = date(2026, 1, 1)
    assert current_period_start(start, start) == start
    assert current_period_start(start, start + timedelta(29)) == start
    assert current_period_start(start, start + timedelta(30)) == start + timedelta(30)
    assert current_period_start(start, start - timedelta(3)) == start


def test_patient_without_data(tmp_path):
    store = SQLiteStore(tmp_path / "s.db", zone=TZ)
    reg = Registry([Enrollment("P-2", "bbbbbbbbbbbb", date(2026, 11, 1))])
    [s] = summarize(store, reg, date(2026, 11, 1), date(2026, 11, 7), date(2026, 11, 7), TZ)
    assert s.last_active is None and s.period_days_with_data == 0
    assert "last active never" in format_summary([s], date(2026, 11, 1), date(2026, 11, 7))


def test_undated_records_are_reported_apart_not_put_on_a_day(tmp_path):
    store = SQLiteStore(tmp_path / "s.db", zone=TZ)
    d = date(2026, 11, 4)
    undated = StoredRecord(DEV, 9, "rep", "squat", 1, at(d, 2), False, False,
                           {"rep": 1, "duration_ms": 900, "rom_cdeg": 4000, "peak_dps": 80})
    store.write([rep(1, at(d, 9)), undated])
    reg = Registry([Enrollment("P-1", DEV, date(2026, 11, 1))])
    [s] = summarize(store, reg, d, d, today=d, tz=TZ)
    assert s.days[d]["squat"].reps == 1 and s.undated_reps == 1
    assert "1 reps of unknown date" in format_summary([s], d, d)
