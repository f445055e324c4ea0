"""Bytes over the air and records per second of one wearable sync, through the real firmware
core (simulators/wearable.py) and the real gateway (Gateway.sync_pass: bleak's public API on
the simulator backend, the SQLite outbox with synchronous=FULL).

Bytes over the air. One wearable lives the simulator's typical day: the default home program
of simulators/household.py (squat, heel raise, shoulder abduction: 2 sets of 10, 12 and 8
reps, each set 2 short to 1 over at random, 60 s rests), morning and evening, with
synthesized motion counted by the firmware's own counter. It is the day docs/architecture.md
sizes the record log with (about 130 records a day), and the simulator's scenarios use it;
other programs scale by their reps. That night one Gateway.sync_pass fetches the day. The
bleak client backend from SimAir.backends() is subclassed here to count every Control write
and every Data notification: ATT values, measured. The rest is arithmetic for BLE 5 on the
LE 1M PHY, per packet: preamble 1, access address 4, LL header 2, MIC 4 on an encrypted link
(the design: bonded at enrollment, docs/protocol.md), CRC 3; L2CAP header 4; ATT opcode +
handle 3 (a write response is its opcode, 1 byte). Every data packet is acknowledged by the
peer's next packet, counted as an empty PDU (10 bytes, never a MIC). Without data length
extension an L2CAP PDU is cut into 27-byte LL payloads; with it (LL payload up to 251) a
notification at the 247-byte MTU fits one packet. Both are printed.

Estimated, from the PDUs they take (listed in SETUP_*, DISCOVERY_*): each connection's
CONNECT_IND, version/feature (and, with DLE, length) exchange, encryption start with the
bond's key, MTU exchange, the Data CCCD write (StartNotify), one connection event with only
empty PDUs per request/response round trip, and the terminate. GATT discovery happens at
enrollment only: BlueZ keeps a bonded device's database. Advertising per day is arithmetic
on the firmware's intervals and payload (firmware/device/ble_peripheral.py,
firmware/core/advert.py) over a stated day (ADV_DAY_*); scan responses only when the
gateway scans.

Records per second. A wearable holding N records (written straight into its RecordLog with
firmware.core.codec: sets of 12 REP records and a SET record, what the recorder writes),
synced by Gateway.sync_pass into a fresh outbox on disk: the scan, the connect, every
FETCH / commit (an fsync'd SQLite transaction) / ACK round. Repeated; best and median, per
batch size (sync.batch_records). Baseline, in the same run: the same INFO / SET_TIME / FETCH
/ ACK exchange driven directly against the wearable's ProtocolHandler.on_write (the
firmware logic alone: no bleak, no gateway, no outbox).

    python benchmarks/gateway_sync.py [--records 2000] [--repeats 5] [--batches 64,256,512]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date
from datetime import time as day_time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from firmware.core import advert, codec, protocol  # noqa: E402
from firmware.device import ble_peripheral  # noqa: E402
from gateway.config import parse  # noqa: E402
from gateway.gateway import Gateway, PassReport  # noqa: E402
from gateway.outbox import Outbox  # noqa: E402
from simulators.ble_backend.air import SimAir  # noqa: E402
from simulators.household import (  # noqa: E402
    REST_BETWEEN_SETS_S,
    exercise_day,
    local_ms,
    make_households,
    nightly_sync_time,
)
from simulators.wearable import SimClock, VirtualWearable  # noqa: E402

DAY = date(2026, 9, 21)
TZ = UTC  # the home's zone only places the sessions; bytes do not depend on it
DEFAULT_BATCH = 256  # gateway.config's default sync.batch_records

# -- BLE 5, LE 1M PHY, per packet (bytes) ----------------------------------------------------
PREAMBLE, ACCESS_ADDRESS, LL_HEADER, MIC, CRC = 1, 4, 2, 4, 3
EMPTY_PDU = PREAMBLE + ACCESS_ADDRESS + LL_HEADER + CRC  # an acknowledgement: no MIC
L2CAP_HEADER = 4
ATT_HEADER = 3  # opcode + handle: notification, write request
ATT_WRITE_RSP = 1
LL_PAYLOAD = {False: 27, True: 251}  # without / with data length extension
CONNECT_IND = PREAMBLE + ACCESS_ADDRESS + 2 + 34 + CRC  # advertising channel, no ack

# LL control PDUs of every connection to a bonded wearable: (what, LL payload = opcode +
# CtrData, sent encrypted, count, only with DLE). Encryption starts with the bond's LTK.
SETUP_LL = (
    ("LL_VERSION_IND", 6, False, 2, False),
    ("LL_FEATURE_REQ/RSP", 9, False, 2, False),
    ("LL_LENGTH_REQ/RSP", 9, False, 2, True),
    ("LL_ENC_REQ", 23, False, 1, False),
    ("LL_ENC_RSP", 13, False, 1, False),
    ("LL_START_ENC_REQ", 1, False, 1, False),
    ("LL_START_ENC_RSP", 1, True, 2, False),
    ("LL_TERMINATE_IND", 2, True, 1, False),
)
# ATT PDUs of every connection besides the sync: MTU exchange (3 + 3), the Data
# characteristic's CCCD write for StartNotify (3 + 2) and its response (1).
SETUP_ATT = (3, 3, 5, 1)
# Request/response round trips of the set-up (LL procedures, MTU, CCCD): each costs about
# one connection event of empty PDUs besides the packets above.
SETUP_ROUND_TRIPS = 6
IDLE_EVENT = 2 * EMPTY_PDU

# GATT discovery of the wearable's table (GAP, GATT, DIS with 4, BAS with 1, RTM with 2
# characteristics) as BlueZ does it, ATT PDU sizes: primary services by group type (three
# requests: 16-bit, 128-bit, end), characteristics per service (a request, a response, a
# request ending in an error), descriptors of the three notifying characteristics.
DISCOVERY_ATT = (
    7, 2 + 4 * 6, 7, 2 + 20, 7, 5,
    7, 2 + 2 * 7, 7, 5,
    7, 2 + 7, 7, 5,
    7, 2 + 4 * 7, 7, 5,
    7, 2 + 7, 7, 5,
    7, 2 + 2 * 21, 7, 5,
    5, 6, 5, 6, 5, 6,
)

# -- advertising -----------------------------------------------------------------------------
ADV_CHANNELS = 3
ADV_ADDRESS = 6
ADV_DATA = 3 + (2 + 16) + (2 + 2 + advert.PAYLOAD_SIZE)  # flags, 128-bit UUID, state
SCAN_RSP_DATA = 2 + len(protocol.DEVICE_NAME_PREFIX) + 12  # the name
ADV_IND = PREAMBLE + ACCESS_ADDRESS + 2 + ADV_ADDRESS + ADV_DATA + CRC
SCAN_REQ = PREAMBLE + ACCESS_ADDRESS + 2 + 2 * ADV_ADDRESS + CRC
SCAN_RSP = PREAMBLE + ACCESS_ADDRESS + 2 + ADV_ADDRESS + SCAN_RSP_DATA + CRC
# The firmware's advertising: fast for the first _ADV_FAST_MS after the radio comes on, then
# slow (restarted every minute with fresh state, still slow).
ADV_FAST_S = ble_peripheral._ADV_FAST_US / 1e6
ADV_SLOW_S = ble_peripheral._ADV_SLOW_US / 1e6
ADV_FAST_FOR_S = ble_peripheral._ADV_FAST_MS / 1e3
# A typical day off the charger (firmware/main.py: the radio is on whenever no set runs and
# the wearable is awake): the rests between the 5 sets of each session, the 2-minute awake
# window after each session's last set, a 60 s timer wake every 4 hours while records wait
# (4 a day), and 10 wakes by motion of 30 s (picked up, moved: a guess).
ADV_DAY_PERIODS_S = ((REST_BETWEEN_SETS_S, 10), (120, 2), (60, 4), (30, 10))
# The gateway scans every 50 s outside the night window (gateway/service.py); a scan ends
# once every enrolled wearable is heard, so about one scan request and response per scan
# that falls while the wearable advertises.
GATEWAY_SCAN_EVERY_S = 50.0
# The policy syncs a charging wearable with nothing unsynced once (the window's sync), not
# every interval (gateway/policy.py): each sync restarts its fast advertising.
CHARGING_SYNCS_PER_NIGHT = 1


@dataclass(frozen=True)
class Link:
    dle: bool
    encrypted: bool = True

    def packet(self, ll_payload: int, encrypted: bool | None = None) -> int:
        """One data-channel packet and the peer's empty PDU acknowledging it."""
        mic = MIC if (self.encrypted if encrypted is None else encrypted) else 0
        return PREAMBLE + ACCESS_ADDRESS + LL_HEADER + ll_payload + mic + CRC + EMPTY_PDU

    def att(self, att_pdu: int) -> int:
        """On-air bytes of one ATT PDU: L2CAP header, LL fragments, their acks."""
        left, total = L2CAP_HEADER + att_pdu, 0
        while left > 0:
            fragment = min(left, LL_PAYLOAD[self.dle])
            total += self.packet(fragment)
            left -= fragment
        return total

    def setup(self) -> int:
        """Estimate: everything a connection costs besides the sync's own exchange."""
        total = CONNECT_IND + SETUP_ROUND_TRIPS * IDLE_EVENT
        for _what, payload, encrypted, count, dle_only in SETUP_LL:
            if self.dle or not dle_only:
                total += count * self.packet(payload, encrypted and self.encrypted)
        return total + sum(self.att(n) for n in SETUP_ATT)

    def discovery(self) -> int:
        return sum(self.att(n) for n in DISCOVERY_ATT) + len(DISCOVERY_ATT) // 2 * IDLE_EVENT


