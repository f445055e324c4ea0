"""Prescriptions (home exercise programs): what a clinician asks a patient to do.

A prescription is a versioned list of items, each an exercise (a name from
firmware/core/exercises.py), sets, reps per set, days per week, an optional target range of
motion in whole degrees and the rest between sets. Each new version has a start date and
supersedes every earlier version from that date on: the version in force on a day is the
newest one (highest version number) whose start is on or before that day (`in_force`).
Nothing is ever overwritten, so adherence over a past window is computed against what was
prescribed then. A version without items ends the prescription from its start date.

Limits come from what the wearable can hold (firmware/core/program.py): at most 6 items,
sets and reps 1..255, rest 0..255 s, ROM up to 180 degrees. An exercise appears once per
version: adherence is per exercise, and two items of one exercise could not be told apart
in the records.

Stored in the clinic's own file (clinic_db.py): tables `prescriptions` (one row per
version) and `prescription_items` (its items, in the order given: the wearable blinks an
item's place in that order).
"""

from __future__ import annotations

import csv
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from firmware.core import exercises
from firmware.core import program as program_codec

MAX_ITEMS = program_codec.MAX_ITEMS
MAX_SETS = 255
MAX_REPS = 255
MAX_REST_S = 255
MAX_ROM_DEG = 180
DEFAULT_REST_S = 30
# The wearable's code 0: what it counts without a program or after the day's sets. Not an
# exercise a clinician can prescribe.
GENERIC = exercises.NAMES[0]
CSV_COLUMNS = ("exercise", "sets", "reps", "days_per_week", "rom", "rest_s")
# ASCII digits only: \d and str.isdigit also take other scripts' digits and superscripts
# ("²"), which int() then refuses or reads as something the clinician did not type.
_ROM = re.compile(r"^\s*([0-9]{1,3})\s*-\s*([0-9]{1,3})\s*$")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")  # nine digits: far above any limit check_item has

_SCHEMA = """
CREATE TABLE IF NOT EXISTS prescriptions (
    patient_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    start_day TEXT NOT NULL,  -- ISO date: in force from this day on
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (patient_id, version)
);
CREATE TABLE IF NOT EXISTS prescription_items (
    patient_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL,
    exercise TEXT NOT NULL,
    sets INTEGER NOT NULL,
    reps INTEGER NOT NULL,
    days_per_week INTEGER NOT NULL,
    rom_min_deg INTEGER,
    rom_max_deg INTEGER,
    rest_s INTEGER NOT NULL,
    PRIMARY KEY (patient_id, version, position),
    FOREIGN KEY (patient_id, version) REFERENCES prescriptions (patient_id, version)
);
"""


class PrescriptionError(ValueError):
    """A prescription that cannot be kept; the message says what to change."""


@dataclass(frozen=True)
class Item:
    exercise: str
    sets: int
    reps: int  # per set
    days_per_week: int
    rom_min_deg: int | None = None  # both or neither
    rom_max_deg: int | None = None
    rest_s: int = DEFAULT_REST_S

    @property
    def reps_per_day(self) -> int:
        """Reps prescribed for a day the patient exercises."""
        return self.sets * self.reps

    @property
    def rom(self) -> tuple[int, int] | None:
        if self.rom_min_deg is None or self.rom_max_deg is None:
            return None
        return self.rom_min_deg, self.rom_max_deg

    def describe(self) -> str:
        rom = f", ROM {self.rom_min_deg}-{self.rom_max_deg} deg" if self.rom else ""
        return (f"{self.exercise} {self.sets} x {self.reps}, {self.days_per_week} days/week"
                f"{rom}, rest {self.rest_s} s")


@dataclass(frozen=True)
class Prescription:
    patient_id: str
    version: int
    start: date
    items: tuple[Item, ...]  # empty: no exercises from `start` on
    created_ms: int

    def item(self, exercise: str) -> Item | None:
        for i in self.items:
            if i.exercise == exercise:
                return i
        return None


