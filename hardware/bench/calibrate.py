"""Bench calibration of the wearable's IMU from static poses.

Reads recordings (CSV ``t,ax,ay,az,gx,gy,gz``, seconds, g, deg/s: the layout of the datasets
and of ``--recorder-script``), finds the stretches where the device lay still, and fits

* the accelerometer: ``a_true = C (a_measured - offset)`` with ``|a_true| = 1 g`` in every
  still pose, by least squares. Model ``scale``: ``C`` diagonal (offset and per-axis scale,
  6 parameters, at least 6 distinct orientations). Model ``full``: ``C`` symmetric 3x3
  (scale and cross-axis terms, 9 parameters, at least 9 distinct orientations). The norm
  alone cannot see a pure rotation of the sensor frame, so ``full`` recovers the symmetric
  part of the correction; the rotation left over is irrelevant to a counter that measures
  changes of orientation.
* the gyroscope: its bias, the mean rate over all still stretches.

The output is a JSON file with the float fit, the residual per pose, warnings, and the same
correction in the integers the firmware works in (mg, 0.1 deg/s, parts per 65536); see
``apply_firmware`` and hardware/calibration.md for the bench procedure.

Usage: ``python -m hardware.bench.calibrate POSE.csv ... --out calib.json``
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "rtm-imu-calibration/1"
HEADER = ["t", "ax", "ay", "az", "gx", "gy", "gz"]
Q16 = 65536  # the firmware's fixed-point scale: parts per 65536

MIN_ORIENTATIONS = {"scale": 6, "full": 9}
SAME_ORIENTATION_DEG = 25.0  # still stretches closer than this count as one orientation

# Defaults of the still detector (all overridable on the command line).
WINDOW_S = 1.0
MIN_STILL_S = 2.0
ACC_STD_MAX_G = 0.005  # per axis in a window; a device resting on a table shows < 1 mg
GYRO_STD_MAX_DPS = 0.5  # per axis in a window; hand tremor shows several deg/s
DRIFT_MAX_G = 0.010  # mean of the first vs last third of a stretch: a slow creep or slide

# Plausibility bounds for warnings: several times the typical tolerances of a MEMS IMU,
# so only a wrong recording (or a damaged part) trips them.
_WARN_OFFSET_G = 0.100
_WARN_SCALE = 0.05
_WARN_CROSS = 0.03
_WARN_GYRO_BIAS_DPS = 10.0
_WARN_GYRO_SPREAD_DPS = 0.3
_WARN_RESIDUAL_G = 0.005
_WARN_RAW_NORM_G = 0.15  # |a| of a still pose this far from 1 g before calibration
_WARN_CONDITIONING = 0.3  # six faces give about 0.96
_MIN_CONDITIONING = 0.01  # below this, pose-mean noise is amplified over 100 times
_AXIS_COS = 0.5  # an axis "points up" within 60 deg of vertical


class CalibrationError(ValueError):
    """The recordings cannot give a calibration; the message says why and what to do."""


class RecordingError(CalibrationError):
    """A file is not a readable recording (the message names the file and line)."""


class MotionError(CalibrationError):
    """The device moved where it should have been still (the message names file and time)."""


class CoverageError(CalibrationError):
    """The still poses do not hold enough distinct orientations for the model."""


@dataclass(frozen=True)
class Recording:
    name: str
    t: np.ndarray  # (n,) s
    acc_g: np.ndarray  # (n, 3)
    gyro_dps: np.ndarray  # (n, 3)


@dataclass(frozen=True)
class StillSegment:
    source: str
    t0_s: float
    t1_s: float
    acc_g: np.ndarray  # (n, 3) samples of the stretch
    gyro_dps: np.ndarray

    @property
    def where(self) -> str:
        return f"{self.source} t={self.t0_s:.1f}-{self.t1_s:.1f} s"

    @property
    def acc_mean(self) -> np.ndarray:
        return self.acc_g.mean(axis=0)

    @property
    def up(self) -> np.ndarray:
        """Unit vector of the measured gravity reaction ("up") in sensor axes."""
        m = self.acc_mean
        return m / np.linalg.norm(m)


@dataclass(frozen=True)
class StillDetector:
    window_s: float = WINDOW_S
    min_still_s: float = MIN_STILL_S
    acc_std_max_g: float = ACC_STD_MAX_G
    gyro_std_max_dps: float = GYRO_STD_MAX_DPS
    drift_max_g: float = DRIFT_MAX_G


@dataclass
class Calibration:
    model: str
    model_reason: str
    offset_g: np.ndarray
    matrix: np.ndarray  # C, 3x3
    gyro_bias_dps: np.ndarray
    segments: list[StillSegment]
    residuals_g: np.ndarray  # per segment, |C (m - offset)| - 1
    orientations: int
    conditioning: float  # smallest / largest singular value of the fit's Jacobian
    warnings: list[str] = field(default_factory=list)

    @property
    def dof(self) -> int:
        return len(self.segments) - (6 if self.model == "scale" else 9)

    def firmware(self) -> dict[str, list]:
        """The correction in the firmware's integers: offset in mg, the matrix in parts per
        65536 (diagonal for the scale model), the gyroscope bias in 0.1 deg/s."""
        return {
            "accel_offset_mg": [round(v * 1000) for v in self.offset_g],
            "accel_scale_q16": [[round(v * Q16) for v in row] for row in self.matrix],
            "gyro_bias_ddps": [round(v * 10) for v in self.gyro_bias_dps],
        }

    def to_dict(self) -> dict:
        gyro_means = np.array([s.gyro_dps.mean(axis=0) for s in self.segments])
        spread = np.abs(gyro_means - self.gyro_bias_dps).max()
        return {
            "format": FORMAT,
            "model": self.model,
            "model_reason": self.model_reason,
            "firmware": self.firmware(),
            "fit": {
                "accel_offset_g": _round_list(self.offset_g, 6),
                "accel_matrix": [_round_list(row, 6) for row in self.matrix],
                "gyro_bias_dps": _round_list(self.gyro_bias_dps, 4),
                "gyro_bias_spread_dps": round(float(spread), 4),
                "residual_rms_mg": round(float(np.sqrt(np.mean(self.residuals_g**2))) * 1000, 3),
                "residual_max_mg": round(float(np.abs(self.residuals_g).max()) * 1000, 3),
                "poses": len(self.segments),
                "orientations": self.orientations,
                "dof": self.dof,
                "conditioning": round(self.conditioning, 4),
            },
            "segments": [
                {
                    "source": s.source,
                    "t0_s": round(s.t0_s, 3),
                    "t1_s": round(s.t1_s, 3),
                    "samples": len(s.acc_g),
                    "acc_mean_g": _round_list(s.acc_mean, 5),
                    "acc_std_mg": _round_list(s.acc_g.std(axis=0) * 1000, 3),
                    "gyro_mean_dps": _round_list(s.gyro_dps.mean(axis=0), 3),
                    "norm_error_raw_mg": round((float(np.linalg.norm(s.acc_mean)) - 1) * 1000, 2),
                    "residual_mg": round(float(r) * 1000, 3),
                }
                for s, r in zip(self.segments, self.residuals_g, strict=True)
            ],
            "warnings": list(self.warnings),
        }


def _round_list(v: np.ndarray, digits: int) -> list[float]:
    return [round(float(x), digits) for x in v]


_NUMBER_LIST = re.compile(r"\[\s+([-+\d.eE,\s]+?)\s+\]")
_LIST_OF_LISTS = re.compile(r"\[\s+(\[[^\[\]]*\](?:,\s+\[[^\[\]]*\])*)\s+\]")


def to_json(d: dict) -> str:
    """Indented JSON with every vector and matrix kept on one line."""
    text = json.dumps(d, indent=2)
    text = _NUMBER_LIST.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    text = _LIST_OF_LISTS.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    return text + "\n"


# -- reading ----------------------------------------------------------------------------

def read_recording(path: str | Path) -> Recording:
    """Read one CSV recording; ``RecordingError`` names the file and line of any fault."""
    path = Path(path)
    name = path.name
    try:
        with open(path, newline="") as fh:
            rows = [row for row in csv.reader(fh) if row and any(c.strip() for c in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RecordingError(f"{name}: cannot read: {exc}") from None
    if not rows:
        raise RecordingError(f"{name}: empty file")
    header = [h.strip() for h in rows[0]]
    if header != HEADER:
        raise RecordingError(
            f"{name}: header must be {','.join(HEADER)} (g and deg/s), got {','.join(header)}"
        )
    values = np.empty((len(rows) - 1, 7))
    for i, row in enumerate(rows[1:]):
        line = i + 2
        if len(row) != 7:
            raise RecordingError(f"{name}: line {line}: expected 7 columns, got {len(row)}")
        try:
            values[i] = [float(x) for x in row]
        except ValueError:
            raise RecordingError(f"{name}: line {line}: not a number in {','.join(row)}") from None
        if not np.all(np.isfinite(values[i])):
            raise RecordingError(f"{name}: line {line}: NaN or infinity")
    if len(values) < 2:
        raise RecordingError(f"{name}: fewer than two samples")
    bad = np.flatnonzero(np.diff(values[:, 0]) <= 0)
    if len(bad):
        raise RecordingError(f"{name}: line {bad[0] + 3}: time does not increase")
    median_norm = float(np.median(np.linalg.norm(values[:, 1:4], axis=1)))
    if median_norm > 5:
        raise RecordingError(
            f"{name}: acceleration is about {median_norm:.1f} at rest: looks like m/s^2, "
            "expected g (divide by 9.80665)"
        )
    return Recording(name, values[:, 0], values[:, 1:4], values[:, 4:7])


# -- still stretches ----------------------------------------------------------------------

def _window_std(x: np.ndarray, w: int) -> np.ndarray:
    """Standard deviation of every window of ``w`` consecutive rows, per column."""
    c1 = np.vstack([np.zeros(x.shape[1]), np.cumsum(x, axis=0)])
    c2 = np.vstack([np.zeros(x.shape[1]), np.cumsum(x * x, axis=0)])
    s1 = c1[w:] - c1[:-w]
    s2 = c2[w:] - c2[:-w]
    return np.sqrt(np.maximum(s2 / w - (s1 / w) ** 2, 0.0))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def find_still(rec: Recording, det: StillDetector) -> tuple[list[StillSegment], float]:
    """Still stretches of at least ``det.min_still_s``, and the longest still time found
    (to say how close a rejected file came). A sample is still when some window of
    ``det.window_s`` containing it is quiet on all six axes; a stretch whose mean tilts by
    more than ``det.drift_max_g`` between its first and last third raises ``MotionError``."""
    n = len(rec.t)
    rate = 1.0 / float(np.median(np.diff(rec.t)))
    w = max(3, round(det.window_s * rate))
    if n < w:
        raise MotionError(f"{rec.name}: only {rec.t[-1] - rec.t[0]:.1f} s recorded, "
                          f"shorter than one {det.window_s:g} s window")
    quiet = np.all(_window_std(rec.acc_g, w) <= det.acc_std_max_g, axis=1) & np.all(
        _window_std(rec.gyro_dps, w) <= det.gyro_std_max_dps, axis=1
    )
    still = np.zeros(n, dtype=bool)
    for j in np.flatnonzero(quiet):
        still[j:j + w] = True
    segments = []
    longest = 0.0
    for a, b in _runs(still):
        dur = float(rec.t[b - 1] - rec.t[a])
        longest = max(longest, dur)
        if dur < det.min_still_s:
            continue
        seg = StillSegment(rec.name, float(rec.t[a]), float(rec.t[b - 1]),
                           rec.acc_g[a:b], rec.gyro_dps[a:b])
        third = max(1, (b - a) // 3)
        drift = np.abs(seg.acc_g[:third].mean(axis=0) - seg.acc_g[-third:].mean(axis=0)).max()
        if drift > det.drift_max_g:
            raise MotionError(
                f"{seg.where}: the device crept during the pose (mean acceleration changed "
                f"by {drift * 1000:.0f} mg, limit {det.drift_max_g * 1000:.0f} mg): rest it "
                "against a firm support and record the pose again"
            )
        segments.append(seg)
    return segments, longest


def collect_poses(recordings: Sequence[Recording], det: StillDetector,
                  several_per_file: bool) -> list[StillSegment]:
    """The still poses of all recordings. One pose per file (the longest still stretch)
    unless ``several_per_file``, where every still stretch is a pose."""
    poses: list[StillSegment] = []
    for rec in recordings:
        segments, longest = find_still(rec, det)
        if not segments:
            raise MotionError(
                f"{rec.name}: no still stretch of {det.min_still_s:g} s or more (longest "
                f"{longest:.1f} s with acceleration std <= {det.acc_std_max_g * 1000:g} mg and "
                f"rate std <= {det.gyro_std_max_dps:g} deg/s): the device moved during the "
                "pose; rest it on a firm support and record again"
            )
        if several_per_file:
            poses.extend(segments)
            continue
        groups = group_orientations(segments)
        if len(groups) > 1:
            listed = "; ".join(segments[g[0]].where for g in groups)
            raise MotionError(
                f"{rec.name}: holds {len(groups)} different orientations ({listed}) but one "
                "pose per file was expected: record each pose on its own, or pass --segments"
            )
        poses.append(max(segments, key=lambda s: len(s.acc_g)))
    return poses


def group_orientations(segments: Sequence[StillSegment],
                       same_deg: float = SAME_ORIENTATION_DEG) -> list[list[int]]:
    """Indices of ``segments`` grouped by orientation (gravity within ``same_deg``)."""
    cos_same = math.cos(math.radians(same_deg))
    groups: list[list[int]] = []
    for i, s in enumerate(segments):
        for g in groups:
            if float(segments[g[0]].up @ s.up) >= cos_same:
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


# -- fitting --------------------------------------------------------------------------------

_PARAM_NAMES = {
    "scale": ["x offset", "y offset", "z offset", "x scale", "y scale", "z scale"],
    "full": ["x offset", "y offset", "z offset", "x scale", "y scale", "z scale",
             "x-y cross term", "x-z cross term", "y-z cross term"],
}
_OFF_DIAGONAL = ((0, 1), (0, 2), (1, 2))


def _matrix(p: np.ndarray, model: str) -> np.ndarray:
    c = np.diag(p[3:6])
    if model == "full":
        for (j, k), v in zip(_OFF_DIAGONAL, p[6:9], strict=True):
            c[j, k] = c[k, j] = v
    return c


def _residuals_jacobian(p: np.ndarray, m: np.ndarray, model: str):
    c = _matrix(p, model)
    d = m - p[:3]
    y = d @ c.T
    norm = np.linalg.norm(y, axis=1)
    cols = [-(y @ c) / norm[:, None]]  # d|y|/d offset
    cols.append(y * d / norm[:, None])  # diagonal of C
    if model == "full":
        cols.append(np.column_stack(
            [(y[:, j] * d[:, k] + y[:, k] * d[:, j]) / norm for j, k in _OFF_DIAGONAL]))
    return norm - 1.0, np.hstack(cols)


def fit_accel(means_g: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Least squares of ``|C (m - offset)| - 1`` over the pose means ``means_g`` (n, 3),
    Levenberg-Marquardt from the nominal sensor (no offset, unit scale). Returns offset,
    C, the residuals and the conditioning; ``CoverageError`` if the poses leave a parameter
    undetermined."""
    p = np.zeros(9 if model == "full" else 6)
    p[3:6] = 1.0
    lam = 1e-3
    r, jac = _residuals_jacobian(p, means_g, model)
    cost = float(r @ r)
    for _ in range(200):
        jtj = jac.T @ jac
        step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-12), -jac.T @ r)
        r_new, jac_new = _residuals_jacobian(p + step, means_g, model)
        cost_new = float(r_new @ r_new)
        if cost_new <= cost:
            p, r, jac, cost = p + step, r_new, jac_new, cost_new
            lam = max(lam / 10, 1e-12)
            if np.abs(step).max() < 1e-12:
                break
        else:
            lam *= 10
            if lam > 1e8:
                break
    conditioning = _check_determined(jac, model)
    return p[:3], _matrix(p, model), r, conditioning


