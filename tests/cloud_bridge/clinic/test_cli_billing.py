"""`rtm-clinic log-time` and `rtm-clinic billing` against a real SQLite store and clinic.db."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cloud_bridge.clinic import cli as clinic_cli
from cloud_bridge.clinic.commands import common as commands_common
from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.sqlite_store import SQLiteStore
from tests.cloud_bridge.clinic.test_summary import TZ, at

pytestmark = pytest.mark.rtm

DEV_A, DEV_B, DEV_C = "aaaaaaaaaaa1", "aaaaaaaaaaa2", "ccccccccccc1"
START = date(2026, 1, 10)  # periods: Jan 10..Feb 8, Feb 9..Mar 10, Mar 11..Apr 9
NOW = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)
FEES = ("code,description,amount,currency\n98975,setup,11.00,USD\n98977,16+,22.00,USD\n"
        "98985,2-15,33.00,USD\n98979,10,44.00,USD\n98980,20,55.00,USD\n98981,+20,66.00,USD\n")


def rec(device: str, seq: int, t_ms: int) -> StoredRecord:
    return StoredRecord(device, seq, "rep", "squat", 1, t_ms, True, False,
                        {"rep": seq, "duration_ms": 900, "rom_cdeg": 4000, "peak_dps": 80})


@pytest.fixture
def clinic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """P-1: a wearable replaced on Jan 24; 15 days with data on Jan 10..24 (the 24th on both
    wearables), plus 23:30 New York time on Feb 8, the period's last day (Feb 9 in UTC),
    and Feb 9, the next period's first day. P-2: enrolled, no data."""
    store = SQLiteStore(tmp_path / "rtm.db", zone=TZ)
    records = [rec(DEV_A, i, at(START + timedelta(days=i), 9)) for i in range(15)]
    records += [rec(DEV_B, 1, at(date(2026, 1, 24), 18)),
                rec(DEV_B, 2, at(date(2026, 2, 8), 23, 30)),
                rec(DEV_B, 3, at(date(2026, 2, 9), 8))]
    store.write(records)
    store.close()
    Registry([Enrollment("P-1", DEV_A, START), Enrollment("P-1", DEV_B, date(2026, 1, 24)),
              Enrollment("P-2", DEV_C, date(2026, 2, 20))]).save(tmp_path / "reg.csv")
    (tmp_path / "fees.csv").write_text(FEES)
    monkeypatch.setattr(commands_common, "now", lambda: NOW)
    return tmp_path


def log(tmp: Path, *args: str) -> int:
    return clinic_cli.main(["log-time", *args, "--registry", str(tmp / "reg.csv"),
                            "--clinic-db", str(tmp / "clinic.db"), "--tz", "America/New_York"])


def bill(tmp: Path, *args: str, fees: str | None = None) -> int:
    return clinic_cli.main(["billing", *args, "--registry", str(tmp / "reg.csv"),
                            "--clinic-db", str(tmp / "clinic.db"), "--tz", "America/New_York",
                            "--store", f"sqlite:///{tmp / 'rtm.db'}",
                            "--fees", fees or str(tmp / "fees.csv")])


def rows(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out)))


