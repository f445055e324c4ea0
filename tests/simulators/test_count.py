"""`rtm-sim count`: the evaluation contract (one JSON line per file, one error line per bad
file, the others still counted; the same counts under MicroPython)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEV = REPO.parent / "shared" / "datasets" / "dev"


def rtm_sim(*args):
    return subprocess.run([sys.executable, "-m", "simulators.cli", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def bad_files(tmp_path):
    files = {
        "missing_column.csv": "t,ax,ay\n0,0,0\n",
        "not_a_number.csv": "t,ax,ay,az\n0,0,0,1\n0.02,x,0,1\n",
        "wrong_rate.csv": "t,ax,ay,az\n" + "".join(f"{i * 0.1:.2f},0,0,1\n" for i in range(50)),
        "empty.csv": "",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return {name: tmp_path / name for name in files}


def test_counts_recordings_and_reports_bad_files_one_line_each(bad_files):
    good = sorted(DEV.glob("spar_*.csv"))[:2]
    assert good, f"recordings missing at {DEV}"
    result = rtm_sim("count", "--rate", "50", bad_files["missing_column.csv"], *good,
                     bad_files["not_a_number.csv"], bad_files["wrong_rate.csv"],
                     bad_files["empty.csv"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(x["file"]).name for x in lines] == [g.name for g in good]
    assert all(isinstance(x["reps"], int) and x["reps"] >= 0 for x in lines)
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 4 and result.returncode == 1
    assert "missing_column.csv: header must be t,ax,ay,az[,gx,gy,gz]" in errors[0]
    assert "not_a_number.csv: line 3: not a number" in errors[1]
    assert "wrong_rate.csv: samples are 100 ms apart" in errors[2]
    assert "empty.csv: empty file" in errors[3]


def test_micropython_counts_the_same():
    files = sorted(DEV.glob("barbell_A-*.csv"))[:3]
    cp = rtm_sim("count", "--rate", "25", *files)
    mp = rtm_sim("count", "--rate", "25", "--micropython", *files)
    assert cp.returncode == mp.returncode == 0, mp.stderr
    reps = [json.loads(x)["reps"] for x in cp.stdout.splitlines()]
    assert reps == [json.loads(x)["reps"] for x in mp.stdout.splitlines()]
    assert all(json.loads(x)["interpreter"] == "micropython" for x in mp.stdout.splitlines())
