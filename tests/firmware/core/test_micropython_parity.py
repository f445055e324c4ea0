"""The firmware core under the real MicroPython interpreter (WebAssembly port): the same
program prints the same text as under CPython, and the counter's memory is measured
against the device budget (docs/architecture.md)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulators.count import (
    Recording,
    count_cpython,
    count_micropython,
    pack_samples,
    read_recording,
)
from simulators.firmware_units import firmware_samples
from tests.sim_helpers import tilt_set

pytestmark = pytest.mark.micropython
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DATASETS = REPO.parent / "shared" / "datasets" / "dev"

STATE_BUDGET_BYTES = 16 * 1024
PER_SAMPLE_BUDGET_BYTES = 0


def test_vector_program_prints_the_same_on_both_interpreters(micropython):
    program = (HERE / "vector_program.py").read_text()
    cpython = subprocess.run([sys.executable, str(HERE / "vector_program.py")], cwd=REPO,
                             env={"PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                             check=True).stdout
    mp = micropython.run(f"exec({program!r}, {{'__name__': 'vectors'}})")
    assert cpython.count("\n") >= 20
    assert mp == cpython


def _recording(reps, rate_hz=52, gyro=True):
    t, acc, g = tilt_set(reps, rate_hz=rate_hz)
    if not gyro:
        g = np.zeros_like(g)
    return _to_recording("synthetic", t, acc, g)


def _to_recording(name, t, acc_g, gyro_dps):
    return Recording(Path(name), firmware_samples(t, acc_g, gyro_dps), bool(gyro_dps.any()))


@pytest.mark.parametrize("rate_hz, gyro", [(52, True), (26, False), (104, True)])
def test_counter_counts_identically_on_both_interpreters(micropython, rate_hz, gyro):
    rec = _recording(9, rate_hz, gyro)
    assert count_cpython(rec, rate_hz) == count_micropython(rec, rate_hz, micropython) == 9


def test_real_recordings_count_identically(micropython):
    files = sorted(DATASETS.glob("*.csv"))
    assert files, f"no recordings in {DATASETS}"
    rates = {}
    for line in (DATASETS / "sets.csv").read_text().splitlines()[1:]:
        parts = line.split(",")
        rates[parts[0]] = float(parts[5])
    for path in [f for f in files if f.name != "sets.csv"][::9]:
        rec = read_recording(path, rates[path.name])
        assert count_cpython(rec, rates[path.name]) == count_micropython(
            rec, rates[path.name], micropython), path.name


_MEMORY_PROGRAM = """
import gc
from firmware.core.counter import RepCounter
from firmware.core.record_log import MemoryStorage, RecordLog
from firmware.core.clock import DeviceClock
from firmware.core.recorder import Recorder
import binascii
from array import array
_m_data = array("i", binascii.a2b_base64(b"{data}"))
gc.collect()
_m0 = gc.mem_alloc()
_m_counter = RepCounter(52)
gc.collect()
_m_state = gc.mem_alloc() - _m0
_m_log = RecordLog(MemoryStorage(64 + 32 * 16))
_m_rec = Recorder(_m_log, DeviceClock(1), 52, lambda tick: tick)
_m_rec.start_set(1, 0)
_m_n = len(_m_data) // 7
_m_i = _m_alloc = 0  # globals created before measuring: a new one can grow the dict
gc.collect()
gc.disable()
_m1 = gc.mem_alloc()
for _m_i in range(0, len(_m_data), 7):
    _m_rec.sample(_m_data[_m_i], _m_data[_m_i + 1], _m_data[_m_i + 2], _m_data[_m_i + 3],
                  _m_data[_m_i + 4], _m_data[_m_i + 5], _m_data[_m_i + 6])
_m_alloc = gc.mem_alloc() - _m1
gc.enable()
print(_m_state, _m_alloc, _m_n, _m_rec.counter.reps)
"""


def _flat(rec):
    """The samples as base64 of int32s: a literal list would exhaust MicroPython's pystack."""
    return pack_samples(rec.samples)


def test_counter_state_and_per_sample_allocation_under_micropython(micropython):
    # Motion below the rep threshold: only the per-sample path runs, no rep events.
    t, acc, gyro = tilt_set(6, rom_deg=4.0)
    quiet = _to_recording("quiet", t, acc, gyro)
    state, alloc, n, reps = map(int, micropython.run(
        _MEMORY_PROGRAM.format(data=_flat(quiet))).split())
    assert reps == 0 and n > 1000
    print(f"\ncounter state {state} B; sample path {alloc} B over {n} samples")
    assert state <= STATE_BUDGET_BYTES
    assert alloc <= PER_SAMPLE_BUDGET_BYTES * n, f"{alloc / n:.1f} bytes per sample"


def test_allocation_happens_only_at_rep_events(micropython):
    rec = _recording(8)
    _state, alloc, n, reps = map(int, micropython.run(
        _MEMORY_PROGRAM.format(data=_flat(rec))).split())
    assert reps == 8
    per_rep = alloc / (reps + 0.0)
    print(f"\n{alloc} B for {reps} reps over {n} samples: {per_rep:.0f} B per rep event")
    assert per_rep < 2048, "a rep event (record encode + append) should stay small"
