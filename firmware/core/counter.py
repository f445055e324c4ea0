"""Streaming repetition counter: one IMU sample in, at most one event out.

Integer fixed-point throughout the sample path: MicroPython boxes every float on the heap,
so a float sample path would allocate on every sample and trigger collections at random
moments. `update()` uses only small ints (all intermediate values stay below 2**30, the
small-int limit of 32-bit ports) and attribute stores, so it allocates nothing.

Per sample only a box sum is kept; the method below runs once per block of rate // 24 Hz
samples (24-48 Hz; 26 Hz at 26, 52 and 104 Hz; every sample below 24 Hz). The box is the
decimation's anti-alias filter; the rep band is below 2 Hz. Reps owed are still reported
one per sample.

Method (generic mode: no exercise, axis or placement assumed):
  1. Counting signal: the accelerometer (gravity included) low-passed twice (~2 Hz), minus
     its slow mean (~4 s): posture changes of the segment and the linear acceleration of
     the rep, in sensor axes.
  2. Principal axis: a streaming covariance of that signal (~5 s) and one fixed-point power
     iteration every few samples give the direction along which the signal varies most; the
     signal projected on it is one number per sample, whatever the sensor's orientation.
  3. Rep detector: a Schmitt trigger on that number with thresholds at 35% and 65% of its
     running envelope (max/min followed up at once and decaying in ~6 s), so a rep is one
     full swing of the dominant motion and small lobes inside a rep do not split it. The
     side of the first swing is the rest side; an excursion from it that reaches 40% but
     not 65% of the envelope is a partial rep.
  4. Rhythm gate: a swing is a candidate; candidates are counted once three of them come
     at a regular pace (interval ratio below 2), so single movements and fidgets are not
     reps. A full swing less than 0.8 s after a candidate is a second lobe of the same rep
     and merged into it (a partial one too while a new run is held); one less than 0.8 s
     after that lobe is a step and ends the run. The first reps are then reported late, one
     event per sample. A pause longer than 2.5 rep periods ends the run; the next needs
     three regular candidates again. Within a run, a swing that comes sooner than the period
     with less than half the peak-to-peak of the last three candidates (their median) is the
     lesser lobe of a slow rep and is not counted. The same holds for the middle one of the
     three candidates that would start a run, against the third (the first swing of a set
     is measured while the axis still settles), if it came well before the pace (less than
     3/4 of the next interval, beyond a rhythm's own variation): the second lobe of a
     lead-in movement or of a first rep, not a rep of its own.
     Gait gate: |a| of each block step goes into a ring; at a candidate that comes less
     than 1.6 s after the previous one, the normalised autocorrelation of |a| over the
     last two intervals is taken at half the interval (0.85, 1, 1.15 x). A stride holds two
     steps, so a walk's |a| repeats there (above 0.3, and 0.3 above its value at a quarter
     of the interval, where the steps are out of phase); reps do not. On the shank the
     leg's own swing and heel strike dominate |a| (out of phase at half the stride), so
     with a gyroscope a stride is also known by |w|: in each of the last two intervals it
     peaks above 200 deg/s, stays above half that peak for less than half the interval
     and below an eighth of it for less than a quarter (a short fast swing, then a stance
     in which the shank still turns over the foot; a rep turns smoothly, or slowly, or
     fast between holds). Then every candidate of the next 4 s ends the run and is not
     counted.
     Half reps: a lift that moves the wrist along a line (a press, a squat with the bar)
     can make two like swings per rep, its way up and its way down, too far apart to
     merge. |a| does not depend on the orientation and tells the halves apart: at a
     candidate of a run less than 2.2 s after the last one, if |a| varied by 1.2 g^2 or
     more over the last two intervals and its normalised autocorrelation is below 0.15 at
     the interval (0.85, 1, 1.15 x) but above 0.2, and 0.3 above that, at twice the
     interval, the candidate is the other half of the last rep and not counted; reps of
     the run still held were halves too (half of them, rounded up, are kept). A limb's
     rotation changes |a| little, and alike at every swing.
  5. Episodes: reps done one at a time, with a pause after each, are movements bounded by
     stillness (the acceleration within 12 mg of its ~150 ms mean for 0.4 s). An episode
     0.5-8 s long that turned the limb by 2 deg or more, in which the detector saw no full
     swing (a heel raise on the shank, a rep whose swing stayed inside the thresholds), is
     a candidate of its own, unless it went one way and stayed there with the detector's
     swing still out (the way out to a hold: the swing's return is the rep). It joins the
     rhythm only as part of a chain: as long as the episode before it (within 1.4 x), after
     a pause of at most 2 episode lengths, with no swing of the detector in between;
     fidgets at rest vary and come after long still spells.
     Chains: two such episodes in a row that each went and came back, as long as each
     other, the pause between them no longer than the second, where the detector did not
     see exactly one swing in each (a rep of several lobes, like a lunge seen at the thigh;
     one too small for it), switch the counter to one candidate per episode: the detector's
     candidates since the first of the two are taken back, the two episodes replace them,
     and until the chain breaks each further episode is a candidate and the detector's
     swings are not (nor are lesser lobes or steps looked for: stillness bounds each). With
     a gyroscope, an episode whose gravity changed more than twice as much as the limb
     turned came back all the same (the sensor resettled, or recordings were joined).
  6. Orientation: the gravity direction from a complementary filter (gyroscope integrated,
     pulled towards the accelerometer in ~1 s) or, without a gyroscope, the accelerometer
     low-passed (~0.15 s). The range of motion is the angle between the gravity directions
     at the rest end and at the peak of the rep's swing.

Inputs: t_ms is a wrapping 30-bit millisecond tick (MicroPython's ticks_ms), acceleration
in mg, angular rate in 0.1 deg/s (0 when the sensor has no gyroscope).
"""

from array import array

from firmware.core.compat import const

EVENT_NONE = const(0)
EVENT_REP = const(1)
EVENT_PARTIAL = const(2)

_TICKS_MASK = const(0x3FFFFFFF)
_FRAC = const(4)  # fractional bits of the filtered accelerations (mg << 4)

# Time constants (ms) of the first-order filters.
_LP_MS = const(70)  # each of the two low-pass stages of the counting signal
_MEAN_MS = const(4000)  # slow mean removed from it
_COV_MS = const(5000)  # covariance window of the principal axis
_ENV_MS = const(4000)  # decay of the envelope
_GRAV_MS = const(150)  # gravity from the accelerometer alone
_COMP_MS = const(1000)  # pull of the accelerometer on the gyro-propagated gravity
_AXIS_PER_S = const(8)  # power iterations per second
_BLOCK_MHZ = const(24000)  # the signal chain runs at the sample rate / (rate // 24 Hz)

# Detector, in 1/256 of the envelope's range.
_HIGH = const(166)  # 65%: a full excursion
_LOW = const(90)  # 35%: back at rest
_PART = const(102)  # 40%: a partial excursion
_MIN_RANGE = const(45)  # envelope below 90 mg (units of 2 mg): nothing is moving
_MIN_REP_MS = const(400)

# Rhythm gate.
_RUN_REPS = const(3)  # regular candidates that start a run
_MAX_RATIO = const(512)  # interval ratio (1/256) still regular: 2.0
_GAP_X = const(640)  # a run ends after 2.5 rep periods (1/256) without a candidate
_MAX_GAP_MS = const(12000)  # longest interval between two candidates of a new run
_MIN_SPLIT = const(115)  # an interval below 45% of the rep period is a split swing
_QUIET_X = const(384)  # a new run's reps count once 1.5 rep periods passed quietly
_MIN_PERIOD_MS = const(800)  # a faster swing is a second lobe of the rep (or a step)

