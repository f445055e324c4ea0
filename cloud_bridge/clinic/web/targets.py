"""The hook for a prescription's target: reps per day the patient is asked to do.

The patient page draws a target mark over each day of the reps chart for which this
returns a number, and none for None. Prescriptions are not kept yet, so this returns None
for every day; once they are (cloud_bridge/clinic/prescriptions.py), this is the one
function to make answer from them. The app takes it as `WebConfig.target_per_day`, so a
test or another deployment can pass its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date

# (clinic.db connection, patient_id, exercise, local day) -> target reps that day, or None
TargetPerDay = Callable[[sqlite3.Connection, str, str, date], int | None]


def target_per_day(conn: sqlite3.Connection, patient_id: str, exercise: str,
                   day: date) -> int | None:
    """The prescribed reps of `exercise` for `patient_id` on `day`; None: no target."""
    return None
