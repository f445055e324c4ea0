"""Where a record is born: counter events during a set become REP records, the end of the
set a SET record, each appended to the record log with the next sequence number.

The caller feeds samples with a wrapping ms tick (cheap small ints) and supplies
`uptime_at(tick)`, which turns such a tick into the monotonic uptime in ms; it is called only
when a record is made, never per sample.
"""

from firmware.core import codec
from firmware.core.compat import const
from firmware.core.counter import EVENT_NONE, EVENT_PARTIAL, EVENT_REP, RepCounter, isqrt

_TICKS_MASK = const(0x3FFFFFFF)
_REST_MS = const(8000)  # a gap this long between two reps counts as a rest


class Recorder:
    def __init__(self, log, clock, rate_hz: int, uptime_at) -> None:
        self.log = log
        self.clock = clock
        self.counter = RepCounter(rate_hz)
        self._uptime_at = uptime_at
        self.exercise = 0
        self.set_no = 0
        self.in_set = False
        self.refused = 0

    def start_set(self, exercise: int, t_ms: int, min_rom_cdeg: int = 0) -> None:
        """Begin a set of `exercise` (0 = generic) at tick `t_ms`."""
        self.counter.reset()
        self.counter.min_rom_cdeg = min_rom_cdeg
        self.exercise = exercise
        self.set_no = self.set_no % 255 + 1
        self.in_set = True
        self._start_t = t_ms
        self._prev_end_t = t_ms
        self._n = 0
        self._sum_dur = 0
        self._sum_dur2 = 0
        self._sum_rom = 0
        self._rests = 0

    def sample(self, t_ms: int, ax: int, ay: int, az: int, gx: int, gy: int, gz: int) -> int:
        """Feed one sample during a set; returns the counter's event."""
        event = self.counter.update(t_ms, ax, ay, az, gx, gy, gz)
        if event != EVENT_NONE:
            self._on_rep(event)
        return event

    def _flags(self, partial: bool) -> int:
        flags = codec.FLAG_TIME_VALID if self.clock.time_valid else 0
        return flags | codec.FLAG_PARTIAL if partial else flags

    def _append(self, record) -> None:
        if not self.log.append(record):
            self.refused += 1

    def _on_rep(self, event: int) -> None:
        # The counter may confirm a rep a few reps late: it is stamped with its own end.
        c = self.counter
        t_ms = c.rep_end_ms
        if event == EVENT_REP:
            start = (t_ms - c.rep_duration_ms) & _TICKS_MASK
            if (start - self._prev_end_t) & _TICKS_MASK > _REST_MS and self._n:
                self._rests += 1
            self._prev_end_t = t_ms
            self._n += 1
            self._sum_dur += c.rep_duration_ms
            self._sum_dur2 += c.rep_duration_ms * c.rep_duration_ms
            self._sum_rom += c.rep_rom_cdeg
        rep_no = c.reps if event == EVENT_REP else c.partials
        self._append(codec.encode_rep(
            self.log.next_seq(), self._flags(event == EVENT_PARTIAL), self.exercise,
            self.set_no, self.clock.stamp(self._uptime_at(t_ms)), self.clock.boot,
            rep_no, c.rep_duration_ms, c.rep_rom_cdeg, c.rep_peak_dps))

    def end_set(self, t_ms: int) -> bool:
        """Close the set at tick `t_ms` with a SET record. False if no set was running."""
        if not self.in_set:
            return False
        self.in_set = False
        self.counter.finish()  # a short set's reps, still waiting for the rhythm
        while self.counter.report() == EVENT_REP:
            self._on_rep(EVENT_REP)
        n = self._n
        mean_rom = self._sum_rom // n if n else 0
        cv_pct = 0
        if n > 1:
            mean = self._sum_dur // n
            var = self._sum_dur2 // n - mean * mean
            if var > 0 and mean > 0:
                cv_pct = isqrt(var) * 100 // mean
        duration_s = ((t_ms - self._start_t) & _TICKS_MASK) // 1000
        self._append(codec.encode_set(
            self.log.next_seq(), self._flags(False), self.exercise, self.set_no,
            self.clock.stamp(self._uptime_at(t_ms)), self.clock.boot, self.counter.reps,
            self.counter.partials, mean_rom, duration_s, cv_pct, self._rests))
        return True

