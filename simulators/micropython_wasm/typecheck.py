"""Type-check firmware/ with mypy: as MicroPython (ESP32-S3 stubs) and, for firmware/core/, as
CPython too.

The MicroPython stubs (pip: ``micropython-esp32-esp32_generic_s3-stubs``, which pulls in
``micropython-stdlib-stubs``) install their modules (``machine.pyi``, ``time.pyi``, ...) at the
top of site-packages and a typeshed-shaped ``stdlib/`` beside them. mypy neither finds
top-level stubs in site-packages (they are not PEP 561 packages) nor accepts site-packages on
MYPYPATH, so `build_stub_dirs` lays the installed files out, as symlinks, in a scratch
directory: ``typeshed/`` (``stdlib/`` + ``stubs/``, given to ``--custom-typeshed-dir``) and
``typings/`` (everything else, on ``MYPYPATH``). Nothing is downloaded.

    python -m simulators.micropython_wasm.typecheck        # exit status 0 when both pass
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BOARD_STUBS",
    "CONFIG",
    "STDLIB_STUBS",
    "CheckResult",
    "build_stub_dirs",
    "check_cpython",
    "check_micropython",
    "main",
]

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
CONFIG = HERE / "firmware-mypy.ini"
EXTRA_TYPINGS = HERE / "typings"  # hand-written stubs for modules without any (if present)
BOARD_STUBS = "micropython-esp32-esp32_generic_s3-stubs"
STDLIB_STUBS = "micropython-stdlib-stubs"
_TYPESHED_TOP = {"stdlib", "stubs"}


@dataclass(frozen=True)
class CheckResult:
    """One mypy run: ``ok`` when mypy exited 0; ``output`` is what it printed."""

    name: str
    command: list[str]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _installed_files(distribution: str) -> list[tuple[Path, Path]]:
    """(relative path, absolute path) of each stub file a distribution installed."""
    try:
        files = importlib.metadata.files(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            f"{distribution} is not installed in this Python ({sys.executable}):"
            " install the test dependencies, e.g. `pip install -e '.[test]'`"
        ) from None
    result: list[tuple[Path, Path]] = []
    for file in files or ():
        relative = Path(str(file))
        if relative.parts[0].endswith(".dist-info") or relative.parts[0] == "..":
            continue
        if relative.suffix == ".pyi" or relative.name == "VERSIONS":
            result.append((relative, Path(str(file.locate())).resolve()))
    if not result:
        raise RuntimeError(f"{distribution} is installed but lists no .pyi files")
    return result


def build_stub_dirs(scratch: Path) -> tuple[Path, Path]:
    """Link the installed MicroPython stubs into ``scratch``; return (typeshed, typings)."""
    typeshed = scratch / "typeshed"
    typings = scratch / "typings"
    for distribution in (BOARD_STUBS, STDLIB_STUBS):
        for relative, source in _installed_files(distribution):
            root = typeshed if relative.parts[0] in _TYPESHED_TOP else typings
            target = root / relative
            if target.exists():
                continue  # the board package's own module wins over the generic one
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
    if not (typeshed / "stdlib" / "VERSIONS").is_file():
        raise RuntimeError(f"{STDLIB_STUBS} did not provide stdlib/VERSIONS")
    return typeshed, typings


def _run_mypy(
    name: str, args: Sequence[str], *, env_extra: dict[str, str], cache_dir: Path
) -> CheckResult:
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(CONFIG),
        "--cache-dir",
        str(cache_dir),
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    env.update(env_extra)
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    return CheckResult(name, command, result.returncode, (result.stdout + result.stderr).strip())


def check_micropython(paths: Sequence[str] = ("firmware",), *, scratch: Path) -> CheckResult:
    """mypy over ``paths`` (relative to the repo root) as MicroPython code on the ESP32-S3."""
    typeshed, typings = build_stub_dirs(scratch)
    mypy_path = [str(typings)]
    if EXTRA_TYPINGS.is_dir():
        mypy_path.insert(0, str(EXTRA_TYPINGS))
    return _run_mypy(
        "MicroPython (ESP32-S3 stubs)",
        ["--custom-typeshed-dir", str(typeshed), *paths],
        env_extra={"MYPYPATH": os.pathsep.join(mypy_path)},
        cache_dir=scratch / "cache-micropython",
    )


def check_cpython(paths: Sequence[str] = ("firmware/core",), *, scratch: Path) -> CheckResult:
    """mypy over ``paths`` (relative to the repo root) as CPython code (mypy's own typeshed)."""
    return _run_mypy("CPython", list(paths), env_extra={}, cache_dir=scratch / "cache-cpython")


def main(argv: Sequence[str] | None = None) -> int:
    """Run both checks on the firmware; print mypy's output; return 0 when both pass."""
    del argv  # no options
    with tempfile.TemporaryDirectory(prefix="firmware-typecheck-") as tmp:
        scratch = Path(tmp)
        results = [check_micropython(scratch=scratch), check_cpython(scratch=scratch)]
    for result in results:
        print(f"== {result.name}: {'ok' if result.ok else 'FAILED'}")
        print(result.output)
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
