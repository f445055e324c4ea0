"""A patient's home exercise as a FHIR R4 Bundle (type "collection"), checked against the
R4B models of `fhir.resources` (R4B changed nothing in Patient, Device, Observation or
Bundle, so an R4 receiver reads it as R4).

What the Bundle holds, in this order:

* one Patient with only the enrollment registry's patient_id as an identifier: the project
  knows no name, birth date or anything else about a patient, and invents none;
* one Device per wearable enrolled for the patient (with or without data in the range):
  its device id as identifier, a type text, and a `patient` reference;
* one Observation per SET record (a set's summary; the per-rep records stay in the
  store), ordered by time: status final, category `activity`, subject and device
  references, and components for the exercise, full and partial repetitions, mean range
  of motion, set duration, tempo variability and rests.

Codes. Standard code systems only where the code exists and means exactly this:
HL7 observation-category `activity` (bodily activity, not under a practitioner's direct
supervision: home exercise), HL7 data-absent-reason `not-applicable`, and UCUM units
(`deg`, `s`, `%`). No LOINC code is used: none is known to mean "a set of a home exercise"
or its repetitions, partial repetitions, tempo variability or rests, and a guessed LOINC
code would be worse than none. Those concepts are codes of a project CodeSystem,
`{system_base}/CodeSystem/rtm` (see RTM_CODES), exercise names (firmware/core/exercises.py)
are codes of `{system_base}/CodeSystem/exercise`. `system_base` defaults to a placeholder
under the reserved `.example` domain: a clinic that sends Bundles on sets a URL it controls
(`rtm-clinic export-fhir --system-base`), which also names its patient identifier system.
Counts are valueInteger (a count has no unit); measurements are UCUM valueQuantity.

Time. The date range is whole days in the clinic's zone, as in `rtm-clinic summary`.
effectiveDateTime is the moment the set ended (the record's time), written with the
clinic zone's offset at that moment. A set of unknown time (time_valid False: made after a
power loss, before the wearable's clock was set again, and dated at the sync that brought
it, see cloud_bridge/payload.py) is exported, not dropped, but never put on a day:
effectivePeriod has only an `end`, the sync (the set happened at an unknown time before
it), and a note says so. The range selects such sets by their sync time, as the summary
counts its undated reps.

Ids are UUIDv5 of the record's key (device id and seq), the device id, the patient id and
the export's arguments, and the Bundle has no timestamp: the same export gives the same
Bundle, byte for byte, and a receiver can recognise an Observation it already has.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fhir.resources.R4B.bundle import Bundle

from cloud_bridge.clinic.registry import Registry
from cloud_bridge.daily import day_start_ms
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.base import Store

__all__ = ["DEFAULT_SYSTEM_BASE", "RTM_CODES", "ExportError", "build_bundle",
           "export_patient"]

DEFAULT_SYSTEM_BASE = "https://rtm-home-exercise.example/fhir"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

# The project CodeSystem's concepts: code -> display.
RTM_CODES: dict[str, str] = {
    "exercise-set": "Home exercise set",
    "exercise": "Exercise",
    "repetitions": "Full repetitions in the set",
    "partial-repetitions": "Partial repetitions in the set",
    "mean-range-of-motion": "Mean range of motion of the full repetitions",
    "set-duration": "Duration of the set",
    "tempo-cv": "Coefficient of variation of the repetition durations",
    "rests": "Pauses of more than 8 s between repetitions",
}

# Fixed for good: changing it would give every exported resource a new id.
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://rtm-home-exercise.example/fhir-ids")


class ExportError(ValueError):
    """The export cannot be made as asked (unknown patient, empty range, bad system base)."""


def export_patient(store: Store, registry: Registry, patient_id: str, first: date,
                   last: date, tz: ZoneInfo, system_base: str = DEFAULT_SYSTEM_BASE) -> Bundle:
    """The Bundle of `patient_id`'s sets on days first..last (inclusive) in `tz`."""
    _checked_base(system_base)  # before the store is asked
    devices = registry.devices_of(patient_id)
    if not devices:
        raise ExportError(f"patient {patient_id!r} is not in the enrollment registry")
    if first > last:
        raise ExportError(f"the range starts ({first}) after it ends ({last})")
    records = store.query(devices, day_start_ms(first, tz),
                          day_start_ms(last + timedelta(days=1), tz))
    bundle_key = f"bundle/{patient_id}/{first}/{last}/{tz.key}/{system_base}"
    return build_bundle(patient_id, devices, records, tz, system_base, bundle_key)


def build_bundle(patient_id: str, device_ids: Sequence[str], records: Sequence[StoredRecord],
                 tz: ZoneInfo, system_base: str = DEFAULT_SYSTEM_BASE,
                 bundle_key: str | None = None) -> Bundle:
    """The Bundle for `patient_id`, their wearables and the set records among `records`
    (rep records are skipped). `bundle_key` seeds the Bundle's id (None: no id)."""
    base = _checked_base(system_base)
    patient_ref = _Ref("Patient", f"patient/{patient_id}",
                       _identifier(base, "patient-id", patient_id))
    entries = [_entry(_patient(patient_ref))]
    device_refs: dict[str, _Ref] = {}
    for device_id in sorted(set(device_ids)):
        ref = _Ref("Device", f"device/{device_id}", _identifier(base, "device-id", device_id))
        device_refs[device_id] = ref
        entries.append(_entry(_device(ref, patient_ref)))
    sets = sorted((r for r in records if r.kind == "set"),
                  key=lambda r: (r.t_ms, r.device_id, r.seq))
    for rec in sets:
        if rec.device_id not in device_refs:
            raise ExportError(f"record {rec.key} is from device {rec.device_id}, which is "
                              f"not enrolled for patient {patient_id!r}")
        entries.append(_entry(_observation(rec, base, tz, patient_ref,
                                           device_refs[rec.device_id])))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    if bundle_key is not None:
        bundle["id"] = _uuid(bundle_key)
    # Validating here means nothing leaves this module that the R4B models reject.
    return Bundle.model_validate(bundle)


