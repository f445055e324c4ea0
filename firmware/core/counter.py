"""Streaming repetition counter: one IMU sample in, at most one event out.

Integer fixed-point throughout the sample path: MicroPython boxes every float on the heap,
so a float sample path would allocate on every sample and trigger collections at random
moments. `update()` uses only small ints (all intermediate values stay below 2**30, the
small-int limit of 32-bit ports) and attribute stores, so it allocates nothing.

Method (first version; see docs/architecture.md for its limits):
  1. Gravity direction: the accelerometer low-passed with a time constant of ~0.15 s, kept
     with 4 fractional bits. Orientation comes from gravity, so any mounting works.
  2. Rest posture: a much slower average of that direction, updated only while the limb is
     near it, so posture drift between reps is followed but a rep is not.
  3. Excursion: the squared chord between the gravity direction and the rest posture
     (chord = 2 sin(angle / 2) in mg, monotonic in the tilt angle).
  4. A rep is an excursion that starts above max(6 degrees, 25% of the typical rep's
     chord), ends when it falls below 35% of its own peak, and lasts at least 0.4 s; the
     next one may start once the excursion fell below 20% of that peak (hysteresis, so a
     brief return between fast reps suffices). The typical chord follows the reps counted;
     an excursion below 58% of it (or half the prescribed range of motion) is a partial
     rep, reported but not counted.

Inputs: t_ms is a wrapping 30-bit millisecond tick (MicroPython's ticks_ms), acceleration
in mg, angular rate in 0.1 deg/s (0 when the sensor has no gyroscope).
"""

from firmware.core.compat import const

EVENT_NONE = const(0)
EVENT_REP = const(1)
EVENT_PARTIAL = const(2)

_TICKS_MASK = const(0x3FFFFFFF)
_FRAC = const(4)  # fractional bits of the gravity estimates
_MIN_CHORD2 = const(11025)  # (105 mg)^2: 6 degrees, the smallest tilt that can be a rep
_MIN_REP_MS = const(400)
_MAX_REP_MS = const(20000)

# asin table for the range of motion: angle (centidegrees) = 2 * asin(i / 64), i = 0..64.
_ASIN2_CDEG = (
    0, 179, 358, 537, 717, 896, 1076, 1256, 1436, 1617, 1798, 1979, 2161, 2344, 2527, 2711,
    2896, 3081, 3267, 3454, 3642, 3831, 4021, 4212, 4405, 4599, 4794, 4991, 5189, 5389,
    5591, 5794, 6000, 6208, 6418, 6631, 6846, 7064, 7285, 7509, 7736, 7968, 8203, 8442,
    8687, 8936, 9190, 9451, 9718, 9993, 10275, 10567, 10868, 11181, 11508, 11849, 12209,
    12590, 12998, 13440, 13927, 14478, 15128, 15972, 18000,
)


