"""Monotonic uptime in ms since boot, built from the wrapping `time.ticks_ms()`.

MicroPython's ticks_ms() wraps every 2**30 ms (about 12.4 days) and `ticks_diff()` is only
right for two ticks less than half that apart (about 6.2 days). `Uptime.ms()` adds up the
differences, so the total never wraps, provided it is called at least once every 6 days:
firmware/main.py calls it every second from its idle task.

The tick functions are injectable so the host tests can drive the wrap-around.
"""


class Uptime:
    def __init__(self, ticks_ms=None, ticks_diff=None, start_ms=None) -> None:
        if ticks_ms is None or ticks_diff is None:
            import time

            ticks_ms = time.ticks_ms
            ticks_diff = time.ticks_diff
        self._ticks_ms = ticks_ms
        self._ticks_diff = ticks_diff
        self._last = ticks_ms()
        # On the wearable the tick counter starts at 0 at reset, so right after boot the tick
        # itself is the uptime (it cannot have wrapped yet).
        self._ms = self._last if start_ms is None else start_ms

    def ms(self) -> int:
        """Milliseconds since boot (grows past 2**30: a heap int then, never per sample)."""
        now = self._ticks_ms()
        self._ms += self._ticks_diff(now, self._last)
        self._last = now
        return self._ms

    def uptime_at(self, tick: int) -> int:
        """Uptime at a wrapping ms tick from the recent past or near future (within 6 days):
        the callable `firmware.core.recorder.Recorder` takes as `uptime_at`."""
        now_ms = self.ms()
        return now_ms + self._ticks_diff(tick, self._last)
