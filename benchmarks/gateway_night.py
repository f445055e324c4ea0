"""Gateway resident memory and CPU over a simulated night with 3 wearables: the unattended
service (what `rtm-gateway run` runs) for `--minutes` of wall-clock time.

The parts are the real ones: gateway.service.GatewayService with its own scan pacing (not
patched), a Gateway on SimAir backends, a SyncPolicy with the default settings and an
overnight window that contains the current time, a DeviceRegistry in which the wearables are
enrolled (as `rtm-gateway enroll` leaves them), the SQLite outbox and an Uplink to a real
mosquitto that this script starts on a free port (tests/services.py). The three virtual
wearables (one household, simulators/household.py) hold yesterday's records at the start:
the default program, morning and evening, synthesized and counted by the firmware core. The
simulated world clock follows the wall clock; every `--set-every-s` one of them (in turn)
does another set, so their logs grow over the night and their advertisements say so. With
the default policy a wearable synced in this window is left alone for sync.interval_s (900 s)
afterwards, so after the first syncs the night is idle: the service pumps the uplink every
0.5 s, writes its heartbeat every 10 s and scans every 50 s.

Measured in this process: VmRSS from /proc/self/status every `--sample-s`, and CPU time
(getrusage, all threads: paho's network thread included) against wall time, for the whole
run and for the idle part after the syncs (from the moment every wearable was synced and
the outbox was empty). The virtual wearables and the simulator live in the same process.
Their share is separated two ways: the CPU time of the simulated sets is measured around
each set (thread CPU time) and subtracted, and before the service starts a baseline runs the
same world (clock task and sets) without any gateway, in the same run. For scale, the RSS of
a fresh interpreter and of one that has imported what `rtm-gateway run` imports are measured
in subprocesses. mosquitto's CPU is reported apart (on a real installation the broker is
elsewhere).

    python benchmarks/gateway_night.py [--minutes 10] [--baseline-minutes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from gateway.config import parse  # noqa: E402
from gateway.devices import DeviceRegistry  # noqa: E402
from gateway.gateway import Gateway  # noqa: E402
from gateway.outbox import Outbox  # noqa: E402
from gateway.policy import SyncPolicy  # noqa: E402
from gateway.service import GatewayService  # noqa: E402
from gateway.uplink import Uplink  # noqa: E402
from simulators.household import (  # noqa: E402
    DEFAULT_PROGRAM,
    SimHousehold,
    exercise_day,
    make_households,
)
from simulators.motion.synthesizer import synthesize_set  # noqa: E402
from simulators.wearable import SimClock  # noqa: E402
from tests.services import Mosquitto  # noqa: E402

N_WEARABLES = 3


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
    return r.ru_utime + r.ru_stime


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def local_now() -> datetime:
    return datetime.now().astimezone()  # the service's clock: local wall-clock time


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def subprocess_rss_kb(code: str) -> int:
    probe = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); {code}\n"
             "print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0]"
             ".split()[1])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return int(out.stdout.split()[-1])


@dataclass
class Sample:
    wall_s: float
    cpu_s: float
    rss_kb: int


@dataclass
class World:
    """The simulated household: the wearables, their air, and the world clock following
    the wall clock; `sim_cpu_s` is the CPU time spent in simulated sets."""

    home: SimHousehold
    world: SimClock
    rng: np.random.Generator
    sets_done: int = 0
    sim_cpu_s: float = 0.0
    records_made: list[int] = field(default_factory=list)

    def wearables(self):
        return [p.wearable for p in self.home.patients]

    async def follow_wall_clock(self) -> None:
        while True:
            self.world.advance_to(max(self.world.now_ms, wall_ms()))
            await asyncio.sleep(1.0)

    async def a_set_now_and_then(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            t0 = time.thread_time()
            patient = self.home.patients[self.sets_done % len(self.home.patients)]
            w = patient.wearable
            exercise, _sets, reps = DEFAULT_PROGRAM[self.sets_done % len(DEFAULT_PROGRAM)]
            w.wake_from_deep_sleep()  # the button press
            s = synthesize_set(exercise, reps, patient.person, rate_hz=float(w.rate_hz),
                               rng=self.rng)
            w.perform_set(exercise, s.t, s.acc_g, s.gyro_dps, s.reps)
            self.sets_done += 1
            self.sim_cpu_s += time.thread_time() - t0


def yesterday(seed: int) -> World:
    """Three wearables in one home with yesterday's sessions in their logs."""
    rng = np.random.default_rng(seed)
    now = local_now()
    day = (now - timedelta(days=1)).date()
    midnight = datetime.combine(day, datetime.min.time(), now.tzinfo)
    world = SimClock(int(midnight.timestamp() * 1000))
    (home,) = make_households(N_WEARABLES, world, rng, per_household=N_WEARABLES)
    for p in home.patients:
        p.adherence = 1.0
    exercise_day([home], day, now.tzinfo, rng)  # type: ignore[arg-type]
    world.advance_to(max(world.now_ms, wall_ms()))
    for p in home.patients:
        p.wearable.wake_from_deep_sleep()
    return World(home, world, rng)


