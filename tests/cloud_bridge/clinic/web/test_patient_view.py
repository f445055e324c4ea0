from datetime import date

from cloud_bridge.clinic import billing
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.prescriptions import Item, Prescriptions
from cloud_bridge.clinic.web import patient_view
from tests.cloud_bridge.clinic.clinic_builder import StatesStore
from tests.cloud_bridge.clinic.web.clinic_data import DEV_1, STATES, TODAY, TZ, make_clinic


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
    assert [e.exercise for e in page.exercises] == ["heel_raise", "squat"]
    squat = {d.day: d for d in page.exercises[1].days}
    assert len(squat) == 14
    d = squat[date(2026, 2, 12)]
    assert (d.reps, d.partial, d.sets, d.mean_rom_deg, d.target) == (20, 2, 2, 49.0, 20)
    assert squat[date(2026, 2, 16)].target == 24  # version 2 from Feb 16
    heel = {d.day: d.target for d in page.exercises[0].days}
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
