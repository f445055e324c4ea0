"""File names and modes of `rtm-clinic report --out-dir`."""

from __future__ import annotations

import stat
from pathlib import Path

from cloud_bridge.clinic.billing import Month
from cloud_bridge.clinic.monthly_report_files import combined_file, patient_file, write_private

MARCH = Month(2026, 3)


def test_a_plain_id_is_kept() -> None:
    assert patient_file("P-0001", MARCH, "csv") == "rtm-report-2026-03-P-0001.csv"
    assert combined_file(MARCH, "html") == "rtm-report-2026-03.html"


def test_any_id_gives_one_safe_distinct_name() -> None:
    names = {patient_file(p, MARCH, "html") for p in ("P/1", "P 1", "P_1", "../x", "Müller")}
    assert len(names) == 5
    for name in names:
        assert "/" not in name and " " not in name and name.startswith("rtm-report-2026-03-")
    assert patient_file("P/1", MARCH, "csv").startswith("rtm-report-2026-03-P_1-")


def test_written_owner_only_with_a_bom_for_spreadsheets(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    write_private(path, "a,b\n", bom=True)
    assert path.read_bytes() == b"\xef\xbb\xbfa,b\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write_private(path, "x")
    assert path.read_bytes() == b"x"
