"""Hypothesis strategies for the CSV readers' property tests: files near a valid one."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hypothesis import strategies as st

from tests.fuzz_inputs import mutated_bytes

T = TypeVar("T")

# Cells that trip CSV readers and number parsers: quotes, commas, non-ASCII digits, huge
# numbers, NUL, BOM, separators Python's splitlines knows but csv does not.
AWKWARD_CELLS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(("", " ", '"', '""', '"a,b"', "²", "٣", "1e999", "nan", "-0", "\0",
                     "\ufeff", "\x1c", "\u2028", "9" * 5000, "1-2-3", "60-90")),
)


@st.composite
def csv_files_around(draw: st.DrawFn, valid: str) -> bytes:
    """A CSV file near `valid`: a line with cells replaced, the bytes mutated, or noise."""
    choice = draw(st.sampled_from(("cells", "mutated", "random")))
    if choice == "cells":
        lines = valid.splitlines()
        at = draw(st.integers(0, len(lines) - 1))
        cells = lines[at].split(",")
        cells[draw(st.integers(0, len(cells) - 1))] = draw(AWKWARD_CELLS)
        if draw(st.booleans()):
            cells.append(draw(AWKWARD_CELLS))
        lines[at] = ",".join(cells)
        return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    if choice == "mutated":
        return draw(mutated_bytes(valid.encode()))
    return draw(st.binary(max_size=200))


def read_as_file(data: bytes, reader: Callable[[Path], T], name: str = "input.csv") -> T:
    """`reader` over a file holding `data` (a fresh directory, removed after)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_bytes(data)
        return reader(path)
