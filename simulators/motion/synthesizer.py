"""Synthesize realistic body-worn IMU recordings of exercise sets, rest and walking.

Each function builds a continuous-time trajectory of the sensed body segment
(:mod:`simulators.motion.kinematics`), samples it at the sensor's actual sample times, turns
it into ideal accelerometer/gyroscope readings, and applies the person's sensor errors.

Sample timing: the sensor clock runs at ``rate_hz * (1 + person.odr_error)``, every sample
is jittered by ``person.timing_jitter_s`` (at most 30 % of a period) and some samples are
dropped (``person.dropout_rate``, isolated and in bursts). ``SyntheticSet.t`` holds the TRUE
times at which the kept samples were taken, after jitter and dropouts; it is strictly
increasing but not uniform. Readings are quantised to 16-bit LSM6-class resolution (+-16 g,
+-2000 deg/s full scale) and clipped to that range.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation

from simulators.motion.exercises import PLACEMENTS, get_exercise
from simulators.motion.kinematics import (
    ExerciseTrajectory,
    Fidget,
    GaitParams,
    RepSchedule,
    RestTrajectory,
    SmoothNoise,
    Strides,
    Trajectory,
    WalkingTrajectory,
    ideal_imu,
)
from simulators.motion.person import Person

ACC_RANGE_G = 16.0
GYRO_RANGE_DPS = 2000.0
ACC_LSB_G = 2 * ACC_RANGE_G / 65536
GYRO_LSB_DPS = 2 * GYRO_RANGE_DPS / 65536
_MAX_JITTER_PERIODS = 0.3
_WOBBLE_CORR_S = 1.5


@dataclass(frozen=True, eq=False)  # eq=False: numpy fields make field-wise == ambiguous
class SyntheticSet:
    """One synthesized recording with ground-truth rep labels.

    Attributes:
        t: true sample times (s) from the start of the recording, after clock error,
            jitter and dropouts; strictly increasing, shape (n,).
        acc_g: specific force in g in sensor axes, gravity included (at rest |acc| = 1 g).
        gyro_dps: angular rate in deg/s in sensor axes, shape (n, 3).
        rep_times: true completion time of each full rep (s).
        rep_starts: true start time of each rep (s).
        exercise: exercise name, or ``"rest"`` / ``"walking"``.
        rate_hz: nominal output data rate.
        reps: number of reps, ``len(rep_times)``.
        placement: body segment the sensor was worn on.
    """

    t: np.ndarray
    acc_g: np.ndarray
    gyro_dps: np.ndarray
    rep_times: np.ndarray
    rep_starts: np.ndarray
    exercise: str
    rate_hz: float
    reps: int
    placement: str = ""

    def __post_init__(self) -> None:
        """Check shapes and label consistency."""
        n = len(self.t)
        if self.acc_g.shape != (n, 3) or self.gyro_dps.shape != (n, 3):
            raise ValueError("acc_g and gyro_dps must have shape (len(t), 3)")
        if self.reps != len(self.rep_times) or len(self.rep_starts) != len(self.rep_times):
            raise ValueError("reps, rep_times and rep_starts disagree")

    @property
    def duration_s(self) -> float:
        """Time of the last sample."""
        return float(self.t[-1]) if len(self.t) else 0.0

    def as_array(self) -> np.ndarray:
        """Samples as an (n, 7) array ``t, ax, ay, az, gx, gy, gz`` (the datasets' layout)."""
        return np.column_stack([self.t, self.acc_g, self.gyro_dps])

    def to_csv(self, path: str | Path) -> None:
        """Write the samples as CSV with the header ``t,ax,ay,az,gx,gy,gz``."""
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["t", "ax", "ay", "az", "gx", "gy", "gz"])
            for row in self.as_array():
                w.writerow([f"{row[0]:.4f}", *(f"{v:.5f}" for v in row[1:4]),
                            *(f"{v:.4f}" for v in row[4:])])


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng(0) if rng is None else rng


def _check_rate(rate_hz: float) -> None:
    if not np.isfinite(rate_hz) or rate_hz <= 0:
        raise ValueError("rate_hz must be positive")


