"""The wearable's patient experience: one button in, an LED and a motor out, as a state machine.

Pure logic like the rest of the core: every event comes in with its time (a wrapping 30-bit
ms tick, or seconds for the day logic), and every event method returns one action, a small
int the device shell maps to an LED / motor pattern (firmware/device/ui.py). The session
drives the Recorder (start_set / end_set); the shell feeds the samples to the Recorder
itself and hands over only the counter's events, so nothing here runs per sample except
`tick()` (a few int comparisons, no allocation).

States
  IDLE     the next set is ready: a press starts it (no program: a generic set)
  IN_SET   the Recorder counts; a press (short or long) ends the set
  RESTING  the prescribed rest after a set; a press starts the next set at once
  DONE     every prescribed set of today is done or skipped; a press starts an extra,
           generic set (the wearable never refuses to count)

Rules
  * A prescribed set is started with its exercise code and target ROM; its target is the
    prescribed reps. Without a program (or for an extra set) the code is 0 (generic) and the
    target GENERIC_TARGET_REPS.
  * Each counted rep plays REP; the rep that reaches the target plays TARGET instead (once
    per set). Partial reps play PARTIAL and do not count toward the target.
  * A set ends by a press, or by itself after SET_IDLE_MS without a counter event (rep or
    partial; FIRST_REP_WAIT_MS before the first one, AUTO_FIRST_REP_MS for a set started
    by motion). A set ended by inactivity is closed at its last counter event. Reps the
    counter confirms only at the end of the set (a short set) count for the set too.
  * A prescribed set with at least one counted rep counts as done (SET_DONE, or
    PROGRAM_DONE for the last one) and its item's rest follows. A set with no counted rep
    does not count (SET_VOID): the same set is next.
  * A long press outside a set skips the next prescribed set (SKIPPED, or PROGRAM_DONE if it
    was the last). With nothing to skip (no program, or done) it asks for sleep (SLEEP).
  * Auto-start (optional, program flag FLAG_AUTO_START): once a rest is over, motion within
    AUTO_WINDOW_MS starts the next set by itself. Never the first set of a session: the
    wearable wakes on any motion, so a session always starts with a press.
  * Low battery: LOW_BATTERY once a day (not while charging, never during a set) when the
    estimated days left are at most 1. Estimate: days = percent * days_per_charge // 100,
    with days_per_charge = 10 by default, the pessimistic end of hardware/power_budget.md
    (about 15 days per charge, +-40 %) rounded down for the fuel gauge's ~10 % error. So the
    warning comes below 20 %.
  * A new day resets the progress. The shell reports (now_s, unix_s) at least every minute:
    `unix_s` is Unix time (0 if unknown), `now_s` a seconds clock that keeps running through
    deep sleep (the ESP32 RTC). With the time known, the day is the local date from the
    program's UTC offset and progress resets at local midnight. Without it, progress resets
    after NEW_DAY_GAP_S without a set or skip, or when `now_s` went backwards (a power
    loss). Progress made before the time was known is kept when the time becomes known.
    The day is not checked during a set.

The progress is handed to `save(bytes)` whenever it changes (a few times a day), because
each deep-sleep wake is a reboot.
"""

from firmware.core.compat import const
from firmware.core.counter import EVENT_PARTIAL, EVENT_REP
from firmware.core.program import FLAG_AUTO_START, PROGRESS_BATTERY_WARNED, Program, Progress

# States
IDLE = const(0)
IN_SET = const(1)
RESTING = const(2)
DONE = const(3)

# Actions (what to play)
ACT_NONE = const(0)
ACT_SET_START = const(1)
ACT_REP = const(2)
ACT_PARTIAL = const(3)
ACT_TARGET = const(4)
ACT_SET_DONE = const(5)
ACT_SET_VOID = const(6)
ACT_PROGRAM_DONE = const(7)
ACT_SKIPPED = const(8)
ACT_REST_OVER = const(9)
ACT_LOW_BATTERY = const(10)
ACT_ERROR = const(11)  # played by the shell (sensor, log full); never returned here
ACT_SLEEP = const(12)
ACTION_COUNT = const(13)

GENERIC_EXERCISE = const(0)
GENERIC_TARGET_REPS = const(10)
SET_IDLE_MS = const(30_000)
FIRST_REP_WAIT_MS = const(60_000)
AUTO_FIRST_REP_MS = const(20_000)
AUTO_WINDOW_MS = const(120_000)
NEW_DAY_GAP_S = const(8 * 3600)
DAYS_PER_CHARGE = const(10)

