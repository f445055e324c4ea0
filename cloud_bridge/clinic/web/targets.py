"""The prescription's target: reps per day the patient is asked to do.

The patient page draws a target mark over each day of the reps chart for which this
returns a number, and none for None. The target is what adherence.py calls the prescribed
reps of a day, sets x reps of the exercise's item in the version in force that day
(prescriptions.in_force): every day of that version, since a prescription says how many
days a week, not which. None on a day without such an item (before the first version, a
version without the exercise, after the prescription ended). The app takes the function
as `WebConfig.target_per_day`, so a test or another deployment can pass its own.

The range of motion target (`rom_target_in`) is the same item's ROM range, drawn as a band
behind the ROM line; None on a day without such an item or when the item has no range.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import date

from cloud_bridge.clinic.prescriptions import Prescription, Prescriptions, in_force

# (clinic.db connection, patient_id, exercise, local day) -> target reps that day, or None
TargetPerDay = Callable[[sqlite3.Connection, str, str, date], int | None]


def target_in(history: Sequence[Prescription], exercise: str, day: date) -> int | None:
    """The prescribed reps of `exercise` on `day` under `history`; None: not prescribed."""
    p = in_force(history, day)
    item = p.item(exercise) if p is not None else None
    return item.reps_per_day if item is not None else None


def rom_target_in(history: Sequence[Prescription], exercise: str,
                  day: date) -> tuple[int, int] | None:
    """The prescribed ROM range (min, max degrees) of `exercise` on `day`; None: none."""
    p = in_force(history, day)
    item = p.item(exercise) if p is not None else None
    return item.rom if item is not None else None


def target_per_day(conn: sqlite3.Connection, patient_id: str, exercise: str,
                   day: date) -> int | None:
    """The prescribed reps of `exercise` for `patient_id` on `day`; None: no target."""
    return target_in(Prescriptions(conn).history(patient_id), exercise, day)
