"""`rtm-clinic worklist` and `rtm-clinic patient` over a real SQLite store and clinic.db
(attention_data.py); the store is opened with the device states the tests choose. Bad input
gets a message and exit code 2, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloud_bridge.clinic import cli
from cloud_bridge.clinic.commands import attention as attention_command
from cloud_bridge.clinic.commands import common
from tests.cloud_bridge.clinic.attention_data import STATES, make_clinic
from tests.cloud_bridge.clinic.clinic_builder import StatesStore


@pytest.fixture
def clinic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    paths = make_clinic(tmp_path)
    opened: list[StatesStore] = []

    def open_store(url: str, zone: Any) -> StatesStore:
        assert url == f"sqlite:///{paths['store']}"
        store = StatesStore(paths["store"], zone=zone, states=STATES)
        opened.append(store)
        return store

    monkeypatch.setattr(attention_command, "open_store", open_store)
    # 13:00 in New York on Friday 2026-03-20: attention_data's today.
    monkeypatch.setattr(common, "now", lambda: datetime(2026, 3, 20, 17, 0, tzinfo=UTC))
    return {"argv": ["--store", f"sqlite:///{paths['store']}", "--registry",
                     str(paths["registry"]), "--clinic-db", str(paths["clinic_db"]),
                     "--tz", "America/New_York"], "opened": opened, **paths}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_worklist(clinic: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "worklist", *clinic["argv"])
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == ("Worklist as of Fri 2026-03-20 (days in America/New_York): 3 of 5 "
                        "patients need attention")
    assert [line[:3] for line in lines[2:5]] == ["P-3", "P-1", "P-4"]
    assert "mean ROM of squat down 12° (48° vs 60°" in lines[3]
    assert lines[-1] == "2 patients without reasons (--all lists them)"
    (store,) = clinic["opened"]
    assert store.calls == {"daily_totals": 1, "days_with_data": 1, "last_days": 1,
                           "device_states": 1}


def test_worklist_all_and_another_today(clinic: dict[str, Any],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "worklist", "--all", *clinic["argv"])
    assert code == 0 and out.splitlines()[-2:] == [
        "P-2  fine    last data Fri 2026-03-20 (today)",
        "P-5  -       monitoring starts on 2026-04-01"]
    # As of Mar 16: P-3 had data two days before, P-1 the day before.
    code, out, _ = run(capsys, "worklist", "--today", "2026-03-16", *clinic["argv"])
    assert code == 0 and "no data for" not in out


def test_patient(clinic: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "patient", "P-3", *clinic["argv"])
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Patient P-3, Fri 2026-03-20 (days in America/New_York)"
    assert "squat 20/20 20/20 20/20 20/20 20/20 20/20 20/20 20/20    --    --    --    --    " \
           "--    --" in lines
    assert "  URGENT  no data for 6 days (last: Sat 2026-03-14)" in lines


@pytest.mark.parametrize(("command", "overrides", "message"), [
    (["patient", "P-9"], [], "patient 'P-9' is not in the registry"),
    (["worklist"], ["--clinic-db", "/nonexistent/clinic.db"], "does not exist"),
    (["worklist"], ["--store", "sqlite:////nonexistent/rtm.db"],
     "store file /nonexistent/rtm.db does not exist"),
    (["patient", "P-1"], ["--registry", "/nonexistent/registry.csv"], "does not exist"),
])
def test_bad_input(clinic: dict[str, Any], capsys: pytest.CaptureFixture[str],
                   command: list[str], overrides: list[str], message: str) -> None:
    # The last of an option given twice wins.
    code, out, err = run(capsys, *command, *clinic["argv"], *overrides)
    assert code == 2 and out == ""
    assert message in err and err.startswith(f"rtm-clinic {command[0]}: ")
