"""Cloud bridge ingest: records per second MQTT -> bridge -> store, against the raw limits of
the same parts measured in the same run, and the bridge's resident memory over a soak.

Workload: `--devices` enrolled wearables, each sending one message per day of exercise (a
nightly sync): `--per-message` records (130, a typical day: benchmarks/gateway_sync.py),
sets of 10-12 reps a few minutes apart, each followed by its set summary, made as the
gateway makes them (gateway/payload.py) and signed with the wearable's own secret
(firmware/core/auth.py), so the bridge verifies every batch tag (`--require-signed`).

Everything runs on this machine: a real mosquitto (the tests' configuration: persistence
saved on every change, as docs/deploy/mosquitto.conf; plain TCP, no login) and a real
InfluxDB 1.x, started here on free ports (tests/services.py); each bridge instance is
`rtm-bridge run` in a process of its own. In each of `--rounds` rounds:

1. mosquitto raw: a bare paho subscriber in another process (QoS 1, persistent session,
   acknowledging on receipt) takes every message this process publishes (QoS 1);
   records/s from the first publish to the last message received.
2. store raw, InfluxDB: the same records as line protocol (built beforehand), one POST per
   5,000 points into an empty database, back to back. (Every InfluxDB database measured is
   dropped afterwards, raw and bridge alike: compacting it would load the next one.)
3. store raw, SQLite: the same rows in one executemany transaction into an empty file with
   the store's schema and indexes (SQLiteStore's upsert).
4. the bridge on each store, one instance and `--instances` (default: one per core) in a
   shared subscription: started on an empty store and subscribed; then the same messages
   are published as fast as the broker takes them; records/s from the first publish until
   the bridges have stored every record (their stats lines, every 0.1 s: polling the store
   would load it), after which the store is counted. CPU of every process is printed.

Figures are the medians of the rounds. ratio = bridge records/s / min(mosquitto raw, that
store's raw); the last line, `bridge_vs_raw=`, is the lower of the two stores' ratios with
one instance per core.

Soak (`--soak-s`, default 600): one bridge on InfluxDB receives a steady stream
(`--soak-rate` records/s, 2,000 wearables in turn) for that long; its VmRSS is sampled every
10 s; the first minute's, the peak and the last are printed with the slope over the second
half, and the store is compared with what was sent.

    python benchmarks/bridge_ingest.py [--rounds 3] [--soak-s 600]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from cloud_bridge.device_keys import ENROLLED, DeviceKeys, EnrollmentMessage  # noqa: E402
from cloud_bridge.payload import parse_message  # noqa: E402
from cloud_bridge.records import StoredRecord  # noqa: E402
from cloud_bridge.stores.influx_schema import to_line  # noqa: E402
from cloud_bridge.stores.sqlite_store import SQLiteStore, _row_of  # noqa: E402
from firmware.core import auth, codec  # noqa: E402
from gateway import payload as gw_payload  # noqa: E402
from tests.services import InfluxDB1, Mosquitto  # noqa: E402

GATEWAY = "bench-gw"
DAY_MS = 86_400_000
INFLUX_BATCH = 5000


@dataclass
class Message:
    topic: str
    payload: bytes
    records: int


@dataclass
class Device:
    device_id: str
    secret: bytes
    log_id: int
    t_ms: int  # where its next day of exercise starts
    next_seq: int = 1  # 0 is reserved
    set_no: int = 0


def make_devices(n: int, rng: random.Random) -> list[Device]:
    """Wearables whose records start two weeks ago, each at its own hour of the morning."""
    start = (int(time.time() * 1000) // DAY_MS - 14) * DAY_MS
    return [Device(rng.randbytes(6).hex(), rng.randbytes(32), rng.randrange(1 << 32),
                   start + rng.randrange(6 * 3_600_000, 10 * 3_600_000))
            for _ in range(n)]


def device_records(dev: Device, count: int, rng: random.Random) -> list[bytes]:
    """`count` records of one wearable's next day: sets of 10-12 reps, each followed by its
    summary, a few minutes apart (a nightly sync brings one such day)."""
    out: list[bytes] = []
    t_ms = dev.t_ms
    dev.t_ms += DAY_MS
    while len(out) < count:
        dev.set_no += 1
        exercise = rng.randrange(1, 13)
        reps = rng.randrange(10, 13)
        for rep in range(1, reps + 1):
            if len(out) == count:
                return out
            t_ms += rng.randrange(1800, 3500)
            out.append(bytes(codec.encode_rep(dev.next_seq, codec.FLAG_TIME_VALID, exercise,
                                              dev.set_no, t_ms, 1, rep, 2500,
                                              rng.randrange(6000, 12000), 9000)))
            dev.next_seq += 1
        if len(out) == count:
            return out
        out.append(bytes(codec.encode_set(dev.next_seq, codec.FLAG_TIME_VALID, exercise,
                                          dev.set_no, t_ms + 500, 1, reps, 0, 9000, 35, 12, 1)))
        dev.next_seq += 1
        t_ms += rng.randrange(60_000, 600_000)
    return out


def make_messages(devices: list[Device], records: int, per_message: int,
                  rng: random.Random) -> list[Message]:
    """Messages of `per_message` records, round-robin over the devices, as gateways send."""
    now_ms = int(time.time() * 1000)  # the gateway's clock at the sync
    messages: list[Message] = []
    made = 0
    while made < records:
        for dev in devices:
            n = min(per_message, records - made)
            if n <= 0:
                break
            batch = device_records(dev, n, rng)
            tag = auth.batch_tag(dev.secret, bytes.fromhex(dev.device_id), dev.log_id, batch)
            body = gw_payload.build(GATEWAY, dev.device_id, batch, 1, 10_000, now_ms,
                                    log_id=dev.log_id, mac=tag)
            messages.append(Message(gw_payload.records_topic(GATEWAY, dev.device_id), body, n))
            made += n
    return messages


def stored_records(messages: list[Message]) -> list[StoredRecord]:
    """What the bridge stores for these messages (the bridge's own parser)."""
    out: list[StoredRecord] = []
    for m in messages:
        parsed = parse_message(m.topic, m.payload)
        assert not parsed.rejected, parsed.rejected
        out.extend(parsed.records)
    return out


# -- MQTT ---------------------------------------------------------------------------------

def publish_all(port: int, messages: list[Message], client_id: str = "bench-pub") -> None:
    """Publish every message at QoS 1 as fast as the broker acknowledges them."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    done = threading.Semaphore(0)
    acked = 0
    lock = threading.Lock()

    def on_publish(*_: object) -> None:
        nonlocal acked
        with lock:
            acked += 1
            if acked == len(messages):
                done.release()

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    for m in messages:
        client.publish(m.topic, m.payload, qos=1)
    if not done.acquire(timeout=600):
        raise RuntimeError("the broker did not acknowledge every publish in 10 minutes")
    client.disconnect()
    client.loop_stop()


def sink(port: int, expected: int) -> None:
    """Subprocess: a bare QoS 1 subscriber; prints 'ready', then 'done' at `expected`."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sink",
                         clean_session=False)
    got = 0
    finished = threading.Event()

    def on_connect(c: mqtt.Client, *_: object) -> None:
        c.subscribe("rtm/v1/+/+/records", qos=1)

    def on_subscribe(*_: object) -> None:
        print("ready", flush=True)

    def on_message(*_: object) -> None:
        nonlocal got
        got += 1
        if got == expected:
            finished.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    finished.wait()
    print("done", flush=True)
    client.disconnect()
    client.loop_stop()


