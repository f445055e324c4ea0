# Runs unchanged on CPython and MicroPython: exercises the firmware core on fixed inputs and
# prints one line per result. The parity test runs it on both and compares the text.
# (No f-strings, no typing, no numpy: plain MicroPython.)
from firmware.core import codec, protocol
from firmware.core.clock import DeviceClock
from firmware.core.counter import EVENT_NONE, RepCounter, chord_to_cdeg, isqrt
from firmware.core.record_log import MemoryStorage, RecordLog
from firmware.core.recorder import Recorder


def hexs(b):
    return "".join(f"{x:02x}" for x in b)


def out(name, value):
    print(name + " " + str(value))


# -- codec ---------------------------------------------------------------------------------
rep = codec.encode_rep(7, codec.FLAG_TIME_VALID, 1, 2, 1790000000123, 3, 4, 2500, 8512, 140)
out("rep", hexs(rep))
st = codec.encode_set(8, 0, 10, 1, 98765, 3, 12, 1, 9000, 61, 7, 1)
out("set", hexs(st))
out("rep_decoded", sorted(codec.decode(rep).items()))
out("set_decoded", sorted(codec.decode(st).items()))
out("saturate", hexs(codec.encode_rep(1, 0, 0, 1, 0, 0, 70000, -5, 0, 0)))
bad = bytearray(rep)
bad[10] ^= 1
try:
    codec.check(bad)
    out("crc", "accepted")
except ValueError as e:
    out("crc", e)

# -- integer helpers --------------------------------------------------------------------------
out("isqrt", [isqrt(n) for n in (0, 1, 2, 3, 4, 15, 16, 17, 1000000, 1073741823)])
out("chord", [chord_to_cdeg(c) for c in (0, 105, 500, 1000, 1414, 1999, 2000, 2500)])

# -- record log + protocol ---------------------------------------------------------------------
log = RecordLog(MemoryStorage(64 + 32 * 8))
clock = DeviceClock(log.new_boot())
up = [1000]
handler = protocol.ProtocolHandler(log, clock, b"\x01\x02\x03\x04\x05\x06", lambda: up[0],
                                   lambda: 77, max_notify_payload=100)
for i in range(6):
    log.append(codec.encode_rep(log.next_seq(), 0, 1, 1, 100 * i, clock.boot, i + 1, 900, 4000,
                                90))
out("info", hexs(handler.on_write(protocol.cmd_info())[0]))
out("set_time", hexs(handler.on_write(protocol.cmd_set_time(1790000000000))[0]))
out("fetch", [hexs(f) for f in handler.on_write(protocol.cmd_fetch(2, 4))])
out("ack", hexs(handler.on_write(protocol.cmd_ack(5))[0]))
out("ack_beyond", hexs(handler.on_write(protocol.cmd_ack(99))[0]))
out("unknown", hexs(handler.on_write(b"\x7f\x00")[0]))
out("short_fetch", hexs(handler.on_write(b"\x03\x01")[0]))
out("empty", hexs(handler.on_write(b"")[0]))
# Fill the ring: records 1..5 acknowledged may be overwritten, record 6.. never.
results = []
for _ in range(8):
    results.append(log.append(codec.encode_rep(log.next_seq(), 0, 1, 1, 0, 1, 1, 1, 1, 1)))
out("fill", [results, log.last_seq, log.refused, log.oldest_seq()])
reopened = RecordLog(log.storage)
out("reopen", [reopened.last_seq, reopened.acked_seq, reopened.boot, reopened.refused])

# -- counter on a synthetic tilt signal (integers only) -----------------------------------------
# 8 reps of a 0 -> 60 -> 0 degree tilt, 3 s each with 1 s pauses, at 52 Hz, as a lookup of a
# raised cosine made with integer arithmetic (a coarse sine table, no floats).
SIN = (0, 105, 208, 309, 407, 500, 588, 669, 743, 809, 866, 914, 951, 978, 995, 1000)
COS = (1000, 995, 978, 951, 914, 866, 809, 743, 669, 588, 500, 407, 309, 208, 105, 0)
counter = RepCounter(52)
rec_log = RecordLog(MemoryStorage(64 + 32 * 64))
rec = Recorder(rec_log, DeviceClock(rec_log.new_boot()), 52, lambda tick: tick)
rec.start_set(1, 0)
events = []
t = 0
for _r in range(8):
    for i in range(208):
        if i < 156:
            phase = i * 2 * 15 // 156  # 0..29 -> up and down
            k = phase if phase < 16 else 30 - phase
            if k > 10:
                k = 10  # 10 * 6 degrees = 60 degrees peak
        else:
            k = 0
        ax, ay, az = 0, SIN[k], COS[k]
        e = rec.sample(t, ax, ay, az, 0, 0, 0)
        if e != EVENT_NONE:
            events.append((t, e, rec.counter.rep_duration_ms, rec.counter.rep_rom_cdeg,
                           rec.counter.rep_peak_dps))
        t += 19
rec.end_set(t)
out("events", events)
out("records", [hexs(rec_log.read(s)) for s in range(1, rec_log.last_seq + 1)])
