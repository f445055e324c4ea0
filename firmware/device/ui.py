"""The wearable's user interface: one button in, one LED and one vibration motor out.

Button: the pin interrupt only sets a ThreadSafeFlag; a task then samples the level every
10 ms and `PressDetector` (pure, tested on the host) debounces it and tells a short press from
a long one. A long press is reported as soon as the threshold is reached, while the button is
still held, so the wearer feels the answer without letting go.

Feedback: patterns are tuples of (led, motor, duration_ms) steps, played by a task.
`Feedback.play()` only stores the pattern and sets a flag, so the sampling loop can call it on
every rep without allocating or waiting. `show()` plays what the session state machine
(firmware/core/session.py) asks for: its action codes index the PATTERNS table.
"""

import asyncio
import time

from firmware.core import session
from firmware.core.compat import const

PRESS_NONE = const(0)
PRESS_SHORT = const(1)
PRESS_LONG = const(2)

_TICKS_MASK = const(0x3FFFFFFF)
_DEBOUNCE_MS = const(30)
_LONG_MS = const(1500)
_POLL_MS = const(10)

# Patterns: (led 0/1, motor 0/1, ms) steps; LED and motor are switched off after the last.
REP = ((1, 1, 80),)
SET_START = ((1, 1, 250),)
SET_END = ((1, 1, 120), (0, 0, 120), (1, 1, 120))
TARGET = ((1, 1, 150), (0, 0, 100), (1, 1, 150), (0, 0, 100), (1, 1, 400))
ERROR = ((1, 0, 100), (0, 0, 100), (1, 0, 100), (0, 0, 100), (1, 0, 100), (0, 0, 100),
         (1, 1, 600))  # log full or sensor failure
LOW_BATTERY = ((1, 0, 50), (0, 0, 450), (1, 0, 50), (0, 0, 450), (1, 0, 50))
READY = ((1, 0, 150),)  # awake and advertising
GOODBYE = ((1, 1, 60), (0, 0, 60), (1, 0, 400))  # going to sleep on request
PARTIAL = ((1, 0, 40),)  # seen, not counted: the LED only
SET_VOID = ((0, 1, 500),)  # a set without a counted rep: it does not count
PROGRAM_DONE = ((1, 1, 100), (0, 0, 80), (1, 1, 100), (0, 0, 80), (1, 1, 100), (0, 0, 80),
                (1, 1, 100), (0, 0, 300), (1, 1, 800))
SKIPPED = ((1, 0, 400), (0, 0, 100), (1, 1, 60))
REST_OVER = ((1, 0, 100), (0, 0, 100), (1, 0, 100), (0, 0, 100), (1, 1, 300))  # next set ready

PRIO_NORMAL = const(0)
PRIO_HIGH = const(1)  # errors and the target: a later rep pulse does not replace them

# Indexed by firmware.core.session action codes (ACT_NONE .. ACT_SLEEP).
PATTERNS = (None, SET_START, REP, PARTIAL, TARGET, SET_END, SET_VOID, PROGRAM_DONE, SKIPPED,
            REST_OVER, LOW_BATTERY, ERROR, GOODBYE)
PRIOS = (PRIO_NORMAL, PRIO_NORMAL, PRIO_NORMAL, PRIO_NORMAL, PRIO_HIGH, PRIO_NORMAL,
         PRIO_NORMAL, PRIO_HIGH, PRIO_NORMAL, PRIO_NORMAL, PRIO_NORMAL, PRIO_HIGH, PRIO_NORMAL)


def _set_start_for(item: int):
    # The set-start buzz, then the LED blinks the item's number (1 = the first exercise of
    # the program), so the patient can check which exercise the wearable expects.
    steps = [SET_START[0], (0, 0, 300)]
    for _ in range(item + 1):
        steps.append((1, 0, 120))
        steps.append((0, 0, 200))
    return tuple(steps)


SET_START_ITEM = tuple(_set_start_for(i) for i in range(6))  # firmware.core.program.MAX_ITEMS


def show(feedback, action: int, item: int = -1) -> None:
    """Play the pattern for a session action (nothing for ACT_NONE). `item`: the program
    item of a starting set (-1 for a generic set). Allocation-free."""
    if action == session.ACT_SET_START and 0 <= item < len(SET_START_ITEM):
        feedback.play(SET_START_ITEM[item])
        return
    pattern = PATTERNS[action]
    if pattern is not None:
        feedback.play(pattern, PRIOS[action])


def pattern_ms(pattern) -> int:
    """Total duration of a pattern in ms."""
    total = 0
    for _, _, ms in pattern:
        total += ms
    return total


