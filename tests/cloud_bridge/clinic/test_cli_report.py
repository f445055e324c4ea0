"""`rtm-clinic report`: the monthly report from a real SQLite store and clinic.db, to stdout,
a file or a directory; bad input refused with a message and exit code 2."""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path

import pytest

from cloud_bridge.clinic import cli
from cloud_bridge.clinic.commands import common
from tests.cloud_bridge.clinic.monthly_report_data import NOW, make_clinic
from tests.cloud_bridge.clinic.test_monthly_report_html import Page

pytestmark = pytest.mark.rtm


@pytest.fixture
def clinic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_clinic(tmp_path)
    monkeypatch.setattr(common, "now", lambda: NOW)
    return tmp_path


def report(tmp: Path, *args: str, **paths: str) -> list[str]:
    opts = {"registry": str(tmp / "reg.csv"), "clinic-db": str(tmp / "clinic.db"),
            "store": f"sqlite:///{tmp / 'rtm.db'}", "fees": str(tmp / "fees.csv"), **paths}
    return ["report", *args, "--tz", "America/New_York",
            *[x for k, v in opts.items() for x in (f"--{k}", v)]]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_help_lists_report(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    assert "report" in capsys.readouterr().out


def test_one_patients_csv_on_stdout(clinic: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, report(clinic, "P-1", "--month", "2026-03"))
    assert code == 0
    got = rows(out)
    totals = {r["section"]: (r["minutes"], r["count"], r["amount"]) for r in got
              if r["section"].endswith("_total")}
    assert totals == {"data_total": ("", "17", ""), "time_total": ("45", "3", ""),
                      "communication_total": ("", "2", ""),
                      "billing_total": ("", "", "143.00")}
    assert [r["date"] for r in got if r["section"] == "time_entry"] == [
        "2026-03-01", "2026-03-15", "2026-03-31"]


def test_one_patients_html_in_a_file(clinic: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = clinic / "p1.html"
    code, out, _ = run(capsys, report(clinic, "P-1", "--month", "2026-03", "--format", "html",
                                      "--out", str(out_file)))
    assert (code, out) == (0, "")
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    page = Page(out_file.read_text(encoding="utf-8"))
    assert list(page.patients) == ["P-1"]
    assert page.key("P-1", "total-minutes") == ["45"]
    assert page.key("P-1", "final-total") == ["143.00 USD"]


def test_a_running_month_as_of_today(clinic: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, report(clinic, "P-1", "--month", "2026-03",
                                      "--today", "2026-03-15"))
    assert code == 0
    [as_of] = [r for r in rows(out) if r["item"] == "as of"]
    assert (as_of["date"], as_of["status"]) == ("2026-03-15", "in progress")


def test_all_patients_csv_into_a_directory(clinic: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = clinic / "out"
    code, out, _ = run(capsys, report(clinic, "--all", "--month", "2026-03",
                                      "--out-dir", str(out_dir)))
    assert code == 0
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == ["rtm-report-2026-03-P-1.csv", "rtm-report-2026-03-P-2.csv"]
    assert out.splitlines() == [f"wrote {out_dir / n}" for n in names]
    p2 = rows((out_dir / names[1]).read_text(encoding="utf-8-sig"))
    assert {r["patient_id"] for r in p2} == {"P-2"}
    assert [r["count"] for r in p2 if r["section"] == "data_total"] == ["1"]
    assert (out_dir / names[0]).read_bytes().startswith(b"\xef\xbb\xbf")


def test_all_patients_html_with_one_page_to_print(clinic: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = clinic / "out"
    code, _, _ = run(capsys, report(clinic, "--all", "--month", "2026-03", "--format", "html",
                                    "--out-dir", str(out_dir)))
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "rtm-report-2026-03-P-1.html", "rtm-report-2026-03-P-2.html",
        "rtm-report-2026-03.html"]
    both = Page((out_dir / "rtm-report-2026-03.html").read_text(encoding="utf-8"))
    assert list(both.patients) == ["P-1", "P-2"]
    assert both.key("P-2", "days-with-data") == ["1"]


@pytest.mark.parametrize(("args", "message"), [
    (["--month", "2026-03"], "give a PATIENT or --all"),
    (["P-1", "--all", "--month", "2026-03"], "give a PATIENT or --all"),
    (["--all", "--month", "2026-03"], "--all writes one file per patient: give --out-dir"),
    (["P-9", "--month", "2026-03"], "patient 'P-9' is not in the enrollment registry"),
    (["P-1", "--month", "2026-05"], "month 2026-05 is after today (2026-04-15)"),
    (["P-1", "--month", "2026-03", "--today", "2026-04-16"],
     "--today 2026-04-16 is after today (2026-04-15 in America/New_York)"),
])
def test_bad_input_is_refused(clinic: Path, capsys: pytest.CaptureFixture[str],
                              args: list[str], message: str) -> None:
    code, out, err = run(capsys, report(clinic, *args))
    assert (code, out) == (2, "")
    assert err.startswith(f"rtm-clinic report: {message}") and err.count("\n") == 1


@pytest.mark.parametrize("argv", [
    ["P-1", "--month", "2026-13"],
    ["P-1", "--month", "2026-03", "--format", "pdf"],
    ["P-1", "--month", "2026-03", "--out", "a", "--out-dir", "b"],
])
def test_bad_options_exit_2_with_usage(clinic: Path, capsys: pytest.CaptureFixture[str],
                                       argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(report(clinic, *argv))
    assert e.value.code == 2
    assert "rtm-clinic report: error:" in capsys.readouterr().err


def test_missing_files_are_refused(clinic: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(clinic / "nope.db")
    code, _, err = run(capsys, report(clinic, "P-1", "--month", "2026-03",
                                      store=f"sqlite:///{missing}"))
    assert code == 2 and f"store file {missing} does not exist" in err
    code, _, err = run(capsys, report(clinic, "P-1", "--month", "2026-03",
                                      **{"clinic-db": missing}))
    assert code == 2 and f"clinic database {missing} does not exist" in err
    code, _, err = run(capsys, report(clinic, "P-1", "--month", "2026-03",
                                      fees=str(clinic / "nope.csv")))
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, report(clinic, "P-1", "--month", "2026-03",
                                      "--out", str(clinic / "no-dir" / "r.csv")))
    assert code == 2 and "cannot write" in err


def test_a_fee_table_without_a_needed_code(clinic: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    partial = clinic / "partial.csv"
    partial.write_text("code,description,amount,currency\n98975,setup,1,USD\n")
    code, _, err = run(capsys, report(clinic, "P-1", "--month", "2026-03", fees=str(partial)))
    assert code == 2 and "has no row for code 98977" in err