async def baseline(w: World, seconds: float, set_every_s: float) -> tuple[float, float]:
    """The world without a gateway: (CPU s per wall s, of it in sets)."""
    tasks = [asyncio.create_task(w.follow_wall_clock()),
             asyncio.create_task(w.a_set_now_and_then(set_every_s))]
    sim0, c0, t0 = w.sim_cpu_s, cpu_s(), time.monotonic()
    await asyncio.sleep(seconds)
    c1, t1 = cpu_s(), time.monotonic()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return (c1 - c0) / (t1 - t0), (w.sim_cpu_s - sim0) / (t1 - t0)


def window_around(now: datetime) -> str:
    """An overnight window that opened an hour ago and closes in two."""
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    return f"{start:%H:%M}-{end:%H:%M}"


@dataclass
class Night:
    samples: list[Sample]
    idle_from: Sample | None
    sim_cpu_idle_s: float
    sim_cpu_all_s: float
    service: GatewayService
    uplink: Uplink
    broker_cpu_s: float
    records: int


async def night(w: World, service: GatewayService, seconds: float, sample_s: float,
                set_every_s: float, broker_pid: int) -> Night:
    stop = asyncio.Event()
    samples: list[Sample] = []
    idle: dict[str, float | Sample] = {}
    t0 = time.monotonic()
    broker0 = proc_cpu_s(broker_pid)
    sim0 = w.sim_cpu_s

    async def sample() -> None:
        while True:
            s = Sample(time.monotonic() - t0, cpu_s(), rss_kb())
            samples.append(s)
            if ("from" not in idle and service.syncs >= N_WEARABLES
                    and service.gateway.outbox.depth() == 0):
                idle["from"], idle["sim"] = s, w.sim_cpu_s
            await asyncio.sleep(sample_s)

    helpers = [asyncio.create_task(w.follow_wall_clock()),
               asyncio.create_task(w.a_set_now_and_then(set_every_s)),
               asyncio.create_task(sample())]
    runner = asyncio.create_task(service.run(stop))
    await asyncio.sleep(seconds)
    samples.append(Sample(time.monotonic() - t0, cpu_s(), rss_kb()))
    stop.set()
    await runner
    for t in helpers:
        t.cancel()
    await asyncio.gather(*helpers, return_exceptions=True)
    idle_from = idle.get("from")
    sim_idle = w.sim_cpu_s - float(idle["sim"]) if "sim" in idle else 0.0
    records = sum(p.wearable.log.last_seq - p.wearable.log.acked_seq
                  for p in w.home.patients)
    return Night(samples, idle_from if isinstance(idle_from, Sample) else None, sim_idle,
                 w.sim_cpu_s - sim0, service, service.uplink,
                 proc_cpu_s(broker_pid) - broker0, records)


def slope_kb_per_min(samples: list[Sample]) -> float:
    if len(samples) < 2:
        return 0.0
    t = np.array([s.wall_s / 60 for s in samples])
    r = np.array([s.rss_kb for s in samples], dtype=float)
    return float(np.polyfit(t, r, 1)[0])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="wall-clock minutes of night")
    p.add_argument("--baseline-minutes", type=float, default=None,
                   help="the world without a gateway first (default: a fifth of --minutes, "
                        "at least 0.5)")
    p.add_argument("--sample-s", type=float, default=2.0)
    p.add_argument("--set-every-s", type=float, default=150.0,
                   help="one of the wearables does a set this often")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base_min = (args.baseline_minutes if args.baseline_minutes is not None
                else max(0.5, args.minutes / 5))

    bare = subprocess_rss_kb("pass")
    gateway_only = subprocess_rss_kb("import gateway.cli")
    rss_imports = rss_kb()
    w = yesterday(args.seed)
    rss_world = rss_kb()
    made = [p.wearable.log.last_seq - p.wearable.log.acked_seq for p in w.home.patients]
    print(f"RSS: fresh interpreter {bare:,} kB; after importing what `rtm-gateway run` "
          f"imports {gateway_only:,} kB (separate processes). This process: {rss_imports:,} "
          f"kB after imports (numpy, scipy, simulators too), {rss_world:,} kB with the "
          f"3 wearables holding yesterday's {sum(made)} records ({', '.join(map(str, made))})")

    base_cpu, base_sim = asyncio.run(baseline(w, base_min * 60, args.set_every_s))
    print(f"baseline, the same world without a gateway for {base_min:g} min: "
          f"{base_cpu * 100:.3f}% CPU ({base_sim * 100:.3f}% in simulated sets)")

    with tempfile.TemporaryDirectory(prefix="rtm-night-") as tmp:
        broker = Mosquitto(Path(tmp) / "broker")
        broker.start()
        try:
            result = run_service(w, Path(tmp), broker, args)
        finally:
            broker.stop()
    report(result, base_cpu, args)
    return 0


