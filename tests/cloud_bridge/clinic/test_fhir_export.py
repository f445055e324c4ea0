"""The FHIR export: what a store holds comes out as an R4 Bundle the R4B models accept,
with the same numbers, on the clinic's days, the same every time; and `rtm-clinic
export-fhir` around it."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.bundle import Bundle

from cloud_bridge.clinic import cli as clinic_cli
from cloud_bridge.clinic.fhir_export import (
    DATA_ABSENT_REASON,
    DEFAULT_SYSTEM_BASE,
    OBSERVATION_CATEGORY,
    UCUM,
    ExportError,
    export_patient,
)
from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.sqlite_store import SQLiteStore

TZ = ZoneInfo("America/New_York")
DEV = "a1b2c3d4e5f6"
DEV2 = "0f0e0d0c0b0a"  # the same patient's replacement wearable
OTHER = "bbbbbbbbbbbb"  # another patient's
D1, D2 = date(2026, 11, 2), date(2026, 11, 3)
RTM = f"{DEFAULT_SYSTEM_BASE}/CodeSystem/rtm"


def at(day: date, hour: int, minute: int = 0, ms: int = 0) -> int:
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)
    return int(local.timestamp()) * 1000 + ms


def a_set(dev: str, seq: int, t_ms: int, exercise: str = "squat", reps: int = 10,
          partial: int = 1, rom_cdeg: int = 4005, duration_s: int = 45, cv: int = 12,
          rests: int = 1, time_valid: bool = True) -> StoredRecord:
    return StoredRecord(dev, seq, "set", exercise, 1, t_ms, time_valid, False,
                        {"reps": reps, "partial_reps": partial, "mean_rom_cdeg": rom_cdeg,
                         "duration_s": duration_s, "tempo_cv_pct": cv, "rests": rests})


def a_rep(dev: str, seq: int, t_ms: int) -> StoredRecord:
    return StoredRecord(dev, seq, "rep", "squat", 1, t_ms, True, False,
                        {"rep": seq, "duration_ms": 900, "rom_cdeg": 4000, "peak_dps": 80})


REGISTRY = Registry([
    Enrollment("P-1", DEV, date(2026, 10, 20)),
    Enrollment("P-1", DEV2, date(2026, 11, 3)),
    Enrollment("P-2", OTHER, date(2026, 10, 20)),
])


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "s.db", zone=TZ)


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def component(obs: dict[str, Any], code: str) -> dict[str, Any]:
    [c] = [c for c in obs["component"] if c["code"]["coding"][0]["code"] == code]
    return c


def exported(store: SQLiteStore, first: date = D1, last: date = D2,
             patient: str = "P-1") -> dict[str, Any]:
    """The export as the JSON a receiver gets, after the R4B models parsed that JSON."""
    text = export_patient(store, REGISTRY, patient, first, last, TZ).model_dump_json()
    Bundle.model_validate(json.loads(text))  # raises unless the R4B models accept it
    return json.loads(text)


def test_sets_become_observations_with_the_stored_values(store: SQLiteStore) -> None:
    store.write([
        a_rep(DEV, 1, at(D1, 9)),
        a_set(DEV, 2, at(D1, 9, 1), exercise="heel_raise"),
        a_set(DEV, 3, at(D1, 9, 5), reps=12, partial=0, rom_cdeg=9000, duration_s=60, cv=7,
              rests=0),
    ])
    bundle = exported(store)
    assert bundle["type"] == "collection"
    [patient] = resources(bundle, "Patient")
    assert set(patient) == {"resourceType", "id", "identifier"}  # no invented identity
    assert patient["identifier"] == [
        {"system": f"{DEFAULT_SYSTEM_BASE}/sid/patient-id", "value": "P-1"}]
    assert len(resources(bundle, "Device")) == 2  # both wearables of P-1
    heel, squat = resources(bundle, "Observation")  # no Observation for the rep record

    assert heel["status"] == "final"
    assert heel["category"][0]["coding"][0] == {
        "system": OBSERVATION_CATEGORY, "code": "activity", "display": "Activity"}
    assert heel["code"]["coding"][0]["code"] == "exercise-set"
    assert heel["code"]["coding"][0]["system"] == RTM
    assert heel["code"]["text"] == "Home exercise set: heel raise"
    assert component(heel, "exercise")["valueCodeableConcept"]["coding"][0]["code"] == (
        "heel_raise")
    assert component(heel, "repetitions")["valueInteger"] == 10
    assert component(heel, "partial-repetitions")["valueInteger"] == 1
    assert component(heel, "mean-range-of-motion")["valueQuantity"] == {
        "value": 40.05, "unit": "deg", "system": UCUM, "code": "deg"}
    assert component(heel, "set-duration")["valueQuantity"]["value"] == 45
    assert component(heel, "set-duration")["valueQuantity"]["code"] == "s"
    assert component(heel, "tempo-cv")["valueQuantity"]["value"] == 12
    assert component(heel, "tempo-cv")["valueQuantity"]["code"] == "%"
    assert component(heel, "rests")["valueInteger"] == 1
    assert component(squat, "repetitions")["valueInteger"] == 12
    assert component(squat, "mean-range-of-motion")["valueQuantity"]["value"] == 90
    assert squat["identifier"][0]["value"] == f"{DEV}:3"

    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    device = next(d for d in resources(bundle, "Device")
                  if d["identifier"][0]["value"] == DEV)
    for obs in (heel, squat):
        assert obs["subject"]["reference"] == f"urn:uuid:{patient['id']}"
        assert obs["subject"]["identifier"]["value"] == "P-1"
        assert obs["device"]["reference"] == f"urn:uuid:{device['id']}"
        assert {obs["subject"]["reference"], obs["device"]["reference"]} <= full_urls
    assert device["patient"]["reference"] == f"urn:uuid:{patient['id']}"


def test_the_range_is_days_in_the_clinic_zone(store: SQLiteStore) -> None:
    late = at(D1, 23, 30, ms=250)  # Nov 2 in New York, already Nov 3 in UTC
    store.write([a_set(DEV, 1, late), a_set(DEV, 2, at(D2, 0, 10))])
    [obs] = resources(exported(store, D1, D1), "Observation")
    assert obs["effectiveDateTime"].startswith("2026-11-02T23:30:00.25")
    assert obs["effectiveDateTime"].endswith("-05:00")
    assert datetime.fromisoformat(obs["effectiveDateTime"]).timestamp() * 1000 == late
    [obs] = resources(exported(store, D2, D2), "Observation")
    assert component(obs, "exercise")["valueCodeableConcept"]["text"] == "squat"
    assert obs["identifier"][0]["value"] == f"{DEV}:2"


def test_times_in_the_repeated_dst_hour_keep_their_own_offset(store: SQLiteStore) -> None:
    edt = int(datetime(2026, 11, 1, 5, 30, tzinfo=UTC).timestamp()) * 1000  # 01:30 EDT
    est = edt + 3_600_000  # 01:30 again, EST
    store.write([a_set(DEV, 1, edt), a_set(DEV, 2, est)])
    first, second = resources(exported(store, date(2026, 11, 1), date(2026, 11, 1)),
                              "Observation")
    assert first["effectiveDateTime"] == "2026-11-01T01:30:00-04:00"
    assert second["effectiveDateTime"] == "2026-11-01T01:30:00-05:00"


def test_exporting_twice_gives_the_same_bundle(tmp_path: Path) -> None:
    records = [a_set(DEV, 1, at(D1, 9)), a_set(DEV2, 1, at(D2, 8)), a_set(DEV, 2, at(D2, 9))]
    texts = []
    for n, order in enumerate((records, records[::-1])):
        with SQLiteStore(tmp_path / f"{n}.db", zone=TZ) as store:
            store.write(order)
            texts.append(export_patient(store, REGISTRY, "P-1", D1, D2, TZ).model_dump_json())
            texts.append(export_patient(store, REGISTRY, "P-1", D1, D2, TZ).model_dump_json())
    assert len(set(texts)) == 1
    bundle = json.loads(texts[0])
    assert "timestamp" not in bundle
    ids = [e["resource"]["id"] for e in bundle["entry"]]
    assert len(set(ids)) == len(ids) == 6  # patient, 2 devices, 3 sets
    with SQLiteStore(tmp_path / "0.db", zone=TZ) as store:
        narrower = json.loads(export_patient(store, REGISTRY, "P-1", D1, D1, TZ).model_dump_json())
    # Another range is another Bundle, but the same set is the same Observation.
    assert narrower["id"] != bundle["id"]
    assert narrower["entry"][-1]["resource"]["id"] in ids


def test_a_patient_with_two_wearables(store: SQLiteStore) -> None:
    store.write([
        a_set(DEV, 7, at(D1, 9)),
        a_set(DEV2, 1, at(D2, 8), exercise="lunge"),
        a_set(DEV, 8, at(D2, 10)),
        a_set(OTHER, 1, at(D2, 9)),  # P-2's: not in P-1's Bundle
    ])
    bundle = exported(store)
    devices = {d["identifier"][0]["value"]: f"urn:uuid:{d['id']}"
               for d in resources(bundle, "Device")}
    assert set(devices) == {DEV, DEV2}
    observations = resources(bundle, "Observation")
    assert [o["identifier"][0]["value"] for o in observations] == [
        f"{DEV}:7", f"{DEV2}:1", f"{DEV}:8"]  # by time, across wearables
    for obs in observations:
        dev = obs["identifier"][0]["value"].split(":")[0]
        assert obs["device"]["reference"] == devices[dev]
        assert obs["device"]["identifier"]["value"] == dev
    [other] = resources(exported(store, patient="P-2"), "Observation")
    assert other["subject"]["identifier"]["value"] == "P-2"


def test_a_set_of_unknown_time_is_exported_on_no_day(store: SQLiteStore) -> None:
    sync = at(D1, 18)
    store.write([a_set(DEV, 4, sync, time_valid=False)])
    [obs] = resources(exported(store), "Observation")
    assert "effectiveDateTime" not in obs
    assert obs["effectivePeriod"] == {"end": "2026-11-02T18:00:00-05:00"}
    assert "unknown" in obs["note"][0]["text"]


def test_values_without_meaning_are_absent_not_zero(store: SQLiteStore) -> None:
    store.write([a_set(DEV, 1, at(D1, 9), reps=0, partial=3, rom_cdeg=0, cv=0),
                 a_set(DEV, 2, at(D1, 10), reps=1, partial=0, rom_cdeg=3000, cv=0)])
    none, one = resources(exported(store), "Observation")
    for obs, code in ((none, "mean-range-of-motion"), (none, "tempo-cv"), (one, "tempo-cv")):
        c = component(obs, code)
        assert "valueQuantity" not in c
        assert c["dataAbsentReason"]["coding"][0] == {
            "system": DATA_ABSENT_REASON, "code": "not-applicable", "display": "Not Applicable"}
    assert component(one, "mean-range-of-motion")["valueQuantity"]["value"] == 30


def test_bad_requests_are_refused(store: SQLiteStore) -> None:
    with pytest.raises(ExportError, match="'P-9' is not in the enrollment registry"):
        export_patient(store, REGISTRY, "P-9", D1, D2, TZ)
    with pytest.raises(ExportError, match="starts"):
        export_patient(store, REGISTRY, "P-1", D2, D1, TZ)
    with pytest.raises(ExportError, match="system base"):
        export_patient(store, REGISTRY, "P-1", D1, D2, TZ, system_base="clinic codes")


def test_a_system_base_of_the_clinic_names_the_systems(store: SQLiteStore) -> None:
    store.write([a_set(DEV, 1, at(D1, 9))])
    bundle = export_patient(store, REGISTRY, "P-1", D1, D2, TZ,
                            system_base="https://fhir.clinic.test/rtm/").model_dump()
    obs = bundle["entry"][-1]["resource"]
    assert obs["code"]["coding"][0]["system"] == "https://fhir.clinic.test/rtm/CodeSystem/rtm"
    assert obs["subject"]["identifier"]["system"] == (
        "https://fhir.clinic.test/rtm/sid/patient-id")


# --- rtm-clinic export-fhir -----------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    """--store and --registry arguments for a store whose daily totals are in UTC."""
    with SQLiteStore(tmp_path / "rtm.db") as store:
        store.write([a_set(DEV, 1, at(D1, 23, 30)), a_set(DEV, 2, at(D2, 9))])
    REGISTRY.save(tmp_path / "reg.csv")
    return ["--store", f"sqlite:///{tmp_path / 'rtm.db'}", "--registry",
            str(tmp_path / "reg.csv")]


def test_help_lists_export_fhir() -> None:
    assert "export-fhir" in clinic_cli.build_parser().format_help()


def test_cli_writes_the_bundle_to_stdout_or_a_file(
    files: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The store's daily totals are in UTC; the export reads records, so any --tz works.
    args = ["export-fhir", "P-1", "--from", "2026-11-02", "--to", "2026-11-02",
            "--tz", "America/New_York", *files]
    assert clinic_cli.main(args) == 0
    out = capsys.readouterr().out
    bundle = Bundle.model_validate(json.loads(out))
    [obs] = [e.resource for e in bundle.entry if e.resource.get_resource_type() == "Observation"]
    assert obs.identifier[0].value == f"{DEV}:1"

    target = tmp_path / "p1.json"
    assert clinic_cli.main([*args, "--out", str(target)]) == 0
    assert capsys.readouterr().out == ""
    assert target.read_text() == out
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


@pytest.mark.parametrize(("extra", "message"), [
    (["P-9", "--from", "2026-11-02", "--to", "2026-11-03"], "'P-9' is not in the enrollment"),
    (["P-1", "--from", "2026-11-03", "--to", "2026-11-02"], "--from is after --to"),
    (["P-1", "--from", "2026-11-02", "--to", "2026-11-03", "--system-base", "x"],
     "system base"),
    (["P-1", "--from", "2026-11-02", "--to", "2026-11-03", "--out", "/nonexistent/dir/b.json"],
     "cannot write /nonexistent/dir/b.json"),
])
def test_cli_bad_input_exits_2_with_a_message(
    files: list[str], capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert clinic_cli.main(["export-fhir", *extra, *files]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_cli_bad_registry_or_date_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert clinic_cli.main(["export-fhir", "P-1", "--from", "2026-11-02", "--to", "2026-11-03",
                            "--registry", str(tmp_path / "missing.csv"),
                            "--store", f"sqlite:///{tmp_path / 'rtm.db'}"]) == 2
    assert "missing.csv does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        clinic_cli.main(["export-fhir", "P-1", "--from", "Nov 2", "--to", "2026-11-03",
                         "--registry", "r.csv"])
    assert exc.value.code == 2
    assert "not a date (YYYY-MM-DD): 'Nov 2'" in capsys.readouterr().err
