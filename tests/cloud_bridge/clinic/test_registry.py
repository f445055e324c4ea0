from datetime import date

import pytest

from cloud_bridge.clinic.registry import Enrollment, Registry, RegistryError, load


def write(tmp_path, text):
    p = tmp_path / "enrollments.csv"
    p.write_text(text)
    return p


def test_load_and_lookups(tmp_path):
    reg = load(write(tmp_path, "patient_id,device_id,monitoring_start\n"
                               "P-1,a1b2c3d4e5f6,2026-11-02\n\nP-1,0000000000aa,2026-11-20\n"
                               "P-2,bbbbbbbbbbbb,2026-10-01\n"))
    assert reg.patients() == ["P-1", "P-2"]
    assert reg.devices_of("P-1") == ["0000000000aa", "a1b2c3d4e5f6"]
    assert reg.patient_of("bbbbbbbbbbbb") == "P-2" and reg.patient_of("cccccccccccc") is None
    assert reg.monitoring_start("P-1") == date(2026, 11, 2)


@pytest.mark.parametrize("text, message", [
    ("", ":1: header must be"),
    ("patient,device\n", ":1: header must be"),
    ("patient_id,device_id,monitoring_start\nP-1,a1b2c3d4e5f6\n", ":2: expected 3 columns"),
    ("patient_id,device_id,monitoring_start\n,a1b2c3d4e5f6,2026-11-02\n",
     ":2: patient_id is empty"),
    ("patient_id,device_id,monitoring_start\nP-1,A1B2,2026-11-02\n", ":2: device_id must be"),
    ("patient_id,device_id,monitoring_start\nP-1,a1b2c3d4e5f6,02/11/2026\n",
     ":2: monitoring_start must be YYYY-MM-DD"),
    ("patient_id,device_id,monitoring_start\nP-1,a1b2c3d4e5f6,2026-11-02\n"
     "P-2,a1b2c3d4e5f6,2026-11-02\n", "enrolled for two patients"),
])
def test_bad_registry_names_line_and_problem(tmp_path, text, message):
    with pytest.raises(RegistryError, match=message):
        load(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(RegistryError, match="does not exist"):
        load(tmp_path / "none.csv")


def test_save_round_trip(tmp_path):
    reg = Registry([Enrollment("P-9", "a1b2c3d4e5f6", date(2026, 1, 5))])
    reg.save(tmp_path / "r.csv")
    assert load(tmp_path / "r.csv").enrollments == reg.enrollments
