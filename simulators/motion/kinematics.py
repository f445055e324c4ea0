"""Continuous-time body-segment trajectories and what an ideal IMU on them measures.

A trajectory gives, for any array of times, the segment's orientation (segment to world,
scipy ``Rotation``) and the sensor's position in the world (m). Everything is smooth (C2) in
time, so the ideal IMU readings are obtained by central differences at the exact sample
times: angular rate from ``R(t-h)^-1 R(t+h)`` and linear acceleration from the second
difference of the position. The world ``z`` axis points up; gravity is ``(0, 0, -1) g``.
"""

from __future__ import annotations

from dataclasses import dataclass
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

    def orientation(self, t: np.ndarray) -> Rotation:
        """Segment-to-world rotation at times ``t`` (one rotation per time)."""
        ...

    def position(self, t: np.ndarray) -> np.ndarray:
        """Sensor position in the world at times ``t``, shape (n, 3), metres."""
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


def impact_kernel(s: np.ndarray) -> np.ndarray:
    """Damped ~10 Hz ringing after a contact at ``s = 0`` (0 before; C2 at the onset)."""
    s = np.maximum(np.asarray(s, dtype=float), 0.0)
    x = s / _IMPACT_TAU_S
    return x**2 * np.exp(-x) * np.sin(2 * np.pi * _IMPACT_HZ * s)


def _kernel_peaks() -> tuple[float, float]:
    s = np.linspace(0.0, 0.5, 50001)
    k = impact_kernel(s)
    d1 = np.gradient(k, s)
    return float(np.max(np.abs(d1))), float(np.max(np.abs(np.gradient(d1, s))))


_IMPACT_PEAK_RATE, _IMPACT_PEAK_ACC = _kernel_peaks()


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

    def _state(self, t: np.ndarray) -> tuple[Rotation, np.ndarray]:
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

    def orientation(self, t: np.ndarray) -> Rotation:
        """Segment-to-world rotation at times ``t``."""
        return self._state(t)[0]

    def position(self, t: np.ndarray) -> np.ndarray:
        """Sensor position (m) at times ``t``."""
        return self._state(t)[1]


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

    def _state(self, t: np.ndarray) -> tuple[Rotation, np.ndarray]:
        rot = self._neutral * Rotation.identity(len(t))
        shift = np.zeros((len(t), 3))
        for f in self._fidgets:
            s = f.profile(t)
            rot = rot * Rotation.from_rotvec(np.outer(s, f.rotvec_rad))
            shift += np.outer(s, f.shift_m)
        if self._wobble is not None and self._wobble_rad > 0:
            rot = rot * Rotation.from_rotvec(self._wobble(t) * self._wobble_rad)
        return rot, shift + rot.apply(self._lever)

    def orientation(self, t: np.ndarray) -> Rotation:
        """Segment-to-world rotation at times ``t``."""
        return self._state(t)[0]

    def position(self, t: np.ndarray) -> np.ndarray:
        """Sensor position (m) at times ``t``."""
        return self._state(t)[1]


@dataclass(frozen=True)
class GaitParams:
    """Parameters of steady walking (angles in degrees, lengths in metres)."""

    step_hz: float
    step_length_m: float
    thigh_amp_deg: float
    shank_amp_deg: float
    arm_amp_deg: float
    bounce_m: float
    impact_m: float
    ramp_s: float


_WALK_IMPACT_GAIN = {"thigh": 1.0, "shank": 1.5}  # arms: 0.3 (damped by the trunk and shoulder)

_ARM_LEVERS = {
    "wrist": (0.0, 0.03, -0.58),
    "forearm": (0.0, 0.04, -0.42),
    "upper_arm": (0.0, 0.05, -0.15),
}