def _check_axes(segments: Sequence[StillSegment]) -> None:
    """Each axis must have pointed up and down: otherwise its offset and scale trade off
    against each other and the six equations can have several solutions."""
    ups = np.array([s.up for s in segments])
    missing = [sign + "xyz"[k] for k in range(3) for sign, ok in
               (("+", ups[:, k].max() >= _AXIS_COS), ("-", ups[:, k].min() <= -_AXIS_COS))
               if not ok]
    if missing:
        raise CoverageError(
            f"no pose with {', '.join(missing)} pointing up (within "
            f"{math.degrees(math.acos(_AXIS_COS)):.0f} deg): record each axis pointing up "
            "and pointing down"
        )


def _check_determined(jac: np.ndarray, model: str) -> float:
    """The conditioning of the fit (smallest over largest singular value of the Jacobian,
    1 for ideal poses); ``CoverageError`` if a parameter is practically undetermined."""
    _, sv, vt = np.linalg.svd(jac, full_matrices=False)
    if len(sv) < jac.shape[1] or sv[-1] < _MIN_CONDITIONING * sv[0]:
        weakest = _PARAM_NAMES[model][int(np.argmax(np.abs(vt[-1])))]
        raise CoverageError(
            f"the poses do not determine the {weakest} ({model} model): add poses with "
            "that axis pointing up and down, and tilted poses for cross terms"
        )
    return float(sv[-1] / sv[0])


