"""Property tests of the clinic's CSV imports: the fee table (fees.py), the enrollment
registry (registry.py) and a prescription's items (prescriptions.py). A valid file round
trips; any file loads or raises the module's own error naming the file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_bridge.clinic import fees, prescriptions, registry
from tests.csv_inputs import csv_files_around, read_as_file

pytestmark = pytest.mark.chaos

FEES = ("code,description,amount,currency\n"
        "# example amounts\n"
        "98975,RTM set-up,19.65,USD\n"
        '98977,"RTM device supply, 16-30 days",50.00,USD\n')
REGISTRY = ("patient_id,device_id,monitoring_start\n"
            "P-0001,a1b2c3d4e5f6,2026-11-02\n"
            "P-0002,0a0b0c0d0e0f,2026-11-03\n")
ITEMS = ("exercise,sets,reps,days_per_week,rom,rest_s\n"
         "squat,3,10,5,60-90,30\n"
         "heel_raise,2,15,7,,\n")


def load_or_error(data: bytes, loader, error: type[ValueError]) -> object:
    try:
        return read_as_file(data, loader)
    except error as e:
        assert type(e) is error, repr(e)
        assert "input.csv" in str(e), f"the error names the file: {e}"
        return None


@settings(max_examples=100)
@given(st.lists(st.tuples(st.from_regex(r"\A[0-9A-Z]{5}\Z"),
                          st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc",
                                                                                 "Zl", "Zp")),
                                  max_size=30),
                          st.decimals(min_value=0, max_value=10**6, places=2),
                          st.from_regex(r"\A[A-Z]{3}\Z")),
                unique_by=lambda row: row[0], max_size=8))
def test_a_fee_table_round_trips(rows: list[tuple[str, str, Decimal, str]]) -> None:
    import csv
    import io
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fees.COLUMNS)
    writer.writerows(rows)
    table = read_as_file(buf.getvalue().encode(), fees.load)
    assert {code: (fee.description.strip(), fee.amount, fee.currency)
            for code, fee in table.fees.items()} == {
        code: (description.strip(), amount, currency)
        for code, description, amount, currency in rows}


@settings(max_examples=300)
@given(csv_files_around(FEES))
def test_any_fee_table_loads_or_raises_fee_error(data: bytes) -> None:
    table = load_or_error(data, fees.load, fees.FeeError)
    if table is not None:
        assert all(fee.amount.is_finite() and fee.amount >= 0 for fee in table.fees.values())


@settings(max_examples=300)
@given(csv_files_around(REGISTRY))
def test_any_registry_loads_or_raises_registry_error(data: bytes) -> None:
    load_or_error(data, registry.load, registry.RegistryError)


@settings(max_examples=300)
@given(csv_files_around(ITEMS))
def test_any_prescription_file_loads_or_raises_prescription_error(data: bytes) -> None:
    items = load_or_error(data, prescriptions.load_items_csv, prescriptions.PrescriptionError)
    if items is not None:
        prescriptions.check_items(items)


@pytest.mark.parametrize("cell", ["²", "٣", "9" * 5000])
def test_a_number_that_is_not_ascii_digits_is_a_prescription_error(cell: str,
                                                                     tmp_path: Path) -> None:
    path = tmp_path / "input.csv"
    path.write_text(ITEMS.replace("squat,3,", f"squat,{cell},"), encoding="utf-8")
    with pytest.raises(prescriptions.PrescriptionError, match=r"input.csv:2: .*sets"):
        prescriptions.load_items_csv(path)


@pytest.mark.parametrize("rom", ["٦٠-٩٠", "\uff160-90"])
def test_a_rom_in_other_scripts_digits_is_a_prescription_error(rom: str,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "input.csv"
    path.write_text(ITEMS.replace("60-90", rom), encoding="utf-8")
    with pytest.raises(prescriptions.PrescriptionError, match="ROM must be"):
        prescriptions.load_items_csv(path)
