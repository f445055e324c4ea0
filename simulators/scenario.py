"""Simulated weeks through the real pipeline: virtual wearables -> gateways (bleak with the
simulator backend, SQLite outbox, paho uplink) -> an MQTT broker -> the cloud bridge -> a
store. The demo runs it on embedded defaults; the end-to-end test on mosquitto and InfluxDB.

The other way too: each gateway takes the clinic's programs from the broker (its downlink,
as `rtm-gateway run` does) and hands them to the wearable at its next sync; the ack goes
back through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from datetime import time as day_time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.records import REP_FIELDS, SET_FIELDS, StoredRecord
from cloud_bridge.stores.base import Store
from firmware.core.exercises import name_of
from gateway.config import GatewayConfig, MqttConfig, SyncConfig
from gateway.devices import DeviceRegistry
from gateway.downlink import Downlink, program_filter
from gateway.gateway import Gateway
from gateway.outbox import Outbox
from gateway.uplink import Uplink
from simulators.household import (
    SimHousehold,
    SimPatient,
    exercise_day,
    local_ms,
    make_households,
    nightly_sync_time,
)
from simulators.wearable import SimClock, VirtualWearable

log = logging.getLogger(__name__)


@dataclass
class GroundTruthDiff:
    expected: int
    stored: int
    missing: list[tuple[str, int]]
    unexpected: list[tuple[str, int]]
    mismatched: list[tuple[StoredRecord, StoredRecord]]  # (expected, stored)
    duplicates: int

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.duplicates)

    def __str__(self) -> str:
        return (f"{self.expected} records made on the wearables, {self.stored} in the store: "
                f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, "
                f"{len(self.mismatched)} different, {self.duplicates} duplicated")


@dataclass
class HomeGateway:
    household: SimHousehold
    outbox: Outbox
    uplink: Uplink
    gateway: Gateway
    devices: DeviceRegistry  # sync status: the wearable states the gateway reports


class Scenario:
    def __init__(self, workdir: Path, broker_host: str, broker_port: int, n_patients: int,
                 first_day: date, tz: ZoneInfo, seed: int = 1, rate_hz: int = 52,
                 mqtt_protocol: str = "5") -> None:
        self.workdir = workdir
        self.mqtt_protocol = mqtt_protocol  # "3.1.1" for a broker without v5 (the demo's)
        self.tz = tz
        self.first_day = first_day
        self.rng = np.random.default_rng(seed)
        self.world = SimClock(local_ms(first_day, day_time(0, 0), tz))
        self.households = make_households(n_patients, self.world, self.rng, rate_hz)
        self.registry = Registry([
            Enrollment(p.patient_id, p.wearable.id_hex, first_day)
            for h in self.households for p in h.patients
        ])
        self.homes = [self._home(h, broker_host, broker_port) for h in self.households]
        self.days_run = 0

    def _home(self, h: SimHousehold, host: str, port: int) -> HomeGateway:
        config = GatewayConfig(
            gateway_id=h.gateway_id,
            outbox=self.workdir / f"{h.gateway_id}-outbox.db",
            enrolled=tuple(p.wearable.id_hex for p in h.patients),
            mqtt=MqttConfig(host=host, port=port, client_id=f"rtm-gw-{h.gateway_id}",
                            protocol=self.mqtt_protocol),
            sync=SyncConfig(scan_timeout_s=5.0),
        )
        outbox = Outbox(config.outbox)
        devices = DeviceRegistry(config.outbox)  # as rtm-gateway has it: the same file
        uplink = Uplink(config.mqtt, outbox, config.gateway_id)
        scanner, client = h.air.backends()
        gw = Gateway(config, outbox, scanner, client, clock_ms=lambda: self.world.now_ms,
                     devices=devices)
        # Programs from the clinic, as the gateway service subscribes to them.
        downlink = Downlink(config.gateway_id, devices, lambda: self.world.now_ms,
                            is_enrolled=lambda dev: dev in gw.enrolled(), outbox=outbox)
        uplink.subscribe(program_filter(config.gateway_id), downlink.on_program_message)
        return HomeGateway(h, outbox, uplink, gw, devices)

    def gateway_of(self) -> dict[str, str]:
        """device id -> the id of its home's gateway (the demo's wearables are enrolled in
        their gateway's configuration only, so no key table of the bridge knows it)."""
        return {p.wearable.id_hex: h.gateway_id for h in self.households for p in h.patients}

    def start(self, programs_for: Iterable[str] = (), timeout_s: float = 30.0) -> None:
        """Connect the gateways and sync every wearable once (enrollment at home: the first
        sync sets its clock). Programs published for the wearables in `programs_for`
        (retained, before this) are waited for at their gateways, so that this sync
        delivers them."""
        for home in self.homes:
            home.uplink.start()
        for home in self.homes:
            if not home.uplink.wait_connected(timeout_s):
                raise RuntimeError(f"gateway {home.household.gateway_id} could not reach the "
                                   "MQTT broker")
        self._wait_programs(set(programs_for), timeout_s)
        self._sync_all()

    def _wait_programs(self, devices: set[str], timeout_s: float) -> None:
        registry_of = {dev: home.devices for home in self.homes
                       for dev in home.gateway.config.enrolled}
        unknown = devices - registry_of.keys()
        if unknown:
            raise ValueError(f"no home has the wearables {', '.join(sorted(unknown))}")
        registries = {dev: registry_of[dev] for dev in devices}
        deadline = time.monotonic() + timeout_s
        while True:
            waiting = [dev for dev, reg in registries.items()
                       if reg.pending_program(dev) is None]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"no program reached the gateway of {', '.join(waiting)}")
            time.sleep(0.02)

    def stop(self) -> None:
        for home in self.homes:
            home.uplink.stop()
            home.devices.close()
            home.outbox.close()

    def run_day(self) -> None:
        """One day of exercise, then the nightly sync of every home, then the uplink."""
        day = self.first_day + timedelta(days=self.days_run)
        exercise_day(self.households, day, self.tz, self.rng)
        self.world.advance_to(nightly_sync_time(day, self.tz))
        for w in self.wearables():
            w.wake_from_deep_sleep()  # the wearable's nightly timer wake
        self._sync_all()
        self.days_run += 1

    def _sync_all(self) -> None:
        for home in self.homes:
            report = asyncio.run(home.gateway.sync_pass())
            if report.missing or report.failed:
                log.warning("home %s: missing %s, failed %s", home.household.gateway_id,
                            report.missing, report.failed)
        for home in self.homes:
            if not home.uplink.drain(timeout_s=60):
                raise RuntimeError(f"gateway {home.household.gateway_id} could not publish "
                                   f"its outbox ({home.outbox.depth()} messages left)")

    # -- ground truth -----------------------------------------------------------------
    def patients(self) -> list[SimPatient]:
        return [p for h in self.households for p in h.patients]

    def wearables(self) -> list[VirtualWearable]:
        return [p.wearable for h in self.households for p in h.patients]

    def born_records(self) -> list[dict]:
        """Every record the wearables' firmware stored, with its device id."""
        return born_records(self.wearables())

    def expected_store(self) -> dict[tuple[str, int], StoredRecord]:
        """What the store must hold: every born record, dated with its true time."""
        return expected_store(self.wearables())

    def compare(self, stored: list[StoredRecord]) -> GroundTruthDiff:
        """The store against ground truth, record by record, every field."""
        return compare(self.expected_store(), stored)

    def true_reps(self) -> dict[str, int]:
        """Reps the simulated patients really did, per patient."""
        return {p.patient_id: sum(s.true_reps for s in p.wearable.performed)
                for h in self.households for p in h.patients}

    def wait_stored(self, store: Store, timeout_s: float = 60.0) -> list[StoredRecord]:
        """Poll the store until it holds as many records as were born (or time is up)."""
        expected = len(self.born_records())
        devices = [w.id_hex for w in self.wearables()]
        deadline = time.monotonic() + timeout_s
        while True:
            stored = store.query(devices, 0, 2**62)
            if len(stored) >= expected or time.monotonic() > deadline:
                return stored
            time.sleep(0.1)