def run_service(w: World, workdir: Path, broker: Mosquitto, args: argparse.Namespace) -> Night:
    cfg = parse({"gateway_id": "night-bench", "outbox": "gw.db",
                 "mqtt": {"host": broker.host, "port": broker.port},
                 "sync": {"window": window_around(local_now())}}, workdir)
    outbox = Outbox(cfg.outbox, max_bytes=int(cfg.outbox_max_mb * 2**20))
    devices = DeviceRegistry(cfg.outbox)
    for wearable in w.wearables():
        devices.enroll(wearable.id_hex, wearable.address, w.world.now_ms)
    scanner, client = w.home.air.backends()
    gateway = Gateway(cfg, outbox, scanner, client, clock_ms=lambda: w.world.now_ms,
                      adapter_control=w.home.air.adapter_control(), devices=devices)
    uplink = Uplink(cfg.mqtt, outbox, cfg.gateway_id)
    service = GatewayService(cfg, gateway, uplink, SyncPolicy(cfg.sync, random.Random(1)))
    # The bridge's place: without a subscriber the broker answers "no matching
    # subscribers" and the gateway keeps its records (gateway/uplink.py). QoS 0: nothing
    # is queued for it.
    sink = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="night-bench-sink")
    sink.connect(broker.host, broker.port)
    sink.subscribe("rtm/v1/#", qos=0)
    sink.loop_start()
    uplink.start()
    try:
        if not uplink.wait_connected(20):
            raise RuntimeError(f"no connection to mosquitto: {uplink.state.last_error}")
        assert broker.pid is not None
        return asyncio.run(night(w, service, args.minutes * 60, args.sample_s,
                                 args.set_every_s, broker.pid))
    finally:
        uplink.stop()
        sink.disconnect()
        sink.loop_stop()
        devices.close()
        outbox.close()


def report(n: Night, base_cpu: float, args: argparse.Namespace) -> None:
    s = n.samples
    first, last = s[0], s[-1]
    wall = last.wall_s - first.wall_s
    whole = (last.cpu_s - first.cpu_s) / wall
    print(f"service for {args.minutes:g} min: {n.service.passes} scans, {n.service.syncs} syncs "
          f"({n.service.sync_failures} failed), {n.uplink.published} messages published, "
          f"{n.records} records left on the wearables (made after their sync); "
          f"{len(s)} samples")
    peak = max(s, key=lambda x: x.rss_kb)
    print(f"RSS: start {first.rss_kb:,} kB, peak {peak.rss_kb:,} kB at {peak.wall_s:.0f} s, "
          f"end {last.rss_kb:,} kB")
    print(f"CPU whole run: {whole * 100:.3f}% of one core ({last.cpu_s - first.cpu_s:.2f} s "
          f"in {wall:.0f} s; simulated sets {n.sim_cpu_all_s:.2f} s); mosquitto "
          f"{n.broker_cpu_s / wall * 100:.3f}%")
    if n.idle_from is None:
        print("the wearables were not all synced and published: no idle part")
        print("night_idle_cpu_pct=nan")
        return
    i = n.idle_from
    idle = [x for x in s if x.wall_s >= i.wall_s]
    idle_wall = last.wall_s - i.wall_s
    idle_cpu = (last.cpu_s - i.cpu_s) / idle_wall if idle_wall > 0 else float("nan")
    sim = n.sim_cpu_idle_s / idle_wall if idle_wall > 0 else 0.0
    print(f"RSS after the syncs (all published, at {i.wall_s:.0f} s): {i.rss_kb:,} kB; "
          f"slope over the idle part: {slope_kb_per_min(idle):+.1f} kB/min "
          f"({len(idle)} samples over {idle_wall / 60:.1f} min)")
    print(f"CPU idle part: {idle_cpu * 100:.3f}% of one core; minus the simulated sets "
          f"({sim * 100:.3f}%): {(idle_cpu - sim) * 100:.3f}%; minus the whole baseline "
          f"world ({base_cpu * 100:.3f}%): {(idle_cpu - base_cpu) * 100:.3f}%")
    print(f"night_idle_cpu_pct={(idle_cpu - sim) * 100:.3f}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
