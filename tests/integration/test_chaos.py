"""Proof of no data loss (issue 7): 30 simulated patients over 14 simulated days through the
real gateway processes, a real mosquitto, two real `rtm-bridge` processes sharing the load,
and a real InfluxDB, while BLE links drop, gateways and bridges are killed with SIGKILL,
the broker restarts and the store goes away for a while. At the end the store equals the
simulation's ground truth exactly: every record once, every field and time right.

The fault schedule follows from the seed, printed at the start; replay a failure with
RTM_CHAOS_SEED=<seed>. Run with `pytest -s` to see the nights go by.
Harness: tests/chaos_run.py; faults: tests/fault_injection.py; a longer run:
benchmarks/chaos_soak.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos_run import ChaosSettings, run_chaos, seed_from_env
from tests.fault_injection import FAULT_KINDS

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

DEFAULT_SEED = 20261107


def test_chaos_loses_nothing_duplicates_nothing_and_keeps_every_time(tmp_path: Path) -> None:
    settings = ChaosSettings(patients=30, days=14, per_household=3,
                             seed=seed_from_env(DEFAULT_SEED))
    result = run_chaos(tmp_path, settings)
    print(result.report())
    diff = result.diff
    assert diff.expected > 30 * 14 * 50, "the simulation should make a realistic amount"
    assert diff.exact, (f"{result.report()}\nmissing {diff.missing[:5]}, unexpected "
                        f"{diff.unexpected[:5]}, different {diff.mismatched[:3]}")
    for kind in FAULT_KINDS:
        assert result.counts[kind] >= 1, f"no {kind} was injected: {result.report()}"
    assert result.unexpected_exits == [], result.report()