def _sample_times(
    duration_s: float, rate_hz: float, person: Person, rng: np.random.Generator
) -> np.ndarray:
    """True sample times over [0, duration_s]: clock error, jitter, dropouts."""
    true_rate = rate_hz * (1.0 + person.odr_error)
    n = int(np.floor(duration_s * true_rate)) + 1
    t = np.arange(n) / true_rate
    limit = _MAX_JITTER_PERIODS / true_rate
    jitter = np.clip(rng.normal(0.0, person.timing_jitter_s, n), -limit, limit)
    t = np.clip(t + jitter, 0.0, duration_s)
    keep = np.ones(n, dtype=bool)
    if person.dropout_rate > 0 and n > 2:
        # half the loss as isolated samples, half as bursts of 2-8 samples
        keep &= rng.random(n) >= person.dropout_rate / 2
        n_bursts = rng.poisson(person.dropout_rate / 2 * n / 5.0)
        for start, length in zip(
            rng.integers(0, n, n_bursts), rng.integers(2, 9, n_bursts), strict=True
        ):
            keep[start : start + length] = False
        keep[0] = True
    t = t[keep]
    # jitter is bounded by 0.3 periods, so order is preserved; guard against equal stamps
    return t[np.concatenate([[True], np.diff(t) > 0])]


def _drift(
    rng: np.random.Generator, duration_s: float, per_minute: float, t: np.ndarray
) -> np.ndarray:
    """Smooth random-walk bias drift, 0 at t = 0, std ``per_minute`` after 60 s."""
    knot_dt = 2.0
    n = int(np.ceil(duration_s / knot_dt)) + 2
    steps = rng.normal(0.0, per_minute * np.sqrt(knot_dt / 60.0), (n, 3))
    steps[0] = 0.0
    walk = np.cumsum(steps, axis=0)
    return CubicSpline(knot_dt * np.arange(n), walk, axis=0)(t)


