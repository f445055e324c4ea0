"""The end-to-end demo on embedded defaults: an in-process MQTT broker (amqtt), the SQLite
store, the clinic's file with each patient's prescription (its program published to the
wearable through the home gateway), simulated patients over simulated days, and the
clinician summary at the end, with the commands that look at the run's files next."""

from __future__ import annotations

import logging
import os
import shlex
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cloud_bridge.clinic.prescriptions import Item, Prescription
from cloud_bridge.clinic.summary import format_summary, summarize
from cloud_bridge.clinic.web import passwords
from cloud_bridge.embedded_broker import EmbeddedBroker
from cloud_bridge.stores.base import open_store
from cloud_bridge.subscriber import Bridge
from gateway.downlink import APPLIED
from simulators.demo_clinic import DemoClinic
from simulators.scenario import Scenario

# What a run leaves in its folder (removed first: an earlier run's files would mix in).
_RUN_FILES = ("rtm.db", "rtm.db-wal", "rtm.db-shm", "rtm.db-writer.lock", "rtm-device-keys.db",
              "rtm-device-keys.db-wal", "rtm-device-keys.db-shm", "rtm-dead-letters.db",
              "rtm-dead-letters.db-wal", "rtm-dead-letters.db-shm", "enrollments.csv",
              "clinic.db", "clinic.db-wal", "clinic.db-shm")


def run_demo(patients: int, days: int, seed: int, workdir: Path, tz_name: str,
             first_day: date | None = None, out=print) -> int:
    tz = ZoneInfo(tz_name)
    first_day = first_day or date.today() - timedelta(days=days)
    if workdir.exists():
        # Each run starts from nothing: a store left from an earlier run would mix in.
        for name in _RUN_FILES:
            (workdir / name).unlink(missing_ok=True)
        for old in workdir.glob("home-*-outbox.db*"):
            old.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    store_url = f"sqlite:///{workdir / 'rtm.db'}"
    clinic_db = workdir / "clinic.db"
    out(f"Demo: {patients} patients, {days} days from {first_day}, working in {workdir}")
    with EmbeddedBroker() as broker:
        store = open_store(store_url, zone=tz)
        bridge = Bridge(store, broker.host, broker.port, client_id="rtm-bridge-demo")
        bridge.start()
        if not bridge.wait_connected(30):
            raise RuntimeError("the bridge could not connect to the embedded broker")
        # amqtt speaks MQTT 3.1.1 only (cloud_bridge/embedded_broker.py).
        scenario = Scenario(workdir, broker.host, broker.port, patients, first_day, tz, seed,
                            mqtt_protocol="3.1.1")
        scenario.registry.save(workdir / "enrollments.csv")
        # The clinic prescribes at enrollment; the programs wait at the broker (retained)
        # and each home gateway hands them over at its wearables' first sync.
        clinic = DemoClinic(clinic_db, broker.host, broker.port, tz)
        try:
            prescribed = clinic.prescribe(scenario.patients(), scenario.registry,
                                          scenario.gateway_of(), first_day,
                                          scenario.world.now_ms)
            out(_prescribed(prescribed, clinic_db))
            scenario.start(programs_for=[pub.device_id for pub in clinic.published])
            out(_delivered(clinic))
            try:
                for d in range(days):
                    scenario.run_day()
                    out(f"  day {d + 1}/{days}: {len(scenario.born_records())} records made "
                        f"by the wearables so far, "
                        f"{bridge.stats.snapshot()['records_stored']} stored")
                stored = scenario.wait_stored(store)
            finally:
                scenario.stop()
                bridge.stop()
        finally:
            clinic.close()
        last_day = first_day + timedelta(days=days - 1)
        out("")
        out(format_summary(summarize(store, scenario.registry, first_day, last_day,
                                     last_day + timedelta(days=1), tz), first_day, last_day))
        out("")
        out(_check(scenario, stored))
        store.close()
    # Quoted for a shell: the commands are there to be copied and pasted.
    clinic_cmd, q_store, q_registry, q_clinic_db = map(shlex.quote, (
        _tool("rtm-clinic"), store_url, str(workdir / "enrollments.csv"), str(clinic_db)))
    files = f"--store {q_store} --registry {q_registry} --clinic-db {q_clinic_db} --tz {tz_name}"
    out(f"\nLook again with:\n  {clinic_cmd} summary --store {q_store} "
        f"--registry {q_registry} --from {first_day} --to {last_day} --tz {tz_name}")
    out(_what_next(clinic_cmd, files, q_clinic_db, scenario.patients()[0].patient_id,
                   f"{last_day:%Y-%m}"))
    return 0


def _tool(name: str) -> str:
    """How to call the project's command `name`: next to this one (.venv/bin), relative to
    the current folder when it is below it, else on the PATH."""
    path = Path(sys.argv[0]).with_name(name)
    if not path.exists():
        return name
    relative = os.path.relpath(path.absolute())
    return relative if not relative.startswith("..") else str(path)


def _prescribed(prescribed: list[Prescription], clinic_db: Path) -> str:
    """The prescriptions, one block per distinct one: from when, for whom, what."""
    groups: dict[tuple[date, tuple[Item, ...]], list[str]] = {}
    for p in prescribed:
        groups.setdefault((p.start, p.items), []).append(p.patient_id)
    lines = []
    for (start, items), patients in groups.items():
        lines.append(f"Prescribed from {start} for {', '.join(patients)} (in {clinic_db}):")
        lines += [f"  {i.describe()}" for i in items]
    return "\n".join(lines)


def _delivered(clinic: DemoClinic) -> str:
    """How many wearables took their program at the first sync, and why not the others."""
    acks = clinic.wait_acks()
    applied = sum(1 for a in acks.values() if a is not None and a.status == APPLIED)
    lines = [f"  sent to the wearables through their home gateways: {applied} of {len(acks)} "
             f"applied it at their first sync"]
    states = clinic.delivery_states()
    lines += [f"  {device}: {states[device]}" for device, a in acks.items()
              if a is None or a.status != APPLIED]
    return "\n".join(lines)


def _what_next(clinic_cmd: str, files: str, clinic_db: str, patient: str,
               month: str) -> str:
    """The clinic's commands on this run's files (arguments quoted for a shell)."""
    return "\n".join([
        "",
        "What next, on this run's files:",
        "  who needs attention, most urgent first (every patient, with --all):",
        f"    {clinic_cmd} worklist --all {files}",
        "  one patient at a glance:",
        f"    {clinic_cmd} patient {patient} {files}",
        f"  RTM billing readiness of {month}:",
        f"    {clinic_cmd} billing --month {month} {files}",
        "  the web dashboard: add a user (it asks twice for a new password of "
        f"{passwords.MIN_LENGTH} characters",
        "  or more), start the server (add --port N if 8080 is taken; Ctrl-C stops it), then",
        "  open http://127.0.0.1:8080/ in a browser and log in:",
        f"    {clinic_cmd} add-user demo --clinic-db {clinic_db}",
        f"    {clinic_cmd} serve {files}",
    ])


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
