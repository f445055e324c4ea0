"""Power cuts on the wearable (issue 7, "Proof of no data loss", part 2).

The record log's scripted life (power_cut_scenario.SCRIPT: creation, appends until the ring
is full, refusals, acknowledgements, eviction over more than a lap, reboots) is cut at every
byte it writes, with the interrupted write torn three ways (power_cut_storage), then
rebooted and checked against the ground truth of what was fully written and acknowledged.
The counts of each series are printed and saved as JSON in test-artifacts/chaos/ for the
reliability report; every violation count must be 0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firmware.core import record_log
from simulators.micropython_wasm import MicroPythonWasm
from tests.firmware.core import power_cut_scenario as scenario
from tests.firmware.core.power_cut_storage import (
    TORN_ERASED,
    TORN_GARBAGE,
    TORN_KEEPS_OLD,
    TORN_MODE_NAMES,
    PowerCutFiles,
)

pytestmark = pytest.mark.chaos

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parents[2] / "test-artifacts" / "chaos"
ALL_TORN_MODES = [TORN_KEEPS_OLD, TORN_ERASED, TORN_GARBAGE]
PAGE_BYTES = 64  # 4 page files for the scenario's 256 bytes: a record write never spans two
LOG_DIRECTORY = "/rtm_log"


@pytest.fixture
def report(request: pytest.FixtureRequest,
           record_property: Callable[[str, object], None]) -> Callable[..., None]:
    """report(stats, expected_cut_points): print the counts, keep them for the reliability
    table (JUnit property and test-artifacts/chaos/<test>.json), and require no violation."""

    def check(stats: scenario.CutStats, expected_cut_points: int) -> None:
        counts = stats.as_dict()
        print("\n" + stats.summary())
        record_property("power_cuts", counts)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        (ARTIFACTS / f"{name}.json").write_text(json.dumps(counts, indent=1) + "\n")
        assert stats.violations == [], "\n".join(stats.violations)
        assert (stats.lost, stats.corrupt, stats.reused, stats.state_errors,
                stats.bricked) == (0, 0, 0, 0, 0)
        assert stats.cut_points == expected_cut_points, "every byte written is a cut point"
        assert stats.most_after_cut == scenario.CAPACITY, "some cut hit a full ring"

    return check


@pytest.fixture
def page_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], PowerCutFiles]]:
    """A factory of factory-fresh wearables whose log is the device's PagedFileStorage on
    RAM files: record_log's `os` and `open` are the RAM file system's for the test."""
    files = PowerCutFiles(LOG_DIRECTORY, scenario.FLASH_BYTES, PAGE_BYTES)
    monkeypatch.setattr(record_log, "os", files)
    monkeypatch.setattr(record_log, "open", files.open, raising=False)

    def factory_fresh() -> PowerCutFiles:
        files.restore(([], {}))
        files.power.power_on()
        return files

    yield factory_fresh


def test_the_script_reaches_eviction_refusal_acknowledgement_and_reboot() -> None:
    medium = scenario.flash_medium()
    truth = scenario.GroundTruth()
    stats = scenario.CutStats("dry run")
    log = scenario.run_script(medium, truth, stats, "dry run")
    first = scenario.FIRST_LOG_ID & 0x1FFFFFFF
    assert stats.violations == []
    assert log.log_id == scenario.FIRST_LOG_ID and log.oldest_seq() > first
    assert log.last_seq - first > 3 * scenario.CAPACITY, "slots overwritten three times"
    assert log.refused == 2 and log.boot == 3
    assert log.acked_seq == log.last_seq - 1
    # 20 records and 10 meta writes (creation, 3 boots, 2 refusals, 4 acknowledgements)
    assert log.last_seq - first == 20
    assert medium.power.bytes_written == scenario.script_bytes() == 30 * 32


@pytest.mark.parametrize("torn_mode", ALL_TORN_MODES, ids=TORN_MODE_NAMES)
def test_a_cut_at_every_byte_loses_no_record(torn_mode: int, report) -> None:
    stats = scenario.run_all_cuts(torn_mode)
    report(stats, scenario.script_bytes() + 1)


def test_a_second_cut_during_recovery_loses_no_record(report) -> None:
    # Recovery writes when it finds no log (a cut during creation) and counts the boot: both
    # cut again at every byte, after every first cut. Garbage is the harshest tear.
    stats = scenario.run_all_cuts(TORN_GARBAGE, second_cuts=True)
    report(stats, scenario.script_bytes() + 1)
    assert stats.second_cuts > 30 * stats.cut_points


@pytest.mark.parametrize("torn_mode", ALL_TORN_MODES, ids=TORN_MODE_NAMES)
def test_a_cut_in_the_devices_page_files_loses_no_record(torn_mode: int, page_files,
                                                         report) -> None:
    # Includes the first boot, when PagedFileStorage creates its page files.
    bytes_written = scenario.script_bytes(page_files)
    assert bytes_written == scenario.script_bytes() + scenario.FLASH_BYTES
    stats = scenario.run_all_cuts(torn_mode, new_medium=page_files, name="page files")
    report(stats, bytes_written + 1)


def test_a_second_cut_while_page_files_are_repaired_loses_no_record(page_files,
                                                                   report) -> None:
    # littlefs's own outcome of a cut (the file keeps its old bytes, a new one stays empty)
    # is the keeps-old tear. Recovery writes what the flash series does not (it creates or
    # completes page files) only after a cut in the first boot: page files, log creation,
    # boot count. Later recoveries write just the boot count, cut above at every byte.
    first_boot = scenario.FLASH_BYTES + 2 * scenario.codec.RECORD_SIZE
    stats = scenario.run_all_cuts(TORN_KEEPS_OLD, second_cuts=True, new_medium=page_files,
                                  name="page files", second_cuts_until=first_boot)
    report(stats, scenario.script_bytes(page_files) + 1)


# -- the check has teeth: logs broken on purpose are caught --------------------------------

def test_the_check_catches_a_meta_slot_written_in_place(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    write_meta = record_log.RecordLog._write_meta

    def in_place(log: record_log.RecordLog) -> None:
        log._meta_slot = 1 - log._meta_slot  # write over the valid slot instead of the other
        write_meta(log)

    monkeypatch.setattr(record_log.RecordLog, "_write_meta", in_place)
    stats = scenario.run_all_cuts(TORN_KEEPS_OLD)
    assert stats.lost > 0 and stats.state_errors > 0


def test_the_check_catches_a_log_that_trusts_a_torn_record(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    def without_crc(log: record_log.RecordLog, index: int) -> bytes | None:
        raw = log.storage.read(64 + index * 32, 32)
        seq = scenario.codec.seq_of(raw)
        return raw if seq != 0xFFFFFFFF and (seq - 1) % log.capacity == index else None

    monkeypatch.setattr(record_log.RecordLog, "_read_slot", without_crc)
    stats = scenario.run_all_cuts(TORN_GARBAGE)
    assert stats.corrupt > 0


# -- the same proof under the real MicroPython interpreter ---------------------------------

_PAGE_FILES_ON_MICROPYTHON = f"""
from firmware.core import record_log as _pc_record_log
from tests.firmware.core import power_cut_scenario as s
from tests.firmware.core.power_cut_storage import PowerCutFiles
_pc_files = PowerCutFiles({LOG_DIRECTORY!r}, s.FLASH_BYTES, {PAGE_BYTES})
_pc_saved = (_pc_record_log.os, getattr(_pc_record_log, "open", None))
_pc_record_log.os = _pc_files
_pc_record_log.open = _pc_files.open
def pages():
    _pc_files.restore(([], {{}}))
    _pc_files.power.power_on()
    return _pc_files
