"""Fixtures for firmware tests: the real MicroPython interpreter (WebAssembly port).

A missing Node.js or npm package fails the tests with the command that fixes it; CI must run
them, never skip them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.micropython_wasm import MicroPythonRunnerError, MicroPythonWasm

REPO_ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = REPO_ROOT / "firmware"


@pytest.fixture(scope="session")
def micropython() -> Iterator[MicroPythonWasm]:
    """One MicroPython session for the whole test run, with the repo's ``firmware/`` package
    copied to ``/lib/firmware`` (``import firmware.core.codec`` works). Globals persist
    between tests: use unique names, or clean up after yourself."""
    try:
        interpreter = MicroPythonWasm(mounts=[FIRMWARE_DIR])
    except MicroPythonRunnerError as exc:
        pytest.fail(f"MicroPython WebAssembly runner unavailable: {exc}", pytrace=False)
    with interpreter:
        yield interpreter
