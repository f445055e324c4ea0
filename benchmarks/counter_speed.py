"""Cost of the wearable's per-sample path (Recorder.sample -> RepCounter.update), measured
under the MicroPython WebAssembly port and on CPython, with an estimate for the reference
board.

The WebAssembly port's ticks advance in 1 ms steps, so a long loop is timed and repeated.
Baseline, measured in the same run: the same loop that only reads the samples from the
array (what any sample path costs at the least); the counter's own cost is the difference.

Estimate for the ESP32-S3 at 240 MHz: the published figure that the same MicroPython code
runs roughly 35x slower there than under the WebAssembly port on a current PC (issue 3);
CPU share at 52 Hz = cost per sample x 52 / s. Target: under 5%.

    python benchmarks/counter_speed.py [--samples 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from firmware.core.clock import DeviceClock  # noqa: E402
from firmware.core.record_log import MemoryStorage, RecordLog  # noqa: E402
from firmware.core.recorder import Recorder  # noqa: E402
from simulators.count import pack_samples  # noqa: E402
from simulators.firmware_units import firmware_samples  # noqa: E402
from simulators.micropython_wasm import MicroPythonWasm  # noqa: E402
from simulators.motion.person import Person  # noqa: E402
from simulators.motion.synthesizer import synthesize_set  # noqa: E402

RATE_HZ = 52
ESP32S3_SLOWDOWN = 35.0

_MP_BENCH = """
import time, binascii
from array import array
from firmware.core.clock import DeviceClock
from firmware.core.record_log import MemoryStorage, RecordLog
from firmware.core.recorder import Recorder
def _bench(reps):
    d = array("i", binascii.a2b_base64(b"{data}"))
    n = len(d) // 7
    best_base = best_ctr = 1 << 30
    for _ in range(reps):
        log = RecordLog(MemoryStorage(64 + 32 * 4096))
        rec = Recorder(log, DeviceClock(1), {rate}, lambda tick: tick)
        rec.start_set(0, 0)
        t0 = time.ticks_ms()
        for i in range(0, len(d), 7):
            x = d[i] + d[i + 1] + d[i + 2] + d[i + 3] + d[i + 4] + d[i + 5] + d[i + 6]
        t1 = time.ticks_ms()
        for i in range(0, len(d), 7):
            rec.sample(d[i], d[i + 1], d[i + 2], d[i + 3], d[i + 4], d[i + 5], d[i + 6])
        t2 = time.ticks_ms()
        best_base = min(best_base, time.ticks_diff(t1, t0))
        best_ctr = min(best_ctr, time.ticks_diff(t2, t1))
    print(n, best_base, best_ctr, rec.counter.reps)
_bench({repeats})
"""


def samples(n: int) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(3)
    out: list[tuple[int, ...]] = []
    t0 = 0.0
    while len(out) < n:
        s = synthesize_set("squat", 10, Person.random(rng), rate_hz=RATE_HZ, rng=rng)
        out += firmware_samples(s.t + t0, s.acc_g, s.gyro_dps)
        t0 += s.t[-1] + 1.0
    return out[:n]


def cpython(data: list[tuple[int, ...]], repeats: int) -> tuple[float, float]:
    base, ctr = [], []
    for _ in range(repeats):
        rec = Recorder(RecordLog(MemoryStorage(64 + 32 * 4096)), DeviceClock(1), RATE_HZ,
                       lambda tick: tick)
        rec.start_set(0, 0)
        t0 = time.perf_counter()
        for s in data:
            _ = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6]
        t1 = time.perf_counter()
        for s in data:
            rec.sample(s[0], s[1], s[2], s[3], s[4], s[5], s[6])
        t2 = time.perf_counter()
        base.append(t1 - t0)
        ctr.append(t2 - t1)
    n = len(data)
    return min(base) / n * 1e6, min(ctr) / n * 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    data = samples(args.samples)
    with MicroPythonWasm(mounts=[ROOT / "firmware"]) as mp:
        out = mp.run(_MP_BENCH.format(data=pack_samples(data), rate=RATE_HZ,
                                      repeats=args.repeats), timeout=600)
    n, base_ms, ctr_ms, reps = (int(x) for x in out.split())
    wasm_us = ctr_ms * 1000 / n
    wasm_base_us = base_ms * 1000 / n
    net_us = wasm_us - wasm_base_us
    cp_base_us, cp_us = cpython(data, args.repeats)
    board_us = wasm_us * ESP32S3_SLOWDOWN
    cpu_pct = board_us * RATE_HZ / 1e6 * 100
    print(f"samples: {n} at {RATE_HZ} Hz ({reps} reps counted), best of {args.repeats}")
    print(f"MicroPython (WebAssembly): {wasm_us:.2f} us/sample for the sample path; "
          f"baseline loop {wasm_base_us:.2f} us; ratio {wasm_us / max(wasm_base_us, 1e-9):.1f}x;"
          f" counter's own {net_us:.2f} us")
    print(f"CPython: {cp_us:.2f} us/sample; baseline loop {cp_base_us:.2f} us; "
          f"ratio {cp_us / cp_base_us:.1f}x")
    print(f"ESP32-S3 estimate (x{ESP32S3_SLOWDOWN:g}): {board_us:.0f} us/sample = "
          f"{cpu_pct:.2f}% CPU at {RATE_HZ} Hz (target < 5%)")
    print(f"esp32s3_cpu_pct={cpu_pct:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