def born_records(wearables: list[VirtualWearable]) -> list[dict]:
    """Every record the wearables' firmware stored, with its device id."""
    return [{"device_id": w.id_hex, **rec} for w in wearables for rec in w.born_records()]


def expected_store(wearables: list[VirtualWearable]) -> dict[tuple[str, int], StoredRecord]:
    """What a store must hold: every born record, dated with its true time."""
    out = {}
    for r in born_records(wearables):
        names = REP_FIELDS if r["kind"] == "rep" else SET_FIELDS
        rec = StoredRecord(
            device_id=r["device_id"], seq=r["seq"], kind=r["kind"],
            exercise=name_of(r["exercise"]), set_no=r["set_no"], t_ms=r["true_t_ms"],
            time_valid=True, partial=r["partial"], values={n: r[n] for n in names})
        out[rec.key] = rec
    return out


def compare(expected: dict[tuple[str, int], StoredRecord],
            stored: list[StoredRecord]) -> GroundTruthDiff:
    """A store's records against ground truth, record by record, every field."""
    got: dict[tuple[str, int], StoredRecord] = {}
    duplicates = 0
    for r in stored:
        duplicates += r.key in got
        got[r.key] = r
    return GroundTruthDiff(
        expected=len(expected),
        stored=len(stored),
        missing=sorted(set(expected) - set(got)),
        unexpected=sorted(set(got) - set(expected)),
        mismatched=[(expected[k], got[k]) for k in sorted(set(expected) & set(got))
                    if expected[k] != got[k]],
        duplicates=duplicates,
    )