def forget_session(port: int, client_id: str) -> None:
    """End a persistent session: otherwise the broker goes on queueing (and saving) every
    later message for a subscriber that is gone, which slows the phases after it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect("127.0.0.1", port)
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


def mosquitto_raw(broker: Mosquitto, messages: list[Message]) -> float:
    total = sum(m.records for m in messages)
    proc = subprocess.Popen([sys.executable, __file__, "--sink", str(broker.port),
                             str(len(messages))], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the raw subscriber did not subscribe")
        start = time.perf_counter()
        threading.Thread(target=publish_all, args=(broker.port, messages), daemon=True).start()
        if proc.stdout.readline().strip() != "done":
            raise RuntimeError("the raw subscriber did not receive every message")
        return total / (time.perf_counter() - start)
    finally:
        proc.wait(timeout=30)
        forget_session(broker.port, "bench-sink")


# -- stores -------------------------------------------------------------------------------

def influx_raw(influx: InfluxDB1, records: list[StoredRecord], database: str) -> float:
    lines = [to_line(r) for r in records]
    bodies = ["\n".join(lines[i:i + INFLUX_BATCH]).encode()
              for i in range(0, len(lines), INFLUX_BATCH)]
    conn = http.client.HTTPConnection("127.0.0.1", influx.http_port, timeout=60)
    conn.request("POST", f"/query?q=CREATE+DATABASE+{database}")
    conn.getresponse().read()
    start = time.perf_counter()
    for body in bodies:
        conn.request("POST", f"/write?db={database}&precision=ns", body=body,
                     headers={"Content-Type": "text/plain; charset=utf-8"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 204:
            raise RuntimeError(f"raw InfluxDB write failed: HTTP {resp.status}")
    elapsed = time.perf_counter() - start
    conn.close()
    drop_influx(influx, database)
    return len(records) / elapsed


def drop_influx(influx: InfluxDB1, database: str) -> None:
    """Drop a measured database: its compaction would otherwise run into the next
    measurement (raw and bridge alike), one of the larger sources of noise here."""
    conn = http.client.HTTPConnection("127.0.0.1", influx.http_port, timeout=60)
    conn.request("POST", f"/query?q=DROP+DATABASE+{database}")
    conn.getresponse().read()
    conn.close()


def sqlite_raw(path: Path, records: list[StoredRecord]) -> float:
    store = SQLiteStore(path)  # the schema, its indexes and its upsert
    sql = store._insert_sql
    store.close()
    rows = [_row_of(r) for r in records]
    conn = sqlite3.connect(path, isolation_level="DEFERRED")
    conn.execute("PRAGMA synchronous=FULL")
    start = time.perf_counter()
    with conn:
        conn.executemany(sql, rows)
    elapsed = time.perf_counter() - start
    conn.close()
    return len(records) / elapsed


def influx_url(influx: InfluxDB1, database: str) -> str:
    return f"influxdb1://127.0.0.1:{influx.http_port}/{database}"


def influx_count(influx: InfluxDB1, database: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", influx.http_port, timeout=30)
    q = 'SELECT count("seq") FROM "rep", "set"'
    from urllib.parse import urlencode
    conn.request("GET", "/query?" + urlencode({"db": database, "q": q}))
    doc = json.loads(conn.getresponse().read())
    conn.close()
    total = 0
    for result in doc.get("results", []):
        for series in result.get("series", []):
            total += int(series["values"][0][1])
    return total


def sqlite_count(path: Path) -> int:
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT count(*) FROM records").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


# -- the bridge ---------------------------------------------------------------------------

def enroll(keys_path: Path, devices: list[Device]) -> None:
    keys = DeviceKeys(keys_path)
    for dev in devices:
        keys.apply(EnrollmentMessage(GATEWAY, dev.device_id, ENROLLED, dev.secret, "bench",
                                     int(time.time() * 1000)))
    keys.close()


class BridgeProcess:
    """`rtm-bridge run` in a process of its own; with `share_group`, one of several
    instances sharing the records (docs/deploy/scale-out.md)."""

    def __init__(self, broker: Mosquitto, store_url: str, workdir: Path, keys: Path,
                 client_id: str, share_group: str | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{client_id}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115
        share = ["--share-group", share_group] if share_group else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cloud_bridge.cli", "run", "--broker",
             f"127.0.0.1:{broker.port}", "--store", store_url, "--client-id", client_id,
             "--device-keys", str(keys), "--dead-letters", str(workdir / "dead.db"),
             "--require-signed", "--stats-every", "0.1", *share],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = broker.port
        self.client_id = client_id

    def wait_subscribed(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "bridge subscribed" in self.log_path.read_text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("the bridge did not subscribe:\n" + self.log_path.read_text()[-2000:])

    def records_stored(self) -> int:
        """From the bridge's latest stats line (polling the store would load it)."""
        with open(self.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            tail = f.read().decode(errors="replace")
        found = re.findall(r"'records_stored': (\d+)", tail)
        return int(found[-1]) if found else 0

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()
        forget_session(self.port, self.client_id)


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process so far."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bridge_rate(broker: Mosquitto, store_url: str, count: Callable[[], int], workdir: Path,
                devices: list[Device], messages: list[Message], name: str, instances: int,
                store_pid: int | None = None) -> float:
    """records/s of `instances` bridges on an empty store, end to end (module docstring)."""
    total = sum(m.records for m in messages)
    workdir.mkdir(parents=True, exist_ok=True)
    keys = workdir / "keys.db"
    enroll(keys, devices)
    group = f"bench-{name}" if instances > 1 else None
    bridges = [BridgeProcess(broker, store_url, workdir, keys, f"bench-{name}-{i}", group)
               for i in range(instances)]
    try:
        for bridge in bridges:
            bridge.wait_subscribed()
        pids = {f"bridge {i}": b.proc.pid for i, b in enumerate(bridges)}
        pids.update({"mosquitto": broker.pid, "publisher": os.getpid()})
        if store_pid is not None:
            pids["InfluxDB"] = store_pid
        cpu_before = {k: cpu_s(pid) for k, pid in pids.items()}
        start = time.perf_counter()
        threading.Thread(target=publish_all, args=(broker.port, messages, f"pub-{name}"),
                         daemon=True).start()
        deadline = time.monotonic() + 900
        while (have := sum(b.records_stored() for b in bridges)) < total:
            if time.monotonic() > deadline or any(b.proc.poll() is not None for b in bridges):
                raise RuntimeError(f"bridge on {name}: {have} of {total} records stored\n"
                                   + bridges[0].log_path.read_text()[-3000:])
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        print(f"  CPU (cores) while {instances} bridge(s) ran on {name}: "
              + ", ".join(f"{k} {(cpu_s(pid) - cpu_before[k]) / elapsed:.2f}"
                          for k, pid in pids.items()))
        if (have := count()) != total:
            raise RuntimeError(f"bridge on {name}: {have} records stored, {total} sent")
        return total / elapsed
    finally:
        for bridge in bridges:
            bridge.stop()


