"""rtm-clinic prescribe, program and adherence: what they print, and bad input refused with
a message and exit code 2, never a traceback. (Delivery through a broker:
tests/integration/test_program_delivery.py.)"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cloud_bridge.clinic import cli
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.prescriptions import Item, Prescriptions
from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.sqlite_store import SQLiteStore

DEV = "a1b2c3d4e5f6"
TZ = ZoneInfo("Europe/Berlin")
SQUAT = ["--exercise", "squat", "--sets", "3", "--reps", "10", "--days-per-week", "5",
         "--rom", "60-90"]


@pytest.fixture
def clinic(tmp_path: Path) -> dict[str, str]:
    Registry([Enrollment("P-1", DEV, date(2026, 3, 1))]).save(tmp_path / "reg.csv")
    return {"registry": str(tmp_path / "reg.csv"), "db": str(tmp_path / "clinic.db"),
            "store": f"sqlite:///{tmp_path / 'rtm.db'}"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def prescribe(clinic: dict[str, str], *argv: str) -> list[str]:
    return ["prescribe", "P-1", "--registry", clinic["registry"], "--clinic-db", clinic["db"],
            *argv]


def history(clinic: dict[str, str]) -> list:
    return Prescriptions(open_clinic_db(clinic["db"])).history("P-1")


def test_prescribe_keeps_a_new_version_each_time(clinic, capsys, tmp_path) -> None:
    code, out, _ = run(capsys, *prescribe(clinic, *SQUAT, "--rest", "45", "--exercise",
                                          "heel_raise", "--sets", "2", "--reps", "15",
                                          "--days-per-week", "3", "--start", "2026-03-02"))
    assert code == 0
    assert out == ("P-1: prescription version 1 from 2026-03-02: squat 3 x 10, 5 days/week, "
                   "ROM 60-90 deg, rest 45 s; heel_raise 2 x 15, 3 days/week, rest 30 s\n")
    (tmp_path / "hep.csv").write_text("exercise,sets,reps,days_per_week,rom,rest_s\n"
                                      "lunge,2,8,2,30-70,60\n")
    assert run(capsys, *prescribe(clinic, "--file", str(tmp_path / "hep.csv"),
                                  "--start", "2026-03-09"))[0] == 0
    assert run(capsys, *prescribe(clinic, "--clear", "--start", "2026-04-01"))[0] == 0
    v1, v2, v3 = history(clinic)
    assert v1.items == (Item("squat", 3, 10, 5, 60, 90, 45), Item("heel_raise", 2, 15, 3))
    assert v2.items == (Item("lunge", 2, 8, 2, 30, 70, 60),) and v3.items == ()
    code, out, _ = run(capsys, "program", "P-1", "--registry", clinic["registry"],
                       "--clinic-db", clinic["db"])
    assert code == 0
    assert "  v2 from 2026-03-09: lunge 2 x 8, 2 days/week, ROM 30-70 deg, rest 60 s" in out
    assert f"  {DEV}: no program published" in out


@pytest.mark.parametrize("argv, message", [
    ([*SQUAT[:2], "--sets", "0", *SQUAT[4:]], "squat: sets must be 1..255, got 0"),
    (["--exercise", "sqaut", *SQUAT[2:]], "unknown exercise 'sqaut'"),
    ([*SQUAT[:-1], "90-60"], "ROM range 90-60 is inverted"),
    (SQUAT[:4], "squat: --reps, --days-per-week missing"),
    ([*SQUAT, *SQUAT], "squat is prescribed twice"),
    ([], "exactly one of them"),
    ([*SQUAT, "--clear"], "exactly one of them"),
    (["--file", "/nonexistent.csv"], "does not exist"),
    ([*SQUAT, "--publish"], "--publish needs --broker HOST:PORT"),
    ([*SQUAT, "--publish", "--broker", "localhost:1"], "its gateway is unknown"),
    ([*SQUAT, "--publish", "--broker", "localhost:1", "--gateway", "x=y"], "DEVICE=GATEWAY"),
    ([*SQUAT, "--publish", "--broker", "localhost:1", "--gateway", f"{DEV}=home-1",
      "--username", "clinic"], "--username and --password-file go together"),
])
def test_bad_input_is_refused_and_nothing_kept(clinic, capsys, argv, message) -> None:
    code, _, err = run(capsys, *prescribe(clinic, *argv))
    assert code == 2 and message in err
    if Path(clinic["db"]).exists():
        assert history(clinic) == []


@pytest.mark.parametrize("argv, message", [
    (["--sets", "3", "--exercise", "squat"], "--sets: must follow the --exercise"),
    ([*SQUAT, "--sets", "4"], "--sets: given twice for squat"),
    ([*SQUAT[:-1], "60"], "ROM must be MIN-MAX"),
    ([*SQUAT[:4], "--reps", "three"], "invalid int value"),
    ([*SQUAT, "--start", "2026-02-30"], "not a date"),
    ([*SQUAT, "--tz", "Mars/Base"], "unknown time zone"),
])
def test_malformed_options_are_usage_errors(clinic, capsys, argv, message) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(prescribe(clinic, *argv))
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_unknown_patient_and_missing_files(clinic, capsys) -> None:
    code, _, err = run(capsys, "prescribe", "P-9", "--registry", clinic["registry"],
                       "--clinic-db", clinic["db"], *SQUAT)
    assert code == 2 and "patient 'P-9' is not in the registry" in err
    for command in ("program", "adherence"):
        code, _, err = run(capsys, command, "P-1", "--registry", clinic["registry"],
                           "--clinic-db", clinic["db"], "--store", clinic["store"])
        assert code == 2 and "does not exist (rtm-clinic prescribe creates it)" in err
    assert not Path(clinic["db"]).exists()


def test_a_later_version_is_not_published_before_its_day(clinic, capsys) -> None:
    tomorrow = (datetime.now(ZoneInfo("UTC")) + timedelta(days=2)).date().isoformat()
    code, out, _ = run(capsys, *prescribe(clinic, *SQUAT, "--start", tomorrow, "--publish",
                                          "--broker", "localhost:1", "--gateway",
                                          f"{DEV}=home-1"))
    assert code == 0 and f"not published: version 1 starts on {tomorrow}" in out


def test_an_unreachable_broker_keeps_the_prescription_and_says_so(clinic, capsys) -> None:
    code, out, err = run(capsys, *prescribe(clinic, *SQUAT, "--publish", "--broker",
                                            "127.0.0.1:1", "--gateway", f"{DEV}=home-1"))
    assert code == 1 and "cannot connect to the broker 127.0.0.1:1" in err
    assert "prescription version 1" in out and len(history(clinic)) == 1
    code, _, err = run(capsys, "program", "P-1", "--registry", clinic["registry"],
                       "--clinic-db", clinic["db"], "--publish", "--broker", "127.0.0.1:1",
                       "--gateway", f"{DEV}=home-1")
    assert code == 1 and "cannot connect" in err


def at(d: date, hour: int) -> int:
    return int(datetime(d.year, d.month, d.day, hour, tzinfo=TZ).timestamp() * 1000)


def test_adherence_reads_the_daily_totals_and_the_reps_rom(clinic, capsys, tmp_path) -> None:
    monday = date(2026, 3, 2)
    with SQLiteStore(tmp_path / "rtm.db", zone=TZ) as store:
        store.write([StoredRecord(DEV, seq, "rep", "squat", 1, at(monday, 9) + seq * 1000,
                                  True, False, {"rep": seq, "duration_ms": 900,
                                                "rom_cdeg": 5000 + seq * 100, "peak_dps": 80})
                     for seq in range(1, 31)]
                    + [StoredRecord(DEV, 99, "rep", "lunge", 2, at(monday, 10), True, False,
                                    {"rep": 1, "duration_ms": 900, "rom_cdeg": 4000,
                                     "peak_dps": 80})])
    assert run(capsys, *prescribe(clinic, *SQUAT, "--start", "2026-03-02"))[0] == 0
    common = ["adherence", "P-1", "--registry", clinic["registry"], "--clinic-db",
              clinic["db"], "--store", clinic["store"], "--tz", "Europe/Berlin"]
    code, out, _ = run(capsys, *common, "--from", "2026-03-02", "--to", "2026-03-08")
    assert code == 0
    # ROM 51..80 degrees: mean 65.5, 21 of 30 reps in 60-90.
    assert "2026-03-02 Mon: squat 30/30 (100%, ROM mean 66 deg, 70% in range); " \
           "lunge 1 reps (not prescribed)" in out
    assert "week of 2026-03-02: squat 1 of 5.0 days (20%); all 20%" in out
    code, out, _ = run(capsys, *common, "--from", "2026-03-02", "--to", "2026-03-02",
                       "--no-rom", "--day-threshold", "100")
    assert code == 0 and "squat 30/30 (100%); lunge" in out
    code, _, err = run(capsys, *common, "--from", "2026-03-09", "--to", "2026-03-02")
    assert code == 2 and "--from is after --to" in err
    code, _, err = run(capsys, *common[:-2], "--tz", "UTC")  # totals are for Berlin days
    assert code == 1 and "rebuild-daily" in err
    with pytest.raises(SystemExit):
        cli.main([*common, "--day-threshold", "0"])
