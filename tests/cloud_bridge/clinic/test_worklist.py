"""The worklist over a clinic with known reasons (attention_data.py): its order, its words,
and the reads it makes: one of each kind, whatever the number of patients, and days only
(ROM from the daily totals), never records."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic import worklist
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.prescriptions import Prescriptions
from cloud_bridge.clinic.registry import Registry
from tests.cloud_bridge.clinic.attention_data import (
    DEV_4,
    DEV_5,
    STATES,
    TODAY,
    make_clinic,
)
from tests.cloud_bridge.clinic.clinic_builder import TZ, StatesStore


@pytest.fixture
def clinic(tmp_path: Path) -> dict[str, Path]:
    return make_clinic(tmp_path)


def build(clinic: dict[str, Path], today: date = TODAY,
          registry: Registry | None = None) -> tuple[worklist.Worklist, StatesStore]:
    store = StatesStore(clinic["store"], zone=TZ, states=STATES)
    conn = open_clinic_db(clinic["clinic_db"])
    try:
        histories = Prescriptions(conn).histories()
        w = worklist.build(store, registry or registry_mod.load(clinic["registry"]),
                           histories, today)
    finally:
        conn.close()
        store.close()
    return w, store


def test_most_urgent_first_with_the_reasons(clinic: dict[str, Path]) -> None:
    w, _ = build(clinic)
    assert [a.patient_id for a in w.assessments] == ["P-3", "P-1", "P-4", "P-2", "P-5"]
    by_id = {a.patient_id: a for a in w.assessments}
    assert [r.kind for r in by_id["P-3"].reasons] == [
        "no_data", "adherence_falling", "battery", "not_synced", "storage", "sync_failures"]
    assert [r.text for r in by_id["P-1"].reasons] == [
        "adherence fell from 100% to 31% (last 7 days vs the 7 before)",
        "partial reps of squat rising: 30% of reps vs 9% (last 7 vs previous 7 days)",
        "mean ROM of squat down 12° (48° vs 60°, last 7 vs previous 7 days; target 60-90°)"]
    # DEV_5 sent nothing while DEV_4 did: its 9 failed syncs are not P-4's problem.
    assert [(r.kind, r.device_id) for r in by_id["P-4"].reasons] == [
        ("battery", DEV_4), ("no_prescription", None)]
    assert DEV_5 in STATES and STATES[DEV_5].consecutive_failures == 9
    assert by_id["P-2"].reasons == () and by_id["P-2"].days_since_data == 0
    assert by_id["P-5"].days_without_data is None
    assert w.days_with_data["P-3"] == {date(2026, 3, d) for d in range(1, 15)}
    assert w.first_day == date(2026, 2, 19)  # 30 days: the running period, the trends


@pytest.mark.parametrize("today", [TODAY, date(2026, 3, 10), date(2026, 2, 10)])
def test_one_read_of_each_kind_and_no_records(clinic: dict[str, Path], today: date) -> None:
    _, store = build(clinic, today=today)
    assert store.calls == {"daily_totals": 1, "days_with_data": 1, "last_days": 1,
                           "device_states": 1}


def test_the_last_day_with_data_however_long_ago(clinic: dict[str, Path]) -> None:
    today = TODAY + timedelta(days=120)
    w, _ = build(clinic, today=today)
    assert w.first_day == today - timedelta(days=29)
    by_id = {a.patient_id: a for a in w.assessments}
    assert by_id["P-2"].reasons[0].text == "no data for 120 days (last: Fri 2026-03-20)"
    assert by_id["P-3"].last_day_with_data == date(2026, 3, 14)
    # Looking back from before the last data: the last day up to then.
    w, _ = build(clinic, today=date(2026, 3, 10))
    assert {a.patient_id: a.last_day_with_data for a in w.assessments}["P-1"] == date(
        2026, 3, 10)


def test_no_patients(clinic: dict[str, Path]) -> None:
    w, store = build(clinic, registry=Registry([]))
    assert w.assessments == [] and store.calls == {}
    assert worklist.format_text(w) == ("Worklist as of Fri 2026-03-20 (days in "
                                       "America/New_York): 0 of 0 patients need attention\n\n"
                                       "No patients are enrolled.")


def test_text(clinic: dict[str, Path]) -> None:
    w, _ = build(clinic)
    lines = worklist.format_text(w).splitlines()
    assert lines[0] == ("Worklist as of Fri 2026-03-20 (days in America/New_York): 3 of 5 "
                        "patients need attention")
    assert lines[2].startswith("P-3  URGENT  no data for 6 days (last: Sat 2026-03-14); ")
    assert lines[3].startswith("P-1  warn    adherence fell from 100% to 31%")
    assert lines[4] == ("P-4  warn    wearable d00000000004: battery 15% at the last sync; "
                        "no prescription yet")
    assert lines[5:] == ["", "2 patients without reasons (--all lists them)"]
    everyone = worklist.format_text(w, show_all=True).splitlines()
    assert everyone[5:] == ["P-2  fine    last data Fri 2026-03-20 (today)",
                            "P-5  -       monitoring starts on 2026-04-01"]