"""

_RESTORE_ON_MICROPYTHON = """
_pc_record_log.os = _pc_saved[0]
if _pc_saved[1] is None:
    del _pc_record_log.open
else:
    _pc_record_log.open = _pc_saved[1]
"""


def _install_test_modules(micropython: MicroPythonWasm) -> None:
    """Copy the scenario and the storage models into MicroPython's /lib/tests/... package."""
    code = ["import os"]
    for directory in ("/lib/tests", "/lib/tests/firmware", "/lib/tests/firmware/core"):
        code.append(f"try:\n    os.mkdir({directory!r})\nexcept OSError:\n    pass")
        code.append(f"open({directory + '/__init__.py'!r}, 'w').close()")
    for name in ("power_cut_storage.py", "power_cut_scenario.py"):
        target = "/lib/tests/firmware/core/" + name
        code.append(f"with open({target!r}, 'w') as f:\n    f.write({(HERE / name).read_text()!r})")
    micropython.run("\n".join(code))


@pytest.mark.micropython
def test_the_cuts_give_the_same_counts_under_micropython(micropython: MicroPythonWasm,
                                                        page_files) -> None:
    # Every byte of the script in all three tears, a sample of the recovery cuts, and the
    # device's page files: the same counts as CPython's, so the same checks passed.
    _install_test_modules(micropython)
    micropython.run(_PAGE_FILES_ON_MICROPYTHON)
    try:
        on_micropython = micropython.eval_json("s.reduced_series(pages)")
    finally:
        micropython.run(_RESTORE_ON_MICROPYTHON)
    on_cpython = scenario.reduced_series(page_files)
    print("\n" + "\n".join(on_micropython))
    assert on_micropython == on_cpython
    for line in on_micropython:
        assert "lost 0, corrupt 0, seq reused 0, state errors 0, bricked 0" in line
