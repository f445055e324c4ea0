"""The exercise library is complete: every exercise of the wire table is documented in
docs/exercises.md and modelled by the synthesizer, and the doc's synthesizer columns quote
the model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware.core.exercises import NAMES, code_of
from simulators.motion.exercises import EXERCISES

DOC = Path(__file__).resolve().parents[2] / "docs" / "exercises.md"
EXERCISE_NAMES = [n for n in NAMES if n != "generic"]
SECTION_PARTS = ("**Purpose.**", "**Starting position.**", "**Movement.**", "**Dose.**",
                 "**Common errors.**", "**Expected motion.**", "**Partial rep.**")


def sections() -> dict[str, tuple[int, str]]:
    """Exercise name -> (code in the heading, section text), from headings
    "### `name` (code N)"."""
    text = DOC.read_text()
    heads = list(re.finditer(r"^### `(\w+)` \(code (\d+)\)$", text, re.M))
    out = {}
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else text.find("\n## ", m.end())
        out[m.group(1)] = (int(m.group(2)), text[m.end():end])
    return out


def summary_rows() -> dict[str, list[str]]:
    """Exercise name -> the cells of its row in the summary table."""
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[1].startswith("`"):
            rows[cells[1].strip("`")] = cells
    return rows


def test_doc_covers_every_exercise_once_with_its_wire_code():
    found = sections()
    assert sorted(found) == sorted(EXERCISE_NAMES)
    for name, (code, _) in found.items():
        assert code == code_of(name), name


@pytest.mark.parametrize("name", EXERCISE_NAMES)
def test_section_has_every_part(name):
    _, text = sections()[name]
    missing = [p for p in SECTION_PARTS if p not in text]
    assert not missing, f"{name}: missing {missing}"


@pytest.mark.parametrize("name", EXERCISE_NAMES)
def test_synthesizer_models_it(name):
    model = EXERCISES[name]
    assert model.code == code_of(name)
    assert model.placement in model.placements


@pytest.mark.parametrize("name", EXERCISE_NAMES)
def test_summary_quotes_the_synthesizer(name):
    cells = summary_rows()[name]
    model = EXERCISES[name]
    assert int(cells[0]) == model.code
    assert cells[5] == model.placement.replace("_", " ")
    assert float(cells[6]) == model.rom_deg
    assert float(cells[7]) == model.rep_duration_s