def calibrate(recordings: Sequence[Recording], model: str = "auto",
              det: StillDetector | None = None, several_per_file: bool = False) -> Calibration:
    """Find the still poses, check their coverage, fit the accelerometer and the gyro bias."""
    if model not in ("auto", "scale", "full"):
        raise ValueError(f"model must be auto, scale or full, not {model!r}")
    det = det or StillDetector()
    segments = collect_poses(recordings, det, several_per_file)
    groups = group_orientations(segments)
    need = MIN_ORIENTATIONS["scale" if model == "auto" else model]
    if len(groups) < need:
        listed = "; ".join(
            f"{segments[g[0]].where} up={_axis_words(segments[g[0]].up)}" for g in groups)
        raise CoverageError(
            f"{len(groups)} distinct orientations found, the {model} model needs at least "
            f"{need} (+x, -x, +y, -y, +z, -z up; poses within {SAME_ORIENTATION_DEG:g} deg "
            f"count as one): {listed}"
        )
    _check_axes(segments)
    means = np.array([s.acc_mean for s in segments])
    chosen, reason = _choose_model(model, len(groups))
    try:
        offset, matrix, residuals, conditioning = fit_accel(means, chosen)
    except CoverageError:
        if model != "auto" or chosen == "scale":
            raise
        chosen = "scale"
        reason = (f"auto: {len(groups)} orientations, but they do not determine the cross "
                  "terms; fell back to offset and per-axis scale")
        offset, matrix, residuals, conditioning = fit_accel(means, chosen)
    weights = np.array([len(s.gyro_dps) for s in segments], dtype=float)
    gyro_means = np.array([s.gyro_dps.mean(axis=0) for s in segments])
    gyro_bias = weights @ gyro_means / weights.sum()
    cal = Calibration(chosen, reason, offset, matrix, gyro_bias, segments, residuals,
                      len(groups), conditioning)
    cal.warnings.extend(_warnings(cal, gyro_means))
    return cal