@dataclass
class AirLog:
    """What crossed the simulated air at the ATT level: value sizes, in order."""

    writes: list[tuple[int, bool]] = field(default_factory=list)  # (bytes, with response)
    notifications: list[int] = field(default_factory=list)

    @property
    def value_bytes(self) -> int:
        return sum(n for n, _ in self.writes) + sum(self.notifications)

    def on_air(self, link: Link) -> int:
        """The sync's exchange on the air (no set-up), with an idle event per round trip."""
        total = sum(link.att(ATT_HEADER + n) + (link.att(ATT_WRITE_RSP) if rsp else 0)
                    for n, rsp in self.writes)
        return (total + sum(link.att(ATT_HEADER + n) for n in self.notifications)
                + len(self.writes) * IDLE_EVENT)


def counting_backends(air: SimAir, log: AirLog) -> tuple[type, type]:
    """The air's backends, the client counting every Control write and Data notification."""
    scanner, client = air.backends()

    class CountingClient(client):  # type: ignore[valid-type, misc]
        async def write_gatt_char(self, characteristic: Any, data: Any,
                                  response: bool) -> None:
            log.writes.append((len(data), response))
            await super().write_gatt_char(characteristic, data, response)

        async def start_notify(self, characteristic: Any, callback: Any,
                               **kwargs: Any) -> None:
            def counted(data: bytearray) -> None:
                log.notifications.append(len(data))
                callback(data)

            await super().start_notify(characteristic, counted, **kwargs)

    return scanner, CountingClient


