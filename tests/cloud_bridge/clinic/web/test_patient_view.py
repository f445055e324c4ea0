from datetime import date
from fractions import Fraction
from pathlib import Path

from cloud_bridge.clinic import billing
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.prescriptions import Item, Prescriptions
from cloud_bridge.clinic.web import patient_view
from cloud_bridge.clinic.web.charts import Band
from tests.cloud_bridge.clinic.clinic_builder import StatesStore
from tests.cloud_bridge.clinic.web.clinic_data import (
    DEV_1,
    SQUAT_V2,
    STATES,
    TODAY,
    TZ,
    Clinic,
    add_p4,
    make_clinic,
)


def page_of(c: Clinic, patient: str) -> patient_view.PatientPage:
    store = StatesStore(c.store, zone=TZ, states=STATES)
    conn = open_clinic_db(c.clinic_db)
    try:
        return patient_view.build(store, registry_mod.load(c.registry), conn, patient,
                                  TODAY, TZ)
    finally:
        conn.close()
        store.close()


def test_the_page_of_p1(tmp_path) -> None:
    c = make_clinic(tmp_path)
    store = StatesStore(c.store, zone=TZ, states=STATES)
    conn = open_clinic_db(c.clinic_db)
    try:
        page = patient_view.build(store, registry_mod.load(c.registry), conn, "P-1", TODAY,
                                  TZ)
    finally:
        conn.close()
        store.close()
    # Days only, one read of each kind: no set or rep records.
    assert store.calls == {"daily_totals": 1, "undated": 1, "device_states": 1}
    assert page.first_day == date(2026, 2, 7) and page.last_day_with_data == TODAY
    # In the order of the prescription in force (v2: squat, heel raise), not by name.
    assert [e.exercise for e in page.exercises] == ["squat", "heel_raise"]
    squat = {d.day: d for d in page.exercises[0].days}
    assert len(squat) == 14
    d = squat[date(2026, 2, 12)]
    assert (d.reps, d.partial, d.sets, d.mean_rom_deg, d.target) == (20, 2, 2, 49.0, 20)
    assert squat[date(2026, 2, 16)].target == 24  # version 2 from Feb 16
    heel = {d.day: d.target for d in page.exercises[1].days}
    assert (heel[date(2026, 2, 11)], heel[date(2026, 2, 16)]) == (None, 10)
    assert squat[date(2026, 2, 14)].mean_rom_deg is None
    current, previous = page.calendars
    assert (current.period.index, current.period.days_with_data) == (1, 9)
    assert (previous.period.index, previous.period.days_with_data) == (0, 16)
    cells = [c for week in current.weeks for c in week]
    assert len(cells) % 7 == 0 and cells[0].day.weekday() == 0
    states = {c.day: c.state for c in cells}
    assert cells[0].day == date(2026, 2, 9)  # a Monday
    assert states[date(2026, 3, 11)] == "outside"
    assert states[date(2026, 2, 11)] == "data"
    assert states[date(2026, 2, 14)] == "none"
    assert states[date(2026, 2, 21)] == "future"
    assert [r.text for r in page.assessment.reasons] == ["battery 15% at the last sync"]
    assert page.prescription is not None and page.prescription.version == 2
    assert page.wearables == [(DEV_1, "last sync Fri 2026-02-20 03:10 via home-1, battery "
                                      "15%, storage 12% full, firmware 1.2.0")]


def test_a_prescribed_exercise_not_done_is_shown(tmp_path) -> None:
    c = make_clinic(tmp_path)
    conn = open_clinic_db(c.clinic_db)
    store = StatesStore(c.store, zone=TZ)
    try:
        Prescriptions(conn).add("P-3", date(2026, 2, 15), [Item("lunge", 2, 8, 3)], 0)
        page = patient_view.build(store, registry_mod.load(c.registry), conn, "P-3", TODAY,
                                  TZ)
    finally:
        conn.close()
        store.close()
    # No data since monitoring started: the last day with data is asked for (none).
    assert store.calls["last_days"] == 1 and page.last_day_with_data is None
    (lunge,) = page.exercises
    assert lunge.exercise == "lunge" and lunge.total_reps == 0
    assert [d.target for d in lunge.days][-7:] == [None, 16, 16, 16, 16, 16, 16]
    # Adherence from Feb 15 (3 days a week) to yesterday, in the first week of monitoring:
    # the page says it is judged from Feb 22.
    assert lunge.adherence is not None and page.adherence is not None
    assert (lunge.adherence.exercise_days, lunge.adherence.expected_days) == \
        (0, Fraction(15, 7))
    assert lunge.adherence.ratio == 0 and page.adherence.overall == 0
    assert page.today < page.adherence_judged_from == date(2026, 2, 22)
    assert [r.kind for r in page.assessment.reasons] == ["no_data"]
    assert page.wearables == [("c00000000003", "no state reported yet")]


