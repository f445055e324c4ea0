"""One chaos run: simulated patients over simulated days through real processes, with the
faults of tests/fault_injection.py, then the store compared with ground truth exactly.

Where everything lives:
- this process: the household simulation (simulators/household.py) with every virtual
  wearable (firmware core, flash log, ground truth), one AirServer per home serving its
  radio on a local socket (simulators/ble_backend/remote.py, faults from a seeded
  FaultPlan), the world clock (written to a file the gateways read), the fault injector;
- one process per home: the unattended gateway (simulators/gateway_process.py: the real
  GatewayService, outbox, uplink, policy) talking to its AirServer;
- two `rtm-bridge run` processes in one shared subscription, storing into
- a real InfluxDB 1.x, through a real mosquitto (tests/services.py, persistence on).

A simulated day: with the air closed (wearables out of every gateway's reach) the patients
exercise; then the world clock is set to 02:00 the next night, the air opens, every gateway
is asked for sync passes until every wearable has had every record acknowledged, and the
night's faults strike meanwhile. After the last night every victim is back, the gateways
drain, and the store must equal ground truth: every (device, seq) once, every field and its
true time to the millisecond.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from datetime import time as day_time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from cloud_bridge.stores.influx_v1 import InfluxV1Store
from simulators.ble_backend.faults import FaultPlan
from simulators.ble_backend.remote import AirServer
from simulators.household import (
    SimHousehold,
    exercise_day,
    local_ms,
    make_households,
    nightly_sync_time,
)
from simulators.scenario import GroundTruthDiff, compare, expected_store
from simulators.wearable import SimClock, VirtualWearable
from tests.fault_injection import (
    BLE_DISCONNECT,
    FAULT_KINDS,
    BridgeProcess,
    FaultEvent,
    GatewayProcess,
    Injector,
    Victims,
    make_schedule,
)
from tests.services import InfluxDB1, Mosquitto

SEED_ENV = "RTM_CHAOS_SEED"
_PASS_EVERY_S = 1.5  # a gateway whose wearables still hold records is asked again
_DATABASE = "rtm_chaos"


def seed_from_env(default: int) -> int:
    """The seed to replay: $RTM_CHAOS_SEED if set, else `default`."""
    return int(os.environ.get(SEED_ENV, default))


@dataclass
class ChaosSettings:
    patients: int = 30
    days: int = 14
    per_household: int = 3  # patients per home, so gateway processes = patients / this
    seed: int = 1
    ble_disconnect: float = 0.025  # per command: ~5 commands a sync, so ~10 % of syncs cut
    rates: dict[str, float] = field(default_factory=dict)  # fault_injection.DEFAULT_RATES
    first_day: date = date(2026, 10, 20)  # Berlin leaves DST on Oct 25
    tz: str = "Europe/Berlin"
    night_timeout_s: float = 60.0  # then the rest waits on the wearables for next night
    settle_timeout_s: float = 240.0
    batch_records: int = 32  # several batches a night: kills land between commit and ACK


@dataclass
class ChaosResult:
    seed: int
    diff: GroundTruthDiff
    counts: Counter[str]
    schedule: list[FaultEvent]
    seconds: float
    in_flight_kills: int
    unexpected_exits: list[str]
    nights_undrained: int
    settle_s: float
    ble_links: int  # BLE connections made, so ble_disconnect / ble_links is the share cut

    def report(self) -> str:
        faults = ", ".join(f"{k} {self.counts.get(k, 0)}" for k in FAULT_KINDS)
        return (f"chaos seed {self.seed} ({SEED_ENV}={self.seed} replays the schedule): "
                f"{self.diff}\nfaults injected: {faults} "
                f"(gateway kills with messages in its outbox: {self.in_flight_kills}; "
                f"BLE links {self.ble_links}, "
                f"{100 * self.counts.get(BLE_DISCONNECT, 0) / max(1, self.ble_links):.0f} % "
                f"cut)\n"
                f"nights that ended with records still on a wearable: {self.nights_undrained};"
                f" processes that died by themselves: {self.unexpected_exits or 'none'}; "
                f"settled in {self.settle_s:.0f} s; run {self.seconds:.0f} s")


class ChaosWorld:
    def __init__(self, workdir: Path, settings: ChaosSettings,
                 say: Callable[[str], None] = print) -> None:
        self.workdir = workdir
        self.s = settings
        self.say = say
        self.tz = ZoneInfo(settings.tz)
        self.rng = np.random.default_rng(settings.seed)
        self.world = SimClock(local_ms(settings.first_day, day_time(0, 0), self.tz))
        self.households = make_households(settings.patients, self.world, self.rng,
                                          per_household=settings.per_household)
        self.clock_file = workdir / "world.ms"
        self.broker = Mosquitto(workdir / "mosquitto")
        self.influx = InfluxDB1(workdir / "influxdb")
        self.airs: list[AirServer] = []
        self.gateways: list[GatewayProcess] = []
        self.bridges: list[BridgeProcess] = []
        self.injector: Injector | None = None

    # -- set-up ---------------------------------------------------------------------
    def wearables(self) -> list[VirtualWearable]:
        return [p.wearable for h in self.households for p in h.patients]

    def _write_clock(self) -> None:
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(str(self.world.now_ms))
        os.replace(tmp, self.clock_file)

    def _gateway(self, i: int, h: SimHousehold, air: AirServer) -> GatewayProcess:
        home = self.workdir / h.gateway_id
        home.mkdir()
        outbox = home / "outbox.db"
        enrolled = ", ".join(f'"{p.wearable.id_hex}"' for p in h.patients)
        config = home / "gateway.toml"
        config.write_text(f"""gateway_id = "{h.gateway_id}"
