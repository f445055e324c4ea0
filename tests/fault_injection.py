"""Fault injection for the chaos test (tests/integration/test_chaos.py) and the soak
(benchmarks/chaos_soak.py): a seeded schedule of faults, the processes they hit, and a
thread that fires them at their moments and brings the victims back.

What each fault is, and how it is injected:
- ble_disconnect: a wearable's link drops in the middle of a command's answer (the
  simulated air's FaultPlan, simulators/ble_backend/faults.py); counted by the air.
- gateway_kill9: SIGKILL to a gateway process (`simulators/gateway_process.py`, the
  unattended service), started again after `down_s`.
- broker_restart: mosquitto stopped with SIGTERM (it saves its persistence file) and started
  again on the same port and data directory after `down_s`. Not SIGKILL: mosquitto 2.0.11
  sends a PUBACK before its save (docs/deploy/mosquitto.conf), a loss no client can prevent.
- influx_outage: influxd stopped (SIGTERM) for `down_s`, then started on the same data.
- bridge_kill9: SIGKILL to one `rtm-bridge run` of the shared subscription, started again
  with the same client id after `down_s` (its share waits in its session meanwhile).

The schedule (which fault, which night, which victim, when, for how long) is a pure function
of the seed; how it interleaves with the processes' own progress depends on timing.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import Service, _die_with_parent

REPO = Path(__file__).resolve().parents[1]

BLE_DISCONNECT = "ble_disconnect"
GATEWAY_KILL9 = "gateway_kill9"
BROKER_RESTART = "broker_restart"
INFLUX_OUTAGE = "influx_outage"
BRIDGE_KILL9 = "bridge_kill9"
PROCESS_FAULTS = (GATEWAY_KILL9, BROKER_RESTART, INFLUX_OUTAGE, BRIDGE_KILL9)
FAULT_KINDS = (BLE_DISCONNECT, *PROCESS_FAULTS)

# Expected events per night, when in the night they strike (wall seconds after its syncs
# were asked for: the first seconds are syncs and publishing) and how long the victim stays
# down. An influx outage or a dead bridge may last into the next simulated day.
DEFAULT_RATES = {GATEWAY_KILL9: 0.9, BROKER_RESTART: 0.3, INFLUX_OUTAGE: 0.25,
                 BRIDGE_KILL9: 0.3}
_STRIKE_S = (0.0, 2.0)
# A gateway kill waits up to this long past its moment for the gateway to be busy (messages
# in its outbox: a sync committing batches, or publishing), then strikes anyway.
_BUSY_WAIT_S = 2.0
_BUSY_POLL_S = 0.03
_RESUBSCRIBE_WAIT_S = 20.0
_DOWN_S = {GATEWAY_KILL9: (0.2, 2.0), BROKER_RESTART: (0.3, 3.0),
           INFLUX_OUTAGE: (3.0, 15.0), BRIDGE_KILL9: (1.0, 12.0)}


@dataclass(frozen=True, order=True)
class FaultEvent:
    night: int
    at_s: float  # wall seconds after the night's sync passes were asked for
    kind: str
    target: int  # the gateway or bridge instance hit (0 for the broker and the store)
    down_s: float  # how long the victim stays down before it is started again


def make_schedule(seed: int, nights: int, gateways: int, bridges: int,
                  rates: dict[str, float] | None = None) -> list[FaultEvent]:
    """The process faults of a run, sorted; every kind at least once."""
    rates = {**DEFAULT_RATES, **(rates or {})}
    rng = random.Random(seed)
    targets = {GATEWAY_KILL9: gateways, BRIDGE_KILL9: bridges}
    events: list[FaultEvent] = []
    for kind in PROCESS_FAULTS:

        def event(night: int, kind: str = kind) -> FaultEvent:
            return FaultEvent(night, round(rng.uniform(*_STRIKE_S), 3), kind,
                              rng.randrange(targets.get(kind, 1)),
                              round(rng.uniform(*_DOWN_S[kind]), 3))

        mine = []
        for night in range(nights):
            # Poisson-ish: whole events, then one more with the fraction's probability.
            n = int(rates[kind]) + (rng.random() < rates[kind] % 1)
            mine += [event(night) for _ in range(n)]
        if not mine:
            mine.append(event(rng.randrange(nights)))
        events += mine
    return sorted(events)


def env_for_children() -> dict[str, str]:
    """This repository first on the path, whatever the virtualenv has installed."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else "")}