def _checked_base(system_base: str) -> str:
    base = system_base.rstrip("/")
    if not base.startswith(("https://", "http://", "urn:")) or any(c.isspace() for c in base):
        raise ExportError(f"system base must be an absolute http(s) URL or a urn: without "
                          f"spaces, got {system_base!r}")
    return base


def _uuid(key: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, key))


def _identifier(base: str, kind: str, value: str) -> dict[str, str]:
    return {"system": f"{base}/sid/{kind}", "value": value}


class _Ref:
    """A resource's id, its Bundle fullUrl and how other resources point at it."""

    def __init__(self, resource_type: str, key: str, identifier: dict[str, str]) -> None:
        self.resource_type = resource_type
        self.id = _uuid(key)
        self.full_url = f"urn:uuid:{self.id}"
        self.identifier = identifier

    def reference(self) -> dict[str, Any]:
        # Both: a receiver resolves the urn inside the Bundle, or matches the identifier
        # against its own records.
        return {"reference": self.full_url, "type": self.resource_type,
                "identifier": dict(self.identifier)}


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def _patient(ref: _Ref) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": ref.id, "identifier": [dict(ref.identifier)]}


def _device(ref: _Ref, patient: _Ref) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "id": ref.id,
        "identifier": [dict(ref.identifier)],
        "type": {"text": "Wearable home exercise repetition counter (IMU)"},
        "patient": patient.reference(),
    }


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def _rtm(base: str, code: str) -> dict[str, Any]:
    return {"coding": [_coding(f"{base}/CodeSystem/rtm", code, RTM_CODES[code])],
            "text": RTM_CODES[code]}


def _quantity(value: Decimal | int, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _not_applicable() -> dict[str, Any]:
    return {"coding": [_coding(DATA_ABSENT_REASON, "not-applicable", "Not Applicable")]}


def _time(t_ms: int, tz: ZoneInfo) -> str:
    # fromtimestamp picks the right offset in a repeated DST hour; replace() keeps it.
    local = datetime.fromtimestamp(t_ms // 1000, tz).replace(microsecond=t_ms % 1000 * 1000)
    return local.isoformat(timespec="milliseconds" if t_ms % 1000 else "seconds")


def _observation(rec: StoredRecord, base: str, tz: ZoneInfo, patient: _Ref,
                 device: _Ref) -> dict[str, Any]:
    v = rec.values
    exercise_text = rec.exercise.replace("_", " ")
    components: list[dict[str, Any]] = [
        {"code": _rtm(base, "exercise"),
         "valueCodeableConcept": {
             "coding": [_coding(f"{base}/CodeSystem/exercise", rec.exercise, exercise_text)],
             "text": exercise_text}},
        {"code": _rtm(base, "repetitions"), "valueInteger": v["reps"]},
        {"code": _rtm(base, "partial-repetitions"), "valueInteger": v["partial_reps"]},
    ]
    # The wearable writes 0 where a value has no meaning (no full rep: no mean range of
    # motion; fewer than two: no variability); 0 would read as a measurement.
    rom: dict[str, Any] = {"code": _rtm(base, "mean-range-of-motion")}
    if v["reps"] > 0:
        rom["valueQuantity"] = _quantity(Decimal(v["mean_rom_cdeg"]).scaleb(-2), "deg")
    else:
        rom["dataAbsentReason"] = _not_applicable()
    components.append(rom)
    components.append({"code": _rtm(base, "set-duration"),
                       "valueQuantity": _quantity(v["duration_s"], "s")})
    tempo: dict[str, Any] = {"code": _rtm(base, "tempo-cv")}
    if v["reps"] > 1:
        tempo["valueQuantity"] = _quantity(v["tempo_cv_pct"], "%")
    else:
        tempo["dataAbsentReason"] = _not_applicable()
    components.append(tempo)
    components.append({"code": _rtm(base, "rests"), "valueInteger": v["rests"]})

    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _uuid(f"observation/{rec.device_id}/{rec.seq}"),
        "identifier": [_identifier(base, "record", f"{rec.device_id}:{rec.seq}")],
        "status": "final",
        "category": [{"coding": [_coding(OBSERVATION_CATEGORY, "activity", "Activity")]}],
        "code": {"coding": [_coding(f"{base}/CodeSystem/rtm", "exercise-set",
                                    RTM_CODES["exercise-set"])],
                 "text": f"{RTM_CODES['exercise-set']}: {exercise_text}"},
        "subject": patient.reference(),
        "device": device.reference(),
    }
    if rec.time_valid:
        obs["effectiveDateTime"] = _time(rec.t_ms, tz)
    else:
        obs["effectivePeriod"] = {"end": _time(rec.t_ms, tz)}
        obs["note"] = [{"text": "Time of the set unknown: the wearable had lost its "
                                "clock (power loss) when it was made. It happened before "
                                "the sync at the end of effectivePeriod."}]
    obs["component"] = components
    return obs
