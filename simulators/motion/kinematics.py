"""Continuous-time body-segment trajectories and what an ideal IMU on them measures.

A trajectory gives, for any array of times, the segment's orientation (segment to world,
scipy ``Rotation``) and the sensor's position in the world (m). Everything is smooth (C2) in
time, so the ideal IMU readings are obtained by central differences at the exact sample
times: angular rate from ``R(t-h)^-1 R(t+h)`` and linear acceleration from the second
difference of the position. The world ``z`` axis points up; gravity is ``(0, 0, -1) g``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation

from simulators.motion.exercises import SegmentKinematics

G0 = 9.80665
"""Standard gravity (m/s^2): 1 g."""

_MIRROR_ROTVEC = np.array([-1.0, 1.0, -1.0])  # left/right mirror (y -> -y) of a rotation vector
_MIRROR_POS = np.array([1.0, -1.0, 1.0])
_DIFF_STEP_S = 2e-3


class Trajectory(Protocol):
    """Anything that places a body segment in the world over time."""

    def pose(self, t: np.ndarray) -> tuple[Rotation, np.ndarray]:
        """At times ``t``: the segment-to-world rotation (one per time) and the sensor's
        position in the world, shape (n, 3), metres. Both at once: they share the work."""
        ...


def min_jerk(x: np.ndarray) -> np.ndarray:
    """Minimum-jerk transition 0 -> 1 on [0, 1]: zero velocity and acceleration at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x**3 * (10.0 - 15.0 * x + 6.0 * x**2)


def min_jerk_integral(x: np.ndarray) -> np.ndarray:
    """Integral of :func:`min_jerk` from 0 to ``x`` (for ``x`` in [0, 1])."""
    x = np.clip(x, 0.0, 1.0)
    return 2.5 * x**4 - 3.0 * x**5 + x**6


def bump(x: np.ndarray) -> np.ndarray:
    """0 -> 1 -> 0 on [0, 1], peaking halfway, with zero velocity and acceleration at the ends."""
    return np.sin(np.pi * min_jerk(x))


_IMPACT_TAU_S = 0.025
_IMPACT_HZ = 10.0


def impact_kernel(
    s: np.ndarray, tau_s: float = _IMPACT_TAU_S, hz: float = _IMPACT_HZ
) -> np.ndarray:
    """Damped ringing (``hz``, decay ``tau_s``) after a contact at ``s = 0`` (0 before; C2)."""
    s = np.maximum(np.asarray(s, dtype=float), 0.0)
    x = s / tau_s
    return x**2 * np.exp(-x) * np.sin(2 * np.pi * hz * s)


@lru_cache(maxsize=8)
def kernel_peaks(tau_s: float = _IMPACT_TAU_S, hz: float = _IMPACT_HZ) -> tuple[float, float]:
    """Peak |first| and |second| time derivative of :func:`impact_kernel` (for scaling)."""
    s = np.linspace(0.0, 20.0 * tau_s, 50001)
    k = impact_kernel(s, tau_s, hz)
    d1 = np.gradient(k, s)
    return float(np.max(np.abs(d1))), float(np.max(np.abs(np.gradient(d1, s))))


_IMPACT_PEAK_RATE, _IMPACT_PEAK_ACC = kernel_peaks()


def mirror_rotation(r: Rotation) -> Rotation:
    """Mirror a rotation through the body's sagittal plane (left limb <-> right limb)."""
    return Rotation.from_rotvec(r.as_rotvec() * _MIRROR_ROTVEC)


def mirror_position(p: np.ndarray) -> np.ndarray:
    """Mirror positions through the sagittal plane."""
    return p * _MIRROR_POS