class ManagedProcess:
    """A Python child (`python -m module args`) that can be killed and started again."""

    def __init__(self, name: str, args: Sequence[str], log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        self.env = env or env_for_children()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def exited_unexpectedly(self) -> bool:
        """Started and gone, without our kill or stop."""
        return self.proc is not None and self.proc.poll() is not None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            log.write(f"--- start #{self.starts + 1} at {time.time():.3f}\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, *self.args], cwd=REPO, env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent())
        self.starts += 1

    def kill9(self) -> bool:
        """SIGKILL now; False if it was not running."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True

    def pause(self) -> None:
        if self.running and self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.running and self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM and wait (SIGKILL after timeout_s); its exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


def _connections(mosquitto_log: Path, bridge: str) -> int:
    """How often the bridge instance `bridge` has connected, by the broker's log."""
    try:
        return mosquitto_log.read_text(errors="replace").count(f" as rtm-{bridge} ")
    except OSError:
        return 0


class GatewayProcess(ManagedProcess):
    """`python -m simulators.gateway_process` for one home."""

    def __init__(self, name: str, config: Path, outbox: Path, air: tuple[str, int],
                 clock_file: Path, log_path: Path) -> None:
        super().__init__(name, ["-m", "simulators.gateway_process", "--config", str(config),
                                "--air", f"{air[0]}:{air[1]}", "--clock-file",
                                str(clock_file)], log_path)
        self.outbox = outbox
        self.heartbeat = outbox.with_name(outbox.stem + ".status.json")

    def ready(self) -> bool:
        """Its service runs (its heartbeat names this process): SIGUSR1 is handled."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return False
        try:
            return int(json.loads(self.heartbeat.read_text()).get("pid", -1)) == proc.pid
        except (OSError, ValueError):
            return False

    def request_pass(self) -> bool:
        """Ask the service for a sync pass now (as `rtm-gateway sync` does)."""
        proc = self.proc
        if proc is None or not self.ready():
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGUSR1)
            return True
        return False

    def outbox_depth(self) -> int:
        """Messages waiting in its outbox (read-only; the process may be writing)."""
        if not self.outbox.exists():
            return 0
        with contextlib.closing(sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True,
                                                timeout=10)) as db:
            try:
                return int(db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
            except sqlite3.OperationalError:
                return 0  # not created yet


class BridgeProcess(ManagedProcess):
    """`rtm-bridge run` (python -m cloud_bridge.cli) as one instance of a share group."""

    def __init__(self, name: str, broker: tuple[str, int], store_url: str, group: str,
                 workdir: Path, tz: str) -> None:
        super().__init__(name, [
            "-m", "cloud_bridge.cli", "run", "--broker", f"{broker[0]}:{broker[1]}",
            "--store", store_url, "--client-id", f"rtm-{name}", "--share-group", group,
            "--device-keys", str(workdir / f"{name}-keys.db"),
            "--dead-letters", str(workdir / f"{name}-dead.db"),
            "--clinic-tz", tz, "--stats-every", "5"], workdir / f"{name}.log")


@dataclass
class Victims:
    gateways: list[GatewayProcess]
    bridges: list[BridgeProcess]
    broker: Service
    influx: Service


@dataclass
class Injector:
    """Fires scheduled faults from a thread of its own and brings every victim back;
    restarts (and counts) any process that died without being hit."""

    victims: Victims
    say: Callable[[str], None] = print
    counts: Counter[str] = field(default_factory=Counter)
    in_flight_kills: int = 0  # gateway kills while its outbox held messages
    unexpected_exits: list[str] = field(default_factory=list)
    # mosquitto 2.0.11 does not restore shared subscriptions from its persistence file:
    # after a restart, records a gateway publishes before a bridge has subscribed again
    # match nobody and are dropped (tests/integration/test_scale_out.py shows it). The
    # gateway (MQTT v5) keeps them in its outbox on the broker's "no matching subscribers"
    # and sends them again, so the gateways run on over a restart. Set this to stop them
    # (SIGSTOP) over a broker restart until the bridges are back, as operators had to do
    # with gateways speaking MQTT 3.1.1.
    hold_gateways_over_broker_restart: bool = False

    def __post_init__(self) -> None:
        self._queue: list[tuple[float, int, str, Callable[[], None]]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._strikes_pending = 0  # scheduled faults that have not struck yet
        self._down: set[str] = set()  # hit and not yet back: not restarted as a crash
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-injector", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def schedule(self, events: Sequence[FaultEvent], t0: float) -> None:
        """Queue `events` (one night's) relative to monotonic time `t0`."""
        with self._lock:
            self._strikes_pending += len(events)
            for e in events:
                self._push(t0 + e.at_s, f"{e.kind} {e.target} down",
                           lambda e=e: self._strike(e))

    def strikes_pending(self) -> int:
        with self._lock:
            return self._strikes_pending

    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + len(self._down)

    def wait_idle(self, timeout_s: float) -> bool:
        """Until every scheduled fault has fired and every victim is back."""
        deadline = time.monotonic() + timeout_s
        while self.pending() and time.monotonic() < deadline:
            time.sleep(0.1)
        return not self.pending()

    def _push(self, when: float, label: str, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._order), label, action))

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            due = []
            with self._lock:
                while self._queue and self._queue[0][0] <= time.monotonic():
                    due.append(heapq.heappop(self._queue))
            for _, _, label, action in due:
                try:
                    action()
                except Exception as e:  # a fault that cannot be injected must not end the run
                    self.say(f"fault {label} failed: {type(e).__name__}: {e}")
                    self.counts[f"failed {label.split()[0]}"] += 1
            self._restart_crashed()

    def _strike(self, e: FaultEvent, waited_s: float = 0.0) -> None:
        if self._hit(e, waited_s):
            with self._lock:
                self._strikes_pending -= 1

    def _hit(self, e: FaultEvent, waited_s: float) -> bool:
        """Inject `e`; False if it is put off (a gateway kill waiting for a busy moment)."""
        v = self.victims
        if e.kind == GATEWAY_KILL9:
            gw = v.gateways[e.target]
            depth = gw.outbox_depth()
            if depth == 0 and waited_s < _BUSY_WAIT_S and gw.running:
                with self._lock:
                    self._push(time.monotonic() + _BUSY_POLL_S, f"{e.kind} {e.target} down",
                               lambda: self._strike(e, waited_s + _BUSY_POLL_S))
                return False
            if not gw.kill9():
                return True
            self.in_flight_kills += depth > 0
            self._later(e, gw.name, gw.start)
        elif e.kind == BRIDGE_KILL9:
            bridge = v.bridges[e.target]
            if not bridge.kill9():
                return True
            self._later(e, bridge.name, bridge.start)
        elif e.kind == BROKER_RESTART:
            if not v.broker.running:
                return True
            if self.hold_gateways_over_broker_restart:
                for gw in v.gateways:
                    gw.pause()
            v.broker.stop(graceful=True)
            self._later(e, "broker", self._broker_back)
        elif e.kind == INFLUX_OUTAGE:
            if not v.influx.running:
                return True
            v.influx.stop(graceful=True)
            self._later(e, "influx", v.influx.start)
        self.counts[e.kind] += 1
        return True

    def _broker_back(self) -> None:
        """Start the broker; when holding the gateways, let them go on only once every
        running bridge has subscribed again (see `hold_gateways_over_broker_restart`)."""
        v = self.victims
        log = Path(getattr(v.broker, "log_path", ""))
        before = {b.name: _connections(log, b.name) for b in v.bridges}
        v.broker.start()
        if self.hold_gateways_over_broker_restart:
            deadline = time.monotonic() + _RESUBSCRIBE_WAIT_S
            while time.monotonic() < deadline and any(
                    b.running and _connections(log, b.name) <= before[b.name]
                    for b in v.bridges):
                time.sleep(0.05)
            time.sleep(0.3)  # its SUBSCRIBE follows the connection
            for gw in v.gateways:
                gw.resume()

    def _later(self, e: FaultEvent, name: str, start: Callable[[], None]) -> None:
        def back() -> None:
            start()
            with self._lock:
                self._down.discard(name)

        with self._lock:
            self._down.add(name)
            self._push(time.monotonic() + e.down_s, f"{e.kind} {e.target} up", back)

    def _restart_crashed(self) -> None:
        with self._lock:
            down = set(self._down)
        for p in [*self.victims.gateways, *self.victims.bridges]:
            if p.name not in down and p.exited_unexpectedly:
                code = p.proc.returncode if p.proc is not None else None
                self.unexpected_exits.append(f"{p.name} (exit {code})")
                self.say(f"{p.name} exited by itself (code {code}); restarting:\n"
                         f"{p.log_tail()}")
                p.start()
        for name, service in (("broker", self.victims.broker),
                              ("influx", self.victims.influx)):
            if name not in down and not service.running:
                self.unexpected_exits.append(name)
                self.say(f"{name} stopped by itself; restarting")
                service.start()