def test_help_lists_billing_and_log_time(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        clinic_cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "billing" in out and "log-time" in out and "summary" in out


def test_billing_from_store_and_logged_time(clinic: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # 23:30 on Jan 31 in New York is January there: minutes in January...
    assert log(clinic, "P-1", "--minutes", "25", "--at", "2026-01-31T23:30", "--by", "JD") == 0
    # ...but a call 45 minutes later is February: January has no communication.
    assert log(clinic, "P-1", "--communication", "call", "--at", "2026-02-01T00:15") == 0
    assert log(clinic, "P-1", "--minutes", "40", "--communication", "video",
               "--at", "2026-02-10T10:00", "--note", "reviewed ROM") == 0
    assert "P-1 in 2026-02 (days in America/New_York): 40 minutes, 2 interactive " \
           "communications" in capsys.readouterr().out

    assert bill(clinic, "--month", "2026-01", "--today", "2026-03-01", "--csv") == 0
    jan = rows(capsys.readouterr().out)
    p1 = [r for r in jan if r["patient_id"] == "P-1"]
    assert [(r["item"], r["code"], r["status"], r["amount"]) for r in p1] == [
        ("setup and education", "98975", "final", "11.00"),
        ("treatment management", "", "final", ""),
    ]
    assert p1[0]["first_day"] == "2026-01-11"
    assert p1[1]["reason"].startswith("25 minutes, 0 communications")

    assert bill(clinic, "--month", "2026-02", "--today", "2026-03-01", "--csv") == 0
    feb = [r for r in rows(capsys.readouterr().out) if r["patient_id"] == "P-1"]
    assert [(r["item"], r["first_day"], r["code"], r["units"], r["status"], r["amount"])
            for r in feb] == [
        ("setup and education", "2026-01-11", "", "0", "final", ""),
        # Feb 8 23:30 New York is the period's 16th day with data (15 + Feb 8; Jan 24 once).
        ("device supply", "2026-01-10", "98977", "1", "final", "22.00"),
        ("treatment management", "2026-02-01", "98980", "1", "final", "55.00"),
        ("treatment management", "2026-02-01", "98981", "1", "final", "66.00"),
    ]
    assert feb[1]["reason"] == "16 days with data (16 or more: 98977)"


def test_a_running_period_in_the_table(clinic: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    (clinic / "clinic.db").touch()
    assert bill(clinic, "P-1", "--today", "2026-02-20") == 0
    out = capsys.readouterr().out
    assert "RTM billing readiness for 2026-02, as of 2026-02-20 (days in America/New_York)" in out
    assert f"Amounts from {clinic / 'fees.csv'}" in out
    assert "P-1 (monitoring since 2026-01-10)" in out and "P-2" not in out
    period = next(line for line in out.splitlines() if "2026-02-09..2026-03-10" in line)
    assert "in progress" in period
    assert "1 of 16 days with data, 15 more needed by 2026-03-10" in period


def test_the_shipped_fee_table_is_flagged_as_examples(clinic: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    (clinic / "clinic.db").touch()
    assert clinic_cli.main(["billing", "--today", "2026-03-01", "--registry",
                            str(clinic / "reg.csv"), "--clinic-db", str(clinic / "clinic.db"),
                            "--store", f"sqlite:///{clinic / 'rtm.db'}",
                            "--tz", "America/New_York"]) == 0
    assert "Amounts are EXAMPLES" in capsys.readouterr().out


def test_a_code_missing_from_the_fee_table(clinic: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    (clinic / "clinic.db").touch()
    partial = clinic / "partial.csv"
    partial.write_text("code,description,amount,currency\n98975,setup,1,USD\n")
    assert bill(clinic, "--month", "2026-02", "--today", "2026-03-01", fees=str(partial)) == 2
    assert f"fee table {partial} has no row for code 98977" in capsys.readouterr().err


def test_the_store_zone_must_be_the_clinic_zone(tmp_path: Path, clinic: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (clinic / "clinic.db").touch()
    with SQLiteStore(tmp_path / "utc.db") as store:
        store.write([rec(DEV_A, 1, at(START, 9))])
    assert clinic_cli.main(["billing", "--today", "2026-03-01", "--registry",
                            str(clinic / "reg.csv"), "--clinic-db", str(clinic / "clinic.db"),
                            "--store", f"sqlite:///{tmp_path / 'utc.db'}",
                            "--tz", "America/New_York", "--fees",
                            str(clinic / "fees.csv")]) == 1
    assert "rebuild-daily" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["P-9"], "patient 'P-9' is not in the enrollment registry"),
    (["--month", "2026-04", "--today", "2026-03-01"], "month 2026-04 is after today"),
    (["--month", "2026-04"], "month 2026-04 is after today (2026-03-01)"),
    (["--today", "2026-03-02"], "--today 2026-03-02 is after today (2026-03-01 in America/"),
])
def test_billing_bad_input(clinic: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                           message: str) -> None:
    (clinic / "clinic.db").touch()
    assert bill(clinic, *args) == 2
    assert message in capsys.readouterr().err


def test_billing_refuses_missing_files_instead_of_billing_nothing(
        clinic: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bill(clinic, "--today", "2026-03-01") == 2
    assert "clinic database" in capsys.readouterr().err
    (clinic / "clinic.db").touch()
    assert clinic_cli.main(["billing", "--registry", str(clinic / "reg.csv"), "--clinic-db",
                            str(clinic / "clinic.db"), "--store",
                            f"sqlite:///{clinic / 'none.db'}"]) == 2
    assert "none.db does not exist" in capsys.readouterr().err
    assert not (clinic / "none.db").exists()
    assert bill(clinic, fees=str(clinic / "nope.csv")) == 2
    assert "nope.csv does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--month", "2026-13"], ["--today", "yesterday"],
                                  ["--tz", "Mars/Olympus"]])
def test_billing_bad_arguments_exit_2(clinic: Path, args: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        bill(clinic, *args)
    assert e.value.code == 2


def test_log_time_list(clinic: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert log(clinic, "P-1", "--minutes", "12", "--date", "2026-02-03", "--by", "AB") == 0
    assert log(clinic, "P-1", "--communication", "message", "--at", "2026-02-04T08:05-05:00",
               "--note", "asked about pain") == 0
    capsys.readouterr()
    assert log(clinic, "P-1", "--list", "--month", "2026-02") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("P-1 in 2026-02 (days in America/New_York): 12 minutes, "
                      "1 interactive communication")
    assert out[1].split() == ["2026-02-03", "12", "min", "AB"]
    assert out[2].split() == ["2026-02-04", "08:05", "message", "asked", "about", "pain"]
    # Without --month: the month of now in the clinic's zone (NOW is March 1).
    assert log(clinic, "P-1", "--list") == 0
    assert "P-1 in 2026-03" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    ([], "give --minutes N, --communication KIND (or both), or --list"),
    (["--list", "--minutes", "5"], "--list takes only --month"),
    (["--minutes", "5", "--month", "2026-02"], "--month goes with --list"),
    (["--communication", "call", "--date", "2026-02-01"], "a communication needs a time"),
    (["--minutes", "0"], "minutes must be a whole number from 1 to 480"),
    (["--minutes", "5", "--date", "2026-03-02"], "2026-03-02 is in the future"),
    (["--minutes", "5", "--at", "2026-03-08T02:30"], "does not exist in America/New_York"),
    (["--minutes", "5", "--note", "a\tb"], "note must be one line"),
])
def test_log_time_bad_input(clinic: Path, capsys: pytest.CaptureFixture[str],
                            args: list[str], message: str) -> None:
    assert log(clinic, "P-1", *args) == 2
    assert message in capsys.readouterr().err


def test_log_time_unknown_patient_logs_nothing(clinic: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert log(clinic, "P-9", "--minutes", "5") == 2
    assert "patient 'P-9' is not in the enrollment registry" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--minutes", "ten"], ["--communication", "fax"],
                                  ["--at", "noon"], ["--date", "2026-02-30"],
                                  ["--date", "2026-02-01", "--at", "2026-02-01T10:00"]])