class SmoothNoise:
    """A smooth (C2) band-limited Gaussian vector process with unit RMS per component.

    Gaussian values on knots ``corr_s / 2`` apart are smoothed with a Gaussian kernel and
    joined by a cubic spline, so the process decorrelates over about ``corr_s`` seconds.
    """

    def __init__(
        self, rng: np.random.Generator, t0: float, t1: float, dim: int, corr_s: float
    ) -> None:
        """Draw the process on [t0, t1] (it is held constant outside)."""
        dt = corr_s / 2.0
        kernel = np.exp(-0.5 * np.arange(-3, 4) ** 2)
        kernel /= np.sqrt(np.sum(kernel**2))
        n = round((t1 - t0) / dt) + 5
        white = rng.normal(size=(n + len(kernel) - 1, dim))
        values = np.stack([np.convolve(white[:, k], kernel, "valid") for k in range(dim)], 1)
        self._t0 = t0 - 2 * dt
        self._t1 = self._t0 + (n - 1) * dt
        self._spline = CubicSpline(self._t0 + dt * np.arange(n), values, axis=0)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """Values at times ``t``, shape (len(t), dim)."""
        return self._spline(np.clip(t, self._t0, self._t1))


@dataclass(frozen=True)
class RepSchedule:
    """Timing of the reps in a set: each rep moves out, holds, returns; pauses between reps."""

    starts: np.ndarray
    out_s: np.ndarray
    hold_s: np.ndarray
    back_s: np.ndarray

    @property
    def ends(self) -> np.ndarray:
        """Completion time of each rep."""
        return self.starts + self.out_s + self.hold_s + self.back_s

    def profiles(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit ``progress`` and ``bump`` profiles at times ``t`` and the rep index (-1: none)."""
        t = np.asarray(t, dtype=float)
        progress = np.zeros(t.shape)
        bumpy = np.zeros(t.shape)
        idx = np.searchsorted(self.starts, t, side="right") - 1
        if len(self.starts) == 0:
            return progress, bumpy, np.full(t.shape, -1)
        i = np.clip(idx, 0, None)
        tau = t - self.starts[i]
        o, h, b = self.out_s[i], self.hold_s[i], self.back_s[i]
        valid = idx >= 0
        going = valid & (tau < o)
        holding = valid & (tau >= o) & (tau < o + h)
        back = valid & (tau >= o + h) & (tau < o + h + b)
        x = tau[going] / o[going]
        progress[going] = min_jerk(x)
        bumpy[going] = bump(x)
        progress[holding] = 1.0
        y = (tau[back] - o[back] - h[back]) / b[back]
        progress[back] = 1.0 - min_jerk(y)
        bumpy[back] = bump(y)
        idx = np.where(going | holding | back, idx, -1)
        return progress, bumpy, idx


class ExerciseTrajectory:
    """A segment repeating an exercise according to a :class:`RepSchedule`.

    Orientation: ``R0 * Rot(axis, theta) * Rot(secondary) * Rot(deviation) * Rot(wobble)``,
    where ``theta`` follows the rep profile scaled by the rep's amplitude, ``deviation`` is a
    per-rep off-plane tilt that follows the same profile, and ``wobble`` is a small smooth
    random rotation (sway, tremor) present all the time. Position: pivot travel plus the
    rotated lever arm from the pivot to the sensor, plus a vertical damped transient (and a
    matching angular jolt about ``axis``) at every landing listed in ``impact_at``, scaled
    per rep by ``impact_scale``.
    """

    def __init__(
        self,
        segment: SegmentKinematics,
        schedule: RepSchedule,
        amplitude: np.ndarray,
        deviation_rad: np.ndarray,
        wobble: SmoothNoise | None,
        wobble_rad: float,
        mirrored: bool,
        impact_scale: np.ndarray | None = None,
    ) -> None:
        """Bind the segment model to per-rep amplitudes and off-plane deviations."""
        self.segment = segment
        self.schedule = schedule
        self._amp = np.append(np.asarray(amplitude, dtype=float), 0.0)  # index -1 -> 0
        self._dev = np.vstack([np.asarray(deviation_rad, dtype=float).reshape(-1, 3), [0, 0, 0]])
        self._wobble = wobble
        self._wobble_rad = wobble_rad
        self._mirrored = mirrored
        self._neutral = Rotation.from_rotvec(np.radians(segment.neutral_deg))
        self._lever = np.asarray(segment.lever_m, dtype=float)
        n = len(schedule.starts)
        scale = np.ones(n) if impact_scale is None else np.asarray(impact_scale, dtype=float)
        times, scales = [], []
        if "out" in segment.impact_at:
            times.append(schedule.starts + schedule.out_s)
            scales.append(scale)
        if "back" in segment.impact_at:
            times.append(schedule.ends)
            scales.append(scale)
        if times and (segment.impact_g > 0 or segment.impact_dps > 0):
            all_t, all_s = np.concatenate(times), np.concatenate(scales)
            order = np.argsort(all_t)
            self._impact_t, self._impact_s = all_t[order], all_s[order]
        else:
            self._impact_t = self._impact_s = np.zeros(0)

    def _impacts(self, t: np.ndarray) -> np.ndarray:
        """Sum of the two most recent landing transients (unit kernel), shape (n,)."""
        out = np.zeros(t.shape)
        if len(self._impact_t) == 0:
            return out
        last = np.searchsorted(self._impact_t, t, side="right") - 1
        for j in (last, last - 1):
            ok = j >= 0
            jj = j[ok]
            out[ok] += self._impact_s[jj] * impact_kernel(t[ok] - self._impact_t[jj])
        return out

    def pose(self, t: np.ndarray) -> tuple[Rotation, np.ndarray]:
        seg = self.segment
        progress, bumpy, idx = self.schedule.profiles(t)
        jolt = self._impacts(t)
        amp = self._amp[idx]
        if seg.shape == "progress":
            prim = progress * amp
        else:
            prim = bumpy * amp
            if seg.back_bump != 1.0 and len(self.schedule.starts):
                # the return transition's bump may be smaller, or the other way
                i = np.clip(idx, 0, None)
                back = (idx >= 0) & (
                    t - self.schedule.starts[i] >= self.schedule.out_s[i] + self.schedule.hold_s[i])
                prim = np.where(back, prim * seg.back_bump, prim)
        sec = (progress if seg.secondary_shape == "progress" else bumpy) * amp
        rot = (
            self._neutral
            * Rotation.from_rotvec(np.outer(prim * np.radians(seg.rom_deg), seg.unit_axis))
            * Rotation.from_rotvec(
                np.outer(sec * np.radians(seg.secondary_deg), seg.unit_secondary_axis)
            )
            * Rotation.from_rotvec(self._dev[idx] * (prim / np.maximum(amp, 1e-9))[:, None])
            * Rotation.from_rotvec(
                np.outer(jolt * np.radians(seg.impact_dps) / _IMPACT_PEAK_RATE, seg.unit_axis)
            )
        )
        if self._wobble is not None and self._wobble_rad > 0:
            rot = rot * Rotation.from_rotvec(self._wobble(t) * self._wobble_rad)
        travel = np.outer(progress * amp, seg.travel_m) + np.outer(bumpy * amp, seg.travel_bump_m)
        travel[:, 2] += jolt * seg.impact_g * G0 / _IMPACT_PEAK_ACC
        pos = travel + rot.apply(self._lever)
        if self._mirrored:
            return mirror_rotation(rot), mirror_position(pos)
        return rot, pos


@dataclass(frozen=True)
class Fidget:
    """A small voluntary movement at rest: a rotation (and shift) that returns or persists."""

    start: float
    duration: float
    rotvec_rad: np.ndarray
    shift_m: np.ndarray
    returns: bool

    def profile(self, t: np.ndarray) -> np.ndarray:
        """0 -> 1 (-> 0 if ``returns``) over the fidget's duration."""
        x = (t - self.start) / self.duration
        return bump(x) if self.returns else min_jerk(x)


class RestTrajectory:
    """A segment at rest in some posture, with sway and occasional fidgets."""

    def __init__(
        self,
        neutral: Rotation,
        lever_m: np.ndarray,
        fidgets: list[Fidget],
        wobble: SmoothNoise | None,
        wobble_rad: float,
    ) -> None:
        """Posture ``neutral`` (segment to world), lever from the pivot to the sensor."""
        self._neutral = neutral
        self._lever = np.asarray(lever_m, dtype=float)
        self._fidgets = fidgets
        self._wobble = wobble
        self._wobble_rad = wobble_rad

    def pose(self, t: np.ndarray) -> tuple[Rotation, np.ndarray]:
        rot = self._neutral * Rotation.identity(len(t))
        shift = np.zeros((len(t), 3))
        for f in self._fidgets:
            s = f.profile(t)
            rot = rot * Rotation.from_rotvec(np.outer(s, f.rotvec_rad))
            shift += np.outer(s, f.shift_m)
        if self._wobble is not None and self._wobble_rad > 0:
            rot = rot * Rotation.from_rotvec(self._wobble(t) * self._wobble_rad)
        return rot, shift + rot.apply(self._lever)


# --------------------------------------------------------------------------- walking
#
# Sagittal angles from vertical of the sensed (left) leg's thigh and shank over one stride,
# from its heel strike (phase 0) to the next, for a stance phase of 60 % of the stride
# (normal gait, after Winter's and Perry's normative curves). Degrees; positive = distal end
# forward (hip flexion). Thigh: ~+25 at heel strike, extends steadily through stance to
# ~-11 just before toe-off, swings forward to ~+29 in late swing (range ~40). Shank: ~+22 at
# heel strike, rotates slowly backward over the planted foot, fast backward as the heel rises
# and the knee bends, ~-48 early in swing, then fast forward (peak ~340 deg/s at a 1.1 s
# stride) to land again (range ~70). The knee (thigh - shank) thus flexes ~15 deg in loading
# response, ~6 in mid-stance, ~31 at toe-off and ~55 in mid-swing. Between foot-flat (8 %)
# and heel-off (45 %) the leg's sweep is nearly linear in time, so the planted ankle stays
# put while the pelvis moves on at a constant speed.
_REF_STANCE = 0.60
_FOOT_FLAT = (0.08, 0.45)
_THIGH_KNOTS = (
    (0.00, 25.0), (0.04, 24.5), (0.08, 22.5), (0.25, 8.7), (0.45, -7.5), (0.53, -11.0),
    (0.58, -10.0), (0.63, -5.0), (0.73, 11.0), (0.85, 29.0), (0.93, 27.5),
)
_SHANK_KNOTS = (
    (0.00, 22.0), (0.04, 13.0), (0.08, 7.0), (0.25, -2.4), (0.45, -13.5), (0.52, -22.0),
    (0.57, -33.0), (0.62, -43.0), (0.68, -48.0), (0.73, -44.0), (0.80, -22.0), (0.87, 2.0),
    (0.93, 17.0), (0.97, 22.0),
)
# heel strikes and ground contact: the sensed leg's own impact travels up the tibia (braking
# the forward swing, mostly along the leg), sharp and high-frequency; the other foot's only
# reaches the sensor through the pelvis and the standing leg, attenuated and duller, and the
# arms only get the trunk's version of both
_HEEL_TAU_S, _HEEL_HZ = 0.010, 16.0
_TRUNK_TAU_S, _TRUNK_HZ = 0.025, 10.0
_HEEL_DIRECTION = np.array([-0.35, 0.0, 0.94]) / np.hypot(0.35, 0.94)
_HIP_OFFSET_M = 0.09  # half the hip width: pelvic yaw swings the hip joint forward and back
_SHOULDER_M = (0.0, 0.18, 0.50)  # shoulder relative to the pelvis centre
_THIGH_M, _SHANK_M, _UPPER_ARM_M = 0.45, 0.43, 0.30  # hip-knee, knee-ankle, shoulder-elbow
_LEG_LEVERS = {"thigh": (0.06, 0.0, -0.20), "shank": (0.04, 0.0, -0.20)}
_ARM_LEVERS = {  # from the shoulder (upper arm) or the elbow (forearm, wrist)
    "upper_arm": (0.0, 0.05, -0.15),
    "forearm": (0.0, 0.04, -0.12),
    "wrist": (0.0, 0.03, -0.25),
}
_SAGITTAL_AXIS = np.array([0.0, -1.0, 0.0])  # positive rotation = flexion (distal end forward)
_UP = np.array([0.0, 0.0, 1.0])


def _warp_phase(p: np.ndarray, stance: float) -> np.ndarray:
    """Map reference gait phases (stance 60 %) to a gait with stance fraction ``stance``."""
    return np.where(
        p <= _REF_STANCE,
        p * stance / _REF_STANCE,
        stance + (p - _REF_STANCE) * (1.0 - stance) / (1.0 - _REF_STANCE),
    )


def _warp_knots(knots: tuple[tuple[float, float], ...], stance: float) -> CubicSpline:
    """Periodic C2 spline of a segment-angle curve, its stance part stretched to ``stance``."""
    p = _warp_phase(np.array([k[0] for k in knots]), stance)
    v = np.array([k[1] for k in knots])
    return CubicSpline(np.append(p, 1.0), np.append(v, v[0]), bc_type="periodic")


@dataclass(frozen=True)
class GaitParams:
    """One person's steady walking (angles in degrees, lengths in metres).

    Attributes:
        stance_fraction: share of the stride the sensed foot is on the ground (~0.6).
        thigh_scale, shank_scale: multiply the normative thigh and shank curves (longer
            steps need larger excursions; the walking speed follows from them, see
            :attr:`WalkingTrajectory.speed_m_s`).
        arm_amp_deg: half range of the shoulder's flexion/extension swing.
        elbow_gain: elbow flexion per degree of shoulder swing (the forearm swings further
            than the upper arm and bends as it comes forward).
        elbow_deg: elbow flexion of the hanging arm.
        bounce_m: half range of the pelvis's vertical oscillation.
        pelvis_yaw_deg: half range of the pelvis's (legs) and, in counter-phase, the
            thorax's (arms) rotation about the vertical.
        ramp_s: walking starts and stops smoothly over this time.
    """

    stance_fraction: float
    thigh_scale: float
    shank_scale: float
    arm_amp_deg: float
    elbow_gain: float
    elbow_deg: float
    bounce_m: float
    pelvis_yaw_deg: float
    ramp_s: float


@dataclass(frozen=True)
class Strides:
    """Stride-to-stride variation: one entry per stride of the sensed leg.

    Attributes:
        heel_strikes_s: times of the sensed foot's heel strikes (strictly increasing; they
            must cover the walk with at least one stride to spare at both ends).
        amplitude: multiplier of the joint excursions of each stride.
        own_impact_g: peak of the sensed foot's heel-strike transient at the sensor (g).
        other_impact_g: the same for the other foot's heel strike half a stride later.
    """

    heel_strikes_s: np.ndarray
    amplitude: np.ndarray
    own_impact_g: np.ndarray
    other_impact_g: np.ndarray

    def __post_init__(self) -> None:
        """Check the lengths and the ordering."""
        n = len(self.heel_strikes_s)
        if n < 3 or np.any(np.diff(self.heel_strikes_s) <= 0):
            raise ValueError("need at least 3 strictly increasing heel strikes")
        for name in ("amplitude", "own_impact_g", "other_impact_g"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} needs one entry per stride")


class WalkingTrajectory:
    """Level walking on a straight line, starting and stopping smoothly.

    A C2 gait phase (stride count) runs through the heel-strike times, so strides differ
    slightly in length. The legs follow the normative hip and knee curves (stance about 60 %
    of the stride, a quiet backward rotation of the shank in stance, a fast forward swing);
    the arms swing in antiphase with the ipsilateral leg, the forearm further than the upper
    arm. The pelvis carries the forward progression, a vertical bounce at the step frequency
    (lowest just after each heel strike), a lateral sway and a small yaw at the stride
    frequency. Each heel strike adds a damped transient at the sensor: sharp and strong for
    the sensed leg's own foot, faint for the other foot and at the arms.
    """

    def __init__(
        self,
        placement: str,
        gait: GaitParams,
        strides: Strides,
        duration_s: float,
        wobble: SmoothNoise | None,
        wobble_rad: float,
        mirrored: bool,
    ) -> None:
        """Set up a walk of ``duration_s`` seconds for a sensor on ``placement``."""
        if placement not in (*_LEG_LEVERS, *_ARM_LEVERS):
            raise ValueError(f"unknown placement {placement!r}")
        self.placement = placement
        self.gait = gait
        self.strides = strides
        self._T = duration_s
        self._ramp = min(gait.ramp_s, duration_s / 2.0)
        self._wobble = wobble
        self._wobble_rad = wobble_rad
        self._mirrored = mirrored
        hs = strides.heel_strikes_s
        self._phase = CubicSpline(hs, np.arange(len(hs), dtype=float))
        self._amp = CubicSpline(np.arange(len(hs), dtype=float), strides.amplitude)
        self._thigh = _warp_knots(_THIGH_KNOTS, gait.stance_fraction)
        self._shank = _warp_knots(_SHANK_KNOTS, gait.stance_fraction)
        self.speed_m_s = self._foot_flat_speed()
        self._impacts = self._impact_events()

    @property
    def stride_s(self) -> float:
        """Mean stride duration."""
        return float(np.mean(np.diff(self.strides.heel_strikes_s)))

    def _foot_flat_speed(self) -> float:
        """Walking speed that keeps the planted ankle still, on average, while the foot is flat.

        Deriving it from the leg's sweep (rather than drawing it) keeps the pelvis, thigh and
        shank consistent: the stance foot neither skates forward nor slides back.
        """
        g = self.gait
        p = _warp_phase(np.array(_FOOT_FLAT), g.stance_fraction)
        ankle = _THIGH_M * np.sin(np.radians(g.thigh_scale * self._thigh(p))) + _SHANK_M * np.sin(
            np.radians(g.shank_scale * self._shank(p)))
        return float(ankle[0] - ankle[1]) / (float(p[1] - p[0]) * self.stride_s)

    def _impact_events(self) -> tuple[np.ndarray, np.ndarray]:
        """Times and peak accelerations (g) of all heel strikes, faded in/out with the walk."""
        st = self.strides
        hs = st.heel_strikes_s
        other = 0.5 * (hs[:-1] + hs[1:])  # the other foot lands half a stride later
        times = np.concatenate([hs, other])
        peaks = np.concatenate([st.own_impact_g, st.other_impact_g[:-1]])
        order = np.argsort(times)
        times, peaks = times[order], peaks[order]
        return times, peaks * self._envelope(times)

    def _envelope(self, t: np.ndarray) -> np.ndarray:
        r = self._ramp
        return min_jerk(t / r) * min_jerk((self._T - t) / r)

    def _distance(self, t: np.ndarray) -> np.ndarray:
        """Integral of the envelope: forward progression in units of (speed * s)."""
        r, T = self._ramp, self._T
        d = r * min_jerk_integral(t / r) + np.clip(t - r, 0.0, max(T - 2 * r, 0.0))
        late = t > T - r
        d = np.where(late, d + r * (min_jerk_integral(1.0) - min_jerk_integral((T - t) / r)), d)
        return d

    def _impact(self, t: np.ndarray) -> np.ndarray:
        """Sum of the two most recent heel-strike transients, in g, shape (n,)."""
        times, peaks = self._impacts
        leg = self.placement in _LEG_LEVERS
        tau, hz = (_HEEL_TAU_S, _HEEL_HZ) if leg else (_TRUNK_TAU_S, _TRUNK_HZ)
        out = np.zeros(t.shape)
        last = np.searchsorted(times, t, side="right") - 1
        for j in (last, last - 1):
            ok = j >= 0
            jj = j[ok]
            out[ok] += peaks[jj] * impact_kernel(t[ok] - times[jj], tau, hz)
        return out / kernel_peaks(tau, hz)[1]

    def _pelvis(self, t: np.ndarray, p: np.ndarray, env: np.ndarray) -> np.ndarray:
        """Pelvis centre: progression, sway towards the stance leg, bounce (m)."""
        g = self.gait
        return np.stack(
            [
                self.speed_m_s * self._distance(t),
                0.02 * env * np.sin(2 * np.pi * p),
                # lowest in double support just after each heel strike, highest mid-stance
                -g.bounce_m * env * np.cos(4 * np.pi * (p - 0.05)),
            ],
            axis=1,
        )

    def _sagittal(self, angle_deg: np.ndarray) -> Rotation:
        return Rotation.from_rotvec(np.outer(np.radians(angle_deg), _SAGITTAL_AXIS))

    def _yaw(self, angle_deg: np.ndarray) -> Rotation:
        return Rotation.from_rotvec(np.outer(np.radians(angle_deg), _UP))

    def _leg(self, p: np.ndarray, scale: np.ndarray, pelvis: np.ndarray
             ) -> tuple[Rotation, np.ndarray]:
        g = self.gait
        frac = np.mod(p, 1.0)
        # the sensed hip is furthest forward when its foot lands
        yaw = self._yaw(-scale * g.pelvis_yaw_deg * np.cos(2 * np.pi * p))
        thigh = yaw * self._sagittal(scale * g.thigh_scale * self._thigh(frac))
        hip_joint = pelvis + yaw.apply([0.0, _HIP_OFFSET_M, 0.0])
        if self.placement == "thigh":
            return thigh, hip_joint + thigh.apply(_LEG_LEVERS["thigh"])
        shank = yaw * self._sagittal(scale * g.shank_scale * self._shank(frac))
        knee = hip_joint + thigh.apply([0.0, 0.0, -_THIGH_M])
        return shank, knee + shank.apply(_LEG_LEVERS["shank"])

    def _arm(self, p: np.ndarray, scale: np.ndarray, pelvis: np.ndarray
             ) -> tuple[Rotation, np.ndarray]:
        g = self.gait
        # the arm is furthest back when the ipsilateral heel lands (antiphase with the leg),
        # swinging a little more backward than forward; the thorax counter-rotates the pelvis
        swing = -np.cos(2 * np.pi * (p - 0.03))
        shoulder_deg = scale * g.arm_amp_deg * (swing - 0.2)
        thorax = self._yaw(scale * 0.6 * g.pelvis_yaw_deg * np.cos(2 * np.pi * p))
        upper = thorax * self._sagittal(shoulder_deg)
        shoulder = pelvis + thorax.apply(_SHOULDER_M)
        if self.placement == "upper_arm":
            return upper, shoulder + upper.apply(_ARM_LEVERS["upper_arm"])
        # the elbow bends as the arm comes forward, lagging the shoulder slightly
        lagged = -np.cos(2 * np.pi * (p - 0.08))
        elbow_deg = g.elbow_deg + scale * g.elbow_gain * g.arm_amp_deg * (lagged + 1.0)
        fore = thorax * self._sagittal(shoulder_deg + elbow_deg)
        elbow = shoulder + upper.apply([0.0, 0.0, -_UPPER_ARM_M])
        return fore, elbow + fore.apply(_ARM_LEVERS[self.placement])

    def pose(self, t: np.ndarray) -> tuple[Rotation, np.ndarray]:
        env = self._envelope(t)
        p = self._phase(t)  # strides of the sensed leg since the first heel strike
        scale = env * self._amp(p)
        pelvis = self._pelvis(t, p, env)
        if self.placement in _LEG_LEVERS:
            rot, pos = self._leg(p, scale, pelvis)
            direction = _HEEL_DIRECTION
        else:
            rot, pos = self._arm(p, scale, pelvis)
            direction = _UP
        pos = pos + np.outer(self._impact(t) * G0, direction)
        if self._wobble is not None and self._wobble_rad > 0:
            rot = rot * Rotation.from_rotvec(self._wobble(t) * self._wobble_rad)
        if self._mirrored:
            return mirror_rotation(rot), mirror_position(pos)
        return rot, pos


def ideal_imu(
    trajectory: Trajectory, mounting: Rotation, t: np.ndarray, h: float = _DIFF_STEP_S
) -> tuple[np.ndarray, np.ndarray]:
    """What a perfect IMU mounted on the trajectory's segment reads at times ``t``.

    Returns ``(acc_g, gyro_dps)`` in sensor axes: specific force ``R^T (a - g)`` in g (a
    resting sensor reads +1 g along world up) and body-frame angular rate in deg/s. The
    sensor-to-world rotation is ``R = R_segment * mounting``.
    """
    t = np.asarray(t, dtype=float)
    tt = np.concatenate([t - h, t, t + h])
    n = len(t)
    rot, pos = trajectory.pose(tt)
    rot = rot * mounting
    r_minus, r_mid, r_plus = rot[:n], rot[n : 2 * n], rot[2 * n :]
    gyro_dps = np.degrees((r_minus.inv() * r_plus).as_rotvec() / (2.0 * h))
    acc_world = (pos[2 * n :] - 2.0 * pos[n : 2 * n] + pos[:n]) / h**2
    specific_force = acc_world / G0 + np.array([0.0, 0.0, 1.0])
    acc_g = r_mid.inv().apply(specific_force)
    return acc_g.reshape(n, 3), gyro_dps.reshape(n, 3)
