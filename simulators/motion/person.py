"""Per-person (and per-device) variation for the motion synthesizer.

A :class:`Person` bundles what differs between two people doing the same exercise with the
same kind of wearable: how fast and how far they move, how long they pause, how steady they
are, how the sensor happens to sit on the limb, and the individual sensor's imperfections.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.spatial.transform import Rotation


def _vec(x: np.ndarray | tuple[float, ...] | list[float]) -> np.ndarray:
    a = np.array(x, dtype=float).reshape(3)
    a.setflags(write=False)
    return a


def random_rotation(rng: np.random.Generator) -> Rotation:
    """A rotation drawn uniformly from SO(3) (normalised Gaussian quaternion)."""
    q = rng.normal(size=4)
    while float(np.linalg.norm(q)) < 1e-6:
        q = rng.normal(size=4)
    return Rotation.from_quat(q / np.linalg.norm(q))


@dataclass(frozen=True, eq=False)  # eq=False: numpy fields make field-wise == ambiguous
class Person:
    """One simulated person wearing one simulated sensor.

    Movement:
        tempo_scale: multiplies every rep's duration (> 1 is slower).
        amplitude_scale: multiplies every rep's range of motion.
        pause_s: typical rest between consecutive reps (0 = continuous reps).
        tempo_jitter: per-rep coefficient of variation of rep duration.
        amplitude_jitter: per-rep coefficient of variation of range of motion.
        fatigue: fractional slow-down of the last rep relative to the first.
        wobble_deg: RMS of the small involuntary segment rotation (sway, tremor, out-of-plane
            movement), present at rest and during reps.
        side: ``"left"`` or ``"right"``: the limb wearing the sensor (models are mirrored).

    Mounting: ``mounting`` is the sensor-to-segment rotation (scipy ``Rotation``): a vector
    in sensor axes maps to segment axes as ``mounting.apply(v)``. Any orientation is legal.

    Sensor (the readings are ``(1 + scale_error) * true + bias + drift(t) + noise``):
        accel_noise_g, gyro_noise_dps: white-noise standard deviation per axis and sample.
        accel_bias_g, gyro_bias_dps: constant per-axis offsets, shape (3,).
        accel_scale_error, gyro_scale_error: per-axis gain errors (fractions), shape (3,).
        accel_drift_g, gyro_drift_dps: standard deviation a random-walk bias drift reaches
            after 60 s (slow: temperature, bias instability).
        odr_error: fractional error of the sensor's sample clock (+0.01 = 1 % fast).
        timing_jitter_s: standard deviation of each sample's timing jitter (s).
        dropout_rate: fraction of samples lost (isolated and in short bursts).
    """

    tempo_scale: float
    amplitude_scale: float
    pause_s: float
    mounting: Rotation
    accel_noise_g: float
    gyro_noise_dps: float
    accel_bias_g: np.ndarray
    gyro_bias_dps: np.ndarray
    tempo_jitter: float = 0.06
    amplitude_jitter: float = 0.05
    fatigue: float = 0.05
    wobble_deg: float = 1.0
    side: str = "left"
    accel_scale_error: np.ndarray = field(default_factory=lambda: _vec((0.0, 0.0, 0.0)))
    gyro_scale_error: np.ndarray = field(default_factory=lambda: _vec((0.0, 0.0, 0.0)))
    accel_drift_g: float = 0.0
    gyro_drift_dps: float = 0.0
    odr_error: float = 0.0
    timing_jitter_s: float = 0.0
    dropout_rate: float = 0.0

    def __post_init__(self) -> None:
        """Validate ranges and store vectors as read-only float arrays."""
        for name in ("accel_bias_g", "gyro_bias_dps", "accel_scale_error", "gyro_scale_error"):
            object.__setattr__(self, name, _vec(getattr(self, name)))
        if not isinstance(self.mounting, Rotation) or not self.mounting.single:
            raise TypeError("mounting must be a single scipy Rotation")
        if self.tempo_scale <= 0 or self.amplitude_scale <= 0:
            raise ValueError("tempo_scale and amplitude_scale must be positive")
        if self.side not in ("left", "right"):
            raise ValueError("side must be 'left' or 'right'")
        for name in (
            "pause_s", "accel_noise_g", "gyro_noise_dps", "tempo_jitter", "amplitude_jitter",
            "fatigue", "wobble_deg", "accel_drift_g", "gyro_drift_dps", "timing_jitter_s",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative")
        if not 0 <= self.dropout_rate < 0.5:
            raise ValueError("dropout_rate must be in [0, 0.5)")
        if abs(self.odr_error) >= 0.2:
            raise ValueError("odr_error must be within +-0.2")

    @classmethod
    def random(cls, rng: np.random.Generator) -> Person:
        """Draw a plausible person and sensor; deterministic given ``rng``.

        Ranges: tempo 0.5-1.6x, range of motion 0.7-1.15x, pauses 0-3 s scaled with the
        tempo (about a third of people do reps back to back), any mounting orientation,
        consumer MEMS sensor errors (LSM6-class: accel bias ~15 mg, gyro bias ~1 deg/s, gain
        errors ~1 %, clock ~0.5 %).
        """
        tempo = float(np.clip(rng.lognormal(0.0, 0.22), 0.5, 1.6))
        continuous = rng.random() < 0.35
        # fast movers pause less: pauses scale with the tempo
        pause = (rng.uniform(0.0, 0.3) if continuous else rng.uniform(0.3, 2.0)) * tempo
        return cls(
            tempo_scale=tempo,
            amplitude_scale=float(np.clip(rng.normal(1.0, 0.1), 0.7, 1.15)),
            pause_s=float(pause),
            mounting=random_rotation(rng),
            accel_noise_g=float(rng.uniform(0.002, 0.010)),
            gyro_noise_dps=float(rng.uniform(0.05, 0.4)),
            accel_bias_g=rng.normal(0.0, 0.015, 3),
            gyro_bias_dps=rng.normal(0.0, 1.0, 3),
            tempo_jitter=float(rng.uniform(0.03, 0.10)),
            amplitude_jitter=float(rng.uniform(0.02, 0.08)),
            fatigue=float(rng.uniform(0.0, 0.15)),
            wobble_deg=float(rng.uniform(0.4, 2.5)),
            side="left" if rng.random() < 0.5 else "right",
            accel_scale_error=rng.normal(0.0, 0.01, 3),
            gyro_scale_error=rng.normal(0.0, 0.01, 3),
            accel_drift_g=float(rng.uniform(0.0, 0.004)),
            gyro_drift_dps=float(rng.uniform(0.0, 0.3)),
            odr_error=float(np.clip(rng.normal(0.0, 0.005), -0.015, 0.015)),
            timing_jitter_s=float(rng.uniform(0.0, 0.002)),
            dropout_rate=float(rng.choice([0.0, rng.uniform(0.0, 0.01)])),
        )

    @classmethod
    def ideal(cls, mounting: Rotation | None = None) -> Person:
        """A nominal person with a perfect sensor: no noise, bias, drift, jitter or dropouts.

        Tempo and amplitude are nominal, reps are identical (no jitter, no fatigue, no
        wobble) and the sensor axes coincide with the segment's unless ``mounting`` is
        given. Useful for exact checks of the kinematics.
        """
        return cls(
            tempo_scale=1.0,
            amplitude_scale=1.0,
            pause_s=0.5,
            mounting=Rotation.identity() if mounting is None else mounting,
            accel_noise_g=0.0,
            gyro_noise_dps=0.0,
            accel_bias_g=np.zeros(3),
            gyro_bias_dps=np.zeros(3),
            tempo_jitter=0.0,
            amplitude_jitter=0.0,
            fatigue=0.0,
            wobble_deg=0.0,
        )

    def with_perfect_sensor(self) -> Person:
        """The same person and mounting with all sensor errors removed."""
        return replace(
            self,
            accel_noise_g=0.0,
            gyro_noise_dps=0.0,
            accel_bias_g=np.zeros(3),
            gyro_bias_dps=np.zeros(3),
            accel_scale_error=np.zeros(3),
            gyro_scale_error=np.zeros(3),
            accel_drift_g=0.0,
            gyro_drift_dps=0.0,
            odr_error=0.0,
            timing_jitter_s=0.0,
            dropout_rate=0.0,
        )
