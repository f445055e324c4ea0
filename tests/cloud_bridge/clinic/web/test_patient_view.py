from datetime import date

from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.web import patient_view
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.sqlite_store import SQLiteStore
from tests.cloud_bridge.clinic.web.clinic_data import TODAY, TZ, make_clinic


def test_the_page_of_p1(tmp_path) -> None:
    c = make_clinic(tmp_path)
    store = SQLiteStore(c.store, zone=TZ)
    conn = open_clinic_db(c.clinic_db)
    try:
        page = patient_view.build(store, registry_mod.load(c.registry), conn, "P-1", TODAY,
                                  TZ)
    finally:
        conn.close()
        store.close()
    assert page.first_day == date(2026, 2, 7) and page.last_day_with_data == TODAY
    assert [e.exercise for e in page.exercises] == ["heel_raise", "squat"]
    squat = {d.day: d for d in page.exercises[1].days}
    assert len(squat) == 14
    d = squat[date(2026, 2, 12)]
    assert (d.reps, d.partial, d.sets, d.mean_rom_deg, d.target) == (20, 2, 2, 49.0, None)
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


def test_rom_is_weighted_by_full_reps_and_skips_sets_without_them() -> None:
    def set_rec(seq: int, reps: int, rom: int, valid: bool = True) -> StoredRecord:
        return StoredRecord("a00000000001", seq, "set", "squat", seq, 1_771_606_800_000 + seq,
                            valid, False, {"reps": reps, "partial_reps": 1,
                                           "mean_rom_cdeg": rom, "duration_s": 1,
                                           "tempo_cv_pct": 0, "rests": 0})

    rom = patient_view.mean_rom_per_day(
        [set_rec(1, 3, 4000), set_rec(2, 1, 8000), set_rec(3, 0, 9900),
         set_rec(4, 5, 100, valid=False)], TZ)
    assert rom == {("squat", date(2026, 2, 20)): 50.0}
