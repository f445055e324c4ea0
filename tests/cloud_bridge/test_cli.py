"""The daily-totals parts of the command lines: rtm-bridge's --clinic-tz and rebuild-daily,
and rtm-clinic refusing a --tz its store's totals are not in."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cloud_bridge import cli as bridge_cli
from cloud_bridge.clinic import cli as clinic_cli
from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.daily import DailyTotal
from cloud_bridge.stores.sqlite_store import SQLiteStore
from tests.cloud_bridge.stores.test_store_contract import DEV_A, rep

NY = ZoneInfo("America/New_York")
T = 1_781_143_200_000  # 2026-06-11T02:00:00Z: June 11 in UTC, June 10 in New York


def test_run_takes_the_clinic_zone() -> None:
    args = bridge_cli.build_parser().parse_args(["run", "--clinic-tz", "America/New_York"])
    assert args.clinic_tz == NY
    assert bridge_cli.build_parser().parse_args(["run"]).clinic_tz == ZoneInfo("UTC")
    with pytest.raises(SystemExit):
        bridge_cli.build_parser().parse_args(["run", "--clinic-tz", "Mars/Olympus"])


def test_rebuild_daily_moves_the_days_to_another_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rtm.db"
    with SQLiteStore(path) as store:
        store.write([rep(DEV_A, 1, T)])
    url = f"sqlite:///{path}"
    assert bridge_cli.main(["rebuild-daily", "--store", url, "--clinic-tz",
                            "America/New_York", "--since", "2026-01-01"]) == 1
    assert "leave out --since" in capsys.readouterr().err
    assert bridge_cli.main(["rebuild-daily", "--store", url,
                            "--clinic-tz", "America/New_York"]) == 0
    assert "1 daily rows written, days in America/New_York" in capsys.readouterr().out
    with SQLiteStore(path, zone=NY) as store:
        assert store.daily_totals(None, date(2026, 1, 1), date(2027, 1, 1)) == [
            DailyTotal(DEV_A, date(2026, 6, 10), "squat", 1, 0, 0)]


def test_clinic_summary_refuses_a_zone_the_totals_are_not_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rtm.db"
    with SQLiteStore(path) as store:  # the bridge's default: UTC
        store.write([rep(DEV_A, 1, T)])
    Registry([Enrollment("P-1", DEV_A, date(2026, 6, 1))]).save(tmp_path / "reg.csv")
    common = ["summary", "--store", f"sqlite:///{path}", "--registry",
              str(tmp_path / "reg.csv"), "--from", "2026-06-10", "--to", "2026-06-11"]
    assert clinic_cli.main([*common, "--tz", "America/New_York"]) == 1
    assert "rebuild-daily" in capsys.readouterr().err
    assert clinic_cli.main([*common, "--tz", "UTC"]) == 0
    assert "2026-06-11  squat 1 reps in 0 sets" in capsys.readouterr().out