# Gait gate: |a| of a walk repeats at half the swing interval (a stride holds two steps).
_GAIT_N = const(256)  # ring of |a|^2, one entry per block step (~10 s at 26 Hz)
_GAIT_MAX_T = const(1600)  # swings slower than this are not strides
_GAIT_R = const(77)  # autocorrelation (1/256) at half the interval above 0.3: walking
_GAIT_PEAK = const(77)  # ... and 0.3 above that at a quarter of it (half a step)
_GAIT_DUTY = const(128)  # with a gyroscope: |w| above half its peak for < 50% of an interval
_GAIT_SWING = const(62500)  # ... peaking above 200 deg/s (|w|^2 in (0.8 deg/s)^2)
_GAIT_STILL = const(64)  # ... and below 1/8 of the peak for < 25%: no holds, a stride
_GAIT_HOLD_MS = const(4000)  # candidates this long after a walking verdict are steps
# Half reps: |a| of a lift along a line repeats once per rep, not at every swing.
_HALF_MAX_T = const(2200)  # candidates of a run this close are checked (reps < 4.4 s)
_HALF_R1 = const(38)  # |a| below 0.15 alike one interval back
_HALF_R2 = const(51)  # and above 0.2 alike two intervals back
_HALF_GAP = const(77)  # and 0.3 more: a half rep
_HALF_RANGE = const(1200)  # |a|^2 (mg^2 / 1024) varies by 1.2 g^2 at least: a lift
# Its state lives in one array (few instance attributes keep MicroPython's lookups fast):
# the |a|^2 ring, the deviations of a window (scratch), then these scalars.
_G_DEV = const(256)
_G_I = const(512)  # ring index of the next |a|^2
_G_T0 = const(513)  # tick of the first block: how full the ring is
_G_WALK = const(514)  # tick of the last walking verdict, -1: none
_G_MHZ = const(515)  # block rate, mHz
_G_SWING = const(516)  # tick of the last candidate or merged lobe
_G_MERGED = const(517)  # a second lobe was merged into the last candidate
_G_T = const(518)  # tick of the last block step
# Episodes: movements with stillness before and after them (reps done one at a time).
_G_EX = const(519)  # acceleration averaged over ~150 ms, mg << 4 (x, y, z)
_G_ACT = const(522)  # activity: |a - that average| summed over the axes, over ~100 ms
_G_QUIET = const(523)  # tick since which the activity is below _EP_QUIET, -1: moving
_G_CALM = const(524)  # 1: the last stillness was long enough to bound an episode
_G_EP = const(525)  # 0: still; 1: an episode bounded by stillness; 2: a longer movement
# The episode under way:
_G_EP_T0 = const(526)  # its first tick
_G_EP_R = const(527)  # the gravity at its start, mg << 4 (x, y, z)
_G_EP_P = const(530)  # the gravity farthest from that, mg << 4 (x, y, z)
_G_EP_C = const(533)  # that distance squared, mg^2
_G_EP_NB = const(534)  # full swings the detector made during it
_G_EP_LAST = const(535)  # last tick of the episode before
_G_EP_LD = const(536)  # duration (ms) of the episode before, 0: none
_G_SMIN = const(537)  # lowest and highest projection since the last full swing
_G_SMAX = const(538)
_G_W = const(539)  # ring of |w|^2 ((0.8 deg/s)^2), one entry per block step, as the |a|^2 one
# Reps done one at a time: records of whole episodes (_R_* offsets), the last one and
# the one before it.
_G_PV = const(795)
_G_CU = const(807)
_G_CHAIN = const(819)  # 1: the episodes are the candidates, not the detector's swings
_G_EP_W = const(820)  # angular rate summed over the episode under way (x, y, z)
_G_HB = const(823)  # ticks of the detector's first swings in it, held back by a chain
_HB_N = const(3)
_G_LEN = const(826)
_R_T0 = const(0)  # first tick
_R_R = const(1)  # gravity at the start, mg << 4 (x, y, z)
_R_P = const(4)  # gravity farthest from that (x, y, z)
_R_C = const(7)  # that distance squared, mg^2
_R_T1 = const(8)  # last tick
_R_OK = const(9)  # 1: as long as a rep, turning the limb and back
_R_NB = const(10)  # full swings the detector made during it
_R_BEFORE = const(11)  # last tick of the episode before it
_NONE_BEFORE = const(-536870912)  # _G_EP_LAST before the first episode: long ago
# Episodes; activity in mg << 4, summed over the three axes.
_ACT_MS = const(100)
_EP_QUIET = const(192)  # below 12 mg: still
_EP_MOVE = const(384)  # above 24 mg: moving
_EP_STILL_MS = const(400)  # stillness that bounds an episode
_EP_MIN_MS = const(500)  # an episode as long as a rep
_EP_MAX_MS = const(8000)
_EP_MIN_C = const(1225)  # mg^2: a gravity change of 2 deg (35 mg), above sway
_EP_LIKE = const(358)  # an episode of a chain lasts within 1.4 x of the one before
_EP_GAP_X = const(2)  # ... and comes at most 2 of its lengths after it
_SHORT_LEAD_MS = const(4000)  # a short set's first rep comes within 4 s + 1 interval
_LOBE_AMP = const(128)  # a swing of a run below 50% of its reps' amplitude is a lobe
_END_LOW = const(128)  # at a set's end, a return to 50% of the envelope ends a rep

_UNARMED = const(0)
_REST = const(1)
_OUT = const(2)

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


def _coef(tau_ms: int, rate_mhz: int) -> tuple:
    """(m, s) such that y += (d * m) >> s is a first-order low-pass with time constant
    tau: alpha = dt / (tau + dt). m is in 512..1023, so |d| < 2**20 keeps d * m < 2**30."""
    num = 1000000
    den = tau_ms * rate_mhz + 1000000
    s = 0
    while (num << s) // den < 512:
        s += 1
    return (num << s) // den, s


def _shift_for(samples: int) -> int:
    # k with 2**k closest to `samples`: y += (x - y) >> k has a time constant of ~2**k.
    k = 0
    while (1 << (k + 1)) * 3 <= samples * 4:
        k += 1
    return k


def _deviations(g, n: int) -> int:
    # The last n |a|^2, newest first, minus their mean, scaled to |dev| < 512. Returns
    # their range (mg^2 / 1024).
    j = g[_G_I]
    tot = 0
    lo = hi = g[(j - 1) & (_GAIT_N - 1)]
    for k in range(_G_DEV, _G_DEV + n):
        j = (j - 1) & (_GAIT_N - 1)
        v = g[j]
        g[k] = v
        tot += v
        if v > hi:
            hi = v
        elif v < lo:
            lo = v
    m = tot // n
    sh = 0
    while ((hi - lo) >> sh) >= 512:
        sh += 1
    for k in range(_G_DEV, _G_DEV + n):
        g[k] = (g[k] - m) >> sh
    return hi - lo


