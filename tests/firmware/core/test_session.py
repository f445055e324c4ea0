"""The wearable's session state machine (firmware/core/session.py) on the host, a real
Recorder and record log behind it, and the same day under the real MicroPython interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firmware.core import codec, program
from firmware.core.clock import DeviceClock
from firmware.core.counter import EVENT_NONE, EVENT_PARTIAL, EVENT_REP
from firmware.core.record_log import MemoryStorage, RecordLog
from firmware.core.recorder import Recorder
from firmware.core.session import (
    ACT_LOW_BATTERY,
    ACT_NONE,
    ACT_PARTIAL,
    ACT_PROGRAM_DONE,
    ACT_REP,
    ACT_REST_OVER,
    ACT_SET_DONE,
    ACT_SET_START,
    ACT_SET_VOID,
    ACT_SKIPPED,
    ACT_SLEEP,
    ACT_TARGET,
    DONE,
    FIRST_REP_WAIT_MS,
    GENERIC_TARGET_REPS,
    IDLE,
    IN_SET,
    NEW_DAY_GAP_S,
    RESTING,
    SET_IDLE_MS,
    Session,
)
from tests.sim_helpers import tilt_set

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
TICKS_MASK = 0x3FFFFFFF
DAY = 1_790_000_000  # Unix s
SQUAT, HEEL_RAISE = 1, 4
# squat 2 x 3 reps, 60 degrees target, 45 s rest; heel raise 1 x 2 reps, no rest
ITEMS = [(SQUAT, 2, 3, 6000, 45), (HEEL_RAISE, 1, 2, 0, 0)]


class Rig:
    def __init__(self, items=ITEMS, flags: int = 0, utc_offset_min: int = 0,
                 progress=None) -> None:
        self.log = RecordLog(MemoryStorage(64 + 32 * 256))
        self.recorder = Recorder(self.log, DeviceClock(self.log.new_boot()), 52,
                                 lambda tick: tick)
        self.saved: list[bytes] = []
        self.program = (program.decode(program.encode(items, flags, utc_offset_min))
                        if items is not None else None)
        self.s = Session(self.recorder, self.program, progress, self.saved.append)
        self.t = 1000

    def at(self, ms: int = 0) -> int:
        self.t = (self.t + ms) & TICKS_MASK
        return self.t

    def reps(self, n: int, event: int = EVENT_REP, every_ms: int = 3000) -> list[int]:
        return [self.s.counted(self.at(every_ms), event) for _ in range(n)]

    def sets(self) -> list[dict]:
        out = []
        for seq in range(self.log.oldest_seq(), self.log.last_seq + 1):
            rec = codec.decode(self.log.read(seq))
            if rec["kind"] == "set":
                out.append(rec)
        return out


def test_a_full_day_following_the_program() -> None:
    rig = Rig()
    s = rig.s
    assert s.clock(100, DAY) is False and s.state == IDLE
    # Set 1 (squat): press, reps, the third is the target, then inactivity ends it.
    assert s.short_press(rig.at(1000)) == ACT_SET_START
    assert s.state == IN_SET and rig.recorder.exercise == SQUAT
    assert rig.recorder.counter.min_rom_cdeg == 6000
    assert rig.reps(4) == [ACT_REP, ACT_REP, ACT_TARGET, ACT_REP]
    last_rep = rig.t
    assert s.tick(rig.at(SET_IDLE_MS - 1)) == ACT_NONE
    assert s.tick(rig.at(1)) == ACT_SET_DONE
    assert s.state == RESTING and s.progress.next_set == 1
    assert rig.sets()[-1]["duration_s"] == 12  # closed at its last rep, not at the timeout
    assert not rig.recorder.in_set
    # Rest: 45 s from the last rep.
    assert s.tick(last_rep + 44_000) == ACT_NONE
    assert s.tick(last_rep + 45_000) == ACT_REST_OVER and s.state == IDLE
    # Set 2 (squat) ended by a press.
    assert s.short_press(rig.at(60_000)) == ACT_SET_START
    assert rig.reps(3) == [ACT_REP, ACT_REP, ACT_TARGET]
    assert s.short_press(rig.at(2000)) == ACT_SET_DONE
    # A press during the rest starts the next set (heel raise) at once.
    assert s.state == RESTING
    assert s.short_press(rig.at(5000)) == ACT_SET_START
    assert rig.recorder.exercise == HEEL_RAISE and rig.recorder.counter.min_rom_cdeg == 0
    assert rig.reps(2) == [ACT_REP, ACT_TARGET]
    assert s.long_press(rig.at(1000)) == ACT_PROGRAM_DONE
    assert s.state == DONE and s.sets_left() == 0
    assert [(r["exercise"], r["set_no"]) for r in rig.sets()] == [
        (SQUAT, 1), (SQUAT, 2), (HEEL_RAISE, 3)]
    assert program.decode_progress(rig.saved[-1]).next_set == 3


def test_the_target_plays_once_and_partials_do_not_count() -> None:
    rig = Rig()
    rig.s.short_press(rig.at())
    assert rig.reps(2) == [ACT_REP, ACT_REP]
    assert rig.reps(3, EVENT_PARTIAL) == [ACT_PARTIAL] * 3
    assert rig.s.reps == 2
    assert rig.reps(3) == [ACT_TARGET, ACT_REP, ACT_REP]
    assert rig.s.counted(rig.at(), EVENT_NONE) == ACT_NONE


def test_partials_keep_a_set_alive_but_do_not_make_it_count() -> None:
    rig = Rig()
    s = rig.s
    s.short_press(rig.at())
    rig.reps(1, EVENT_PARTIAL, every_ms=FIRST_REP_WAIT_MS - 1000)
    assert s.tick(rig.at(SET_IDLE_MS - 1)) == ACT_NONE
    assert s.tick(rig.at(1)) == ACT_SET_VOID
    assert s.state == IDLE and s.progress.next_set == 0  # the same set is next


def test_a_set_without_any_rep_ends_after_the_first_rep_wait() -> None:
    rig = Rig()
    s = rig.s
    start = rig.at()
    s.short_press(start)
    assert s.tick(rig.at(FIRST_REP_WAIT_MS - 1)) == ACT_NONE
    assert s.tick(rig.at(1)) == ACT_SET_VOID
    assert rig.sets()[-1]["reps"] == 0 and rig.sets()[-1]["duration_s"] == 0


def test_long_press_ends_a_set_and_skips_outside_one() -> None:
    rig = Rig()
    s = rig.s
    s.short_press(rig.at())
    rig.reps(1)
    assert s.long_press(rig.at(1000)) == ACT_SET_DONE and s.progress.next_set == 1
    assert s.state == RESTING
    assert s.long_press(rig.at(1000)) == ACT_SKIPPED  # skips squat set 2
    assert s.state == IDLE and s.progress.next_set == 2
    s.short_press(rig.at(1000))
    assert rig.recorder.exercise == HEEL_RAISE
    assert s.long_press(rig.at(1000)) == ACT_SET_VOID  # no rep: not done
    assert s.long_press(rig.at(1000)) == ACT_PROGRAM_DONE  # skips the last set
    assert s.state == DONE
    assert s.long_press(rig.at(1000)) == ACT_SLEEP  # nothing left to skip
    assert [r["exercise"] for r in rig.sets()] == [SQUAT, HEEL_RAISE]  # skips leave no record


def test_after_the_program_a_press_counts_an_extra_generic_set() -> None:
    rig = Rig(items=[(SQUAT, 1, 2, 0, 0)])
    s = rig.s
    s.long_press(rig.at())
    assert s.state == DONE
    assert s.short_press(rig.at(1000)) == ACT_SET_START
    assert rig.recorder.exercise == 0 and s.target == GENERIC_TARGET_REPS
    rig.reps(2)
    assert s.short_press(rig.at(1000)) == ACT_SET_DONE and s.state == DONE
    assert s.progress.next_set == 1


@pytest.mark.parametrize("items", [None, []])
def test_without_a_program_sets_are_generic(items) -> None:
    rig = Rig(items=items)
    s = rig.s
    for _ in range(2):
        assert s.short_press(rig.at(1000)) == ACT_SET_START
        assert rig.recorder.exercise == 0 and rig.recorder.counter.min_rom_cdeg == 0
        actions = rig.reps(11)
        assert actions.index(ACT_TARGET) == GENERIC_TARGET_REPS - 1
        assert actions.count(ACT_TARGET) == 1
        assert s.short_press(rig.at(1000)) == ACT_SET_DONE
        assert s.state == IDLE  # no rest, never done
    assert s.long_press(rig.at(1000)) == ACT_SLEEP  # long press outside a set: sleep


def test_low_battery_warns_once_a_day() -> None:
    rig = Rig()
    s = rig.s
    s.clock(100, DAY)
    assert s.days_left(100) == 10 and s.days_left(19) == 1
    assert s.battery(25, False) == ACT_NONE
    assert s.battery(19, True) == ACT_NONE  # charging
    s.short_press(rig.at())
    assert s.battery(19, False) == ACT_NONE  # never during a set
    s.short_press(rig.at(1000))
    assert s.battery(19, False) == ACT_LOW_BATTERY
    assert s.battery(12, False) == ACT_NONE
    # The warning is remembered across a reboot (each deep-sleep wake is one).
    again = Session(rig.recorder, rig.program, program.decode_progress(rig.saved[-1]))
    assert again.battery(12, False) == ACT_NONE
    assert s.clock(200, DAY + 86_400) is True
    assert s.battery(12, False) == ACT_LOW_BATTERY


def test_progress_resets_at_local_midnight() -> None:
    rig = Rig(utc_offset_min=120)  # UTC+2
    s = rig.s
    midnight_utc = (DAY // 86_400 + 1) * 86_400
    s.clock(0, midnight_utc - 3 * 3600)  # 23:00 local
    s.long_press(rig.at())
    assert s.progress.next_set == 1
    assert s.clock(10, midnight_utc - 2 * 3600 - 1) is False  # 23:59:59 local
    assert s.clock(20, midnight_utc - 2 * 3600) is True  # 00:00 local
    assert s.progress.next_set == 0 and s.state == IDLE


def test_a_new_day_does_not_interrupt_a_set_and_ends_done() -> None:
    rig = Rig(items=[(SQUAT, 1, 2, 0, 0)])
    s = rig.s
    s.clock(0, DAY)
    s.long_press(rig.at())
    assert s.state == DONE
    s.short_press(rig.at(1000))
    assert s.clock(10, DAY + 86_400) is False and s.state == IN_SET
    s.short_press(rig.at(1000))
    assert s.clock(20, DAY + 86_400) is True and s.state == IDLE


def test_without_the_time_progress_resets_after_a_long_gap() -> None:
    rig = Rig()
    s = rig.s
    s.clock(1000, 0)
    s.long_press(rig.at())  # skip: a change at now_s = 1000
    assert s.clock(1000 + NEW_DAY_GAP_S - 1, 0) is False
    assert s.clock(1000 + NEW_DAY_GAP_S, 0) is True
    assert s.progress.next_set == 0


def test_a_power_loss_resets_and_a_later_time_sync_keeps_progress() -> None:
    rig = Rig()
    s = rig.s
    s.clock(DAY, DAY)
    s.long_press(rig.at())
    # Power lost: the RTC restarts near its epoch and the time is unknown.
    after = Session(rig.recorder, rig.program, program.decode_progress(rig.saved[-1]))
    assert after.clock(5, 0) is True and after.progress.day == -1
    after.long_press(rig.at(1000))
    # The gateway sets the time later the same day: what was done is kept.
    assert after.clock(DAY + 600, DAY + 600) is False
    assert after.progress.next_set == 1 and after.progress.day == DAY // 86_400


def test_progress_survives_a_reboot_and_belongs_to_its_program() -> None:
    rig = Rig()
    rig.s.long_press(rig.at())
    stored = program.decode_progress(rig.saved[-1])
    same = Session(rig.recorder, rig.program, stored)
    assert same.progress.next_set == 1
    other = program.decode(program.encode([(HEEL_RAISE, 2, 5, 0, 10)]))
    changed = Session(rig.recorder, other, stored)
    assert changed.progress.next_set == 0
    # Loading the same program again (the gateway re-sends it) keeps the progress.
    same.load(program.decode(rig.program.data))
    assert same.progress.next_set == 1


def test_auto_start_only_after_a_rest_and_when_the_program_allows_it() -> None:
    rig = Rig(flags=program.FLAG_AUTO_START)
    s = rig.s
    assert not s.wants_motion(rig.at()) and s.motion(rig.at()) == ACT_NONE  # first set: press
    s.short_press(rig.at())
    rig.reps(3)
    s.short_press(rig.at(1000))
    assert s.state == RESTING and s.wants_motion(rig.at())
    assert s.motion(rig.at(1000)) == ACT_NONE  # still resting
    assert s.tick(rig.at(45_000)) == ACT_REST_OVER
    assert s.wants_motion(rig.at(1000)) and s.motion_starts_set(rig.t)
    assert s.motion(rig.at(1000)) == ACT_SET_START and s.state == IN_SET
    # A false start (no rep) ends sooner, does not count, and disarms auto-start.
    assert s.tick(rig.at(20_000)) == ACT_SET_VOID
    assert not s.wants_motion(rig.at(1000))


def test_auto_start_window_closes() -> None:
    rig = Rig(flags=program.FLAG_AUTO_START)
    s = rig.s
    s.short_press(rig.at())
    rig.reps(1)
    s.short_press(rig.at(1000))
    s.tick(rig.at(45_000))
    assert s.motion(rig.at(120_000)) == ACT_NONE


def test_auto_start_is_off_without_the_flag() -> None:
    rig = Rig()
    s = rig.s
    s.short_press(rig.at())
    rig.reps(1)
    s.short_press(rig.at(1000))
    assert not s.wants_motion(rig.at())
    s.tick(rig.at(45_000))
    assert s.motion(rig.at(1000)) == ACT_NONE


def test_timers_work_across_the_tick_wrap() -> None:
    rig = Rig()
    rig.t = TICKS_MASK - 5000
    s = rig.s
    s.short_press(rig.at())
    rig.reps(1)
    assert s.tick(rig.at(SET_IDLE_MS - 1)) == ACT_NONE
    assert rig.t < 100_000  # wrapped
    assert s.tick(rig.at(1)) == ACT_SET_DONE


def test_real_samples_through_recorder_and_session() -> None:
    """The shell's loop: samples into Recorder.sample, its events into the session."""
    rig = Rig(items=[(SQUAT, 1, 4, 0, 0)])
    s = rig.s
    t, acc, gyro = tilt_set(5)
    ticks = np.rint(t * 1000).astype(int) + 10_000
    ints = np.hstack([np.rint(acc * 1000), np.rint(gyro * 10)]).astype(int).tolist()
    assert s.short_press(int(ticks[0])) == ACT_SET_START
    actions = []
    for tick, sample in zip(ticks.tolist(), ints, strict=True):
        event = rig.recorder.sample(tick, *sample)
        if event != EVENT_NONE:
            actions.append(s.counted(tick, event))
        s.tick(tick)
    assert actions == [ACT_REP, ACT_REP, ACT_REP, ACT_TARGET, ACT_REP]
    assert s.short_press(int(ticks[-1]) + 100) == ACT_PROGRAM_DONE
    assert rig.sets()[-1]["reps"] == 5