def _choose_model(model: str, orientations: int) -> tuple[str, str]:
    if model != "auto":
        return model, f"requested: {model}"
    if orientations >= MIN_ORIENTATIONS["full"]:
        return "full", (f"auto: {orientations} orientations (>= 9) determine the cross-axis "
                        "terms")
    return "scale", (f"auto: {orientations} orientations (< 9) determine offset and per-axis "
                     "scale only")


def _axis_words(up: np.ndarray) -> str:
    k = int(np.argmax(np.abs(up)))
    return ("+" if up[k] > 0 else "-") + "xyz"[k]


def _warnings(cal: Calibration, gyro_means: np.ndarray) -> list[str]:
    out = []
    if cal.dof <= 0:
        out.append(f"no redundancy ({len(cal.segments)} poses for the {cal.model} model's "
                   f"{len(cal.segments) - cal.dof} parameters): the residuals cannot reveal a "
                   "bad pose; record tilted poses as well")
    if cal.conditioning < _WARN_CONDITIONING:
        out.append(f"poorly spread poses (conditioning {cal.conditioning:.2f}, six faces give "
                   "about 0.96): noise in the poses is amplified; record each axis up and down")
    for s, r in zip(cal.segments, cal.residuals_g, strict=True):
        raw = float(np.linalg.norm(s.acc_mean)) - 1
        if abs(raw) > _WARN_RAW_NORM_G:
            out.append(f"{s.where}: |a| = {raw * 1000 + 1000:.0f} mg before calibration; "
                       "is the device really resting?")
        if abs(r) > _WARN_RESIDUAL_G:
            out.append(f"{s.where}: residual {r * 1000:.1f} mg after the fit; the pose may "
                       "have been disturbed")
    if np.abs(cal.offset_g).max() > _WARN_OFFSET_G:
        out.append(f"accelerometer offset {np.round(cal.offset_g * 1000).tolist()} mg is "
                   "implausibly large")
    if np.abs(np.diag(cal.matrix) - 1).max() > _WARN_SCALE:
        out.append(f"accelerometer scale {np.round(np.diag(cal.matrix), 4).tolist()} is "
                   "implausibly far from 1")
    if np.abs(cal.matrix - np.diag(np.diag(cal.matrix))).max() > _WARN_CROSS:
        out.append("accelerometer cross-axis terms above 3 %: check the fit")
    if np.abs(cal.gyro_bias_dps).max() > _WARN_GYRO_BIAS_DPS:
        out.append(f"gyroscope bias {np.round(cal.gyro_bias_dps, 2).tolist()} deg/s is "
                   "implausibly large")
    spread = float(np.abs(gyro_means - cal.gyro_bias_dps).max())
    if spread > _WARN_GYRO_SPREAD_DPS:
        out.append(f"gyroscope bias differs by up to {spread:.2f} deg/s between poses "
                   "(warming up? rotating support?)")
    return out


