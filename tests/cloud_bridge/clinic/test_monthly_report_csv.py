"""The monthly report as CSV, read back with the csv module."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest

from cloud_bridge.clinic.monthly_report import MonthlyReport
from cloud_bridge.clinic.monthly_report_csv import CSV_COLUMNS, SECTIONS, format_csv
from tests.cloud_bridge.clinic.monthly_report_data import (
    DEV_A,
    DEV_B,
    FORMULA_NOTE,
    SCRIPT_NOTE,
    make_clinic,
    reports,
)

pytestmark = pytest.mark.rtm


@pytest.fixture(scope="module")
def march(tmp_path_factory: pytest.TempPathFactory) -> list[MonthlyReport]:
    tmp = tmp_path_factory.mktemp("clinic")
    make_clinic(tmp)
    return reports(tmp, ["P-1", "P-2"])


def read(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    return list(reader)


def section(rows: list[dict[str, str]], name: str, *columns: str) -> list[tuple[str, ...]]:
    return [tuple(r[c] for c in columns) for r in rows if r["section"] == name]


def test_every_row_names_its_patient_month_and_a_known_section(march) -> None:
    rows = read(format_csv(march[0]))
    assert {(r["patient_id"], r["month"]) for r in rows} == {("P-1", "2026-03")}
    sections = [r["section"] for r in rows]
    assert set(sections) == set(SECTIONS)
    # In the documented order, each section's rows together (a version's items after it).
    groups = ["program" if s == "program_item" else s for s in sections]
    assert sorted(groups, key=SECTIONS.index) == groups


def test_report_devices_and_days(march) -> None:
    rows = read(format_csv(march[0]))
    assert section(rows, "report", "item", "date", "status", "note") == [
        ("as of", "2026-04-15", "final", "the month is over"),
        ("time zone", "", "", "America/New_York"),
        ("monitoring start", "2026-02-10", "", ""),
        ("fee table", "", "", str(march[0].fees_path)),
    ]
    assert section(rows, "device", "device_id", "date", "note") == [
        (DEV_A, "2026-02-10", "firmware not known"), (DEV_B, "2026-03-05", "firmware 1.4.2")]
    days = section(rows, "data_day", "date", "device_id")
    assert len(days) == 17
    assert days[0] == ("2026-03-01", DEV_A) and days[-1] == ("2026-03-31", DEV_B)
    assert ("2026-03-05", f"{DEV_A} {DEV_B}") in days
    assert section(rows, "data_period", "item", "date", "end_date", "count", "note") == [
        ("period 1", "2026-02-10", "2026-03-11", "16", "7 of them in 2026-03"),
        ("period 2", "2026-03-12", "2026-04-10", "11", "10 of them in 2026-03"),
    ]
    assert section(rows, "data_total", "count") == [("17",)]


def test_time_communications_and_totals(march) -> None:
    rows = read(format_csv(march[0]))
    assert section(rows, "time_entry", "date", "time", "minutes", "clinician", "note") == [
        ("2026-03-01", "00:10", "12", "JD", "first day, after midnight"),
        ("2026-03-15", "", "8", "AB", SCRIPT_NOTE),  # logged as a date: no time
        ("2026-03-31", "23:50", "25", "JD", "'" + FORMULA_NOTE),  # not a formula
    ]
    assert section(rows, "time_total", "minutes", "count") == [("45", "3")]
    assert section(rows, "communication", "date", "time", "item", "clinician", "note") == [
        ("2026-03-01", "00:20", "call", "JD", "check-in"),
        ("2026-03-31", "23:40", "video", "AB", "ROM review"),
    ]
    assert section(rows, "communication_total", "count") == [("2",)]


def test_programs_in_force(march) -> None:
    rows = read(format_csv(march[0]))
    assert section(rows, "program", "version", "date", "end_date", "note") == [
        ("1", "2026-03-01", "2026-03-15", "version 1 from 2026-02-10"),
        ("2", "2026-03-16", "2026-03-31", "version 2 from 2026-03-16"),
    ]
    assert section(rows, "program_item", "version", "item", "note") == [
        ("1", "squat", "3 x 10, 5 days/week, ROM 60-90 deg"),
        ("1", "heel_raise", "2 x 15, 3 days/week"),
        ("2", "squat", "3 x 12, 5 days/week, ROM 70-100 deg"),
        ("2", "glute_bridge", "2 x 10, 4 days/week"),
    ]


def test_billing_lines_and_total(march) -> None:
    rows = read(format_csv(march[0]))
    assert section(rows, "billing", "item", "date", "end_date", "code", "units", "status",
                   "amount", "currency") == [
        ("setup and education", "2026-02-21", "2026-02-21", "", "0", "final", "", ""),
        ("device supply", "2026-02-10", "2026-03-11", "98977", "1", "final", "22.00", "USD"),
        ("treatment management", "2026-03-01", "2026-03-31", "98980", "1", "final", "55.00",
         "USD"),
        ("treatment management", "2026-03-01", "2026-03-31", "98981", "1", "final", "66.00",
         "USD"),
    ]
    assert section(rows, "billing", "note")[1] == ("16 days with data (16 or more: 98977)",)
    assert section(rows, "billing_total", "status", "amount", "currency") == [
        ("final", "143.00", "USD")]


def test_a_patient_without_time_or_program(march) -> None:
    rows = read(format_csv(march[1]))
    assert section(rows, "time_entry", "date") == []
    assert section(rows, "time_total", "minutes", "count") == [("0", "0")]
    assert section(rows, "program", "version") == []
    assert section(rows, "billing_total", "amount", "currency") == [("0.00", "")]


def test_shipped_fee_table_is_flagged(march) -> None:
    r = replace(march[0], fees_path=Path("fees.csv"), fees_are_examples=True)
    rows = read(format_csv(r))
    assert section(rows, "report", "note")[3] == ("fees.csv (EXAMPLE amounts)",)
