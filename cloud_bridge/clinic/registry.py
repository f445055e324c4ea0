"""The enrollment registry: the only place where a wearable is tied to a patient.

A CSV file kept by the clinic, never sent to a gateway or a wearable::

    patient_id,device_id,monitoring_start
    P-0001,a1b2c3d4e5f6,2026-11-02

A patient may have several rows (a replaced wearable); a device belongs to one patient.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

_DEVICE_ID = re.compile(r"^[0-9a-f]{12}$")
COLUMNS = ("patient_id", "device_id", "monitoring_start")


class RegistryError(ValueError):
    """The registry file is invalid; the message names the file, line and column."""


@dataclass(frozen=True)
class Enrollment:
    patient_id: str
    device_id: str
    monitoring_start: date


class Registry:
    def __init__(self, enrollments: list[Enrollment]) -> None:
        self.enrollments = enrollments
        self._by_device: dict[str, Enrollment] = {}
        # Per patient, so that a worklist of 1,000 patients asking each one's devices and
        # start does not go through all enrollments every time.
        self._by_patient: dict[str, list[Enrollment]] = {}
        for e in enrollments:
            other = self._by_device.get(e.device_id)
            if other is not None and other.patient_id != e.patient_id:
                raise RegistryError(f"device {e.device_id} is enrolled for two patients "
                                    f"({other.patient_id} and {e.patient_id})")
            self._by_device[e.device_id] = e
            self._by_patient.setdefault(e.patient_id, []).append(e)
        self._patients = sorted(self._by_patient)

    def patients(self) -> list[str]:
        return list(self._patients)

    def devices_of(self, patient_id: str) -> list[str]:
        return sorted(e.device_id for e in self._by_patient.get(patient_id, ()))

    def patient_of(self, device_id: str) -> str | None:
        e = self._by_device.get(device_id)
        return e.patient_id if e else None

    def monitoring_start(self, patient_id: str) -> date:
        return min(e.monitoring_start for e in self._by_patient.get(patient_id, ()))

    def save(self, path: str | Path) -> None:
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            for e in self.enrollments:
                w.writerow((e.patient_id, e.device_id, e.monitoring_start.isoformat()))


def load(path: str | Path) -> Registry:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError(f"enrollment registry {path} does not exist") from None
    except UnicodeDecodeError as e:
        raise RegistryError(f"{path}: not UTF-8 text ({e})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or tuple(c.strip() for c in rows[0]) != COLUMNS:
        raise RegistryError(f"{path}:1: header must be {','.join(COLUMNS)}")
    enrollments = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(COLUMNS):
            raise RegistryError(f"{path}:{lineno}: expected {len(COLUMNS)} columns, "
                                f"got {len(row)}")
        patient, device, start = (c.strip() for c in row)
        if not patient:
            raise RegistryError(f"{path}:{lineno}: patient_id is empty")
        if not _DEVICE_ID.match(device):
            raise RegistryError(f"{path}:{lineno}: device_id must be 12 lowercase hex digits, "
                                f"got {device!r}")
        try:
            start_date = date.fromisoformat(start)
        except ValueError:
            raise RegistryError(f"{path}:{lineno}: monitoring_start must be YYYY-MM-DD, "
                                f"got {start!r}") from None
        enrollments.append(Enrollment(patient, device, start_date))
    try:
        return Registry(enrollments)
    except RegistryError as e:
        raise RegistryError(f"{path}: {e}") from None
