"""The end-to-end demo on embedded defaults: an in-process MQTT broker (amqtt), the SQLite
store, simulated patients over simulated days, and the clinician summary at the end."""

from __future__ import annotations

import logging
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cloud_bridge.clinic.summary import format_summary, summarize
from cloud_bridge.embedded_broker import EmbeddedBroker
from cloud_bridge.stores.base import open_store
from cloud_bridge.subscriber import Bridge
from simulators.scenario import Scenario


def run_demo(patients: int, days: int, seed: int, workdir: Path, tz_name: str,
             first_day: date | None = None, out=print) -> int:
    tz = ZoneInfo(tz_name)
    first_day = first_day or date.today() - timedelta(days=days)
    if workdir.exists():
        # Each run starts from nothing: a store left from an earlier run would mix in.
        for name in ("rtm.db", "rtm.db-wal", "rtm.db-shm", "enrollments.csv"):
            (workdir / name).unlink(missing_ok=True)
        for old in workdir.glob("home-*-outbox.db*"):
            old.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    store_url = f"sqlite:///{workdir / 'rtm.db'}"
    out(f"Demo: {patients} patients, {days} days from {first_day}, working in {workdir}")
    with EmbeddedBroker() as broker:
        store = open_store(store_url, zone=tz)
        bridge = Bridge(store, broker.host, broker.port, client_id="rtm-bridge-demo")
        bridge.start()
        if not bridge.wait_connected(30):
            raise RuntimeError("the bridge could not connect to the embedded broker")
        scenario = Scenario(workdir, broker.host, broker.port, patients, first_day, tz, seed)
        scenario.registry.save(workdir / "enrollments.csv")
        scenario.start()
        try:
            for d in range(days):
                scenario.run_day()
                out(f"  day {d + 1}/{days}: {len(scenario.born_records())} records made by "
                    f"the wearables so far, {bridge.stats.snapshot()['records_stored']} stored")
            stored = scenario.wait_stored(store)
        finally:
            scenario.stop()
            bridge.stop()
        last_day = first_day + timedelta(days=days - 1)
        out("")
        out(format_summary(summarize(store, scenario.registry, first_day, last_day,
                                     last_day + timedelta(days=1), tz), first_day, last_day))
        out("")
        out(_check(scenario, stored))
        store.close()
    clinic = Path(sys.argv[0]).with_name("rtm-clinic")
    clinic_cmd = str(clinic) if clinic.exists() else "rtm-clinic"
    out(f"\nLook again with:\n  {clinic_cmd} summary --store {store_url} "
        f"--registry {workdir / 'enrollments.csv'} --from {first_day} --to {last_day} "
        f"--tz {tz_name}")
    return 0


def _check(scenario: Scenario, stored) -> str:
    """Ground truth against the store, as the demo's last word."""
    truth = scenario.true_reps()
    counted: Counter[str] = Counter()
    for r in stored:
        if r.kind == "rep" and not r.partial:
            counted[scenario.registry.patient_of(r.device_id) or "?"] += 1
    diff = scenario.compare(stored)
    lines = [f"Pipeline check ({'exact' if diff.exact else 'NOT EXACT'}): {diff}."]
    lines.append("Counter: reps done (simulation truth) vs counted on the wearable, per patient:")
    for patient, n in sorted(truth.items()):
        lines.append(f"  {patient}: {n} done, {counted[patient]} counted")
    return "\n".join(lines)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
