"""The fee table: what each billing code is worth, in an editable CSV, never in code.

    code,description,amount,currency
    98977,RTM device supply: 16-30 days,20.00,USD

Lines starting with # are comments. The table shipped next to this module (fees.csv) holds
example amounts only; a clinic keeps its own copy (`rtm-clinic billing --fees PATH`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("fees.csv")
COLUMNS = ("code", "description", "amount", "currency")
_CODE = re.compile(r"^[0-9A-Z]{5}$")  # CPT: five characters
_CURRENCY = re.compile(r"^[A-Z]{3}$")  # ISO 4217


class FeeError(ValueError):
    """The fee table is invalid or lacks a code; the message names the file."""


@dataclass(frozen=True)
class Fee:
    code: str
    description: str
    amount: Decimal
    currency: str


class FeeTable:
    def __init__(self, path: Path, fees: dict[str, Fee]) -> None:
        self.path = path
        self.fees = fees

    @property
    def is_example(self) -> bool:
        """True for the shipped table of example amounts."""
        return self.path.resolve() == DEFAULT_PATH.resolve()

    def fee(self, code: str) -> Fee:
        try:
            return self.fees[code]
        except KeyError:
            raise FeeError(f"fee table {self.path} has no row for code {code}: add "
                           f"'{code},DESCRIPTION,AMOUNT,CURRENCY'") from None


def load(path: str | Path = DEFAULT_PATH) -> FeeTable:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet may add a BOM
    except FileNotFoundError:
        raise FeeError(f"fee table {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise FeeError(f"fee table {path}: cannot read it ({e})") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if not line.lstrip().startswith("#")]
    # Line by line, so that every error names its line: a description is one line.
    rows = [next(csv.reader([line]), []) for _, line in lines]
    if not rows or tuple(c.strip() for c in rows[0]) != COLUMNS:
        where = lines[0][0] if lines else 1
        raise FeeError(f"{path}:{where}: header must be {','.join(COLUMNS)}")
    fees: dict[str, Fee] = {}
    for (lineno, _), row in zip(lines[1:], rows[1:], strict=True):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(COLUMNS):
            raise FeeError(f"{path}:{lineno}: expected {len(COLUMNS)} columns, got "
                           f"{len(row)} (quote a description that holds a comma)")
        code, description, amount_text, currency = (c.strip() for c in row)
        if not _CODE.match(code):
            raise FeeError(f"{path}:{lineno}: code must be five digits or capital letters, "
                           f"got {code!r}")
        if code in fees:
            raise FeeError(f"{path}:{lineno}: code {code} is listed twice")
        try:
            amount = Decimal(amount_text)
        except InvalidOperation:
            amount = Decimal("NaN")
        if not amount.is_finite() or amount < 0:
            raise FeeError(f"{path}:{lineno}: amount must be a number of 0 or more, "
                           f"got {amount_text!r}")
        if not _CURRENCY.match(currency):
            raise FeeError(f"{path}:{lineno}: currency must be a three-letter code such as "
                           f"USD, got {currency!r}")
        fees[code] = Fee(code, description, amount, currency)
    return FeeTable(path, fees)
