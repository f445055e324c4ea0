"""The fee table: amounts come from an editable CSV, errors name the file and the line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cloud_bridge.clinic import billing, fees
from cloud_bridge.clinic.fees import FeeError

pytestmark = pytest.mark.rtm

HEADER = "code,description,amount,currency\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fees.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_table_prices_every_code_and_says_it_holds_examples() -> None:
    table = fees.load()
    assert table.is_example
    assert set(table.fees) == set(billing.CODES)
    assert "EXAMPLE AMOUNTS ONLY" in fees.DEFAULT_PATH.read_text()


def test_a_clinic_table_with_comments_quotes_and_a_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeff# ours\n" + HEADER
                 + '98977,"Device supply, 16-30 days",47.50,USD\n\n98981,x,0,EUR\n')
    table = fees.load(path)
    assert not table.is_example
    assert table.fee("98977").amount == Decimal("47.50")
    assert table.fee("98977").description == "Device supply, 16-30 days"
    assert table.fee("98981").currency == "EUR"


def test_a_missing_code_names_the_file_and_the_code(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "98977,x,1.00,USD\n")
    with pytest.raises(FeeError, match=rf"fee table {path} has no row for code 98985"):
        fees.load(path).fee("98985")


@pytest.mark.parametrize(("text", "message"), [
    ("code,amount\n", ":1: header must be code,description,amount,currency"),
    (HEADER + "98977,x,1.00\n", ":2: expected 4 columns, got 3"),
    (HEADER + "98977,a, b,1.00,USD\n", "quote a description that holds a comma"),
    (HEADER + "9897,x,1.00,USD\n", ":2: code must be five"),
    (HEADER + "98977,x,ten,USD\n", ":2: amount must be a number"),
    (HEADER + "98977,x,-1,USD\n", ":2: amount must be a number of 0 or more"),
    (HEADER + "98977,x,NaN,USD\n", ":2: amount must be a number"),
    (HEADER + "98977,x,1,dollars\n", ":2: currency must be a three-letter code"),
    ("# c\n" + HEADER + "98977,x,1,USD\n98977,y,2,USD\n", ":4: code 98977 is listed twice"),
    ("", ":1: header must be"),
])
def test_a_bad_table_is_refused_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FeeError, match=message):
        fees.load(path)


def test_a_missing_table(tmp_path: Path) -> None:
    with pytest.raises(FeeError, match="does not exist"):
        fees.load(tmp_path / "nope.csv")