def make_gateway(workdir: Path, wearable: VirtualWearable, world: SimClock,
                 backends: tuple[type, type], batch: int = DEFAULT_BATCH,
                 outbox_class: type[Outbox] = Outbox) -> tuple[Gateway, Outbox]:
    cfg = parse({"gateway_id": "bench", "outbox": str(workdir / "outbox.db"),
                 "enrolled": [wearable.id_hex], "sync": {"batch_records": batch}}, workdir)
    outbox = outbox_class(cfg.outbox)
    return Gateway(cfg, outbox, *backends, clock_ms=lambda: world.now_ms), outbox


def check(report: PassReport, fetched: int | None = None) -> None:
    if report.failed or report.missing or report.scan_error or len(report.synced) != 1:
        raise RuntimeError(f"sync pass failed: {report}")
    if fetched is not None and report.synced[0].fetched != fetched:
        raise RuntimeError(f"fetched {report.synced[0].fetched} records, expected {fetched}")


# -- bytes over the air ------------------------------------------------------------------------
@dataclass
class DayOnAir:
    sets: int
    true_reps: int
    counted_reps: int
    records: int
    empty: AirLog
    nightly: AirLog


def typical_day(workdir: Path, seed: int) -> DayOnAir:
    rng = np.random.default_rng(seed)
    world = SimClock(local_ms(DAY, day_time(0, 0), TZ))
    (home,) = make_households(1, world, rng)
    patient = home.patients[0]
    patient.adherence = 1.0  # the typical day is a day with both sessions
    w = patient.wearable
    empty, nightly = AirLog(), AirLog()
    backends = counting_backends(home.air, empty)
    gw, outbox = make_gateway(workdir, w, world, backends)
    try:
        check(asyncio.run(gw.sync_pass()), 0)  # at enrollment: sets the clock, nothing to fetch
        exercise_day([home], DAY, TZ, rng)
        world.advance_to(nightly_sync_time(DAY, TZ))
        w.wake_from_deep_sleep()  # the nightly timer wake
        gw.link.client_backend = counting_backends(home.air, nightly)[1]
        check(asyncio.run(gw.sync_pass()), len(w.born))
    finally:
        outbox.close()
    return DayOnAir(len(w.performed), sum(s.true_reps for s in w.performed),
                    sum(s.counted_reps for s in w.performed), len(w.born), empty, nightly)


