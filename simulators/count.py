"""`rtm-sim count`: the firmware's rep counter, unchanged, over recorded CSV files.

Recordings (layout of shared/datasets): header `t,ax,ay,az[,gx,gy,gz]`, t in seconds,
acceleration in g, angular rate in deg/s. Samples are converted to the firmware's integer
units (mg, 0.1 deg/s, ms ticks) exactly as the device shell delivers them. One JSON line per
file on stdout; a bad file gives one error line on stderr and the others are still counted.
"""

from __future__ import annotations

import base64
import csv
import json
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware.core.counter import EVENT_REP, RepCounter
from simulators.firmware_units import TICKS_MASK, Sample, firmware_samples
from simulators.micropython_wasm import MicroPythonWasm

_RATE_TOLERANCE = 0.25  # median interval may differ this much from 1/rate


class RecordingError(ValueError):
    """A recording cannot be counted; the message names the problem."""


@dataclass(frozen=True)
class Recording:
    path: Path
    samples: list[Sample]  # tick, mg x3, 0.1 dps x3 (simulators.firmware_units)
    has_gyro: bool


def read_recording(path: Path, rate_hz: float) -> Recording:
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise RecordingError(f"cannot read: {e}") from None
    if not rows:
        raise RecordingError("empty file")
    header = [h.strip() for h in rows[0]]
    if header[:4] != ["t", "ax", "ay", "az"] or header[4:] not in ([], ["gx", "gy", "gz"]):
        raise RecordingError(f"header must be t,ax,ay,az[,gx,gy,gz], got {','.join(header)}")
    has_gyro = len(header) == 7
    values: list[list[float]] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise RecordingError(f"line {lineno}: expected {len(header)} columns, got {len(row)}")
        try:
            v = [float(x) for x in row]
        except ValueError:
            raise RecordingError(f"line {lineno}: not a number in {','.join(row)}") from None
        if any(x != x or x in (float("inf"), float("-inf")) for x in v):
            raise RecordingError(f"line {lineno}: NaN or infinity")
        if values and v[0] <= values[-1][0]:
            raise RecordingError(f"line {lineno}: time does not increase")
        values.append(v)
    if len(values) < 2:
        raise RecordingError("fewer than two samples")
    data = np.array(values)
    samples = firmware_samples(data[:, 0], data[:, 1:4], data[:, 4:7] if has_gyro else None)
    intervals = sorted((samples[i + 1][0] - samples[i][0]) & TICKS_MASK
                       for i in range(len(samples) - 1))
    median_ms = intervals[len(intervals) // 2]
    expected_ms = 1000.0 / rate_hz
    if abs(median_ms - expected_ms) > _RATE_TOLERANCE * expected_ms:
        raise RecordingError(f"samples are {median_ms} ms apart, but --rate {rate_hz:g} Hz "
                             f"means {expected_ms:.1f} ms")
    return Recording(path, samples, has_gyro)


def count_cpython(rec: Recording, rate_hz: float) -> int:
    """Reps in one recording, taken as one set: fed sample by sample, then finished (reps
    the counter still holds for its rhythm check are counted as a set's end does)."""
    counter = RepCounter(rate_hz)
    reps = 0
    for s in rec.samples:
        if counter.update(s[0], s[1], s[2], s[3], s[4], s[5], s[6]) == EVENT_REP:
            reps += 1
    counter.finish()
    while counter.report() == EVENT_REP:
        reps += 1
    return reps


# Samples travel as base64 of int32s into an array: a literal list of thousands of ints
# would exhaust MicroPython's parser stack.
_MP_PROGRAM = """
import binascii
from array import array
from firmware.core.counter import RepCounter, EVENT_REP
def _count_reps():
    c = RepCounter({rate})
    d = array("i", binascii.a2b_base64(b"{data}"))
    n = 0
    for i in range(0, len(d), 7):
        if c.update(d[i], d[i+1], d[i+2], d[i+3], d[i+4], d[i+5], d[i+6]) == EVENT_REP:
            n += 1
    c.finish()
    while c.report() == EVENT_REP:
        n += 1
    return n
print(_count_reps())
"""


def pack_samples(samples: list[Sample]) -> str:
    """Samples as base64 of little-endian int32s, for MicroPython's array('i')."""
    flat = array("i", (x for s in samples for x in s))
    if sys.byteorder != "little":
        flat.byteswap()
    return base64.b64encode(flat.tobytes()).decode("ascii")


def count_micropython(rec: Recording, rate_hz: float, mp: MicroPythonWasm) -> int:
    out = mp.run(_MP_PROGRAM.format(rate=repr(float(rate_hz)), data=pack_samples(rec.samples)))
    return int(out.strip().splitlines()[-1])


def count_files(files: list[Path], rate_hz: float, micropython: bool = False) -> int:
    mp = None
    if micropython:
        mp = MicroPythonWasm(mounts=[Path(__file__).resolve().parent.parent / "firmware"])
    failed = 0
    try:
        for path in files:
            try:
                rec = read_recording(path, rate_hz)
                reps = count_micropython(rec, rate_hz, mp) if mp else count_cpython(rec, rate_hz)
            except RecordingError as e:
                failed += 1
                print(f"rtm-sim count: {path}: {e}", file=sys.stderr)
                continue
            print(json.dumps({"file": str(path), "reps": reps, "samples": len(rec.samples),
                              "gyro": rec.has_gyro,
                              "interpreter": "micropython" if mp else "cpython"}), flush=True)
    finally:
        if mp is not None:
            mp.close()
    return 1 if failed else 0