def _fast_swing(g, n: int) -> bool:
    # With a gyroscope, per candidate: in each of the last two intervals (n block steps
    # each, newest first in the |w|^2 ring), |w| peaked above _GAIT_SWING and stayed above
    # half that peak for less than _GAIT_DUTY of the interval, and below an eighth of it for
    # less than _GAIT_STILL. A stride is a short fast swing and a long stance in which the
    # shank still turns over the foot, stride after stride; a rep turns the limb smoothly
    # (high duty), or slowly, or fast between holds at its ends (still spells).
    j = g[_G_I]
    for _ in range(2):
        pk = 0
        k = j
        for _ in range(n):
            k = (k - 1) & (_GAIT_N - 1)
            v = g[_G_W + k]
            if v > pk:
                pk = v
        if pk < _GAIT_SWING:
            return False
        c = q = 0
        for _ in range(n):
            j = (j - 1) & (_GAIT_N - 1)
            v = g[_G_W + j]
            if v * 4 > pk:
                c += 1
            elif v < pk >> 6:
                q += 1
        if c * 256 >= n * _GAIT_DUTY or q * 256 >= n * _GAIT_STILL:
            return False
    return True


def _within_2g(v: int) -> int:
    # An acceleration (mg << 4) clamped to +-2 g.
    return -32000 if v < -32000 else (32000 if v > 32000 else v)


def _dist2(g, at: int, x: int, y: int, z: int) -> int:
    # Squared distance, mg^2, of the gravity (x, y, z), mg << 4, from the one at g[at].
    dx = (x - g[at]) >> _FRAC
    dy = (y - g[at + 1]) >> _FRAC
    dz = (z - g[at + 2]) >> _FRAC
    return dx * dx + dy * dy + dz * dz


def _median_before(ring, i: int) -> int:
    # The median of the three entries before ring[i] (a ring of 4): the run's rep amplitude,
    # which one lobe that slipped in, or one big swing (the bar lifted into place), does not
    # move.
    a = ring[(i - 1) & 3]
    b = ring[(i - 2) & 3]
    c = ring[(i - 3) & 3]
    if a > b:
        a, b = b, a
    if b > c:
        b = c
    return a if a > b else b


# What runs once per candidate or episode, not per sample, is written as module functions
# of the counter rather than methods: every method in the class slows MicroPython's
# method lookups on the sample path (measured: four more methods, +20 % per sample).


def _chain_break(rc: "RepCounter", t_ms: int) -> int:
    # The movement under way cannot belong to the chain: the chain is over. The swings
    # the detector saw in this movement so far, held back by it, are candidates again
    # (with the movement's range of motion), in a rhythm of their own: the chain's
    # pace is not theirs.
    g = rc._g
    g[_G_CHAIN] = 0
    rc._owed += rc._held
    rc._held = 0
    rc._run = False
    rc._pending = 0
    rc._have_last = False
    rc._iv = 0
    n = g[_G_EP_NB]
    if n > _HB_N:
        n = _HB_N
    lo = g[_G_SMIN]
    hi = g[_G_SMAX]
    e = EVENT_NONE
    for k in range(n):
        _take_motion(rc, _G_EP_T0)  # the episode under way has a record's layout
        if k:
            rc._start_t = g[_G_HB + k - 1]
        g[_G_SMIN] = lo  # alike: none is the lesser lobe of another
        g[_G_SMAX] = hi
        e = rc._candidate(g[_G_HB + k], False)
    return e


def _rewind(rc: "RepCounter", t0: int) -> None:
    # Forgets the candidates waiting for the rhythm that came after tick t0.
    e = rc._c_end
    while rc._pending and (e[(rc._head - 1) & 3] - t0) & _TICKS_MASK < 1 << 29:
        rc._head = (rc._head - 1) & 3
        rc._pending -= 1
    j = (rc._head - 1) & 3
    rc._have_last = rc._pending > 0
    rc._last_t = rc._g[_G_SWING] = e[j]
    rc._iv = (e[j] - e[(j - 1) & 3]) & _TICKS_MASK if rc._pending > 1 else 0