def test_reps_confirmed_only_at_the_end_of_a_short_set_count() -> None:
    """The counter may hold a short set's reps until the set ends (Recorder.end_set flushes
    them): the set still counts as done."""
    rig = Rig(items=[(SQUAT, 2, 2, 0, 0)])
    s = rig.s
    t, acc, gyro = tilt_set(2)
    ticks = (np.rint(t * 1000).astype(int) + 10_000).tolist()
    ints = np.hstack([np.rint(acc * 1000), np.rint(gyro * 10)]).astype(int).tolist()
    s.short_press(ticks[0])
    for tick, sample in zip(ticks, ints, strict=True):
        event = rig.recorder.sample(tick, *sample)
        if event != EVENT_NONE:
            s.counted(tick, event)
    assert s.short_press(ticks[-1]) == ACT_SET_DONE
    assert s.reps == rig.sets()[-1]["reps"] == 2
    assert s.progress.next_set == 1


def test_the_day_prints_the_same_on_micropython(micropython) -> None:
    script = (HERE / "session_scenario.py").read_text()
    cpython = subprocess.run([sys.executable, str(HERE / "session_scenario.py")], cwd=REPO,
                             env={"PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                             check=True).stdout
    mp = micropython.run(f"exec({script!r}, {{'__name__': 'session_day'}})")
    assert cpython.count("\n") > 20
    assert mp == cpython


def test_tick_and_counter_events_allocate_nothing_on_micropython(micropython) -> None:
    out = micropython.run(
        "import micropython\n"
        "from firmware.core import program\n"
        "from firmware.core.clock import DeviceClock\n"
        "from firmware.core.record_log import MemoryStorage, RecordLog\n"
        "from firmware.core.recorder import Recorder\n"
        "from firmware.core.session import Session\n"
        "_s_log = RecordLog(MemoryStorage(64 + 32 * 16))\n"
        "_s_rec = Recorder(_s_log, DeviceClock(1), 52, lambda t: t)\n"
        "_s = Session(_s_rec, program.decode(program.encode([(1, 2, 50, 0, 30)])))\n"
        "_s.short_press(0)\n"
        "_s_t = 0\n"
        "_s_a = 0\n"
        "micropython.heap_lock()\n"
        "try:\n"
        "    for _s_t in range(1, 20000, 20):\n"
        "        _s_a = _s.tick(_s_t)\n"
        "        if _s_t % 1000 == 1:\n"
        "            _s_a = _s.counted(_s_t, 1 + _s_t % 3000 // 1000 % 2)\n"
        "finally:\n"
        "    micropython.heap_unlock()\n"
        "print(_s.state, _s.reps, _s_a)\n")
    assert out == "1 13 0\n"  # 20 events: rep, partial, rep, ...
