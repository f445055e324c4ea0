"""One patient at a glance, over the clinic of attention_data.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from cloud_bridge.clinic import patient_report
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.prescriptions import Prescriptions
from cloud_bridge.clinic.rom import RomSum
from tests.cloud_bridge.clinic.attention_data import (
    DEV_3,
    DEV_5,
    STATES,
    TODAY,
    make_clinic,
)
from tests.cloud_bridge.clinic.clinic_builder import TZ, StatesStore


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_clinic(tmp_path_factory.mktemp("clinic"))


def report(clinic: dict[str, Path], patient: str, today: date = TODAY
           ) -> tuple[patient_report.PatientReport, StatesStore]:
    store = StatesStore(clinic["store"], zone=TZ, states=STATES)
    conn = open_clinic_db(clinic["clinic_db"])
    try:
        history = Prescriptions(conn).history(patient)
        r = patient_report.build(store, registry_mod.load(clinic["registry"]), patient,
                                 history, today)
    finally:
        conn.close()
        store.close()
    return r, store


def test_p1_rows_trend_and_reasons(clinic: dict[str, Path]) -> None:
    r, store = report(clinic, "P-1")
    assert store.calls == {"daily_totals": 1, "device_states": 1}  # days only
    assert r.days[0] == date(2026, 3, 7) and r.days[-1] == TODAY
    squat, heel = r.rows
    assert squat.cells == ["--", "--", "30/30", "30/30", "30/30", "30/30", "--", "--", "--",
                           "21/30", "21/30", "--", "--", "--"]
    assert heel.cells[:5] == ["--", "--", "30/30", "--", "30/30"]
    assert squat.partial == 4 * 3 + 2 * 9  # 1 a set before, 3 a set after
    assert (squat.rom_now, squat.rom_before) == (RomSum(42, 42 * 4800),
                                                 RomSum(150, 150 * 6000))  # Mar 6, 9..12
    assert r.others == {"lunge": (12, 1)}
    assert r.period is not None and (r.period.index, r.period.days_with_data) == (1, 10)
    assert [x.kind for x in r.assessment.reasons] == ["adherence_falling", "partial_rising",
                                                      "rom_worse"]


def test_p1_text(clinic: dict[str, Path]) -> None:
    text = patient_report.format_text(report(clinic, "P-1")[0]).splitlines()
    assert text[:5] == [
        "Patient P-1, Fri 2026-03-20 (days in America/New_York)",
        "Monitoring since 2026-02-01: period 2 (2026-03-03 to 2026-04-01), day 18 of 30: "
        "10 of 16 days with data, 6 more needed by 2026-04-01",
        "Last data: Tue 2026-03-17 (3 days ago)",
        "Wearable d00000000001: last sync Fri 2026-03-20 03:10 via home-1, battery 80%, "
        "storage 5% full, firmware 1.2.0",
        "Prescription v1 from 2026-02-01: squat 3 x 10, 5 days/week, ROM 60-90 deg, rest 30 s;"
        " heel_raise 2 x 15, 3 days/week, rest 30 s"]
    assert "squat         --    -- 30/30 30/30 30/30 30/30    --    --    -- 21/30 21/30    -- " \
           "   --    --" in text
    # Adherence over the 13 days before today (nothing done today is not yet missed): 5 of
    # 7 days a week expect 13 * 5/7 = 9.3 days and 30 reps on each, 4 * 30 + 2 * 21 done.
    assert ("adherence over the 13 days before today: today's data comes with tonight's "
            "sync; an exercise day has at least 80% of its prescribed reps") in text
    assert ("           3 x 10, 5 days/week; 4 of 9.3 exercise days, 58% of prescribed reps; "
            "+30 partial reps; mean ROM 48° ↓ from 60° (target 60-90°)") in text
    assert "Not prescribed: lunge 12 reps on 1 day" in text
    assert text[-4:] == [
        "Needs attention:",
        "  warn    adherence fell from 100% to 31% (last 7 days vs the 7 before)",
        "  warn    partial reps of squat rising: 30% of reps vs 9% (last 7 vs previous 7 days)",
        "  warn    mean ROM of squat down 12° (48° vs 60°, last 7 vs previous 7 days; "
        "target 60-90°)"]


def test_p3_device_state_and_urgent_reasons(clinic: dict[str, Path]) -> None:
    text = patient_report.format_text(report(clinic, "P-3")[0]).splitlines()
    assert (f"Wearable {DEV_3}: last sync Mon 2026-03-16 03:05 via home-3, 5 failed attempts "
            "since, battery 12%, storage 85% full, firmware 1.2.0") in text
    assert "Last data: Sat 2026-03-14 (6 days ago)" in text
    assert "  URGENT  no data for 6 days (last: Sat 2026-03-14)" in text
    assert "  warn    not synced for 4 days (last: Mon 2026-03-16)" in text


def test_last_data_older_than_the_days_read(clinic: dict[str, Path]) -> None:
    # 60 days on, P-3's last data is older than the 30-day period read: asked for apart.
    r, store = report(clinic, "P-3", TODAY + timedelta(days=60))
    assert store.calls == {"daily_totals": 1, "last_days": 1, "device_states": 1}
    assert "Last data: Sat 2026-03-14 (66 days ago)" in patient_report.format_text(r)
    assert r.assessment.reasons[0].text == "no data for 66 days (last: Sat 2026-03-14)"


def test_nothing_found_in_the_first_week_says_adherence_is_not_judged_yet(
        clinic: dict[str, Path]) -> None:
    registry = registry_mod.load(clinic["registry"])
    start = registry.monitoring_start("P-4")
    r, _ = report(clinic, "P-4", start + timedelta(days=6))
    text = patient_report.format_text(replace(r, assessment=replace(r.assessment, reasons=())))
    judged = start + timedelta(days=7)
    assert text.endswith(f"Needs attention: nothing found (adherence judged from "
                         f"{judged:%a} {judged})")


def test_p4_without_prescription_and_p5_not_started(clinic: dict[str, Path]) -> None:
    text = patient_report.format_text(report(clinic, "P-4")[0]).splitlines()
    assert "Prescription: none in force" in text
    assert f"Wearable {DEV_5}: never synced, 9 failed attempts, firmware 1.2.0" in text
    assert "(nothing prescribed in these days)" in text
    assert "Not prescribed: generic 12 reps on 1 day" in text
    assert text[-2:] == ["  warn    wearable d00000000004: battery 15% at the last sync",
                         "  note    no prescription yet"]
    text = patient_report.format_text(report(clinic, "P-5")[0]).splitlines()
    assert text[1:4] == ["Monitoring starts on Wed 2026-04-01.", "Last data: none yet",
                         "Wearable d00000000006: no state reported yet"]
    assert not any(line.startswith("Last 14 days") for line in text)
    assert text[-1] == "Needs attention: nothing found"


@pytest.mark.parametrize(("now", "before", "text"), [
    (57.0, 60.0, "57° ↓ from 60°"),
    (57.1, 60.0, "57° → from 60°"),  # within 3 degrees: steady
    (63.0, 60.0, "63° ↑ from 60°"),
    (50.0, None, "50°"),
    (None, 60.0, ""),
])
def test_rom_trend_arrow(now: float | None, before: float | None, text: str) -> None:
    def rom(deg: float | None) -> RomSum:
        return RomSum(10, round(deg * 1000)) if deg is not None else RomSum(0, 0)

    assert patient_report.rom_trend(rom(now), rom(before)) == text