class WalkingTrajectory:
    """Level walking on a straight line, starting and stopping smoothly.

    The stride (two steps) drives the limbs: thigh and shank swing in the sagittal plane
    (with a knee lag), arms swing in antiphase with the ipsilateral leg. The pelvis carries
    the forward progression, a vertical bounce at the step frequency, a lateral sway at the
    stride frequency and a damped heel-strike transient at every step.
    """

    def __init__(
        self,
        placement: str,
        gait: GaitParams,
        duration_s: float,
        phase_noise: SmoothNoise,
        wobble: SmoothNoise | None,
        wobble_rad: float,
        mirrored: bool,
    ) -> None:
        """Set up a walk of ``duration_s`` seconds for a sensor on ``placement``."""
        if placement not in ("thigh", "shank", *_ARM_LEVERS):
            raise ValueError(f"unknown placement {placement!r}")
        self.placement = placement
        self.gait = gait
        self._T = duration_s
        self._ramp = min(gait.ramp_s, duration_s / 2.0)
        self._phase_noise = phase_noise
        self._wobble = wobble
        self._wobble_rad = wobble_rad
        self._mirrored = mirrored

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

    def _phase(self, t: np.ndarray) -> np.ndarray:
        g = self.gait
        return np.pi * g.step_hz * t + 0.15 * self._phase_noise(t)[:, 0]

    def _state(self, t: np.ndarray) -> tuple[Rotation, np.ndarray]:
        g = self.gait
        env = self._envelope(t)
        phi = self._phase(t)  # stride phase (rad): one stride = two steps
        fwd = np.array([0.0, -1.0, 0.0])
        hip_rad = np.radians(g.thigh_amp_deg) * env * (np.sin(phi) + 0.15 * np.sin(2 * phi) + 0.2)
        thigh = Rotation.from_rotvec(np.outer(hip_rad, fwd))
        # pelvis: forward progression, vertical bounce, lateral sway, heel-strike transients
        step_period = 1.0 / g.step_hz
        s = np.mod(2.0 * phi / (2 * np.pi), 1.0) * step_period  # time since the last strike
        tau = 0.03
        impact = (s / tau) ** 2 * np.exp(-s / tau) * np.sin(2 * np.pi * 9.0 * s)
        impact *= _WALK_IMPACT_GAIN.get(self.placement, 0.3)
        pelvis = np.stack(
            [
                g.step_hz * g.step_length_m * self._distance(t),
                0.02 * env * np.sin(phi),
                -g.bounce_m * env * np.cos(2 * phi) - g.impact_m * env * impact,
            ],
            axis=1,
        )
        if self.placement == "thigh":
            rot = thigh
            pos = pelvis + rot.apply([0.06, 0.0, -0.20])
        elif self.placement == "shank":
            knee_rad = np.radians(g.shank_amp_deg) * env * (
                np.sin(phi - 0.9) + 0.35 * np.sin(2 * phi - 0.9)
            )
            rot = Rotation.from_rotvec(np.outer(knee_rad, fwd))
            knee = pelvis + thigh.apply([0.0, 0.0, -0.45])
            pos = knee + rot.apply([0.04, 0.0, -0.20])
        else:
            arm_rad = -np.radians(g.arm_amp_deg) * env * np.sin(phi)
            rot = Rotation.from_rotvec(np.outer(arm_rad, fwd))
            pos = pelvis + np.array([0.0, 0.0, 0.5]) + rot.apply(_ARM_LEVERS[self.placement])
        if self._wobble is not None and self._wobble_rad > 0:
            rot = rot * Rotation.from_rotvec(self._wobble(t) * self._wobble_rad)
        if self._mirrored:
            return mirror_rotation(rot), mirror_position(pos)
        return rot, pos

    def orientation(self, t: np.ndarray) -> Rotation:
        """Segment-to-world rotation at times ``t``."""
        return self._state(t)[0]

    def position(self, t: np.ndarray) -> np.ndarray:
        """Sensor position (m) at times ``t``."""
        return self._state(t)[1]


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
    rot = trajectory.orientation(tt) * mounting
    pos = trajectory.position(tt)
    r_minus, r_mid, r_plus = rot[:n], rot[n : 2 * n], rot[2 * n :]
    gyro_dps = np.degrees((r_minus.inv() * r_plus).as_rotvec() / (2.0 * h))
    acc_world = (pos[2 * n :] - 2.0 * pos[n : 2 * n] + pos[:n]) / h**2
    specific_force = acc_world / G0 + np.array([0.0, 0.0, 1.0])
    acc_g = r_mid.inv().apply(specific_force)
    return acc_g.reshape(n, 3), gyro_dps.reshape(n, 3)