def test_today_without_data_is_still_to_come() -> None:
    start, yesterday = date(2026, 2, 1), date(2026, 2, 19)
    period = billing.supply_period(start, 0, {yesterday}, TODAY)

    def states(with_data: set[date]) -> dict[date, str]:
        cal = patient_view.calendar(period, with_data, TODAY)
        return {c.day: c.state for week in cal.weeks for c in week}

    before = states({yesterday})
    assert (before[date(2026, 2, 18)], before[yesterday]) == ("none", "data")
    # Its data mostly comes with tonight's sync: not missing (red) yet.
    assert before[TODAY] == before[date(2026, 2, 21)] == "future"
    assert states({yesterday, TODAY})[TODAY] == "data"


def test_adherence_is_the_command_line_s(tmp_path: Path) -> None:
    page = page_of(make_clinic(tmp_path), "P-1")
    report = page.adherence
    assert report is not None
    # The 13 days before today: today's data comes with tonight's sync.
    assert (report.first, report.last) == (date(2026, 2, 7), date(2026, 2, 19))
    squat, heel = page.exercises
    assert squat.item == SQUAT_V2 and heel.item is not None and heel.item.reps == 10
    assert squat.adherence is not None and heel.adherence is not None
    # Squat: 9 days of v1 (20 a day) and 4 of v2 (24), 5 days a week: 65/7 exercise days
    # expected; exercise days (>= 80%) Feb 9, 12, 16; counted 20+12+20+15 + 20+9+14 = 110
    # of 9 x 20 x 5/7 + 4 x 24 x 5/7 = 1380/7 reps.
    assert (squat.adherence.exercise_days, squat.adherence.expected_days) == \
        (3, Fraction(65, 7))
    assert squat.adherence.ratio == Fraction(110 * 7, 1380)
    # Heel raise: Feb 16..19 of v2 only (3 days a week), 8 + 6 of 10 x 4 x 3/7 reps.
    assert (heel.adherence.exercise_days, heel.adherence.expected_days) == \
        (1, Fraction(12, 7))
    assert heel.adherence.ratio == Fraction(14 * 7, 120)
    assert report.overall == (squat.adherence.ratio + heel.adherence.ratio) / 2
    assert page.today >= page.adherence_judged_from


def test_the_rom_target_band_follows_the_version_in_force(tmp_path: Path) -> None:
    squat, heel = page_of(make_clinic(tmp_path), "P-1").exercises
    rom = {d.day: d.rom_target for d in squat.days}
    assert (rom[date(2026, 2, 15)], rom[date(2026, 2, 16)]) == ((40, 60), (45, 65))
    assert squat.rom_bands == [Band(date(2026, 2, 7), date(2026, 2, 15), 40, 60),
                               Band(date(2026, 2, 16), date(2026, 2, 20), 45, 65)]
    # The heel raise has no prescribed range: no band.
    assert all(d.rom_target is None for d in heel.days) and heel.rom_bands == []


def test_exercises_in_the_prescription_s_order_then_the_unprescribed(tmp_path: Path) -> None:
    c = make_clinic(tmp_path)
    add_p4(c)
    page = page_of(c, "P-4")
    # v2 (from today) lists squat, glute_bridge, lunge; step_up and generic were done but
    # never prescribed: after them, by name.
    assert [e.exercise for e in page.exercises] == ["squat", "glute_bridge", "lunge",
                                                    "generic", "step_up"]
    squat, bridge, lunge, generic, step_up = page.exercises
    # Squat is prescribed from today: nothing to judge in the days before.
    assert squat.item is not None and squat.adherence is None
    assert bridge.adherence is not None and lunge.adherence is not None
    assert (bridge.adherence.exercise_days, bridge.adherence.expected_days) == (5, 13)
    assert (lunge.adherence.exercise_days, lunge.adherence.expected_days) == \
        (2, Fraction(39, 7))
    assert generic.item is None and generic.adherence is None and step_up.total_reps == 12
    assert lunge.rom_bands == [Band(date(2026, 2, 7), TODAY, 30, 50)]
    assert squat.rom_bands == [Band(TODAY, TODAY, 60, 90)]