def _measure(
    trajectory: Trajectory,
    person: Person,
    t: np.ndarray,
    duration_s: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Ideal readings plus the person's sensor errors, quantised and clipped."""
    acc, gyro = ideal_imu(trajectory, person.mounting, t)
    n = len(t)
    acc = (
        acc * (1.0 + person.accel_scale_error)
        + person.accel_bias_g
        + _drift(rng, duration_s, person.accel_drift_g, t)
        + rng.normal(0.0, 1.0, (n, 3)) * person.accel_noise_g
    )
    gyro = (
        gyro * (1.0 + person.gyro_scale_error)
        + person.gyro_bias_dps
        + _drift(rng, duration_s, person.gyro_drift_dps, t)
        + rng.normal(0.0, 1.0, (n, 3)) * person.gyro_noise_dps
    )
    acc = np.clip(np.round(acc / ACC_LSB_G) * ACC_LSB_G, -ACC_RANGE_G, ACC_RANGE_G)
    gyro = np.clip(np.round(gyro / GYRO_LSB_DPS) * GYRO_LSB_DPS, -GYRO_RANGE_DPS, GYRO_RANGE_DPS)
    if not (np.all(np.isfinite(acc)) and np.all(np.isfinite(gyro))):
        raise FloatingPointError("non-finite IMU sample synthesized")
    return acc, gyro


def _wobble(
    rng: np.random.Generator, duration_s: float, person: Person
) -> tuple[SmoothNoise, float]:
    return (
        SmoothNoise(rng, 0.0, duration_s, 3, _WOBBLE_CORR_S),
        float(np.radians(person.wobble_deg)),
    )


def _perpendicular_unit(rng: np.random.Generator, axis: np.ndarray) -> np.ndarray:
    v = rng.normal(size=3)
    v -= axis * float(v @ axis)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-9 else np.array([0.0, 0.0, 1.0])


def synthesize_set(
    exercise: str,
    reps: int,
    person: Person,
    rate_hz: float = 52.0,
    rng: np.random.Generator | None = None,
    lead_in_s: float = 2.0,
    lead_out_s: float = 2.0,
    placement: str | None = None,
) -> SyntheticSet:
    """Synthesize one set of ``reps`` repetitions of ``exercise`` by ``person``.

    The person stands (or sits, lies) still in the exercise's start pose for ``lead_in_s``,
    does the reps with per-rep tempo and amplitude jitter, a gradual fatigue slow-down and
    pauses of about ``person.pause_s`` between reps, then stays still for ``lead_out_s``.
    ``placement`` overrides the exercise's default body segment (see
    ``EXERCISES[name].placements``). ``rng`` makes the result reproducible; ``None`` uses a
    fixed seed (0).
    """
    model = get_exercise(exercise)
    segment = model.segment(placement)
    if reps < 0:
        raise ValueError("reps must be >= 0")
    if lead_in_s < 0 or lead_out_s < 0:
        raise ValueError("lead_in_s and lead_out_s must be >= 0")
    _check_rate(rate_hz)
    rng = _rng(rng)

    # --- rep timing and amplitude
    ramp = np.linspace(0.0, 1.0, reps) if reps > 1 else np.zeros(reps)
    durations = (
        model.rep_duration_s
        * person.tempo_scale
        * (1.0 + person.fatigue * ramp)
        * rng.lognormal(0.0, person.tempo_jitter, reps)
    )
    phase_w = np.asarray(model.phases) * rng.uniform(0.85, 1.15, (reps, 3))
    phase_w /= phase_w.sum(axis=1, keepdims=True)
    pauses = person.pause_s * rng.lognormal(0.0, 0.3, max(reps - 1, 0))
    starts = lead_in_s + np.concatenate([[0.0], np.cumsum(durations[:-1] + pauses)])[:reps]
    schedule = RepSchedule(
        starts=starts,
        out_s=durations * phase_w[:, 0],
        hold_s=durations * phase_w[:, 1],
        back_s=durations * phase_w[:, 2],
    )
    amplitude = np.clip(
        person.amplitude_scale
        * (1.0 - 0.3 * person.fatigue * ramp)
        * rng.normal(1.0, person.amplitude_jitter, reps),
        0.5,
        1.3,
    )
    # off-plane deviation of each rep: a few percent of the range of motion, plus unsteadiness
    dev_sd = np.radians(0.04 * segment.rom_deg + person.wobble_deg)
    deviation = np.array(
        [
            _perpendicular_unit(rng, segment.unit_axis) * rng.normal(0.0, dev_sd)
            for _ in range(reps)
        ]
    ).reshape(reps, 3)

    impact_scale = amplitude * rng.lognormal(0.0, 0.3, reps)

    end = float(schedule.ends[-1]) if reps else lead_in_s
    duration = end + lead_out_s
    wobble, wobble_rad = _wobble(rng, duration, person)
    trajectory = ExerciseTrajectory(
        segment, schedule, amplitude, deviation, wobble, wobble_rad, person.side == "right",
        impact_scale,
    )
    t = _sample_times(duration, rate_hz, person, rng)
    acc, gyro = _measure(trajectory, person, t, duration, rng)
    return SyntheticSet(
        t=t,
        acc_g=acc,
        gyro_dps=gyro,
        rep_times=schedule.ends.copy(),
        rep_starts=schedule.starts.copy(),
        exercise=model.name,
        rate_hz=float(rate_hz),
        reps=reps,
        placement=placement or model.placement,
    )


_REST_POSTURES_DEG = (
    (0.0, 0.0, 0.0),  # upright segment: standing leg, hanging arm
    (0.0, -90.0, 0.0),  # horizontal: seated thigh, lying leg, forearm on the lap
    (90.0, 0.0, 0.0),  # horizontal, rolled: lying on the side, forearm on an armrest
    (0.0, -20.0, 0.0),  # slightly reclined
)

_REST_LEVERS = {
    "thigh": (0.06, 0.0, -0.20),
    "shank": (0.04, 0.0, -0.20),
    "upper_arm": (0.0, 0.05, -0.15),
    "forearm": (0.0, 0.04, -0.12),
    "wrist": (0.0, 0.03, -0.25),
}


def synthesize_rest(
    duration_s: float,
    person: Person,
    rate_hz: float = 52.0,
    rng: np.random.Generator | None = None,
    placement: str = "thigh",
) -> SyntheticSet:
    """Synthesize ``duration_s`` seconds of rest (``reps == 0``).

    A random posture (standing, sitting, lying, reclined), postural sway, and small fidgets
    about once every 8 s: a 3-30 deg rotation with a few cm of shift over 0.5-2 s that
    either returns (a gesture) or stays (a posture change).
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}")
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    _check_rate(rate_hz)
    rng = _rng(rng)
    posture = _REST_POSTURES_DEG[rng.integers(len(_REST_POSTURES_DEG))]
    tilt = rng.normal(0.0, np.radians(6.0), 3)
    neutral = (
        Rotation.from_rotvec([0.0, 0.0, rng.uniform(-np.pi, np.pi)])
        * Rotation.from_rotvec(np.radians(posture))
        * Rotation.from_rotvec(tilt)
    )
    fidgets = []
    for start in np.sort(rng.uniform(0.0, duration_s, rng.poisson(duration_s / 8.0))):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        fidgets.append(
            Fidget(
                start=float(start),
                duration=float(rng.uniform(0.5, 2.0)),
                rotvec_rad=axis * np.radians(rng.uniform(3.0, 30.0)),
                shift_m=rng.normal(0.0, 0.02, 3),
                returns=bool(rng.random() < 0.6),
            )
        )
    wobble, _ = _wobble(rng, duration_s, person)
    trajectory = RestTrajectory(
        neutral, np.asarray(_REST_LEVERS[placement]), fidgets, wobble,
        float(np.radians(0.5 * person.wobble_deg)),
    )
    t = _sample_times(duration_s, rate_hz, person, rng)
    acc, gyro = _measure(trajectory, person, t, duration_s, rng)
    empty = np.zeros(0)
    return SyntheticSet(t, acc, gyro, empty, empty.copy(), "rest", float(rate_hz), 0, placement)


# Walking (healthy adults at a self-selected speed; gait literature, no walking recordings in
# the shared datasets): cadence 95-125 steps/min, stride time CV 1.5-3.5 %.
_CADENCE_SPM = (110.0, 7.0, 95.0, 125.0)  # mean, sd, min, max (steps/min)
# peak heel-strike transient at the sensor (g): the sensed foot's own, the other foot's
_LEG_IMPACT_G = {"thigh": ((1.0, 2.0), (0.2, 0.45)), "shank": ((2.0, 4.0), (0.2, 0.45))}
_ARM_IMPACT_G = (0.1, 0.3)  # through the trunk and shoulder, both feet alike


def _gait_params(person: Person, rng: np.random.Generator) -> tuple[GaitParams, float]:
    """One person's gait and mean stride duration (s); slow movers walk slower."""
    mean, sd, lo, hi = _CADENCE_SPM
    cadence = float(np.clip(rng.normal(mean, sd) / person.tempo_scale**0.3, lo, hi))
    # faster walkers take longer steps (larger leg excursions) and stand a shorter share
    size = float(np.clip(rng.normal(1.0, 0.06) + 0.005 * (cadence - mean), 0.88, 1.12))
    gait = GaitParams(
        stance_fraction=float(np.clip(0.61 - 0.002 * (cadence - mean) + rng.normal(0, 0.01),
                                      0.57, 0.65)),
        thigh_scale=size,
        # the knee takes up small differences; both together keep it out of hyperextension
        shank_scale=size * float(np.clip(rng.normal(1.0, 0.03), 0.95, 1.05)),
        arm_amp_deg=float(rng.uniform(8.0, 13.0)),
        elbow_gain=float(rng.uniform(0.3, 0.6)),
        elbow_deg=float(rng.uniform(5.0, 25.0)),
        bounce_m=float(rng.uniform(0.015, 0.03)),
        pelvis_yaw_deg=float(rng.uniform(3.0, 6.0)),
        ramp_s=1.0,
    )
    return gait, 120.0 / cadence


def _strides(
    duration_s: float, stride_s: float, placement: str, rng: np.random.Generator
) -> Strides:
    """Heel strikes with stride-to-stride jitter, and per-stride amplitude and impacts."""
    n = int(np.ceil(duration_s / stride_s)) + 6
    durations = stride_s * rng.lognormal(0.0, rng.uniform(0.015, 0.035), n)
    # strides start before the recording: it opens at a random point of the gait cycle
    hs = np.concatenate([[0.0], np.cumsum(durations[:-1])]) - rng.uniform(2.0, 3.0) * stride_s
    own, other = _LEG_IMPACT_G.get(placement, (_ARM_IMPACT_G, _ARM_IMPACT_G))
    return Strides(
        heel_strikes_s=hs,
        amplitude=rng.normal(1.0, 0.03, n),
        own_impact_g=rng.uniform(*own) * rng.lognormal(0.0, 0.2, n),
        other_impact_g=rng.uniform(*other) * rng.lognormal(0.0, 0.2, n),
    )


def synthesize_walking(
    duration_s: float,
    person: Person,
    rate_hz: float = 52.0,
    rng: np.random.Generator | None = None,
    placement: str = "thigh",
) -> SyntheticSet:
    """Synthesize ``duration_s`` seconds of level walking (``reps == 0``).

    Cadence 95-125 steps/min (slower for slower people), i.e. a stride (one swing of each
    limb) of 0.95-1.25 s with 1.5-3.5 % stride-to-stride jitter; stance about 60 % of the
    stride; walking starts and stops smoothly over 1 s. See :class:`WalkingTrajectory`.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}")
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    _check_rate(rate_hz)
    rng = _rng(rng)
    gait, stride_s = _gait_params(person, rng)
    strides = _strides(duration_s, stride_s, placement, rng)
    wobble, wobble_rad = _wobble(rng, duration_s, person)
    trajectory = WalkingTrajectory(
        placement, gait, strides, duration_s, wobble, wobble_rad, person.side == "right"
    )
    t = _sample_times(duration_s, rate_hz, person, rng)
    acc, gyro = _measure(trajectory, person, t, duration_s, rng)
    empty = np.zeros(0)
    return SyntheticSet(t, acc, gyro, empty, empty.copy(), "walking", float(rate_hz), 0, placement)