def isqrt(n: int) -> int:
    """Integer square root (floor); ints only, so identical on every port."""
    if n <= 0:
        return 0
    x = n
    y = (x + 1) >> 1
    while y < x:
        x = y
        y = (x + n // x) >> 1
    return x


def chord_to_cdeg(chord_mg: int) -> int:
    """Tilt angle in centidegrees for a chord between two unit (1000 mg) vectors."""
    if chord_mg >= 2000:
        return 18000
    pos = chord_mg * 64  # table index in units of 1/2000
    i = pos // 2000
    frac = pos - i * 2000
    a = _ASIN2_CDEG[i]
    return a + (_ASIN2_CDEG[i + 1] - a) * frac // 2000


def _shift_for(samples: int) -> int:
    # Smallest k with 2**k closest to `samples`: the IIR y += (x - y) >> k then has a time
    # constant of about `samples` samples.
    k = 0
    while (1 << (k + 1)) * 3 <= samples * 4:
        k += 1
    return k


class RepCounter:
    def __init__(self, rate_hz: int, min_rom_cdeg: int = 0) -> None:
        if rate_hz < 10 or rate_hz > 500:
            raise ValueError("sample rate %d Hz outside 10..500" % rate_hz)
        self.rate_hz = rate_hz
        self._k_grav = _shift_for(rate_hz * 15 // 100)
        self._k_rest = _shift_for(rate_hz * 2)
        self.min_rom_cdeg = min_rom_cdeg
        self.reset()

    def reset(self) -> None:
        """Start a new set: forget the posture, thresholds and rep count."""
        self._primed = 0
        self._gx = self._gy = self._gz = 0
        self._rx = self._ry = self._rz = 0
        self._active = False
        self._armed = True
        self._peak2 = 0
        self._typical2 = 0
        self._start_t = 0
        self._speed2 = 0
        self._turn2 = 0
        self.reps = 0
        self.partials = 0
        # Set by each event (read them after update() returned EVENT_REP/PARTIAL):
        self.rep_duration_ms = 0
        self.rep_rom_cdeg = 0
        self.rep_peak_dps = 0

    def update(self, t_ms: int, ax: int, ay: int, az: int, gx: int, gy: int, gz: int) -> int:
        """Feed one sample; returns EVENT_NONE, EVENT_REP or EVENT_PARTIAL."""
        k = self._k_grav
        if self._primed == 0:
            self._gx = self._rx = ax << _FRAC
            self._gy = self._ry = ay << _FRAC
            self._gz = self._rz = az << _FRAC
            self._primed = 1
            return EVENT_NONE
        dx = ((ax << _FRAC) - self._gx) >> k
        dy = ((ay << _FRAC) - self._gy) >> k
        dz = ((az << _FRAC) - self._gz) >> k
        self._gx += dx
        self._gy += dy
        self._gz += dz
        ex = (self._gx - self._rx) >> _FRAC
        ey = (self._gy - self._ry) >> _FRAC
        ez = (self._gz - self._rz) >> _FRAC
        dev2 = ex * ex + ey * ey + ez * ez
        if not self._active:
            kr = self._k_rest
            self._rx += (self._gx - self._rx) >> kr
            self._ry += (self._gy - self._ry) >> kr
            self._rz += (self._gz - self._rz) >> kr
            if not self._armed:
                # Re-arm once back within 20% of the last peak (or 3 degrees).
                if dev2 < self._peak2 // 25 or dev2 < _MIN_CHORD2 >> 2:
                    self._armed = True
                return EVENT_NONE
            # Start an excursion above 6 degrees and a quarter of the typical rep.
            if dev2 > _MIN_CHORD2 and dev2 > self._typical2 >> 4:
                self._active = True
                self._start_t = t_ms
                self._peak2 = dev2
                self._speed2 = 0
                self._turn2 = 0
            return EVENT_NONE
        if dev2 > self._peak2:
            self._peak2 = dev2
        gx //= 10
        gy //= 10
        gz //= 10
        s2 = gx * gx + gy * gy + gz * gz
        if s2 > self._speed2:
            self._speed2 = s2
        # Without a gyroscope the angular speed comes from the change of the gravity
        # direction: |dg| in mg per sample ~ 1000 * rad per sample.
        dx >>= _FRAC
        dy >>= _FRAC
        dz >>= _FRAC
        s2 = dx * dx + dy * dy + dz * dz
        if s2 > self._turn2:
            self._turn2 = s2
        if dev2 >= self._peak2 >> 3:  # still above 35% of this excursion's peak
            if (t_ms - self._start_t) & _TICKS_MASK > _MAX_REP_MS:
                # Held away from the rest posture: a new posture, not a rep.
                self._active = False
                self._armed = True
                self._peak2 = 0
                self._rx = self._gx
                self._ry = self._gy
                self._rz = self._gz
            return EVENT_NONE
        self._active = False
        self._armed = False
        duration = (t_ms - self._start_t) & _TICKS_MASK
        if duration < _MIN_REP_MS:
            return EVENT_NONE
        return self._finish_rep(duration)

    def _finish_rep(self, duration_ms: int) -> int:
        # Once per rep, never per sample: may allocate.
        peak2 = self._peak2
        rom = chord_to_cdeg(isqrt(peak2))
        self.rep_duration_ms = duration_ms
        self.rep_rom_cdeg = rom
        if self._speed2 > 0:
            self.rep_peak_dps = isqrt(self._speed2)
        else:
            self.rep_peak_dps = isqrt(self._turn2) * 573 * self.rate_hz // 10000
        partial = self._typical2 > 0 and peak2 < self._typical2 // 3
        if self.min_rom_cdeg and rom * 2 < self.min_rom_cdeg:
            partial = True
        if partial:
            self.partials += 1
            return EVENT_PARTIAL
        # The typical peak follows the reps: 3/4 old + 1/4 new.
        if self._typical2 == 0:
            self._typical2 = peak2
        else:
            self._typical2 = (self._typical2 * 3 + peak2) >> 2
        self.reps += 1
        return EVENT_REP