outbox = "{outbox}"
enrolled = [{enrolled}]
log_format = "text"

[mqtt]
host = "{self.broker.host}"
port = {self.broker.port}
client_id = "rtm-gw-{h.gateway_id}"
keepalive_s = 10
reconnect_min_s = 0.2
reconnect_max_s = 2.0

[sync]
stagger_s = 0
scan_timeout_s = 2.0
batch_records = {self.s.batch_records}
response_timeout_s = 3.0
connect_deadline_s = 30.0
""")
        return GatewayProcess(h.gateway_id, config, outbox, (air.host, air.port),
                              self.clock_file, home / "gateway.log")

    def start(self) -> None:
        self.broker.start()
        self.influx.start()
        self._write_clock()
        for i, h in enumerate(self.households):
            # BLE faults off until the enrollment pass has set every wearable's clock.
            h.air.faults = FaultPlan(seed=self.s.seed * 1000 + i)
            air = AirServer(h.air)
            air.start()
            self.airs.append(air)
            self.gateways.append(self._gateway(i, h, air))
        group = f"chaos{uuid.uuid4().hex[:8]}"
        store_url = f"influxdb1://{self.influx.host}:{self.influx.http_port}/{_DATABASE}"
        self.bridges = [BridgeProcess(f"bridge-{n}", (self.broker.host, self.broker.port),
                                      store_url, group, self.workdir, self.s.tz)
                        for n in (1, 2)]
        for p in [*self.bridges, *self.gateways]:
            p.start()
        self.injector = Injector(Victims(self.gateways, self.bridges, self.broker,
                                         self.influx), self.say)
        self.injector.start()

    def stop(self) -> None:
        if self.injector is not None:
            self.injector.stop()
        for p in [*self.gateways, *self.bridges]:
            p.stop()
        for air in self.airs:
            air.stop()
        self.influx.stop()
        self.broker.stop()

    # -- nights ---------------------------------------------------------------------
    def drained(self, gw: int) -> bool:
        return all(p.wearable.log.acked_seq == p.wearable.log.last_seq
                   for p in self.households[gw].patients)

    def clocks_set(self, gw: int) -> bool:
        return all(p.wearable.rtc_valid for p in self.households[gw].patients)

    def night(self, events: list[FaultEvent], timeout_s: float,
              done: Callable[[int], bool] | None = None) -> bool:
        """Open the air, ask for passes until `done` (default: every wearable drained) for
        every gateway and the night's faults have struck; close the air. True if done."""
        done = done or self.drained
        assert self.injector is not None
        for w in self.wearables():
            w.wake_from_deep_sleep()  # the wearable's nightly timer wake
        self._write_clock()
        for air in self.airs:
            air.open()
        t0 = time.monotonic()
        self.injector.schedule(events, t0)
        asked = [-1e9] * len(self.gateways)
        while True:
            now = time.monotonic()
            undrained = [i for i in range(len(self.gateways)) if not done(i)]
            if not undrained and not self.injector.strikes_pending():
                break
            if now - t0 > timeout_s:
                break
            for i in undrained:
                if now - asked[i] >= _PASS_EVERY_S and self.gateways[i].request_pass():
                    asked[i] = now
            time.sleep(0.1)
        for air in self.airs:
            air.close()
        return not undrained

    def enroll(self) -> None:
        """The first night at home: every wearable's clock set by its gateway."""
        deadline = time.monotonic() + 120
        while not all(w.rtc_valid for w in self.wearables()):
            if time.monotonic() > deadline:
                raise RuntimeError("the gateways did not set every wearable's clock in 120 s:"
                                   + "".join(f"\n{g.name}: {g.log_tail(5)}"
                                             for g in self.gateways))
            self.night([], timeout_s=5, done=self.clocks_set)
        for i, h in enumerate(self.households):
            h.air.faults = FaultPlan(seed=self.s.seed * 1000 + i,
                                     disconnect=self.s.ble_disconnect)

    # -- the end --------------------------------------------------------------------
    def outboxes_empty(self) -> bool:
        return all(g.outbox_depth() == 0 for g in self.gateways)

    def stored(self, store: InfluxV1Store) -> list:
        return store.query([w.id_hex for w in self.wearables()], 0, 2**62)