def test_log_time_bad_arguments_exit_2(clinic: Path, args: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        log(clinic, "P-1", *args)
    assert e.value.code == 2


@pytest.mark.parametrize(("zone", "days", "code"), [("America/New_York", "2", "98985"),
                                                    ("UTC", "1", "")])
def test_days_with_data_are_local_days_of_the_clinic_zone_across_dst(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        zone: str, days: str, code: str) -> None:
    """23:30 on Mar 7 and 00:30 on Mar 8 (New York, the day its clocks skip 02:00-03:00) are
    two days there but one in UTC (Mar 8, 04:30 and 05:30); 01:30 twice on Nov 1 (clocks
    back) is one day."""
    monkeypatch.setattr(commands_common, "now", lambda: datetime(2026, 12, 1, 17, tzinfo=UTC))
    dev = "ddddddddddd1"
    with SQLiteStore(tmp_path / "rtm.db", zone=ZoneInfo(zone)) as store:
        store.write([rec(dev, 1, at(date(2026, 3, 7), 23, 30)),
                     rec(dev, 2, at(date(2026, 3, 8), 0, 30)),
                     rec(dev, 3, int(datetime(2026, 11, 1, 1, 30, tzinfo=TZ).timestamp()) * 1000),
                     rec(dev, 4, int(datetime(2026, 11, 1, 1, 30, fold=1,
                                              tzinfo=TZ).timestamp()) * 1000)])
    Registry([Enrollment("P-3", dev, date(2026, 2, 20))]).save(tmp_path / "reg.csv")
    (tmp_path / "clinic.db").touch()
    (tmp_path / "fees.csv").write_text(FEES)
    common = ["--registry", str(tmp_path / "reg.csv"), "--clinic-db",
              str(tmp_path / "clinic.db"), "--store", f"sqlite:///{tmp_path / 'rtm.db'}",
              "--fees", str(tmp_path / "fees.csv"), "--tz", zone, "--csv"]
    # Period 0 is Feb 20..Mar 21, final in March.
    assert clinic_cli.main(["billing", "--month", "2026-03", "--today", "2026-12-01",
                            *common]) == 0
    [period] = [r for r in rows(capsys.readouterr().out) if r["item"] == "device supply"]
    assert (period["first_day"], period["code"]) == ("2026-02-20", code)
    assert period["reason"].startswith(f"{days} day")
    # Oct 18..Nov 16 holds Nov 1 once in either zone (both 01:30s are on Nov 1 in UTC too).
    assert clinic_cli.main(["billing", "--month", "2026-11", "--today", "2026-12-01",
                            *common]) == 0
    [period] = [r for r in rows(capsys.readouterr().out) if r["item"] == "device supply"]
    assert (period["first_day"], period["reason"]) == (
        "2026-10-18", "1 day with data (fewer than 2: no device supply code)")