def adv_events(seconds: float) -> float:
    """Advertising events in one radio-on period of `seconds` (fast first, then slow)."""
    fast = min(seconds, ADV_FAST_FOR_S)
    return fast / ADV_FAST_S + (seconds - fast) / ADV_SLOW_S


def report_air(day: DayOnAir, charging_h: float) -> float:
    """Prints the air figures; returns the on-air bytes of a typical day (DLE, encrypted)."""
    n = day.nightly
    print(f"typical day (simulators/household.py default program, morning and evening): "
          f"{day.sets} sets, {day.counted_reps} reps counted ({day.true_reps} done), "
          f"{day.records} records = {day.records / day.counted_reps:.3f} records/rep")
    write_b = sum(b for b, _ in n.writes)
    print(f"nightly sync, ATT values measured: {len(n.writes)} Control writes ({write_b} B), "
          f"{len(n.notifications)} Data notifications ({sum(n.notifications)} B, of which "
          f"records {day.records * codec.RECORD_SIZE} B) = {n.value_bytes} B = "
          f"{n.value_bytes / day.counted_reps:.1f} B/rep")
    links = {(dle, enc): Link(dle, enc) for dle in (True, False) for enc in (True, False)}
    print("on air, LE 1M PHY (B)                 DLE, encr.  no DLE, encr.  DLE, clear  "
          "no DLE, clear")
    rows = {
        "sync exchange (measured + model)": lambda k: n.on_air(k),
        "  per rep": lambda k: n.on_air(k) / day.counted_reps,
        "connection set-up/teardown (est.)": lambda k: k.setup(),
        "nightly sync total": lambda k: n.on_air(k) + k.setup(),
        "  per rep ": lambda k: (n.on_air(k) + k.setup()) / day.counted_reps,
        "empty sync (INFO, SET_TIME) total": lambda k: day.empty.on_air(k) + k.setup(),
        "GATT discovery (enrollment only, est.)": lambda k: k.discovery(),
    }
    for label, f in rows.items():
        cells = "".join(f"{f(links[key]):>12,.0f}   " for key in
                        ((True, True), (False, True), (True, False), (False, False)))
        print(f"  {label:<37}{cells}")
    # Advertising (no DLE or encryption on advertising channels).
    per_event = ADV_CHANNELS * ADV_IND
    scan_pair = SCAN_REQ + SCAN_RSP
    day_s = sum(s * k for s, k in ADV_DAY_PERIODS_S)
    day_events = sum(adv_events(s) * k for s, k in ADV_DAY_PERIODS_S)
    day_adv = day_events * per_event + day_s / GATEWAY_SCAN_EVERY_S * scan_pair
    print(f"advertising: ADV_IND {ADV_IND} B ({ADV_DATA} B of data) x {ADV_CHANNELS} "
          f"channels = {per_event} B per event, every {ADV_FAST_S * 1000:.0f} ms for "
          f"{ADV_FAST_FOR_S:.0f} s after the radio comes on, then every "
          f"{ADV_SLOW_S * 1000:.0f} ms; scan request + response {SCAN_REQ} + {SCAN_RSP} B")
    print(f"  typical day off the charger: radio on {day_s:.0f} s in "
          f"{sum(k for _, k in ADV_DAY_PERIODS_S)} periods = {day_events:,.0f} events, "
          f"{day_s / GATEWAY_SCAN_EVERY_S:.0f} scanned: {day_adv:,.0f} B")
    charge_s = charging_h * 3600
    charging_syncs = CHARGING_SYNCS_PER_NIGHT
    # Each sync ends a connection: serve() starts advertising fast again.
    charge_events = charging_syncs * adv_events(charge_s / charging_syncs)
    charge_adv = charge_events * per_event + charge_s / GATEWAY_SCAN_EVERY_S * scan_pair
    dle = links[(True, True)]
    no_dle = links[(False, True)]
    sync_dle = n.on_air(dle) + dle.setup()
    sync_no_dle = n.on_air(no_dle) + no_dle.setup()
    print(f"  on the charger {charging_h:g} h overnight: {charge_events:,.0f} events and "
          f"{charge_s / GATEWAY_SCAN_EVERY_S:.0f} scans = {charge_adv:,.0f} B, and "
          f"{charging_syncs:.0f} empty sync(s) (the policy leaves a charging wearable with "
          f"nothing unsynced alone after the window's sync) = "
          f"{charging_syncs * (day.empty.on_air(dle) + dle.setup()):,.0f} B with DLE")
    print(f"bytes per day of typical use, connections only (encrypted link): "
          f"{sync_dle:,.0f} B with DLE / {sync_no_dle:,.0f} B without "
          f"({sync_dle / day.counted_reps:.0f} / {sync_no_dle / day.counted_reps:.0f} B per "
          f"rep); advertising, separately: {day_adv:,.0f} B off the charger, "
          f"{charge_adv:,.0f} B more for {charging_h:g} h on it")
    for link in (dle, no_dle):
        # One full notification: its packets back to back, 8 us a byte and 150 us between
        # packets; the most the air carries in long connection events.
        per_frame = (SimAir().mtu - 3 - 2) // codec.RECORD_SIZE
        att = ATT_HEADER + 2 + per_frame * codec.RECORD_SIZE
        packets = -(-(L2CAP_HEADER + att) // LL_PAYLOAD[link.dle])
        air_s = link.att(att) * 8e-6 + 2 * packets * 150e-6
        print(f"  air-time bound on records/s, {'with' if link.dle else 'without'} DLE: "
              f"{per_frame / air_s:,.0f} (a {att}-byte ATT notification of {per_frame} "
              f"records in {air_s * 1000:.2f} ms)")
    return sync_dle + day_adv


# -- records per second ------------------------------------------------------------------------
def filled_wearable(n: int, world: SimClock) -> VirtualWearable:
    """A wearable holding `n` unacknowledged records, as the recorder writes them."""
    w = VirtualWearable(bytes.fromhex("a1b2c3d4e5f6"), world,
                        log_bytes=64 + codec.RECORD_SIZE * max(n + 64, 2048),
                        log_id=0x5EED)
    w.clock.set_unix_ms(world.now_ms, w.uptime_ms())  # the RTC was set at the last sync
    log, boot = w.log, w.clock.boot
    last = log.last_seq + n  # a log's numbers start after its log id's low bits
    t_ms = world.now_ms - n * 4000
    set_no = 0
    while log.last_seq < last:
        set_no = set_no % 255 + 1
        ex = set_no % 3 + 1
        reps = 0
        while reps < 12 and log.last_seq < last - 1:
            reps += 1
            t_ms += 3000 + 37 * reps
            log.append(codec.encode_rep(log.next_seq(), codec.FLAG_TIME_VALID, ex, set_no,
                                        t_ms, boot, reps, 2800 + 37 * reps, 6400 + reps,
                                        90 + reps))
        t_ms += 2000
        log.append(codec.encode_set(log.next_seq(), codec.FLAG_TIME_VALID, ex, set_no, t_ms,
                                    boot, reps, 0, 6405, 45, 8, 0))
    return w


class TimedOutbox(Outbox):
    """The real outbox, timing its commits (each an fsync'd transaction)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commits = 0
        self.commit_s = 0.0

    def commit_batch(self, *args: Any, **kwargs: Any) -> None:
        t0 = time.perf_counter()
        super().commit_batch(*args, **kwargs)
        self.commit_s += time.perf_counter() - t0
        self.commits += 1


@dataclass(frozen=True)
class Timed:
    seconds: float
    commits: int
    commit_s: float


def gateway_sync(n: int, batch: int) -> Timed:
    world = SimClock(1_790_000_000_000)
    w = filled_wearable(n, world)
    air = SimAir()
    air.add(w)
    with tempfile.TemporaryDirectory(prefix="rtm-bench-") as tmp:
        gw, outbox = make_gateway(Path(tmp), w, world, air.backends(), batch, TimedOutbox)
        assert isinstance(outbox, TimedOutbox)

        async def timed() -> tuple[float, PassReport]:
            t0 = time.perf_counter()
            report = await gw.sync_pass()
            return time.perf_counter() - t0, report

        try:
            seconds, report = asyncio.run(timed())
            check(report, n)
            held = sum(m.last_seq - m.first_seq + 1 for m in outbox.pending(limit=10**6))
            if held != n or w.log.acked_seq != w.log.last_seq:
                raise RuntimeError(f"outbox holds {held} records, wearable acked "
                                   f"{w.log.acked_seq}, expected {n}")
        finally:
            outbox.close()
    return Timed(seconds, outbox.commits, outbox.commit_s)


def direct_exchange(n: int, batch: int) -> float:
    """The same exchange against the wearable's ProtocolHandler alone; seconds."""
    world = SimClock(1_790_000_000_000)
    w = filled_wearable(n, world)
    h = w.handler
    h.set_notify_payload(SimAir().mtu - 3)
    t0 = time.perf_counter()
    info = protocol.parse_info(h.on_write(protocol.cmd_info())[0])
    protocol.parse_response(h.on_write(protocol.cmd_set_time(world.now_ms))[0],
                            protocol.CMD_SET_TIME)
    next_seq, fetched = info["acked_seq"] + 1, 0
    while next_seq <= info["last_seq"]:
        frames = h.on_write(protocol.cmd_fetch(next_seq, batch))
        sent, last_sent, _tag = protocol.parse_fetch_end(frames[-1])
        if not sent:
            break
        protocol.parse_ack(h.on_write(protocol.cmd_ack(last_sent))[0])
        fetched += sent
        next_seq = last_sent + 1
    seconds = time.perf_counter() - t0
    if fetched != n or w.log.acked_seq != w.log.last_seq:
        raise RuntimeError(f"direct exchange fetched {fetched}, expected {n}")
    return seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batches", default="64,256,512",
                   help="sync.batch_records values to time (the default 256 is headline)")
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--charging-hours", type=float, default=8.0)
    args = p.parse_args()
    batches = sorted({int(b) for b in args.batches.split(",")} | {DEFAULT_BATCH})

    with tempfile.TemporaryDirectory(prefix="rtm-bench-") as tmp:
        day = typical_day(Path(tmp), args.seed)
    report_air(day, args.charging_hours)

    n = args.records
    print(f"\none sync of {n} records through Gateway.sync_pass (SimAir, MTU 247, outbox "
          f"synchronous=FULL on {tempfile.gettempdir()}), {args.repeats} runs each:")
    headline = 0.0
    for batch in batches:
        runs = [gateway_sync(n, batch) for _ in range(args.repeats)]
        base = [direct_exchange(n, batch) for _ in range(args.repeats)]
        best, median = min(r.seconds for r in runs), statistics.median(r.seconds for r in runs)
        base_best = min(base)
        commit_share = statistics.median(r.commit_s / r.seconds for r in runs)
        print(f"  batch {batch:>3}: gateway {n / best:,.0f} records/s best, {n / median:,.0f} "
              f"median ({median * 1000:.0f} ms; {runs[0].commits} outbox commits, "
              f"{commit_share:.0%} of the time in them); baseline, the wearable's "
              f"ProtocolHandler alone: {n / base_best:,.0f} records/s; ratio "
              f"{best / base_best:.1f}x")
        if batch == DEFAULT_BATCH:
            headline = n / median
    print(f"sync_records_per_s={headline:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