def run_chaos(workdir: Path, settings: ChaosSettings,
              say: Callable[[str], None] = print) -> ChaosResult:
    started = time.monotonic()
    world = ChaosWorld(workdir, settings, say)
    schedule = make_schedule(settings.seed, settings.days, len(world.households), 2,
                             settings.rates)
    say(f"chaos: seed {settings.seed} (replay with {SEED_ENV}={settings.seed}), "
        f"{settings.patients} patients in {len(world.households)} homes, {settings.days} "
        f"days; {len(schedule)} process faults scheduled")
    undrained = 0
    try:
        world.start()
        world.enroll()
        for d in range(settings.days):
            day = settings.first_day + timedelta(days=d)
            t = time.monotonic()
            exercise_day(world.households, day, world.tz, world.rng)
            sim_s = time.monotonic() - t
            world.world.advance_to(nightly_sync_time(day, world.tz))
            tonight = [e for e in schedule if e.night == d]
            t = time.monotonic()
            drained = world.night(tonight, settings.night_timeout_s)
            undrained += not drained
            born = sum(len(w.born) for w in world.wearables())
            say(f"day {d + 1:2d} {day}: {born} records born so far; "
                f"simulated in {sim_s:.1f} s, night {time.monotonic() - t:.1f} s"
                f"{'' if drained else ' (records left on wearables)'}; faults "
                f"{', '.join(f'{e.kind}@{e.at_s:.1f}s' for e in tonight) or 'none'}")
        settle = time.monotonic()
        assert world.injector is not None
        if not world.injector.wait_idle(120):
            say("chaos: some victim was not back after 120 s")
        # Every process up: the gateways take what is left on the wearables, publish it,
        # and the bridges store it (the InfluxDB retry back-off is up to 30 s).
        deadline = settle + settings.settle_timeout_s
        while not all(world.drained(i) for i in range(len(world.gateways))):
            if time.monotonic() > deadline:
                break
            world.night([], timeout_s=10)
        expected = expected_store(world.wearables())
        store = InfluxV1Store(world.influx.url, _DATABASE, zone=world.tz,
                              daily_refresh_s=None)
        try:
            stored = world.stored(store)
            while (len(stored) < len(expected) or not world.outboxes_empty()) \
                    and time.monotonic() < deadline:
                time.sleep(1.0)
                stored = world.stored(store)
            time.sleep(2.0)  # anything late (a duplicate, a stray write) shows up too
            stored = world.stored(store)
        finally:
            store.close()
        settle_s = time.monotonic() - settle
        counts = Counter(world.injector.counts)
        counts[BLE_DISCONNECT] = sum(h.air.faults.counts["disconnect"]
                                     for h in world.households)
        return ChaosResult(settings.seed, compare(expected, stored), counts, schedule,
                           time.monotonic() - started, world.injector.in_flight_kills,
                           list(world.injector.unexpected_exits), undrained, settle_s,
                           sum(h.air.connections for h in world.households))
    finally:
        world.stop()
