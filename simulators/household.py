"""Whole households over simulated days: patients with a home program wear virtual
wearables, exercise (or skip) morning and evening, and a gateway per home syncs at night.

Everything runs on one simulated world clock, so weeks pass in seconds. Ground truth stays
with the wearables (`born` records, `performed` sets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from simulators.ble_backend.air import SimAir
from simulators.motion.person import Person
from simulators.motion.synthesizer import synthesize_set
from simulators.wearable import SimClock, VirtualWearable

DEFAULT_PROGRAM: tuple[tuple[str, int, int], ...] = (
    ("squat", 2, 10),
    ("heel_raise", 2, 12),
    ("shoulder_abduction", 2, 8),
)
SESSION_STARTS = (time(8, 30), time(18, 0))
REST_BETWEEN_SETS_S = 60
NIGHTLY_SYNC = time(2, 0)


@dataclass
class SimPatient:
    patient_id: str  # clinic-side only: never given to the wearable or the gateway
    wearable: VirtualWearable
    person: Person
    program: tuple[tuple[str, int, int], ...] = DEFAULT_PROGRAM  # (exercise, sets, reps)
    adherence: float = 0.8  # probability of doing each session


@dataclass
class SimHousehold:
    gateway_id: str
    air: SimAir
    patients: list[SimPatient] = field(default_factory=list)


def local_ms(day: date, at: time, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, at, tz).timestamp() * 1000)


def make_households(n_patients: int, world: SimClock, rng: np.random.Generator,
                    rate_hz: int = 52, per_household: int = 2) -> list[SimHousehold]:
    """Patients in homes of up to `per_household`, each with a fresh wearable."""
    households: list[SimHousehold] = []
    for i in range(n_patients):
        if i % per_household == 0:
            households.append(SimHousehold(f"home-{len(households) + 1:03d}", SimAir()))
        home = households[-1]
        device_id = rng.bytes(6)
        # The device draws its log id at random when it creates its record log.
        wearable = VirtualWearable(device_id, world, rate_hz=rate_hz,
                                   log_id=int(rng.integers(1, 2**32)))
        home.air.add(wearable)
        adherence = float(rng.choice([0.95, 0.8, 0.5]))
        home.patients.append(SimPatient(f"P-{i + 1:04d}", wearable, Person.random(rng),
                                        adherence=adherence))
    return households


def exercise_day(households: list[SimHousehold], day: date, tz: ZoneInfo,
                 rng: np.random.Generator) -> None:
    """Every patient's sessions of one day, in time order on the world clock."""
    patients = [p for h in households for p in h.patients]
    for at in SESSION_STARTS:
        start = local_ms(day, at, tz)
        for p in patients:
            start = max(start, p.wearable.world.now_ms)
            if rng.random() > p.adherence:
                continue
            p.wearable.world.advance_to(start + int(rng.integers(0, 600_000)))
            run_session(p, rng)


def run_session(patient: SimPatient, rng: np.random.Generator) -> None:
    w = patient.wearable
    w.wake_from_deep_sleep()  # the button press that starts the session wakes it
    for exercise, sets, reps in patient.program:
        for _ in range(sets):
            # Real people stop early or add one now and then.
            n = max(1, reps + int(rng.choice([0, 0, 0, 0, -1, -2, 1])))
            s = synthesize_set(exercise, n, patient.person, rate_hz=float(w.rate_hz), rng=rng)
            w.perform_set(exercise, s.t, s.acc_g, s.gyro_dps, s.reps)
            w.world.advance_to(w.world.now_ms + REST_BETWEEN_SETS_S * 1000)


def nightly_sync_time(day: date, tz: ZoneInfo) -> int:
    """The night after `day`."""
    return local_ms(day + timedelta(days=1), NIGHTLY_SYNC, tz)
