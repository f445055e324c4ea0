"""Chaos soak: the chaos test (tests/integration/test_chaos.py) with more patients, more days
and, if asked, more faults: simulated patients through real gateway processes, mosquitto,
two `rtm-bridge` processes in a shared subscription and InfluxDB 1.x, while BLE links drop,
gateways and bridges are killed with SIGKILL, the broker restarts and InfluxDB goes away.
Prints every night, the faults injected by kind, and the store compared with ground truth
record by record; exits 1 if anything was lost, duplicated or changed.

    python benchmarks/chaos_soak.py [--patients 100] [--days 30] [--seed N]
        [--per-household 3] [--fault-scale 1.0] [--dir DIR]

The seed (default: $RTM_CHAOS_SEED, else random) fixes the fault schedule and the
simulation; it is printed first. Harness: tests/chaos_run.py, faults:
tests/fault_injection.py. Last line: `chaos_records=N lost=N duplicated=N different=N`.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.chaos_run import ChaosSettings, run_chaos, seed_from_env  # noqa: E402
from tests.fault_injection import DEFAULT_RATES  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--patients", type=int, default=100)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--per-household", type=int, default=3,
                   help="patients per home (one gateway process each)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--fault-scale", type=float, default=1.0,
                   help="multiply the expected process faults per night")
    p.add_argument("--ble-disconnect", type=float, default=0.025,
                   help="probability per BLE command that the link drops (0.025: ~10 %% of "
                        "syncs)")
    p.add_argument("--dir", type=Path, default=None, help="keep the run's files here")
    args = p.parse_args()
    seed = args.seed if args.seed is not None else seed_from_env(random.randrange(1, 2**31))
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="rtm-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"files in {workdir}")
    settings = ChaosSettings(
        patients=args.patients, days=args.days, per_household=args.per_household, seed=seed,
        ble_disconnect=args.ble_disconnect,
        rates={k: v * args.fault_scale for k, v in DEFAULT_RATES.items()},
        night_timeout_s=120.0, settle_timeout_s=600.0)
    result = run_chaos(workdir, settings)
    print(result.report())
    d = result.diff
    for name, items in (("missing", d.missing), ("unexpected", d.unexpected),
                        ("different", d.mismatched)):
        if items:
            print(f"first {name}: {items[:5]}")
    print(f"chaos_records={d.expected} lost={len(d.missing)} duplicated={d.duplicates} "
          f"different={len(d.mismatched)}")
    return 0 if d.exact and not result.unexpected_exits else 1


if __name__ == "__main__":
    sys.exit(main())