def soak(broker: Mosquitto, influx: InfluxDB1, workdir: Path, seconds: float, rate: float,
         per_message: int, rng: random.Random) -> list[tuple[float, int]]:
    """(seconds since start, VmRSS kB) every 10 s while a steady stream arrives: one message
    per wearable in turn, 2,000 wearables. Ends by checking that the store holds every
    record sent."""
    devices = make_devices(2000, rng)
    workdir.mkdir(parents=True, exist_ok=True)
    enroll(workdir / "keys.db", devices)
    bridge = BridgeProcess(broker, influx_url(influx, "soak"), workdir, workdir / "keys.db",
                           "bench-soak")
    samples: list[tuple[float, int]] = []
    sent = 0
    try:
        bridge.wait_subscribed()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-soak-pub")
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        start = time.monotonic()
        turn = 0
        next_sample = 0.0
        while (now := time.monotonic() - start) < seconds:
            while sent < int(now * rate):
                group = devices[turn:turn + 10]
                turn = (turn + 10) % len(devices)
                for m in make_messages(group, per_message * len(group), per_message, rng):
                    client.publish(m.topic, m.payload, qos=1)
                    sent += m.records
            if now >= next_sample:
                samples.append((now, bridge.rss_kb()))
                next_sample += 10.0
            time.sleep(0.05)
        samples.append((time.monotonic() - start, bridge.rss_kb()))
        deadline = time.monotonic() + 120
        while bridge.records_stored() < sent and time.monotonic() < deadline:
            time.sleep(0.1)
        client.disconnect()
        client.loop_stop()
    finally:
        bridge.stop()
    stored = influx_count(influx, "soak")
    if stored != sent:
        raise RuntimeError(f"soak: {sent} records sent, {stored} stored")
    print(f"soak: {sent:,} records sent, {stored:,} stored")
    return samples


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--per-message", type=int, default=130)
    p.add_argument("--devices", type=int, default=500)
    p.add_argument("--soak-s", type=float, default=600.0)
    p.add_argument("--soak-rate", type=float, default=5000.0, help="records/s in the soak")
    p.add_argument("--instances", type=int, default=os.cpu_count() or 1,
                   help="bridge instances sharing the records (default: one per core)")
    p.add_argument("--rounds", type=int, default=3,
                   help="measurements of everything, interleaved; medians are reported")
    p.add_argument("--keep", action="store_true", help="keep the logs and stores")
    p.add_argument("--sink", nargs=2, type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.sink:
        sink(*args.sink)
        return 0
    rng = random.Random(7)
    devices = make_devices(args.devices, rng)
    messages = make_messages(devices, args.records, args.per_message, rng)
    records = stored_records(messages)
    total = len(records)
    print(f"workload: {total} records in {len(messages)} signed messages of "
          f"{args.per_message} from {args.devices} wearables, "
          f"{sum(len(m.payload) for m in messages) / total:.0f} B/record on MQTT")
    work = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    try:
        (work / "mosquitto").mkdir()
        (work / "influx").mkdir()
        broker = Mosquitto(work / "mosquitto")
        influx = InfluxDB1(work / "influx")
        broker.start()
        influx.start()
        try:
            rates: dict[str, list[float]] = {}

            def note(what: str, rate: float, detail: str = "") -> None:
                rates.setdefault(what, []).append(rate)
                print(f"  {what:<28} {rate:10,.0f} records/s{detail}", flush=True)

            for rnd in range(1, args.rounds + 1):
                print(f"round {rnd} of {args.rounds}:")
                mq = mosquitto_raw(broker, messages)
                note("mosquitto raw", mq, f" ({mq / args.per_message:,.0f} messages/s)")
                note("InfluxDB raw", influx_raw(influx, records, f"raw{rnd}"),
                     f" (a POST per {INFLUX_BATCH} points)")
                note("SQLite raw", sqlite_raw(work / f"raw{rnd}.db", records),
                     " (one executemany)")
                for name, url, count, pid in (
                        ("InfluxDB", partial(influx_url, influx), partial(influx_count, influx),
                         influx.pid),
                        ("SQLite", lambda db: f"sqlite:///{work / db / 'rtm.db'}",
                         lambda db: sqlite_count(work / db / "rtm.db"), None)):
                    for n in sorted({1, args.instances}):
                        db = f"{name.lower()}{n}r{rnd}"
                        note(f"bridge -> {name}, {n} inst.",
                             bridge_rate(broker, url(db), partial(count, db), work / db,
                                         devices, messages, db, n, store_pid=pid))
                        if name == "InfluxDB":
                            drop_influx(influx, db)
            median = {what: statistics.median(values) for what, values in rates.items()}
            print(f"medians of {args.rounds} rounds (ratio: bridge / min(mosquitto raw, the "
                  "store's raw)):")
            ratios: dict[str, float] = {}
            for what, rate in median.items():
                store = next((st for st in ("InfluxDB", "SQLite") if f"-> {st}" in what), None)
                ratio = ("" if store is None else
                         f" = {rate / min(median['mosquitto raw'], median[f'{store} raw']):.2f}")
                print(f"  {what:<28} {rate:10,.0f} records/s{ratio}")
                if store is not None and what.endswith(f", {args.instances} inst."):
                    ratios[store] = rate / min(median["mosquitto raw"],
                                               median[f"{store} raw"])
            if args.soak_s > 0:
                samples = soak(broker, influx, work / "soak", args.soak_s, args.soak_rate,
                               args.per_message, rng)
                first_min = max(kb for t, kb in samples if t <= 60)
                peak = max(kb for _, kb in samples)
                half = [s for s in samples if s[0] >= args.soak_s / 2]
                slope = ((half[-1][1] - half[0][1]) / max(half[-1][0] - half[0][0], 1) * 60
                         if len(half) > 1 else 0.0)
                print(f"soak {args.soak_s:.0f} s at {args.soak_rate:,.0f} records/s: bridge "
                      f"VmRSS first minute {first_min / 1024:.1f} MB, peak "
                      f"{peak / 1024:.1f} MB, end {samples[-1][1] / 1024:.1f} MB, "
                      f"second half slope {slope:+.0f} kB/min")
        finally:
            broker.stop()
            influx.stop()
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"bridge_vs_raw={min(ratios.values()):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
