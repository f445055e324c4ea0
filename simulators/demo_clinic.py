"""The clinic's side of the demo: each demo patient's prescription in the clinic's file
(clinic.db, next to the demo's store), published to the patient's wearable through the
demo's broker and home gateway, with the clinic's own code, as `rtm-clinic prescribe
--publish` does it. So `rtm-clinic worklist`, `patient`, `billing` and the dashboard have
something to judge the simulated days against, and the wearables hold their program.

The prescription is what the simulated patient does (simulators/household.py): its
exercises in order, sets per day (sets per session x sessions per day), reps per set, every
day of the week, the rest between sets, and a target range of motion where the exercise
has one a clinician would prescribe.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from cloud_bridge.clinic import device_gateways, prescriptions
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.program_publisher import (
    Deliveries,
    ProgramAck,
    ProgramLink,
    Publication,
    delivery_state,
    publish_prescription,
)
from cloud_bridge.clinic.registry import Registry
from simulators.household import REST_BETWEEN_SETS_S, SESSION_STARTS, SimPatient

# Target segment rotation in whole degrees, the clinical ranges of docs/exercises.md. The
# heel raise has none: it is prescribed by the rise of the heel, and its few degrees of
# shank rotation are no target (attention.py: it can never show a drop).
TARGET_ROM_DEG: dict[str, tuple[int, int]] = {
    "squat": (60, 90),
    "sit_to_stand": (75, 90),
    "mini_squat": (20, 35),
    "straight_leg_raise": (30, 45),
    "long_arc_quad": (60, 90),
    "glute_bridge": (25, 40),
    "lunge": (60, 90),
    "step_up": (40, 60),
    # Full abduction is 180 deg, the most a rep's ROM can read (the angle between two
    # directions of gravity): a top end of 170 would put the fullest reps out of range.
    "shoulder_abduction": (90, 180),
    "shoulder_flexion": (120, 170),
    "biceps_curl": (120, 140),
}
DAYS_PER_WEEK = 7  # the simulated patients are asked to exercise every day
ACK_WAIT_S = 10.0


def prescribed_items(patient: SimPatient) -> list[prescriptions.Item]:
    """The prescription that asks for what the simulated patient sets out to do each day.
    A prescription counts sets per day; the patient does the program at every session."""
    sessions = len(SESSION_STARTS)
    items = []
    for exercise, sets, reps in patient.program:
        low, high = TARGET_ROM_DEG.get(exercise, (None, None))
        items.append(prescriptions.Item(exercise, sets * sessions, reps, DAYS_PER_WEEK, low,
                                        high, REST_BETWEEN_SETS_S))
    prescriptions.check_items(items)
    return items


class DemoClinic:
    """clinic.db and the clinic's MQTT link (a persistent session that hears the acks)."""

    def __init__(self, path: Path, broker_host: str, broker_port: int, tz: ZoneInfo) -> None:
        self.path = path
        self.tz = tz
        self._conn = open_clinic_db(path)
        self.book = prescriptions.Prescriptions(self._conn)
        self.deliveries = Deliveries(self._conn)
        self.link = ProgramLink(broker_host, broker_port, self.deliveries,
                                client_id="rtm-clinic-demo")
        self.link.connect()
        self.published: list[Publication] = []

    def prescribe(self, patients: list[SimPatient], registry: Registry,
                  gateway_of: dict[str, str], start: date, now_ms: int
                  ) -> list[prescriptions.Prescription]:
        """Keep each patient's prescription from `start` on and publish it (retained) to
        the patient's wearables at their gateways."""
        done = []
        for patient in patients:
            p = self.book.add(patient.patient_id, start, prescribed_items(patient), now_ms)
            devices = registry.devices_of(patient.patient_id)
            targets, skipped = device_gateways.resolve(devices, {}, gateway_of)
            if skipped:
                raise RuntimeError(f"{patient.patient_id}: {skipped}")
            self.published += publish_prescription(self.link, self.deliveries, p, targets,
                                                   self.tz, now_ms)
            done.append(p)
        return done

    def wait_acks(self, timeout_s: float = ACK_WAIT_S) -> dict[str, ProgramAck | None]:
        """Each wearable published to -> its answer (the acks come back through the
        gateways' outboxes), waiting until all have answered or `timeout_s` has passed."""
        deadline = time.monotonic() + timeout_s
        while True:
            acks = {pub.device_id: ack if (ack := self.deliveries.last_ack(pub.device_id))
                    and ack.version == pub.version else None for pub in self.published}
            if all(acks.values()) or time.monotonic() > deadline:
                return acks
            time.sleep(0.05)

    def delivery_states(self) -> dict[str, str]:
        """device id -> where its program is, in `rtm-clinic program`'s words."""
        return {pub.device_id: delivery_state(self.deliveries.last_publication(pub.device_id),
                                              self.deliveries.last_ack(pub.device_id),
                                              self.tz)
                for pub in self.published}

    def close(self) -> None:
        self.link.close()
        self._conn.close()