def _one_way(rc: "RepCounter", c: int) -> bool:
    # The episode under way went one way and stayed there (out to a hold, or back from
    # one): it ends near the farthest point from its start. With a gyroscope, not if
    # the limb's net turn is less than half that change of the gravity: then the
    # gravity moved without the limb (the sensor resettled, or recordings were joined)
    # and the movement was a rep that came back.
    g = rc._g
    d = _dist2(g, _G_EP_R, rc._gx, rc._gy, rc._gz)
    if d * 4 <= c * 3:
        return False
    if not rc._gyro:
        return True
    n = (g[_G_EP_R] >> _FRAC) ** 2 + (g[_G_EP_R + 1] >> _FRAC) ** 2 + (
        g[_G_EP_R + 2] >> _FRAC) ** 2
    if n < 40000:
        return True
    grav = chord_to_cdeg(isqrt(d) * 1000 // isqrt(n))
    # The rates were summed in 0.1 deg/s per block step: x 10 / (block rate in 0.1 Hz)
    # gives the net turn in 0.1 deg per axis (small ints: clamped to a turn).
    k = g[_G_MHZ] // 100
    w = 0
    for i in range(_G_EP_W, _G_EP_W + 3):
        a = g[i] * 10 // k
        if a > 3600:
            a = 3600
        elif a < -3600:
            a = -3600
        w += a * a
    return isqrt(w) * 20 >= grav


def _take_motion(rc: "RepCounter", r: int) -> None:
    # The next candidate's start and range of motion are those of the episode recorded
    # at g[r]: from its start, from the gravity at its start to the one farthest from it.
    g = rc._g
    rc._start_t = g[r + _R_T0]
    rc._rgx = g[r + _R_R]
    rc._rgy = g[r + _R_R + 1]
    rc._rgz = g[r + _R_R + 2]
    rc._pgx = g[r + _R_P]
    rc._pgy = g[r + _R_P + 1]
    rc._pgz = g[r + _R_P + 2]
    rc._speed2 = 0


def _episode_candidate(rc: "RepCounter", r: int) -> int:
    # The episode recorded at g[r] as a candidate, from its start to its end.
    g = rc._g
    _take_motion(rc, r)
    if rc._state == _OUT:
        # The detector's swing is this rep's: it must not come back as another one.
        rc._state = _REST
        rc._qmin = 1 << 28
    return rc._candidate(g[r + _R_T1], False)


def _forget_before(rc: "RepCounter", i: int) -> None:
    # Drops the candidate before ring[i]: the one before it takes its slot.
    j = (i - 1) & 3
    k = (i - 2) & 3
    rc._c_dur[j] = rc._c_dur[k]
    rc._c_rom[j] = rc._c_rom[k]
    rc._c_dps[j] = rc._c_dps[k]
    rc._c_end[j] = rc._c_end[k]
    rc._c_amp[j] = rc._c_amp[k]


def _filled(g, t_ms: int) -> int:
    # How many block steps of the |a|^2 and |w|^2 rings hold data of this set.
    el = (t_ms - g[_G_T0]) & _TICKS_MASK
    if el < _GAIT_N * 1000000 // g[_G_MHZ]:
        return el * g[_G_MHZ] // 1000000
    return _GAIT_N


def _walking(rc: "RepCounter", t_ms: int, iv: int) -> bool:
    # The gait gate: a walking verdict now, or one in the last _GAIT_HOLD_MS.
    g = rc._g
    if _MIN_PERIOD_MS <= iv < _GAIT_MAX_T and _gait(rc, t_ms, iv):
        g[_G_WALK] = t_ms
    if g[_G_WALK] >= 0:
        if (t_ms - g[_G_WALK]) & _TICKS_MASK < _GAIT_HOLD_MS:
            return True
        g[_G_WALK] = -1
    return False


def _gait(rc: "RepCounter", t_ms: int, iv: int) -> bool:
    # Per candidate: does |a| over the last two intervals repeat at half the interval
    # (lags 0.85, 1, 1.15 x iv / 2), with a normalised autocorrelation above 0.3?
    g = rc._g
    mhz = g[_G_MHZ]
    lagc = iv * mhz // 20000  # half the interval in 1/100 block steps
    w = iv * mhz // 500000  # two intervals in block steps
    lmax = (lagc * 115 + 9999) // 10000
    filled = _filled(g, t_ms)
    n = iv * mhz // 1000000  # the interval in block steps
    if rc._gyro and n >= 8 and n * 2 <= filled and _fast_swing(g, n):
        return True
    if w + lmax > filled:
        w = filled - lmax
    if w < 8 or lagc < 200:
        return False
    _deviations(g, w + lmax)
    # Walking: a peak at half the interval, above 0.3 and above the value at a quarter
    # of it (half a step: |a| out of phase). A smooth rep decays from lag 0 instead.
    best = _best_corr(rc, w, lagc)
    return best > _GAIT_R and best > _corr(rc, w, (lagc + 100) // 200) + _GAIT_PEAK


def _best_corr(rc: "RepCounter", w: int, lagc: int) -> int:
    # The highest autocorrelation of the deviations at 0.85, 1 and 1.15 x lagc (1/100
    # block steps).
    best = -256
    for lag in ((lagc * 85) // 10000, (lagc + 50) // 100, (lagc * 115 + 9999) // 10000):
        r = _corr(rc, w, lag)
        if r > best:
            best = r
    return best


def _half(rc: "RepCounter", t_ms: int, iv: int) -> bool:
    # Per candidate of a run: a half rep? |a| does not depend on the orientation; a lift
    # that moves the wrist along a line (a press, a squat) changes it once per rep, but its
    # way up and its way down can both make a full swing of the counting signal. Then |a|
    # over the last two intervals is not alike one interval back (the other half of the
    # rep) but is two intervals back (the same half of the rep before). A limb's rotation
    # changes |a| little and alike at every swing: it needs both, clearly.
    g = rc._g
    mhz = g[_G_MHZ]
    lagc = iv * mhz // 10000  # the interval in 1/100 block steps
    lmax = (lagc * 230 + 9999) // 10000
    w = (lagc + 50) // 50  # two intervals
    filled = _filled(g, t_ms)
    if w + lmax > filled:
        w = filled - lmax
    if w * 100 < lagc or lagc < 800:
        return False
    if _deviations(g, w + lmax) < _HALF_RANGE:
        return False
    r1 = _best_corr(rc, w, lagc)
    if r1 >= _HALF_R1:
        return False
    r2 = _best_corr(rc, w, lagc * 2)
    return r2 > _HALF_R2 and r2 > r1 + _HALF_GAP


def _corr(rc: "RepCounter", w: int, lag: int) -> int:
    # Normalised autocorrelation of the deviations at `lag`, in 1/256.
    g = rc._g
    s = sxx = syy = 0
    for k in range(_G_DEV, _G_DEV + w):
        a = g[k]
        b = g[k + lag]
        s += a * b
        sxx += a * a
        syy += b * b
    den = (isqrt(sxx) * isqrt(syy)) >> 8
    if den <= 0:
        return 0
    return s // den


def _end_run(rc: "RepCounter", t_ms: int) -> None:
    # Swings faster than any rep: steps (walking) or shaking. Reps already confirmed
    # stay counted; those of a run still held are dropped; the rhythm starts again.
    rc._run = False
    rc._held = 0
    rc._last_t = t_ms
    rc._g[_G_MERGED] = 0
    rc._pending = 1
    rc._iv = 0


def _episode_end(rc: "RepCounter", t1: int) -> int:
    # Once per episode (t1: its last tick), not per sample: may allocate.
    g = rc._g
    t0 = g[_G_EP_T0]
    dur = (t1 - t0) & _TICKS_MASK
    ld = g[_G_EP_LD]
    before = g[_G_EP_LAST]
    if before == _NONE_BEFORE:
        before = g[_G_T0]  # the first episode: since the counter started
    gap = (t0 - before) & _TICKS_MASK
    g[_G_EP_LD] = dur
    g[_G_EP_LAST] = t1
    c = g[_G_EP_C]
    one_way = _one_way(rc, c)
    moved = dur >= _EP_MIN_MS and c > _EP_MIN_C  # as long as a rep, turning the limb
    unlike = dur * 256 > ld * _EP_LIKE or ld * 256 > dur * _EP_LIKE
    # The episode as a record; the one before it stays in _G_PV.
    for k in range(8):
        g[_G_CU + k] = g[_G_EP_T0 + k]
    g[_G_CU + _R_T1] = t1
    g[_G_CU + _R_OK] = 1 if moved and not one_way else 0
    g[_G_CU + _R_NB] = g[_G_EP_NB]
    g[_G_CU + _R_BEFORE] = before
    # Reps done one at a time come as a chain of like movements that go and come back,
    # with pauses no longer than themselves. Fidgets vary and come after long still
    # spells; a movement out to a hold stays there (the detector counts those reps).
    chained = g[_G_CU + _R_OK] and g[_G_PV + _R_OK] and not (gap > dur or unlike)
    e = EVENT_NONE
    held_back = False
    if g[_G_CHAIN] and not chained:
        # The chain ends; the detector's swings in this movement were held back by it.
        g[_G_CHAIN] = 0
        held_back = g[_G_EP_NB] > 0
    if g[_G_CHAIN] or held_back:
        e = _episode_candidate(rc, _G_CU)
    elif chained and not rc._run and not rc._held and not rc._owed and (
            g[_G_CU + _R_NB] != 1 or g[_G_PV + _R_NB] != 1):
        # Two such movements in which the detector did not see one swing each (a rep too
        # small for it, or one of several lobes): from now on each movement is a rep,
        # whatever the detector's swings inside it did, and so were these two: they
        # replace the detector's candidates since the movement before them.
        g[_G_CHAIN] = 1
        _rewind(rc, g[_G_PV + _R_BEFORE])
        g[_G_MERGED] = 0
        lo = g[_G_SMIN]
        hi = g[_G_SMAX]
        _episode_candidate(rc, _G_PV)
        g[_G_SMIN] = lo  # both as big as the detector's swings in them
        g[_G_SMAX] = hi
        e = _episode_candidate(rc, _G_CU)
    elif (moved and not g[_G_EP_NB] and not (rc._state == _OUT and one_way)
          and not (ld and (gap > dur * _EP_GAP_X or unlike))
          and not (rc._have_last and (t0 - rc._last_t) & _TICKS_MASK < gap)):
        # One movement in which the detector saw no swing (a small rep), unless it went
        # one way and stayed there with the detector's swing out (the way out to a
        # hold, whose return the detector will count), or it is unlike the one before,
        # or the detector's swings came between them (other movements).
        e = _episode_candidate(rc, _G_CU)
    for k in range(12):
        g[_G_PV + k] = g[_G_CU + k]
    return e


class RepCounter:
    """Counts reps in a stream of samples; see the module docstring for the method.

    After update() returned EVENT_REP or EVENT_PARTIAL, rep_duration_ms, rep_rom_cdeg and
    rep_peak_dps describe that rep. Reps are confirmed by the rhythm gate, so an EVENT_REP
    may come a few reps late; `rep_lag` says how many candidates later it was confirmed
    (0: the rep that just ended)."""

    def __init__(self, rate_hz, min_rom_cdeg: int = 0) -> None:
        if rate_hz < 10 or rate_hz > 500:
            raise ValueError("sample rate %s Hz outside 10..500" % rate_hz)
        mhz = int(rate_hz * 1000 + 0.5)  # millihertz: integer maths from here on
        self.rate_hz = rate_hz
        self._rate_mhz = mhz
        # Decimation: the signal chain runs on box sums of `_dec` samples (24-48 Hz).
        self._dec = max(1, mhz // _BLOCK_MHZ)
        mhz = mhz // self._dec  # the rate of the signal chain from here on
        self._m_lp, self._s_lp = _coef(_LP_MS, mhz)
        self._m_mean, self._s_mean = _coef(_MEAN_MS, mhz)
        self._m_env, self._s_env = _coef(_ENV_MS, mhz)
        self._m_grav, self._s_grav = _coef(_GRAV_MS, mhz)
        self._m_act, self._s_act = _coef(_ACT_MS, mhz)
        self._m_comp, self._s_comp = _coef(_COMP_MS, mhz)
        self._k_cov = _shift_for(_COV_MS * mhz // 1000000)
        self._axis_every = max(1, mhz // (_AXIS_PER_S * 1000))
        # Gyro propagation of gravity: dg = (g x w) * pi / 1800 / rate, with g in mg << 4
        # and w in 0.1 deg/s; computed as ((cross >> 8) * k) >> 12.
        self._k_gyro = int(16 * 3.14159265 / 1800 * 1048576 * 1000 / mhz + 0.5)
        # Per-candidate details until the rhythm gate has decided (ring of 4).
        self._c_dur = array("i", [0, 0, 0, 0])
        self._c_rom = array("i", [0, 0, 0, 0])
        self._c_dps = array("i", [0, 0, 0, 0])
        self._c_end = array("i", [0, 0, 0, 0])
        self._c_amp = array("i", [0, 0, 0, 0])  # peak to peak of the swing (2 mg)
        # Gait gate: |a|^2 per block (mg^2 / 1024), deviations per candidate, scalars.
        self._g = array("i", bytes(4 * _G_LEN))
        self._g[_G_MHZ] = mhz
        self.min_rom_cdeg = min_rom_cdeg
        self.reset()

    def reset(self) -> None:
        """Start a new set: forget the signal, thresholds, rhythm and rep count."""
        self._primed = 0
        self._n = 0
        self._left = self._dec
        self._sax = self._say = self._saz = 0
        self._sgx = self._sgy = self._sgz = 0
        self._l1x = self._l1y = self._l1z = 0
        self._l2x = self._l2y = self._l2z = 0
        self._mx = self._my = self._mz = 0
        self._cxx = self._cyy = self._czz = 0
        self._cxy = self._cxz = self._cyz = 0
        self._vx = self._vy = self._vz = 2365  # unit vector (1, 1, 1) / sqrt(3), Q12
        self._hi = self._lo = 0
        self._gx = self._gy = self._gz = 0  # gravity, mg << 4
        self._gyro = False
        # Detector.
        self._state = _UNARMED
        self._pol = 1
        self._qmin = self._qmax = 0
        self._partial = False
        self._rest_t = 0
        self._start_t = 0
        self._rgx = self._rgy = self._rgz = 0  # gravity at the rest end of the swing
        self._pgx = self._pgy = self._pgz = 0  # gravity at its peak
        self._speed2 = 0
        # Rhythm gate.
        self._last_t = 0
        self._have_last = False
        self._iv = 0  # interval before the last candidate
        self._pending = 0  # candidates waiting for the rhythm
        self._run = False
        self._period = 0
        self._owed = 0  # confirmed reps not yet reported
        self._held = 0  # reps of a new run, waiting for its next candidate or a quiet end
        self._head = 0  # ring index of the next candidate
        self._g[_G_I] = 0
        self._g[_G_WALK] = -1
        self._g[_G_MERGED] = 0
        self._g[_G_SMIN] = 1 << 29
        self._g[_G_SMAX] = -(1 << 29)
        self._g[_G_QUIET] = -1
        self._g[_G_CALM] = 0
        self._g[_G_EP] = 0
        self._g[_G_EP_LAST] = _NONE_BEFORE
        self._g[_G_EP_LD] = 0
        self._g[_G_PV + _R_OK] = 0
        self._g[_G_CHAIN] = 0
        self.reps = 0
        self.partials = 0
        self.rep_lag = 0
        # Set by each event (read them after update() returned EVENT_REP/PARTIAL):
        self.rep_duration_ms = 0
        self.rep_rom_cdeg = 0
        self.rep_peak_dps = 0
        self.rep_end_ms = 0  # tick at which the rep ended (earlier than now if confirmed late)

    @property
    def owed(self) -> int:
        """Reps confirmed but not reported yet (each update() reports at most one)."""
        return self._owed

    def finish(self) -> int:
        """End of the set: candidates still waiting for the rhythm gate are counted if at
        least two came at a pace like the set's (a short set of 2 reps), and a last swing
        cut short on its way back counts if it is half way back and at least half as long
        as the rep before. Returns how many reps are now owed; report() them."""
        g = self._g
        if g[_G_CHAIN]:
            # Reps done one at a time: the movement under way ends here.
            if g[_G_EP] == 1:
                g[_G_EP] = 0
                _episode_end(self, g[_G_T])
            g[_G_CHAIN] = 0
        elif self._state == _OUT and self._primed:
            # The last rep's return, cut short by the end of the recording: half way back.
            hx = (self._l2x - self._mx) >> 5
            hy = (self._l2y - self._my) >> 5
            hz = (self._l2z - self._mz) >> 5
            p = (self._vx * hx + self._vy * hy + self._vz * hz) >> 8
            rng = (self._hi - self._lo) >> _FRAC
            q = ((p - self._lo) if self._pol > 0 else (self._hi - p)) >> _FRAC
            t = self._g[_G_T]
            dur = ((t - self._start_t) & _TICKS_MASK) * 2
            if (rng >= _MIN_RANGE and q * 256 < rng * _END_LOW
                    and dur >= self._c_dur[(self._head - 1) & 3]):
                self._state = _REST
                if self._candidate(t, False) == EVENT_PARTIAL:
                    self.partials -= 1  # too small: a partial rep, but none is reported now
        self._owed += self._held
        self._held = 0
        n = self._pending
        regular = self._period == 0 or (self._iv * 256 < self._period * _MAX_RATIO
                                        and self._iv * _MAX_RATIO > self._period * 256)
        # Two swings further apart than half the longest gap of a run (6 s) are two
        # separate movements (shifting in a chair), not a short set. Nor are swings at the
        # end of a long stretch without reps: a short set starts with its first rep.
        first = (self._last_t - self._iv * (n - 1) - self._g[_G_T0]) & _TICKS_MASK
        if (n >= 2 and not self._run and regular and self._iv * 2 <= _MAX_GAP_MS
                and (self._period or first <= self._iv + _SHORT_LEAD_MS)):
            self._owed += n
        self._pending = 0
        self._have_last = False
        return self._owed

    def report(self) -> int:
        """EVENT_REP for the oldest owed rep (its details in the rep_* attributes), else
        EVENT_NONE."""
        if self._owed > 0:
            return self._report()
        return EVENT_NONE

    def update(self, t_ms: int, ax: int, ay: int, az: int, gx: int, gy: int, gz: int) -> int:
        """Feed one sample; returns EVENT_NONE, EVENT_REP or EVENT_PARTIAL."""
        # Per sample: only a box sum over a block of `_dec` samples (the anti-alias filter
        # of the decimation); the signal chain runs once per block.
        self._sax += ax
        self._say += ay
        self._saz += az
        self._sgx += gx
        self._sgy += gy
        self._sgz += gz
        n = self._left - 1
        if n:
            self._left = n
            if self._owed > 0:
                return self._report()
            return EVENT_NONE
        self._left = self._dec
        return self._block(t_ms)

    def _block(self, t_ms: int) -> int:
        d = self._dec
        x = (self._sax << _FRAC) // d
        y = (self._say << _FRAC) // d
        z = (self._saz << _FRAC) // d
        wx = self._sgx // d
        wy = self._sgy // d
        wz = self._sgz // d
        self._sax = self._say = self._saz = 0
        self._sgx = self._sgy = self._sgz = 0
        # |a|^2 for the gait gate (mg^2 / 1024 < 2**20 within +-16 g).
        g = self._g
        gi = g[_G_I]
        g[gi] = ((x >> 5) * (x >> 5) + (y >> 5) * (y >> 5) + (z >> 5) * (z >> 5)) >> 8
        g[_G_W + gi] = (wx >> 3) * (wx >> 3) + (wy >> 3) * (wy >> 3) + (wz >> 3) * (wz >> 3)
        g[_G_I] = (gi + 1) & (_GAIT_N - 1)
        g[_G_T] = t_ms
        if self._primed == 0:
            self._l1x = self._l2x = self._mx = x
            self._l1y = self._l2y = self._my = y
            self._l1z = self._l2z = self._mz = z
            # Gravity is about 1 g: within 2 g, as _track_gravity keeps it (small ints in
            # its products even if the first sample is a jolt).
            self._gx = self._rgx = _within_2g(x)
            self._gy = self._rgy = _within_2g(y)
            self._gz = self._rgz = _within_2g(z)
            self._rest_t = self._start_t = g[_G_T0] = t_ms
            g[_G_EX] = x
            g[_G_EX + 1] = y
            g[_G_EX + 2] = z
            g[_G_ACT] = 0
            self._primed = 1
            return EVENT_NONE
        m = self._m_lp
        s = self._s_lp
        l1x = self._l1x
        l1y = self._l1y
        l1z = self._l1z
        l1x += ((x - l1x) * m) >> s
        l1y += ((y - l1y) * m) >> s
        l1z += ((z - l1z) * m) >> s
        self._l1x = l1x
        self._l1y = l1y
        self._l1z = l1z
        l2x = self._l2x
        l2y = self._l2y
        l2z = self._l2z
        l2x += ((l1x - l2x) * m) >> s
        l2y += ((l1y - l2y) * m) >> s
        l2z += ((l1z - l2z) * m) >> s
        self._l2x = l2x
        self._l2y = l2y
        self._l2z = l2z
        m = self._m_mean
        s = self._s_mean
        mx = self._mx
        my = self._my
        mz = self._mz
        mx += ((l2x - mx) * m) >> s
        my += ((l2y - my) * m) >> s
        mz += ((l2z - mz) * m) >> s
        self._mx = mx
        self._my = my
        self._mz = mz
        # Deviation from the mean in units of 2 mg: |h| < 16384 within +-8 g.
        hx = (l2x - mx) >> 5
        hy = (l2y - my) >> 5
        hz = (l2z - mz) >> 5
        k = self._k_cov
        self._cxx += (hx * hx - self._cxx) >> k
        self._cyy += (hy * hy - self._cyy) >> k
        self._czz += (hz * hz - self._czz) >> k
        self._cxy += (hx * hy - self._cxy) >> k
        self._cxz += (hx * hz - self._cxz) >> k
        self._cyz += (hy * hz - self._cyz) >> k
        n = self._n + 1
        if n >= self._axis_every:
            n = 0
            self._power_step()
        self._n = n
        p = (self._vx * hx + self._vy * hy + self._vz * hz) >> 8  # 2 mg << 4
        # Peak to peak of the swing under way: a second lobe is much smaller than a rep.
        if p < g[_G_SMIN]:
            g[_G_SMIN] = p
        if p > g[_G_SMAX]:
            g[_G_SMAX] = p
        self._track_gravity(x, y, z, wx, wy, wz)
        if g[_G_EP] == 1:
            g[_G_EP_W] += wx  # the limb's net turn over the episode under way
            g[_G_EP_W + 1] += wy
            g[_G_EP_W + 2] += wz
        episode_event = self._episode(t_ms, x, y, z)

        # Envelope: follows a new extreme at once and decays towards the signal, 8 times
        # slower while the signal is in the other half (at rest, between two reps).
        hi = self._hi
        lo = self._lo
        mid = (hi + lo) >> 1
        if p > hi:
            hi = p
        else:
            hi += ((p - hi) * self._m_env) >> (self._s_env if p > mid else self._s_env + 3)
        if p < lo:
            lo = p
        else:
            lo += ((p - lo) * self._m_env) >> (self._s_env if p < mid else self._s_env + 3)
        self._hi = hi
        self._lo = lo
        rng = (hi - lo) >> _FRAC
        event = EVENT_NONE
        if rng >= _MIN_RANGE:
            q = ((p - lo) if self._pol > 0 else (hi - p)) >> _FRAC
            event = self._detect(t_ms, q, rng, wx, wy, wz)
        if self._held and ((t_ms - self._last_t) & _TICKS_MASK) * 256 > self._period * _QUIET_X:
            self._owed += self._held  # the rhythm ended quietly: a short set, not a walk
            self._held = 0
        if event == EVENT_NONE:
            event = episode_event
        if event == EVENT_NONE and self._owed > 0:
            return self._report()
        return event

    def _episode(self, t_ms: int, x: int, y: int, z: int) -> int:
        # Tracks movements bounded by stillness (see the module docstring, step 5): the
        # activity, and for the episode under way its start, its end and the gravity
        # farthest from the one at its start.
        g = self._g
        m = self._m_grav
        s = self._s_grav
        ex = g[_G_EX]
        ey = g[_G_EX + 1]
        ez = g[_G_EX + 2]
        ex += ((x - ex) * m) >> s
        ey += ((y - ey) * m) >> s
        ez += ((z - ez) * m) >> s
        g[_G_EX] = ex
        g[_G_EX + 1] = ey
        g[_G_EX + 2] = ez
        act = g[_G_ACT]
        act += ((abs(x - ex) + abs(y - ey) + abs(z - ez) - act) * self._m_act) >> self._s_act
        g[_G_ACT] = act
        ep = g[_G_EP]
        if ep == 1:
            c = _dist2(g, _G_EP_R, self._gx, self._gy, self._gz)
            if c > g[_G_EP_C]:
                g[_G_EP_C] = c
                g[_G_EP_P] = self._gx
                g[_G_EP_P + 1] = self._gy
                g[_G_EP_P + 2] = self._gz
            if g[_G_QUIET] < 0:  # still moving: judged while it moves, not as it ends
                el = (t_ms - g[_G_EP_T0]) & _TICKS_MASK
                if el > _EP_MAX_MS:
                    g[_G_EP] = 2  # longer than a rep: a bout of reps, the detector counts
                    g[_G_PV + _R_OK] = 0
                if g[_G_CHAIN] and (g[_G_EP] == 2 or el * 256 > g[_G_EP_LD] * _EP_LIKE):
                    e = _chain_break(self, t_ms)  # longer than the chain's movements
                    if e:
                        return e
        if act < _EP_QUIET:
            q = g[_G_QUIET]
            if q < 0:
                g[_G_QUIET] = t_ms
                return EVENT_NONE
            if (t_ms - q) & _TICKS_MASK < _EP_STILL_MS:
                return EVENT_NONE
            g[_G_CALM] = 1
            if ep:
                g[_G_EP] = 0
                if ep == 1:
                    return _episode_end(self, q)
            return EVENT_NONE
        g[_G_QUIET] = -1
        if act >= _EP_MOVE and ep == 0:
            if g[_G_CALM]:
                g[_G_EP] = 1
                g[_G_EP_T0] = t_ms
                g[_G_EP_R] = g[_G_EP_P] = self._gx
                g[_G_EP_R + 1] = g[_G_EP_P + 1] = self._gy
                g[_G_EP_R + 2] = g[_G_EP_P + 2] = self._gz
                g[_G_EP_C] = 0
                g[_G_EP_NB] = 0
                g[_G_EP_W] = g[_G_EP_W + 1] = g[_G_EP_W + 2] = 0
                if g[_G_CHAIN]:
                    # Its size is the detector's peak-to-peak over it (no swings count).
                    g[_G_SMIN] = 1 << 29
                    g[_G_SMAX] = -(1 << 29)
            else:
                g[_G_EP] = 2  # no stillness before it: not an episode
                g[_G_PV + _R_OK] = 0
                g[_G_CHAIN] = 0
            g[_G_CALM] = 0
        return EVENT_NONE

    def _swing(self, t_ms: int, partial: bool) -> int:
        # A swing of the detector; the episode running notes that it saw one. A partial
        # one that the rhythm takes as a partial rep is the episode's verdict too.
        g = self._g
        if g[_G_CHAIN]:
            if not partial:
                if g[_G_EP_NB] < _HB_N:
                    g[_G_HB + g[_G_EP_NB]] = t_ms
                g[_G_EP_NB] += 1
            return EVENT_NONE
        e = self._candidate(t_ms, partial)
        if not partial or e == EVENT_PARTIAL:
            g[_G_EP_NB] += 1
        return e

    def _power_step(self) -> None:
        # One power iteration v <- C v / |C v| in Q12; every few samples, not per sample.
        c = self._cxx
        if self._cyy > c:
            c = self._cyy
        if self._czz > c:
            c = self._czz
        sh = 0
        while (c >> sh) >= 32768:
            sh += 1
        vx = self._vx
        vy = self._vy
        vz = self._vz
        cxy = self._cxy >> sh
        cxz = self._cxz >> sh
        cyz = self._cyz >> sh
        wx = (self._cxx >> sh) * vx + cxy * vy + cxz * vz
        wy = cxy * vx + (self._cyy >> sh) * vy + cyz * vz
        wz = cxz * vx + cyz * vy + (self._czz >> sh) * vz
        big = abs(wx)
        if abs(wy) > big:
            big = abs(wy)
        if abs(wz) > big:
            big = abs(wz)
        if big == 0:
            return
        sh = 0
        while (big >> sh) >= 16384:
            sh += 1
        wx >>= sh
        wy >>= sh
        wz >>= sh
        big >>= sh
        n = wx * wx + wy * wy + wz * wz
        # floor(sqrt(n)) by Newton's method from above: |w| <= sqrt(3) big < 2 big.
        x = big << 1
        y = (x + n // x) >> 1
        while y < x:
            x = y
            y = (x + n // x) >> 1
        n = x
        if n == 0:
            return
        self._vx = (wx << 12) // n
        self._vy = (wy << 12) // n
        self._vz = (wz << 12) // n

    def _track_gravity(self, x: int, y: int, z: int, wx: int, wy: int, wz: int) -> None:
        gx = self._gx
        gy = self._gy
        gz = self._gz
        if wx or wy or wz:
            self._gyro = True
        if self._gyro:
            # Rotate with the gyroscope (g' = g x w), pull slowly towards the accelerometer.
            ux = gx >> _FRAC
            uy = gy >> _FRAC
            uz = gz >> _FRAC
            k = self._k_gyro
            gx += (((uy * wz - uz * wy) >> 8) * k) >> 12
            gy += (((uz * wx - ux * wz) >> 8) * k) >> 12
            gz += (((ux * wy - uy * wx) >> 8) * k) >> 12
            m = self._m_comp
            s = self._s_comp
        else:
            m = self._m_grav
            s = self._s_grav
        gx += ((x - gx) * m) >> s
        gy += ((y - gy) * m) >> s
        gz += ((z - gz) * m) >> s
        # Gravity is about 1 g: keep the estimate within 2 g (small ints in the products).
        if gx > 32000:
            gx = 32000
        elif gx < -32000:
            gx = -32000
        if gy > 32000:
            gy = 32000
        elif gy < -32000:
            gy = -32000
        if gz > 32000:
            gz = 32000
        elif gz < -32000:
            gz = -32000
        self._gx = gx
        self._gy = gy
        self._gz = gz

    def _detect(self, t_ms: int, q: int, rng: int, wx: int, wy: int, wz: int) -> int:
        # q: distance of the signal from the rest side of the envelope, 0..rng.
        st = self._state
        if st == _OUT:
            if q > self._qmax:
                self._qmax = q
                self._pgx = self._gx
                self._pgy = self._gy
                self._pgz = self._gz
            wx //= 10
            wy //= 10
            wz //= 10
            s2 = wx * wx + wy * wy + wz * wz
            if s2 > self._speed2:
                self._speed2 = s2
            if q * 256 >= rng * _LOW:
                return EVENT_NONE
            self._state = _REST
            self._qmin = q
            self._rest_t = t_ms
            self._partial = False
            return self._swing(t_ms, False)
        if st == _REST:
            if q <= self._qmin or q * 256 < rng * _LOW:
                if q <= self._qmin:  # <=: at rest while the envelope follows the signal
                    self._qmin = q
                    self._rgx = self._gx
                    self._rgy = self._gy
                    self._rgz = self._gz
                self._rest_t = t_ms
                if self._partial and q * 256 < rng * _LOW:
                    self._partial = False
                    return self._swing(t_ms, True)
                return EVENT_NONE
            if q * 256 > rng * _HIGH:
                self._go_out(t_ms, q)
            elif q * 256 > rng * _PART and not self._partial:
                self._partial = True
                self._start_t = self._rest_t
                self._qmax = q
                self._pgx = self._gx
                self._pgy = self._gy
                self._pgz = self._gz
                self._speed2 = 0
            elif self._partial and q > self._qmax:
                self._qmax = q
                self._pgx = self._gx
                self._pgy = self._gy
                self._pgz = self._gz
            return EVENT_NONE
        # Unarmed: the first swing beyond the thresholds tells the rest side.
        if q * 256 > rng * _HIGH:
            self._go_out(t_ms, q)
        elif q * 256 < rng * (256 - _HIGH):
            self._pol = -self._pol
            self._go_out(t_ms, rng - q)
        else:
            self._rgx = self._gx
            self._rgy = self._gy
            self._rgz = self._gz
            self._rest_t = t_ms
        return EVENT_NONE

    def _go_out(self, t_ms: int, q: int) -> None:
        self._state = _OUT
        if not self._partial:
            self._start_t = self._rest_t
            self._speed2 = 0
        self._partial = False
        self._qmax = q
        self._pgx = self._gx
        self._pgy = self._gy
        self._pgz = self._gz

    def _candidate(self, t_ms: int, partial: bool) -> int:
        # Once per swing, never per sample: may allocate.
        duration = (t_ms - self._start_t) & _TICKS_MASK
        g = self._g
        amp = 0
        if not partial and g[_G_SMAX] >= g[_G_SMIN]:
            amp = (g[_G_SMAX] - g[_G_SMIN]) >> _FRAC  # 2 mg
            g[_G_SMIN] = 1 << 29  # the next block starts the next swing's range
            g[_G_SMAX] = -(1 << 29)
        if partial:
            if self._held and (t_ms - g[_G_SWING]) & _TICKS_MASK < _MIN_PERIOD_MS:
                # Soon after a candidate of a run not yet confirmed: a smaller second lobe
                # of its rep, merged like a full one. One soon after that lobe, or one the
                # gait gate calls a walk, is a step and casts doubt on the run; not inside
                # a movement that began after a still spell and is still as short as a rep
                # (a heel's landing shakes a rep done one at a time).
                if g[_G_MERGED] and g[_G_EP] == 1:
                    g[_G_SWING] = t_ms
                elif g[_G_MERGED] or _walking(self, t_ms, (t_ms - self._last_t) & _TICKS_MASK):
                    _end_run(self, t_ms)
                else:
                    g[_G_MERGED] = 1
                    g[_G_SWING] = t_ms
                return EVENT_NONE
            if self._have_last and (t_ms - self._last_t) & _TICKS_MASK < _MIN_PERIOD_MS:
                return EVENT_NONE
        elif self._have_last and (t_ms - g[_G_SWING]) & _TICKS_MASK < _MIN_PERIOD_MS:
            # A full swing soon after the last candidate: the second lobe of the same rep (a
            # press or a squat seen at the wrist, a lunge), merged into it. One soon after
            # that lobe, or one the gait gate calls a walk, is a step.
            g[_G_SWING] = t_ms
            if g[_G_MERGED] or _walking(self, t_ms, (t_ms - self._last_t) & _TICKS_MASK):
                _end_run(self, t_ms)
            else:
                g[_G_MERGED] = 1
            return EVENT_NONE
        if duration < _MIN_REP_MS and (self._have_last or partial):
            return EVENT_NONE  # too quick for a rep, unless the first swing: cut by the start
        rom = self._rom_cdeg()
        # Peak angular speed from the gyroscope, else the mean over the rep (deg/s).
        dps = isqrt(self._speed2) if self._speed2 > 0 else rom * 1000 // (duration + 1)
        if partial or (self.min_rom_cdeg and rom * 2 < self.min_rom_cdeg):
            if not self._run:
                return EVENT_NONE
            self.rep_duration_ms = duration
            self.rep_rom_cdeg = rom
            self.rep_peak_dps = dps
            self.rep_end_ms = t_ms
            self.partials += 1
            return EVENT_PARTIAL
        if (self._have_last and not g[_G_CHAIN]
                and _walking(self, t_ms, (t_ms - self._last_t) & _TICKS_MASK)):
            _end_run(self, t_ms)  # a step of a walk (not a movement between still spells)
            return EVENT_NONE
        g[_G_MERGED] = 0
        g[_G_SWING] = t_ms
        i = self._head
        self._c_dur[i] = duration
        self._c_rom[i] = rom
        self._c_dps[i] = dps
        self._c_end[i] = t_ms
        self._c_amp[i] = amp
        self._head = (i + 1) & 3
        if not self._have_last:
            self._have_last = True
            self._last_t = t_ms
            self._pending = 1
            return EVENT_NONE
        iv = (t_ms - self._last_t) & _TICKS_MASK
        if self._run:
            if iv < _MIN_PERIOD_MS:
                _end_run(self, t_ms)
                return EVENT_NONE
            if iv * 256 < self._period * _MIN_SPLIT:
                self._head = i  # a split swing: forget it
                return EVENT_NONE
            if iv < self._period and amp * 256 < _median_before(
                    self._c_amp, i) * _LOBE_AMP and not g[_G_CHAIN]:
                # Sooner than the next rep is due and much smaller than the run's reps: the
                # lesser lobe of a slow rep (a squat or a press at the wrist), not a rep.
                self._head = i
                return EVENT_NONE
            if iv < _HALF_MAX_T and not g[_G_CHAIN] and _half(self, t_ms, iv):
                # The other half of the last rep: not a rep. Reps of the run still held
                # came at the same pace: halves too.
                self._head = i
                self._held = (self._held + 1) >> 1
                return EVENT_NONE
            self._last_t = t_ms
            if iv * 256 > self._period * _GAP_X:
                self._run = False
                self._pending = 1
                self._iv = 0
                return EVENT_NONE
            self._period += (iv - self._period) >> 2
            self._owed += self._held + 1
            self._held = 0
            return EVENT_NONE
        self._last_t = t_ms
        if iv > _MAX_GAP_MS:
            self._pending = 1
            self._iv = 0
            return EVENT_NONE
        prev = self._iv
        self._iv = iv
        if iv < _MIN_PERIOD_MS:
            _end_run(self, t_ms)
            return EVENT_NONE
        self._pending += 1
        if self._pending < _RUN_REPS:
            return EVENT_NONE
        if (prev * 4 < iv * 3 and self._c_amp[(i - 1) & 3] * 256 < amp * _LOBE_AMP
                and not g[_G_CHAIN]):
            # The middle candidate came well before the pace of the next and has less than
            # half its peak-to-peak: the lesser lobe of the first (as within a run, but
            # judged against the later swing, since the first was measured while the axis
            # settled). The rhythm waits for one more candidate.
            _forget_before(self, i)
            self._pending -= 1
            self._iv = prev + iv
            return EVENT_NONE
        if prev * _MAX_RATIO < iv * 256 or iv * _MAX_RATIO < prev * 256:
            self._pending = _RUN_REPS - 1  # irregular: drop the oldest candidate
            return EVENT_NONE
        # A run: its reps are held until the next regular candidate or a quiet end of the
        # rhythm, so that the first strides of a walk are not reps.
        self._run = True
        self._period = (prev + iv) >> 1
        self._held = self._pending
        self._pending = 0
        return EVENT_NONE

    def _rom_cdeg(self) -> int:
        dx = (self._pgx - self._rgx) >> _FRAC
        dy = (self._pgy - self._rgy) >> _FRAC
        dz = (self._pgz - self._rgz) >> _FRAC
        chord = isqrt(dx * dx + dy * dy + dz * dz)
        ux = self._rgx >> _FRAC
        uy = self._rgy >> _FRAC
        uz = self._rgz >> _FRAC
        norm = isqrt(ux * ux + uy * uy + uz * uz)
        if norm < 200:
            return 0
        return chord_to_cdeg(chord * 1000 // norm)

    def _report(self) -> int:
        # One confirmed rep per sample, oldest first.
        i = (self._head - self._owed) & 3
        self._owed -= 1
        self.rep_lag = self._owed
        self.rep_duration_ms = self._c_dur[i]
        self.rep_rom_cdeg = self._c_rom[i]
        self.rep_peak_dps = self._c_dps[i]
        self.rep_end_ms = self._c_end[i]
        self.reps += 1
        return EVENT_REP