# -- applying (the firmware's arithmetic) ---------------------------------------------------

def apply_firmware(firmware: dict, acc_mg: np.ndarray, gyro_ddps: np.ndarray):
    """Correct integer samples as the firmware would: ``(S @ (a - o) + 32768) >> 16`` in mg
    and ``g - bias`` in 0.1 deg/s, integers only. For ±4 g samples every product and sum
    stays below 2**30, MicroPython's small-int limit on a 32-bit port."""
    o = np.asarray(firmware["accel_offset_mg"], dtype=np.int64)
    s = np.asarray(firmware["accel_scale_q16"], dtype=np.int64)
    b = np.asarray(firmware["gyro_bias_ddps"], dtype=np.int64)
    d = np.asarray(acc_mg, dtype=np.int64) - o
    acc = (d @ s.T + Q16 // 2) >> 16
    return acc, np.asarray(gyro_ddps, dtype=np.int64) - b


# -- the recorder that runs on the wearable ----------------------------------------------

RECORDER_SCRIPT = '''\
# Bench recorder for the RTM wearable (MicroPython): prints SECONDS of IMU samples as CSV,
# t,ax,ay,az,gx,gy,gz in s, g and deg/s, at the firmware's settings (52 Hz, +-4 g, +-500 dps).
# Run from the PC: mpremote run record_pose.py > pose_1.csv
import time
from machine import I2C, Pin
from firmware.device.lsm6dsox import LSM6DSOX

SECONDS = 10
imu = LSM6DSOX(I2C(0, scl=Pin(6), sda=Pin(5), freq=400000))
imu.start()
time.sleep_ms(500)
imu.read_fifo()  # drop the first half second: the gyroscope starts after the accelerometer
print("t,ax,ay,az,gx,gy,gz")
n = 0
while n < SECONDS * imu.odr_hz:
    time.sleep_ms(200)
    s = imu.samples
    for i in range(imu.read_fifo()):
        j = 6 * i
        print("%.4f,%.3f,%.3f,%.3f,%.1f,%.1f,%.1f" % (
            n / imu.odr_hz, s[j] / 1000, s[j + 1] / 1000, s[j + 2] / 1000,
            s[j + 3] / 10, s[j + 4] / 10, s[j + 5] / 10))
        n += 1
imu.power_down()
'''


# -- command line -----------------------------------------------------------------------

def _summary(cal: Calibration) -> str:
    d = cal.to_dict()
    fw = d["firmware"]
    lines = [
        f"model: {cal.model} ({cal.model_reason})",
        f"poses: {len(cal.segments)} still stretches, {cal.orientations} orientations, "
        f"dof {cal.dof}",
        f"accelerometer offset: {fw['accel_offset_mg']} mg",
        f"accelerometer scale (x 1/65536): {fw['accel_scale_q16']}",
        f"gyroscope bias: {fw['gyro_bias_ddps']} x 0.1 deg/s",
        f"residuals: rms {d['fit']['residual_rms_mg']} mg, max {d['fit']['residual_max_mg']} mg",
    ]
    lines += [f"warning: {w}" for w in cal.warnings]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hardware.bench.calibrate",
        description="Calibrate the wearable's IMU from static poses: accelerometer offset and "
        "scale (|a| = 1 g in every pose), gyroscope bias at rest. Record six poses (each "
        "axis up and down, ~10 s each, resting on a firm support); see "
        "hardware/calibration.md.",
    )
    p.add_argument("files", nargs="*", metavar="POSE.csv",
                   help="recordings t,ax,ay,az,gx,gy,gz (s, g, deg/s); one pose per file "
                   "unless --segments")
    p.add_argument("--out", type=Path, help="write the calibration JSON here (default stdout)")
    p.add_argument("--segments", action="store_true",
                   help="every still stretch of a file is a pose (one file, device turned "
                   "between poses)")
    p.add_argument("--model", choices=("auto", "scale", "full"), default="auto",
                   help="scale: offset + per-axis scale (>= 6 orientations); full: symmetric "
                   "3x3 with cross-axis terms (>= 9); auto: full when possible")
    p.add_argument("--min-still", type=float, default=MIN_STILL_S, metavar="S",
                   help=f"shortest still stretch that counts as a pose (default {MIN_STILL_S})")
    p.add_argument("--window", type=float, default=WINDOW_S, metavar="S",
                   help=f"window of the still test (default {WINDOW_S})")
    p.add_argument("--acc-std-max", type=float, default=ACC_STD_MAX_G * 1000, metavar="MG",
                   help=f"still: accelerometer std per axis (default {ACC_STD_MAX_G * 1000:g})")
    p.add_argument("--gyro-std-max", type=float, default=GYRO_STD_MAX_DPS, metavar="DPS",
                   help=f"still: gyroscope std per axis (default {GYRO_STD_MAX_DPS:g})")
    p.add_argument("--recorder-script", action="store_true",
                   help="print the MicroPython recorder to run on the wearable with "
                   "mpremote, and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.recorder_script:
        sys.stdout.write(RECORDER_SCRIPT)
        return 0
    if not args.files:
        _parser().error("give the pose recordings (POSE.csv ...)")
    det = StillDetector(args.window, args.min_still, args.acc_std_max / 1000,
                        args.gyro_std_max)
    try:
        recordings = [read_recording(f) for f in args.files]
        cal = calibrate(recordings, args.model, det, several_per_file=args.segments)
    except CalibrationError as exc:
        print(f"calibrate: error: {exc}", file=sys.stderr)
        return 1
    text = to_json(cal.to_dict())
    if args.out is None:
        sys.stdout.write(text)
        print(_summary(cal), file=sys.stderr)
    else:
        args.out.write_text(text)
        print(_summary(cal))
        print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
