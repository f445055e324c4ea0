"""A day with a program, driven through firmware.core.session; prints one line per event.

Runs unchanged on CPython and MicroPython: test_session.py compares the two outputs.
"""

from firmware.core import codec, program
from firmware.core.clock import DeviceClock
from firmware.core.counter import EVENT_PARTIAL, EVENT_REP
from firmware.core.record_log import MemoryStorage, RecordLog
from firmware.core.recorder import Recorder
from firmware.core.session import Session

DAY1 = 1_790_000_000  # Unix s, 2026-09-21 UTC
TICKS_MASK = 0x3FFFFFFF

saved = []
log = RecordLog(MemoryStorage(64 + 32 * 64))
recorder = Recorder(log, DeviceClock(log.new_boot()), 52, lambda tick: tick)
prog = program.decode(program.encode([(1, 2, 3, 6000, 45), (4, 1, 2, 0, 0)],
                                     flags=program.FLAG_AUTO_START, utc_offset_min=120))
session = Session(recorder, prog, None, saved.append)
t = [TICKS_MASK - 100_000]  # the ticks wrap during the day


def show(what, action):
    p = session.progress
    print("%s action=%d state=%d next=%d reps=%d saved=%d"  # noqa: UP031 (MicroPython)
          % (what, action, session.state, p.next_set, session.reps, len(saved)))


def at(ms):
    t[0] = (t[0] + ms) & TICKS_MASK
    return t[0]


show("clock", session.clock(5000, DAY1))
show("battery 80", session.battery(80, False))
show("press", session.short_press(at(1000)))
for _ in range(3):
    show("rep", session.counted(at(3000), EVENT_REP))
show("partial", session.counted(at(3000), EVENT_PARTIAL))
show("rep", session.counted(at(3000), EVENT_REP))
show("tick", session.tick(at(29_000)))
show("tick", session.tick(at(2_000)))
show("tick rest", session.tick(at(44_000)))
show("motion", session.motion(at(500)))
show("rep", session.counted(at(3000), EVENT_REP))
show("long", session.long_press(at(1000)))
show("battery 15", session.battery(15, False))
show("battery 12", session.battery(12, False))
show("tick", session.tick(at(1000)))
show("press", session.short_press(at(5000)))
show("tick void", session.tick(at(60_000)))
show("long skip", session.long_press(at(1000)))
show("press extra", session.short_press(at(1000)))
show("rep", session.counted(at(3000), EVENT_REP))
show("press", session.short_press(at(1000)))
show("long sleep", session.long_press(at(1000)))
show("clock same day", session.clock(9000, DAY1 + 3600))
show("clock next day", session.clock(90_000, DAY1 + 86_400))
kinds = []
for seq in range(log.oldest_seq(), log.last_seq + 1):
    rec = codec.decode(log.read(seq))
    kinds.append("%s:%d:%d" % (rec["kind"], rec["exercise"], rec["set_no"]))  # noqa: UP031
print(" ".join(kinds))
print(saved[-1].hex())