class PressDetector:
    """Debounce and classify a button from (tick, pressed) samples; no hardware, no clock.

    A level counts once it held for `debounce_ms`. A press held `long_ms` is reported as
    PRESS_LONG at that moment (its release then reports nothing); a shorter one is reported as
    PRESS_SHORT on release. Ticks are wrapping ms ticks (time.ticks_ms)."""

    def __init__(self, debounce_ms: int = _DEBOUNCE_MS, long_ms: int = _LONG_MS) -> None:
        self.debounce_ms = debounce_ms
        self.long_ms = long_ms
        self._stable = False  # debounced level: True = pressed
        self._raw = False  # last sampled level
        self._raw_since = 0  # tick at which the raw level last changed
        self._pressed_at = 0
        self._reported = False  # the current press was already reported (long, or swallowed)

    def busy(self) -> bool:
        """True while a press is under way or a level change awaits debouncing."""
        return self._stable or self._raw

    def swallow(self, t_ms) -> None:
        """Treat the button as held since `t_ms` and report nothing for this press (used for
        the press that woke the wearable from deep sleep)."""
        self._stable = self._raw = True
        self._raw_since = self._pressed_at = t_ms
        self._reported = True

    def update(self, t_ms, pressed: bool) -> int:
        if pressed != self._raw:
            self._raw = pressed
            self._raw_since = t_ms
            return PRESS_NONE
        if pressed == self._stable:
            if (pressed and not self._reported
                    and (t_ms - self._pressed_at) & _TICKS_MASK >= self.long_ms):
                self._reported = True
                return PRESS_LONG
            return PRESS_NONE
        if (t_ms - self._raw_since) & _TICKS_MASK < self.debounce_ms:
            return PRESS_NONE
        self._stable = pressed
        if pressed:
            self._pressed_at = self._raw_since
            self._reported = False
            return PRESS_NONE
        if self._reported:
            return PRESS_NONE
        return PRESS_SHORT


class Button:
    """A push button on `pin` (a machine.Pin configured as input; to GND with a pull-up, so
    `active_low`). Await `press()` for the next PRESS_SHORT or PRESS_LONG."""

    def __init__(self, pin, active_low: bool = True, detector=None) -> None:
        self._pin = pin
        self._active_level = 0 if active_low else 1
        self.detector = detector if detector is not None else PressDetector()
        self._flag = asyncio.ThreadSafeFlag()
        pin.irq(handler=self._irq, trigger=pin.IRQ_FALLING | pin.IRQ_RISING)

    def _irq(self, _pin) -> None:
        self._flag.set()  # interrupt context: signal only, the task does the work

    def poke(self) -> None:
        """Make the task look at the pin (after a light sleep that may have hidden an edge)."""
        self._flag.set()

    def is_pressed(self) -> bool:
        return self._pin.value() == self._active_level

    async def press(self) -> int:
        det = self.detector
        while True:
            if not det.busy() and not self.is_pressed():
                await self._flag.wait()
            event = det.update(time.ticks_ms(), self.is_pressed())
            if event != PRESS_NONE:
                return event
            await asyncio.sleep_ms(_POLL_MS)


class Feedback:
    """Plays patterns on the LED and the motor (objects with `value(0/1)`, e.g. machine.Pin;
    the motor pin drives the transistor's gate, high = on)."""

    def __init__(self, led, motor) -> None:
        self._led = led
        self._motor = motor
        self._next = None
        self._next_prio = PRIO_NORMAL
        self._playing = False
        self._flag = asyncio.ThreadSafeFlag()
        self.off()

    def off(self) -> None:
        self._led.value(0)
        self._motor.value(0)

    def play(self, pattern, prio: int = PRIO_NORMAL) -> None:
        """Queue `pattern` to play after the current one; it replaces a queued pattern of the
        same or lower priority. Allocation-free: safe in the sampling loop."""
        if self._next is not None and prio < self._next_prio:
            return
        self._next = pattern
        self._next_prio = prio
        self._flag.set()

    def busy(self) -> bool:
        return self._playing or self._next is not None

    async def run(self) -> None:
        while True:
            await self._flag.wait()
            pattern = self._next
            self._next = None
            self._next_prio = PRIO_NORMAL
            if pattern is None:
                continue
            self._playing = True
            try:
                for led, motor, ms in pattern:
                    self._led.value(led)
                    self._motor.value(motor)
                    await asyncio.sleep_ms(ms)
            finally:
                self.off()
                self._playing = False
