"""Prescriptions: what is refused and why, the history kept, the version in force."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.prescriptions import (
    Item,
    PrescriptionError,
    Prescriptions,
    check_items,
    in_force,
    load_items_csv,
    parse_rom,
)

SQUAT = Item("squat", 3, 10, 5, 60, 90)
HEEL = Item("heel_raise", 2, 15, 3)


@pytest.mark.parametrize("item, message", [
    (Item("sqaut", 3, 10, 5), "unknown exercise 'sqaut' (known: squat,"),
    (Item("generic", 3, 10, 5), "prescribe a named exercise"),
    (Item("squat", 0, 10, 5), "squat: sets must be 1..255, got 0"),
    (Item("squat", 3, 0, 5), "squat: reps per set must be 1..255, got 0"),
    (Item("squat", 3, 256, 5), "reps per set must be 1..255, got 256"),
    (Item("squat", 3, 10, 0), "days per week must be 1..7, got 0"),
    (Item("squat", 3, 10, 8), "days per week must be 1..7, got 8"),
    (Item("squat", 3, 10, 5, 90, 60), "ROM range 90-60 is inverted"),
    (Item("squat", 3, 10, 5, 60, 60), "ROM range 60-60 is inverted or empty"),
    (Item("squat", 3, 10, 5, 60, 200), "ROM maximum (deg) must be 0..180, got 200"),
    (Item("squat", 3, 10, 5, 60, None), "needs both ends"),
    (Item("squat", 3, 10, 5, rest_s=300), "rest between sets (s) must be 0..255"),
    (Item("squat", True, 10, 5), "sets must be a whole number"),  # type: ignore[arg-type]
])
def test_bad_items_are_refused_with_what_to_change(item: Item, message: str) -> None:
    with pytest.raises(PrescriptionError) as e:
        check_items([item])
    assert message in str(e.value)


def test_the_list_fits_the_wearable_and_names_each_exercise_once() -> None:
    check_items([])  # ends a prescription
    with pytest.raises(PrescriptionError, match="prescribed twice"):
        check_items([SQUAT, HEEL, Item("squat", 1, 5, 2)])
    names = ["squat", "sit_to_stand", "mini_squat", "heel_raise", "lunge", "step_up",
             "glute_bridge"]
    with pytest.raises(PrescriptionError, match="7 exercises: the wearable holds at most 6"):
        check_items([Item(n, 1, 5, 3) for n in names])


def test_rom_text() -> None:
    assert parse_rom("60-90") == (60, 90) and parse_rom(" 0 - 120 ") == (0, 120)
    for bad in ("60", "60-", "sixty-90", "60.5-90", "-10-20"):
        with pytest.raises(PrescriptionError, match="MIN-MAX"):
            parse_rom(bad)


def test_versions_are_kept_and_the_newest_started_one_is_in_force(tmp_path: Path) -> None:
    book = Prescriptions(open_clinic_db(tmp_path / "clinic.db"))
    v1 = book.add("P-1", date(2026, 3, 2), [SQUAT, HEEL], 1)
    v2 = book.add("P-1", date(2026, 3, 9), [SQUAT], 2)
    other = book.add("P-2", date(2026, 1, 1), [HEEL], 3)
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    history = book.history("P-1")
    assert history == [v1, v2] and history[0].items == (SQUAT, HEEL)
    assert in_force(history, date(2026, 3, 1)) is None  # before the first
    assert in_force(history, date(2026, 3, 8)) == v1
    assert in_force(history, date(2026, 3, 9)) == v2
    # A correction starting earlier supersedes both from its start, even v2's later days.
    v3 = book.add("P-1", date(2026, 3, 5), [HEEL], 4)
    history = book.history("P-1")
    assert in_force(history, date(2026, 3, 4)) == v1
    assert in_force(history, date(2026, 3, 20)) == v3
    ended = book.add("P-1", date(2026, 4, 1), [], 5)
    assert book.history("P-1")[-1] == ended and ended.items == ()
    assert book.histories() == {"P-1": book.history("P-1"), "P-2": [other]}


def test_a_refused_prescription_stores_nothing(tmp_path: Path) -> None:
    book = Prescriptions(open_clinic_db(tmp_path / "clinic.db"))
    with pytest.raises(PrescriptionError):
        book.add("P-1", date(2026, 3, 2), [Item("squat", 0, 10, 5)], 1)
    assert book.history("P-1") == []
    assert book.add("P-1", date(2026, 3, 2), [SQUAT], 1).version == 1


def test_items_from_a_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "hep.csv"
    path.write_text("exercise,sets,reps,days_per_week,rom,rest_s\n"
                    "squat,3,10,5,60-90,\n\nheel_raise,2,15,3,,45\n")
    assert load_items_csv(path) == [SQUAT, Item("heel_raise", 2, 15, 3, rest_s=45)]


@pytest.mark.parametrize("text, message", [
    ("exercise,sets\nsquat,3\n", ":1: header must be"),
    ("exercise,sets,reps,days_per_week,rom,rest_s\nsquat,three,10,5,,\n",
     ":2: squat: sets must be a whole number, got 'three'"),
    ("exercise,sets,reps,days_per_week,rom,rest_s\nsquat,3,10,5,,\nlunge,1,10,9,,\n",
     ":3: lunge: days per week must be 1..7, got 9"),
    ("exercise,sets,reps,days_per_week,rom,rest_s\nsquat,3,10,5,90-60,\n", ":2: squat: ROM"),
    ("exercise,sets,reps,days_per_week,rom,rest_s\n", "no exercises"),
    ("exercise,sets,reps,days_per_week,rom,rest_s\nsquat,3,10,5,,\nsquat,3,10,5,,\n",
     "prescribed twice"),
])
def test_csv_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "hep.csv"
    path.write_text(text)
    with pytest.raises(PrescriptionError) as e:
        load_items_csv(path)
    assert message in str(e.value) and str(path) in str(e.value)


def test_a_missing_csv_file() -> None:
    with pytest.raises(PrescriptionError, match="does not exist"):
        load_items_csv("/nonexistent/hep.csv")