_TICKS_MASK = const(0x3FFFFFFF)
_SECONDS_PER_DAY = const(86400)


def _elapsed(t_ms: int, since: int) -> int:
    return (t_ms - since) & _TICKS_MASK


class Session:
    def __init__(self, recorder, program=None, progress=None, save=None,
                 days_per_charge: int = DAYS_PER_CHARGE) -> None:
        """`program`: a firmware.core.program.Program or None (generic sets); `progress`: the
        stored Progress or None; `save(bytes)`: keeps the progress (flash)."""
        self.recorder = recorder
        self._save = save
        self.days_per_charge = days_per_charge
        self.state = IDLE
        self.reps = 0  # counted reps in the running (or last) set
        self.target = 0
        self.item = -1  # program item of the running set, -1 for a generic set
        self._prescribed = False
        self._auto = False
        self._target_played = False
        self._start_t = 0
        self._last_t = 0
        self._heard = False  # a counter event came in this set
        self._rest_t = 0
        self._rest_ms = 0
        self._ready_t = 0
        self._ready_after_rest = False
        self._now_s = 0
        self.program: Program | None = None
        self.progress = Progress()
        self.load(program, progress)

    # -- program ------------------------------------------------------------------------------
    def load(self, program, progress=None) -> None:
        """Use `program` (None or no items: generic sets). The progress is kept if it belongs
        to the same program (same CRC), so sending the same program again changes nothing."""
        if program is not None and program.count == 0:
            program = None
        self.program = program
        crc = program.crc if program is not None else 0
        if progress is None:
            progress = self.progress
        if progress.program_crc != crc:
            progress = Progress(crc, progress.day, progress.last_s, 0, progress.flags)
            self.progress = progress
            self._store()
        self.progress = progress
        if self.state != IN_SET:
            self._ready(False)
        elif self._prescribed:
            self._prescribed = False  # the running set belonged to the old program

    def sets_left(self) -> int:
        if self.program is None:
            return 0
        left = self.program.total_sets - self.progress.next_set
        return left if left > 0 else 0

    def _store(self) -> None:
        if self._save is not None:
            self._save(self.progress.encode())

    def _ready(self, after_rest: bool) -> None:
        self.state = DONE if self.program is not None and self.sets_left() == 0 else IDLE
        self._ready_after_rest = after_rest

    # -- button ---------------------------------------------------------------------------
    def short_press(self, t_ms: int) -> int:
        if self.state == IN_SET:
            return self.end_set(t_ms)
        return self._start(t_ms, False)

    def long_press(self, t_ms: int) -> int:
        if self.state == IN_SET:
            return self.end_set(t_ms)
        if self.sets_left() == 0:
            return ACT_SLEEP
        self._advance()
        self._ready(False)
        return ACT_PROGRAM_DONE if self.state == DONE else ACT_SKIPPED

    # -- sets -----------------------------------------------------------------------------
    def _start(self, t_ms: int, auto: bool) -> int:
        program = self.program
        if program is not None and self.sets_left() > 0:
            i = program.item_of(self.progress.next_set)
            self.item = i
            self.target = program.reps(i)
            self._prescribed = True
            self.recorder.start_set(program.exercise(i), t_ms, program.target_rom_cdeg(i))
        else:
            self.item = -1
            self.target = GENERIC_TARGET_REPS
            self._prescribed = False
            self.recorder.start_set(GENERIC_EXERCISE, t_ms, 0)
        self.state = IN_SET
        self.reps = 0
        self._auto = auto
        self._target_played = False
        self._heard = False
        self._start_t = self._last_t = t_ms
        return ACT_SET_START

    def counted(self, t_ms: int, event: int) -> int:
        """A counter event (Recorder.sample's return value, not EVENT_NONE) during a set."""
        if self.state != IN_SET:
            return ACT_NONE
        self._last_t = t_ms
        self._heard = True
        if event == EVENT_PARTIAL:
            return ACT_PARTIAL
        if event != EVENT_REP:
            return ACT_NONE
        self.reps += 1
        if self.reps >= self.target and not self._target_played:
            self._target_played = True
            return ACT_TARGET
        return ACT_REP

    def end_set(self, t_ms: int) -> int:
        """End the running set now (a press, or the shell after a sensor failure)."""
        if self.state != IN_SET:
            return ACT_NONE
        self.recorder.end_set(t_ms)
        # The counter confirms a short set's last reps only when the set ends (the recorder
        # flushes them then): take its final count.
        final = self.recorder.counter.reps
        if final > self.reps:
            self.reps = final
        if self.reps == 0:
            self._ready(False)
            return ACT_SET_VOID
        if not self._prescribed:
            self._ready(False)
            return ACT_SET_DONE
        rest_s = self.program.rest_s(self.item) if self.program is not None else 0
        self._advance()
        if self.sets_left() == 0:
            self._ready(False)
            return ACT_PROGRAM_DONE
        if rest_s:
            self.state = RESTING
            self._rest_t = t_ms
            self._rest_ms = rest_s * 1000
        else:
            self._ready(True)
            self._ready_t = t_ms
        return ACT_SET_DONE

    def _advance(self) -> None:
        p = self.progress
        p.next_set += 1
        p.last_s = self._now_s
        self._store()

    # -- time ---------------------------------------------------------------------------------
    def tick(self, t_ms: int) -> int:
        """Call every batch during a set and every second or so outside one: ends a set
        after inactivity, ends a rest. Allocation-free."""
        state = self.state
        if state == IN_SET:
            if not self._heard:
                wait = AUTO_FIRST_REP_MS if self._auto else FIRST_REP_WAIT_MS
            else:
                wait = SET_IDLE_MS
            if _elapsed(t_ms, self._last_t) >= wait:
                return self.end_set(self._last_t)
            return ACT_NONE
        if state == RESTING and _elapsed(t_ms, self._rest_t) >= self._rest_ms:
            self._ready(True)
            self._ready_t = t_ms
            return ACT_REST_OVER
        return ACT_NONE

    def resting(self) -> bool:
        return self.state == RESTING

    # -- motion -------------------------------------------------------------------------------
    def wants_motion(self, t_ms: int) -> bool:
        """True while motion may soon start a set: the shell then watches (and clears) the
        IMU's motion flag, also during the rest, so motion during the rest is forgotten."""
        program = self.program
        if program is None or not program.flags & FLAG_AUTO_START:
            return False
        if self.state == RESTING:
            return True
        return self.motion_starts_set(t_ms)

    def motion_starts_set(self, t_ms: int) -> bool:
        program = self.program
        return (program is not None and program.flags & FLAG_AUTO_START != 0 and self.state == IDLE
                and self._ready_after_rest and self.sets_left() > 0
                and _elapsed(t_ms, self._ready_t) < AUTO_WINDOW_MS)

    def motion(self, t_ms: int) -> int:
        """The IMU saw motion (the shell's hint). Starts the next set if auto-start allows."""
        if not self.motion_starts_set(t_ms):
            return ACT_NONE
        return self._start(t_ms, True)

    # -- battery and day ----------------------------------------------------------------------
    def days_left(self, pct: int) -> int:
        return pct * self.days_per_charge // 100

    def battery(self, pct: int, charging: bool) -> int:
        p = self.progress
        if (charging or self.state == IN_SET or p.flags & PROGRESS_BATTERY_WARNED
                or self.days_left(pct) > 1):
            return ACT_NONE
        p.flags |= PROGRESS_BATTERY_WARNED
        self._store()
        return ACT_LOW_BATTERY

    def local_day(self, unix_s: int) -> int:
        """Local day number (days since 1970-01-01) for Unix seconds; -1 if unknown (0)."""
        if unix_s <= 0:
            return -1
        offset = self.program.utc_offset_min if self.program is not None else 0
        return (unix_s + offset * 60) // _SECONDS_PER_DAY

    def clock(self, now_s: int, unix_s: int) -> bool:
        """The shell's clocks (see the module doc); True if a new day reset the progress."""
        self._now_s = now_s
        if self.state == IN_SET:
            return False
        p = self.progress
        day = self.local_day(unix_s)
        if day >= 0 and p.day >= 0:
            new_day = day != p.day
        elif day >= 0:  # the time just became known: keep what was done without it
            p.day = day
            p.last_s = now_s
            self._store()
            return False
        else:
            new_day = now_s < p.last_s or now_s - p.last_s >= NEW_DAY_GAP_S
        if not new_day:
            return False
        p.day = day
        p.last_s = now_s
        p.next_set = 0
        p.flags = 0
        self._store()
        self._ready(False)
        return True
