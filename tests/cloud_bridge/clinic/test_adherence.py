"""Adherence formulas at their edges: before any prescription, a change mid-week, more than
prescribed, exercises done but not prescribed, the threshold, weeks from Monday in the
clinic's zone, ROM."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from cloud_bridge.clinic.adherence import (
    compute,
    format_report,
    overall,
    rom_samples,
    week_start,
)
from cloud_bridge.clinic.prescriptions import Item, Prescription
from cloud_bridge.daily import DailyTotal
from cloud_bridge.records import StoredRecord

DEV, DEV2 = "a1b2c3d4e5f6", "0a0b0c0d0e0f"
MON = date(2026, 3, 2)  # a Monday
SQUAT = Item("squat", 3, 10, 5, 60, 90)  # 30 reps a day, 5 days a week
HEEL = Item("heel_raise", 2, 15, 3)  # 30 reps a day, 3 days a week


def rx(version: int, start: date, *items: Item) -> Prescription:
    return Prescription("P-1", version, start, items, 0)


def done(day: date, exercise: str, reps: int, partial: int = 0,
         device: str = DEV) -> DailyTotal:
    return DailyTotal(device, day, exercise, reps, partial, 1)


def day(offset: int) -> date:
    return MON + timedelta(days=offset)


def test_weeks_start_on_monday() -> None:
    assert week_start(MON) == MON
    assert week_start(day(6)) == MON  # Sunday
    assert week_start(day(7)) == day(7)


def test_a_full_week_of_exactly_what_was_prescribed() -> None:
    history = [rx(1, MON, SQUAT, HEEL)]
    totals = ([done(day(i), "squat", 30) for i in range(5)]
              + [done(day(i), "heel_raise", 30) for i in (0, 2, 4)])
    r = compute(history, totals, MON, day(6))
    (squat_w, heel_w) = r.weeks
    assert (squat_w.exercise, squat_w.exercise_days, squat_w.expected_days) == ("squat", 5, 5)
    assert heel_w.ratio == 1 and squat_w.ratio == 1 and squat_w.days_covered == 7
    squat, heel = r.exercises
    assert (squat.reps_counted, squat.reps_expected, squat.ratio) == (150, 150, 1)
    assert (heel.reps_counted, heel.reps_expected, heel.ratio) == (90, 90, 1)
    assert r.overall == 1 and r.week_overall(MON) == 1
    monday = [a for a in r.days if a.day == MON]
    assert [(a.exercise, a.done, a.prescribed, a.ratio) for a in monday] == [
        ("squat", 30, 30, 1), ("heel_raise", 30, 30, 1)]


def test_nothing_before_the_first_prescription_counts() -> None:
    history = [rx(1, day(3), SQUAT)]  # from Thursday
    totals = [done(MON, "squat", 30), done(day(3), "squat", 30)]
    r = compute(history, totals, MON, day(6))
    assert r.unprescribed == {"squat": 30}  # Monday's squats: no prescription yet
    mon = [a for a in r.days if a.day == MON]
    assert [(a.item, a.version, a.ratio) for a in mon] == [(None, None, None)]
    assert [a for a in r.days if a.day == day(1)] == []  # nothing prescribed, nothing done
    (w,) = r.weeks
    assert w.expected_days == Fraction(4 * 5, 7) and w.exercise_days == 1
    assert w.ratio == Fraction(7, 20)


def test_no_prescription_at_all() -> None:
    r = compute([], [done(MON, "squat", 12)], MON, day(6))
    assert r.weeks == [] and r.exercises == [] and r.overall is None
    assert r.unprescribed == {"squat": 12} and r.week_overall(MON) is None
    text = format_report("P-1", r, [], "UTC")
    assert "No prescription in force in this window." in text
    assert "squat 12 reps (not prescribed)" in text


def test_a_change_mid_week_prorates_each_version() -> None:
    # Mon-Wed: squat 3 x 10, 5 days a week. From Thursday: squat 2 x 10, 3 days a week, and
    # heel raises 3 days a week.
    lighter = Item("squat", 2, 10, 3)
    history = [rx(1, MON, SQUAT), rx(2, day(3), lighter, HEEL)]
    totals = [done(MON, "squat", 30), done(day(1), "squat", 24),  # 80 %: an exercise day
              done(day(2), "squat", 23),  # 77 %: not one
              done(day(3), "squat", 20), done(day(5), "squat", 16),  # 16/20 = 80 %
              done(day(5), "heel_raise", 30)]
    r = compute(history, totals, MON, day(6))
    squat_w, heel_w = r.weeks
    assert squat_w.expected_days == Fraction(3 * 5 + 4 * 3, 7)  # 27/7
    assert squat_w.exercise_days == 4
    assert squat_w.ratio == 1  # 4 days >= 27/7: capped
    assert heel_w.expected_days == Fraction(4 * 3, 7) and heel_w.exercise_days == 1
    assert heel_w.ratio == Fraction(7, 12)
    squat, heel = r.exercises
    # counted: 30 + 24 + 23 + 20 + 16; expected: 3 days of 30 * 5/7 + 4 days of 20 * 3/7
    assert squat.reps_counted == 113
    assert squat.reps_expected == Fraction(3 * 30 * 5 + 4 * 20 * 3, 7)
    assert squat.ratio == 1  # 113 of 690/7 = 98.6: capped
    assert heel.reps_expected == Fraction(4 * 30 * 3, 7) and heel.ratio == Fraction(7, 12)
    by_day = {(a.day, a.exercise): a for a in r.days}
    assert by_day[(day(2), "squat")].prescribed == 30 and by_day[(day(3), "squat")].version == 2
    assert by_day[(day(2), "squat")].exercise_day is False
    assert by_day[(day(3), "heel_raise")].done == 0  # prescribed from Thursday, not done
    assert (day(2), "heel_raise") not in by_day  # not prescribed before Thursday


def test_more_than_prescribed_is_capped() -> None:
    history = [rx(1, MON, HEEL)]  # 30 reps, 3 days a week
    # One huge day cannot make up for missed ones ...
    r = compute(history, [done(MON, "heel_raise", 300)], MON, day(6))
    (heel,) = r.exercises
    assert heel.reps_done == 300 and heel.reps_counted == 30
    assert heel.ratio == Fraction(30, 90)
    assert r.days[0].ratio == 1
    # ... but more days than prescribed reach 100 % and no further.
    r = compute(history, [done(day(i), "heel_raise", 45) for i in range(7)], MON, day(6))
    (heel,) = r.exercises
    (w,) = r.weeks
    assert heel.ratio == 1 and heel.days_ratio == 1 and w.ratio == 1 and w.exercise_days == 7


def test_exercises_done_but_not_prescribed_count_for_nothing() -> None:
    history = [rx(1, MON, SQUAT)]
    totals = [done(MON, "squat", 30), done(MON, "lunge", 20), done(MON, "generic", 10, 2),
              done(day(1), "generic", 5)]
    r = compute(history, totals, MON, MON + timedelta(days=1))
    assert r.unprescribed == {"lunge": 20, "generic": 15}
    assert [e.exercise for e in r.exercises] == ["squat"]
    text = format_report("P-1", r, history, "UTC")
    assert "not prescribed: generic 15 reps, lunge 20 reps" in text
    assert "generic 10 reps +2 partial (not prescribed)" in text


def test_partial_reps_and_several_wearables() -> None:
    history = [rx(1, MON, SQUAT)]
    totals = [done(MON, "squat", 15, partial=9), done(MON, "squat", 10, device=DEV2)]
    r = compute(history, totals, MON, MON)
    (a,) = r.days
    assert (a.done, a.partial, a.ratio, a.exercise_day) == (25, 9, Fraction(25, 30), True)


def test_the_threshold_decides_an_exercise_day() -> None:
    history = [rx(1, MON, SQUAT)]
    totals = [done(MON, "squat", 27)]  # 90 %
    assert compute(history, totals, MON, MON, threshold_pct=90).days[0].exercise_day
    assert not compute(history, totals, MON, MON, threshold_pct=91).days[0].exercise_day
    with pytest.raises(ValueError, match="threshold"):
        compute(history, totals, MON, MON, threshold_pct=0)
    with pytest.raises(ValueError, match="after it ends"):
        compute(history, totals, day(1), MON)


def test_weeks_cut_by_the_window_expect_their_share() -> None:
    history = [rx(1, MON - timedelta(days=30), Item("squat", 1, 10, 7))]
    # Wednesday to the next Tuesday: 5 days of the first week, 2 of the second.
    r = compute(history, [done(day(i), "squat", 10) for i in range(2, 9)], day(2), day(8))
    first, second = r.weeks
    assert (first.week, first.days_covered, first.expected_days) == (MON, 5, 5)
    assert (second.week, second.days_covered, second.expected_days) == (day(7), 2, 2)
    assert first.ratio == second.ratio == 1
    text = format_report("P-1", r, history, "UTC")
    assert "week of 2026-03-02 (5 of 7 days): squat 5 of 5.0 days (100%)" in text


def at(zone: ZoneInfo, d: date, hour: int, minute: int = 0) -> int:
    return int(datetime(d.year, d.month, d.day, hour, minute, tzinfo=zone).timestamp() * 1000)


def rep(seq: int, t_ms: int, rom_cdeg: int, *, partial: bool = False,
        time_valid: bool = True) -> StoredRecord:
    return StoredRecord(DEV, seq, "rep", "squat", 1, t_ms, time_valid, partial,
                        {"rep": seq, "duration_ms": 900, "rom_cdeg": rom_cdeg, "peak_dps": 80})


def test_rom_days_are_local_days_and_weeks_turn_at_local_midnight() -> None:
    ny = ZoneInfo("America/New_York")
    sunday = day(6)
    records = [
        rep(1, at(ny, sunday, 23, 30), 6000),  # Monday already in UTC: still Sunday here
        rep(2, at(ny, sunday, 23, 40), 9000),
        rep(3, at(ny, day(7), 0, 10), 9500),  # the next week
        rep(4, at(ny, sunday, 12), 2000, partial=True),  # partial: no ROM
        rep(5, at(ny, sunday, 12), 7000, time_valid=False),  # undated: on no day
        StoredRecord(DEV, 6, "set", "squat", 1, at(ny, sunday, 23, 50), True, False,
                     {"reps": 2, "partial_reps": 0, "mean_rom_cdeg": 7500, "duration_s": 9,
                      "tempo_cv_pct": 0, "rests": 0}),
    ]
    samples = rom_samples(records, ny)
    assert samples == {(sunday, "squat"): [6000, 9000], (day(7), "squat"): [9500]}
    history = [rx(1, MON, SQUAT)]  # range 60-90 degrees, ends included
    totals = [done(sunday, "squat", 2), done(day(7), "squat", 1)]
    r = compute(history, totals, MON, day(7), samples)
    by_day = {a.day: a for a in r.days}
    assert by_day[sunday].rom is not None and by_day[sunday].rom.mean_deg == 75.0
    assert by_day[sunday].rom.in_range_share == 1.0
    assert by_day[day(7)].rom is not None and by_day[day(7)].rom.in_range_share == 0.0
    assert [w.week for w in r.weeks] == [MON, day(7)]
    (squat,) = r.exercises
    assert squat.rom is not None and (squat.rom.reps, squat.rom.in_range) == (3, 2)
    assert by_day[day(1)].rom is None  # no reps that day


def test_rom_of_an_item_without_a_range_has_no_share() -> None:
    history = [rx(1, MON, HEEL)]
    r = compute(history, [done(MON, "heel_raise", 2)], MON, MON,
                {(MON, "heel_raise"): [3000, 5000]})
    rom = r.days[0].rom
    assert rom is not None and rom.mean_deg == 40.0 and rom.in_range_share is None
    assert "ROM mean 40 deg)" in format_report("P-1", r, history, "UTC")


def test_the_report_reads_per_exercise_week_and_day() -> None:
    history = [rx(1, MON, SQUAT, HEEL)]
    totals = [done(MON, "squat", 30), done(MON, "heel_raise", 15)]
    r = compute(history, totals, MON, day(1), {(MON, "squat"): [7000, 9500]},
                threshold_pct=80)
    text = format_report("P-1", r, history, "Europe/Berlin", undated_reps=3)
    assert "Adherence of P-1, 2026-03-02 to 2026-03-03 (days in Europe/Berlin" in text
    assert "Prescription version 1 from 2026-03-02: squat 3 x 10, 5 days/week" in text
    assert "+ 3 reps of unknown date" in text
    assert "squat: 70% of prescribed reps (30 counted of 42.9); 1 of 1.4 exercise days " \
           "(70%); ROM mean 82 deg, 50% in range" in text
    assert "2026-03-02 Mon: squat 30/30 (100%, ROM mean 82 deg, 50% in range); " \
           "heel_raise 15/30 (50%)" in text
    assert "2026-03-03 Tue: squat 0/30 (0%); heel_raise 0/30 (0%)" in text


def test_overall_alone_equals_the_reports_overall() -> None:
    """The worklist's shortcut: the same Fraction as compute's, over random histories
    (changes mid-window, exercises dropped and added, an ended prescription) and days
    (several wearables, more than prescribed, exercises not prescribed)."""
    rnd = random.Random(3)
    names = ["squat", "heel_raise", "lunge"]
    for _ in range(300):
        history = []
        for version in range(1, rnd.randrange(1, 4) + 1):
            items = [Item(x, rnd.randrange(1, 4), rnd.randrange(5, 15), rnd.randrange(1, 8))
                     for x in names if rnd.random() < 0.6]
            history.append(rx(version, day(rnd.randrange(-5, 10)), *items))
        totals = [done(day(rnd.randrange(-3, 14)), rnd.choice(names), rnd.randrange(0, 60),
                       device=rnd.choice([DEV, DEV2])) for _ in range(rnd.randrange(0, 30))]
        first = day(rnd.randrange(-2, 8))
        last = first + timedelta(days=rnd.randrange(0, 10))
        assert overall(history, totals, first, last) == compute(history, totals, first,
                                                                last).overall
