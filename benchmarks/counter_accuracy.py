"""Rep-counter accuracy on real recordings and on synthetic sets.

Runs exactly the firmware counter in generic mode (as `rtm-sim count` does) over every
recording indexed by shared/datasets/dev/sets.csv and over synthetic sets from the motion
synthesizer, and prints exact %, within-±1 %, and mean absolute error per source and
overall. SPAR's counts are nominal and its recordings start and end mid-motion: judge it
within ±1.

    python benchmarks/counter_accuracy.py [--datasets DIR] [--synthetic N] [--seed S]
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulators.count import (  # noqa: E402
    Recording,
    RecordingError,
    count_cpython,
    read_recording,
)
from simulators.motion.exercises import EXERCISES  # noqa: E402
from simulators.motion.person import Person  # noqa: E402
from simulators.motion.synthesizer import (  # noqa: E402
    synthesize_rest,
    synthesize_set,
    synthesize_walking,
)

DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets" / "dev"


def score(rows: list[tuple[int, int]]) -> str:
    errors = np.array([abs(c - t) for c, t in rows])
    return (f"n={len(rows):3d}  exact {np.mean(errors == 0) * 100:5.1f}%  "
            f"±1 {np.mean(errors <= 1) * 100:5.1f}%  MAE {errors.mean():.2f}")


def real_recordings(datasets: Path) -> dict[str, list[tuple[int, int]]]:
    results: dict[str, list[tuple[int, int]]] = defaultdict(list)
    with open(datasets / "sets.csv", newline="") as f:
        for row in csv.DictReader(f):
            rate = float(row["rate_hz"])
            try:
                rec = read_recording(datasets / row["file"], rate)
            except RecordingError as e:
                print(f"  {row['file']}: {e}", file=sys.stderr)
                continue
            counted = count_cpython(rec, rate)
            truth = int(row["reps"])
            results[row["source"]].append((counted, truth))
            if counted != truth:
                print(f"  miss {row['file'][:60]:60s} {row['exercise']:>18s} "
                      f"{row['placement']:>6s} counted {counted:3d} true {truth:3d}")
    return results


def to_recording(s, with_gyro: bool) -> Recording:
    ticks = (np.rint(s.t * 1000).astype(np.int64) & 0x3FFFFFFF)[:, None]
    gyro = s.gyro_dps if with_gyro else np.zeros_like(s.gyro_dps)
    ints = np.hstack([ticks, np.clip(np.rint(s.acc_g * 1000), -16000, 16000),
                      np.clip(np.rint(gyro * 10), -20000, 20000)]).astype(int)
    return Recording(Path(s.exercise), [tuple(r) for r in ints.tolist()], with_gyro)


def synthetic(n_per_exercise: int, seed: int) -> dict[str, list[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    results: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for name in EXERCISES:
        if name == "generic":
            continue
        for i in range(n_per_exercise):
            person = Person.random(rng)
            rate = float(rng.choice([12.5, 26.0, 52.0, 104.0]))
            reps = int(rng.integers(5, 16))
            s = synthesize_set(name, reps, person, rate_hz=rate, rng=rng)
            rec = to_recording(s, with_gyro=bool(i % 2))
            results[f"synthetic {name}"].append((count_cpython(rec, rate), s.reps))
    for name, make in (("walking", synthesize_walking), ("rest", synthesize_rest)):
        for _ in range(n_per_exercise):
            person = Person.random(rng)
            s = make(60.0, person, 52.0, rng)
            results[f"synthetic {name}"].append((count_cpython(to_recording(s, True), 52.0), 0))
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    p.add_argument("--synthetic", type=int, default=10, help="sets per exercise (0: none)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    real = real_recordings(args.datasets)
    print("\nReal recordings (generic mode):")
    everything = []
    for source, rows in sorted(real.items()):
        print(f"  {source:10s} {score(rows)}")
        everything += rows
    print(f"  {'overall':10s} {score(everything)}")
    if args.synthetic:
        syn = synthetic(args.synthetic, args.seed)
        print("\nSynthetic sets (motion synthesizer, random people, rates and sensors):")
        allsyn = []
        for name, rows in sorted(syn.items()):
            print(f"  {name:32s} {score(rows)}")
            allsyn += rows
        print(f"  {'synthetic overall':32s} {score(allsyn)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