def _int_in(value: object, low: int, high: int, what: str) -> int:
    # bool is an int to Python, never to a clinician.
    if isinstance(value, bool) or not isinstance(value, int):
        raise PrescriptionError(f"{what} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise PrescriptionError(f"{what} must be {low}..{high}, got {value}")
    return value


def check_item(item: Item) -> None:
    """Raise PrescriptionError naming the exercise and the field that is wrong."""
    name = item.exercise
    if name == GENERIC:
        raise PrescriptionError(f"{GENERIC!r} is what the wearable counts without a program; "
                                f"prescribe a named exercise")
    if name not in exercises.NAMES:
        known = ", ".join(exercises.NAMES[1:])
        raise PrescriptionError(f"unknown exercise {name!r} (known: {known})")
    _int_in(item.sets, 1, MAX_SETS, f"{name}: sets")
    _int_in(item.reps, 1, MAX_REPS, f"{name}: reps per set")
    _int_in(item.days_per_week, 1, 7, f"{name}: days per week")
    _int_in(item.rest_s, 0, MAX_REST_S, f"{name}: rest between sets (s)")
    if (item.rom_min_deg is None) != (item.rom_max_deg is None):
        raise PrescriptionError(f"{name}: a ROM range needs both ends (MIN-MAX)")
    if item.rom_min_deg is not None and item.rom_max_deg is not None:
        low = _int_in(item.rom_min_deg, 0, MAX_ROM_DEG, f"{name}: ROM minimum (deg)")
        high = _int_in(item.rom_max_deg, 0, MAX_ROM_DEG, f"{name}: ROM maximum (deg)")
        if low >= high:
            raise PrescriptionError(f"{name}: ROM range {low}-{high} is inverted or empty: "
                                    f"give MIN-MAX with MIN < MAX")


def check_items(items: Sequence[Item]) -> None:
    """Every item, and the list: at most MAX_ITEMS, each exercise once. An empty list is
    valid (it ends the prescription)."""
    if len(items) > MAX_ITEMS:
        raise PrescriptionError(f"{len(items)} exercises: the wearable holds at most "
                                f"{MAX_ITEMS}")
    seen: set[str] = set()
    for item in items:
        check_item(item)
        if item.exercise in seen:
            raise PrescriptionError(f"{item.exercise} is prescribed twice: give it once, "
                                    f"with all its sets")
        seen.add(item.exercise)


def parse_rom(text: str) -> tuple[int, int]:
    """'60-90' -> (60, 90): whole degrees. The order is checked by check_item."""
    m = _ROM.match(text)
    if not m:
        raise PrescriptionError(f"ROM must be MIN-MAX in whole degrees (e.g. 60-90), "
                                f"got {text!r}")
    return int(m.group(1)), int(m.group(2))


def in_force(history: Iterable[Prescription], day: date) -> Prescription | None:
    """The version in force on `day`: the newest one that has started by then. A newer
    version supersedes every older one from its own start, even one starting later."""
    best: Prescription | None = None
    for p in history:
        if p.start <= day and (best is None or p.version > best.version):
            best = p
    return best


def load_items_csv(path: str | Path) -> list[Item]:
    """Items from a CSV file with the header CSV_COLUMNS (`rom` MIN-MAX or empty, `rest_s`
    empty for the default); errors name the file and line. Checked with check_items."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PrescriptionError(f"prescription file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PrescriptionError(f"cannot read {path}: {e}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or tuple(c.strip() for c in rows[0]) != CSV_COLUMNS:
        raise PrescriptionError(f"{path}:1: header must be {','.join(CSV_COLUMNS)}")
    items = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        try:
            items.append(_csv_item(row))
        except PrescriptionError as e:
            raise PrescriptionError(f"{path}:{lineno}: {e}") from None
    if not items:
        raise PrescriptionError(f"{path}: no exercises (to end a prescription use --clear)")
    try:
        check_items(items)
    except PrescriptionError as e:
        raise PrescriptionError(f"{path}: {e}") from None
    return items


def _csv_item(row: list[str]) -> Item:
    if len(row) != len(CSV_COLUMNS):
        raise PrescriptionError(f"expected {len(CSV_COLUMNS)} columns, got {len(row)}")
    name, sets, reps, days, rom, rest = (c.strip() for c in row)

    def number(text: str, what: str) -> int:
        if not _WHOLE_NUMBER.fullmatch(text):
            raise PrescriptionError(f"{name or 'exercise'}: {what} must be a whole number, "
                                    f"got {text!r}")
        return int(text)

    low, high = parse_rom(rom) if rom else (None, None)
    item = Item(name, number(sets, "sets"), number(reps, "reps"),
                number(days, "days_per_week"), low, high,
                number(rest, "rest_s") if rest else DEFAULT_REST_S)
    check_item(item)
    return item


class Prescriptions:
    """The prescription history in the clinic's file (an open_clinic_db connection)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn
        self._db.executescript(_SCHEMA)

    def add(self, patient_id: str, start: date, items: Sequence[Item],
            now_ms: int) -> Prescription:
        """Keep a new version (the next number for the patient) from `start` on."""
        if not patient_id:
            raise PrescriptionError("the patient id is empty")
        check_items(items)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            (last,) = self._db.execute("SELECT coalesce(max(version), 0) FROM prescriptions "
                                       "WHERE patient_id = ?", (patient_id,)).fetchone()
            version = last + 1
            self._db.execute("INSERT INTO prescriptions VALUES (?, ?, ?, ?)",
                             (patient_id, version, start.isoformat(), now_ms))
            self._db.executemany(
                "INSERT INTO prescription_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(patient_id, version, n, i.exercise, i.sets, i.reps, i.days_per_week,
                  i.rom_min_deg, i.rom_max_deg, i.rest_s) for n, i in enumerate(items)])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return Prescription(patient_id, version, start, tuple(items), now_ms)

    def history(self, patient_id: str) -> list[Prescription]:
        """Every version of the patient's prescription, oldest first."""
        heads = self._db.execute("SELECT version, start_day, created_ms FROM prescriptions "
                                 "WHERE patient_id = ? ORDER BY version",
                                 (patient_id,)).fetchall()
        items: dict[int, list[Item]] = {}
        for row in self._db.execute(
                "SELECT version, exercise, sets, reps, days_per_week, rom_min_deg, "
                "rom_max_deg, rest_s FROM prescription_items WHERE patient_id = ? "
                "ORDER BY version, position", (patient_id,)):
            items.setdefault(row[0], []).append(Item(*row[1:]))
        return [Prescription(patient_id, version, date.fromisoformat(start),
                             tuple(items.get(version, ())), created)
                for version, start, created in heads]

    def histories(self) -> dict[str, list[Prescription]]:
        """Every patient's history (as `history` gives it) in two queries, for the worklist:
        one `history` per patient would be two queries per patient."""
        items: dict[tuple[str, int], list[Item]] = {}
        for row in self._db.execute(
                "SELECT patient_id, version, exercise, sets, reps, days_per_week, rom_min_deg, "
                "rom_max_deg, rest_s FROM prescription_items ORDER BY patient_id, version, "
                "position"):
            items.setdefault((row[0], row[1]), []).append(Item(*row[2:]))
        out: dict[str, list[Prescription]] = {}
        for patient_id, version, start, created in self._db.execute(
                "SELECT patient_id, version, start_day, created_ms FROM prescriptions "
                "ORDER BY patient_id, version"):
            out.setdefault(patient_id, []).append(Prescription(
                patient_id, version, date.fromisoformat(start),
                tuple(items.get((patient_id, version), ())), created))
        return out
