"""firmware/ type-checks with mypy as MicroPython (ESP32-S3 stubs); firmware/core/ also as
CPython, since it runs in the gateway and simulators too.

Settings: simulators/micropython_wasm/firmware-mypy.ini. By hand:
    python -m simulators.micropython_wasm.typecheck
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.micropython_wasm.typecheck import CheckResult, check_cpython, check_micropython


def _assert_clean(result: CheckResult) -> None:
    if not result.ok:
        pytest.fail(
            f"mypy ({result.name}) found problems (exit {result.returncode}):\n{result.output}",
            pytrace=False,
        )


def test_firmware_typechecks_as_micropython(tmp_path: Path) -> None:
    _assert_clean(check_micropython(["firmware"], scratch=tmp_path))


def test_firmware_core_typechecks_as_cpython(tmp_path: Path) -> None:
    _assert_clean(check_cpython(["firmware/core"], scratch=tmp_path))


def test_micropython_check_rejects_cpython_only_code(tmp_path: Path) -> None:
    """The MicroPython run uses the MicroPython typeshed: CPython-only modules and tick
    arithmetic without time.ticks_diff are errors there."""
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "cpython_only.py").write_text(
        "import dataclasses\nimport time\n\nelapsed: int = time.ticks_ms() - 5\n"
    )
    result = check_micropython([str(probe)], scratch=tmp_path / "scratch")
    assert not result.ok
    assert 'module named "dataclasses"' in result.output
    assert "cpython_only.py:4" in result.output
