"""The bench calibration recovers known sensor errors from synthetic static poses, and
refuses bad recordings with messages that name the file and what to do."""

from __future__ import annotations

import json
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from hardware.bench import calibrate as cal
from tests.firmware.device.fake_i2c import TAG_ACCEL, TAG_GYRO, FakeLSM6DSOX, word

RATE_HZ = 52.0
FACES = [(0, 0, 1), (0, 0, -1), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0)]
CORNERS = [(x, y, z) for x in (1, -1) for y in (1, -1) for z in (1, -1)]

OFFSET_G = np.array([0.025, -0.040, 0.015])
SCALE = np.array([1.021, 0.984, 1.012])
GYRO_BIAS_DPS = np.array([1.3, -0.7, 2.1])
# Cross-axis sensitivity of about 1 %: a sheared, slightly rotated sensor frame.
CROSS = np.array([[0.0, 0.008, -0.006], [0.012, 0.0, 0.009], [-0.004, 0.011, 0.0]])


def measure(up, sens: np.ndarray, seconds: float, rng: np.random.Generator,
            settle_s: float = 1.0, wobble: float = 0.0) -> np.ndarray:
    """Samples (n, 6) of a sensor lying with unit vector ``up`` (sensor axes) pointing up:
    specific force ``sens @ up + offset`` in g plus noise, quantised like the firmware's
    output (1 mg, 0.1 deg/s). The first ``settle_s`` the device is still being put down; a
    ``wobble`` (deg) keeps it rocking for the whole recording."""
    n = round(seconds * RATE_HZ)
    t = np.arange(n) / RATE_HZ
    up = np.asarray(up, dtype=float) / np.linalg.norm(up)
    # rocking about an axis perpendicular to up: amplitude decays after settle_s unless wobble
    axis = np.cross(up, [0.3, 0.5, 0.8])
    axis /= np.linalg.norm(axis)
    amp_deg = np.where(t < settle_s, 8.0, 0.0) + wobble
    angle = np.radians(amp_deg) * np.sin(2 * np.pi * 1.3 * t)
    rate = np.degrees(np.gradient(angle, t))
    f = (up[None, :] * np.cos(angle)[:, None]
         + np.cross(axis, up)[None, :] * np.sin(angle)[:, None])
    acc = f @ sens.T + OFFSET_G + rng.normal(0, 0.0015, (n, 3))
    gyro = axis[None, :] * rate[:, None] + GYRO_BIAS_DPS + rng.normal(0, 0.08, (n, 3))
    return np.column_stack([np.round(acc, 3), np.round(gyro, 1)])


def write_csv(path: Path, samples: np.ndarray, t0: float = 0.0) -> Path:
    t = t0 + np.arange(len(samples)) / RATE_HZ
    lines = ["t,ax,ay,az,gx,gy,gz"]
    lines += [f"{ti:.4f}," + ",".join(f"{v:.3f}" for v in row[:3]) + ","
              + ",".join(f"{v:.1f}" for v in row[3:]) for ti, row in zip(t, samples, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def pose_files(tmp_path: Path, ups, sens: np.ndarray, seed: int = 1) -> list[Path]:
    rng = np.random.default_rng(seed)
    return [write_csv(tmp_path / f"pose_{i}.csv", measure(up, sens, 8.0, rng))
            for i, up in enumerate(ups)]


def load(paths) -> list[cal.Recording]:
    return [cal.read_recording(p) for p in paths]


def test_scale_model_recovers_offset_scale_and_gyro_bias(tmp_path):
    c = cal.calibrate(load(pose_files(tmp_path, FACES, np.diag(SCALE))))

    assert c.model == "scale"
    assert c.orientations == 6
    np.testing.assert_allclose(c.offset_g, OFFSET_G, atol=0.001)
    np.testing.assert_allclose(np.diag(c.matrix), 1 / SCALE, atol=0.001)
    np.testing.assert_allclose(c.gyro_bias_dps, GYRO_BIAS_DPS, atol=0.03)
    assert any("no redundancy" in w for w in c.warnings)
    fw = c.firmware()
    np.testing.assert_allclose(fw["accel_offset_mg"], OFFSET_G * 1000, atol=1.5)
    np.testing.assert_allclose(np.diag(fw["accel_scale_q16"]), 65536 / SCALE, rtol=0.001)
    assert fw["gyro_bias_ddps"] == [13, -7, 21]


def test_full_model_recovers_cross_axis_terms(tmp_path):
    sens = np.diag(SCALE) @ (np.eye(3) + CROSS)
    c = cal.calibrate(load(pose_files(tmp_path, FACES + CORNERS, sens)))

    assert c.model == "full" and c.dof == 14 - 9
    np.testing.assert_allclose(c.offset_g, OFFSET_G, atol=0.0015)
    # |a| fixes the correction up to a rotation: compare with the symmetric polar factor
    # of the true inverse, sqrt(M^-T M^-1).
    inv = np.linalg.inv(sens)
    w, v = np.linalg.eigh(inv.T @ inv)
    np.testing.assert_allclose(c.matrix, v @ np.diag(np.sqrt(w)) @ v.T, atol=0.0015)
    # Any orientation, corrected with the firmware's integers, reads 1 g within 2 mg.
    rng = np.random.default_rng(5)
    ups = rng.normal(size=(200, 3))
    ups /= np.linalg.norm(ups, axis=1)[:, None]
    raw_mg = np.round((ups @ sens.T + OFFSET_G) * 1000)
    acc, gyro = cal.apply_firmware(c.firmware(), raw_mg, np.full((200, 3), [13, -7, 21]))
    assert np.abs(np.linalg.norm(acc, axis=1) - 1000).max() <= 2.0
    assert np.all(gyro == 0)
    # The diagonal-only model on the same sensor is measurably worse.
    s = cal.calibrate(load(pose_files(tmp_path, FACES + CORNERS, sens)), model="scale")
    assert s.model == "scale"
    assert np.abs(s.residuals_g).max() > 3 * np.abs(c.residuals_g).max()


def test_one_file_with_all_poses_and_segments(tmp_path):
    rng = np.random.default_rng(3)
    sens = np.diag(SCALE)
    # the device is turned between poses: each recording starts with it rocking
    stream = np.vstack([measure(up, sens, 7.0, rng, settle_s=2.0) for up in FACES])
    path = write_csv(tmp_path / "all_poses.csv", stream)

    c = cal.calibrate(load([path]), several_per_file=True)

    assert len(c.segments) == 6 and c.orientations == 6
    np.testing.assert_allclose(c.offset_g, OFFSET_G, atol=0.001)
    np.testing.assert_allclose(np.diag(c.matrix), 1 / SCALE, atol=0.001)
    with pytest.raises(cal.MotionError, match=r"all_poses.csv: holds 6 different .*--segments"):
        cal.calibrate(load([path]))


def test_too_few_orientations(tmp_path):
    # six files, but the last repeats the first pose: five distinct orientations
    files = pose_files(tmp_path, [*FACES[:5], FACES[0]], np.diag(SCALE))
    with pytest.raises(cal.CoverageError, match=r"5 distinct orientations .* at least 6"):
        cal.calibrate(load(files))
    with pytest.raises(cal.CoverageError, match=r"at least 9"):
        cal.calibrate(load(pose_files(tmp_path, FACES, np.diag(SCALE))), model="full")


def test_poses_that_miss_an_axis_direction(tmp_path):
    # six orientations, but none with x pointing down
    tilted = [(0, 0, 1), (0, 0, -1), (1, 0, 0), (0, 1, 0), (0, -1, 0), (1, 1, 1)]
    with pytest.raises(cal.CoverageError, match=r"no pose with -x pointing up"):
        cal.calibrate(load(pose_files(tmp_path, tilted, np.diag(SCALE))))


def test_undetermined_parameter_is_refused():
    # pose means of an error-free sensor turned only about its x axis: x never sees gravity,
    # so neither its offset nor its scale is determined (fit_accel directly: the axis check
    # in calibrate() would refuse these poses first)
    ups = np.array([(0, 0, 1), (0, 0, -1), (0, 1, 0), (0, -1, 0)], dtype=float)
    means = np.vstack([ups, [(0, 0, 1)], [(0, 1, 0)]])
    with pytest.raises(cal.CoverageError, match=r"do not determine the [xyz] (offset|scale)"):
        cal.fit_accel(means, "scale")


def test_motion_during_a_pose_names_the_file(tmp_path):
    rng = np.random.default_rng(2)
    files = pose_files(tmp_path, FACES[:5], np.diag(SCALE))
    files.append(write_csv(tmp_path / "shaky.csv",
                           measure(FACES[5], np.diag(SCALE), 8.0, rng, wobble=1.5)))
    with pytest.raises(cal.MotionError, match=r"^shaky.csv: no still stretch .* moved"):
        cal.calibrate(load(files))


def test_slow_creep_names_the_segment(tmp_path):
    rng = np.random.default_rng(4)
    samples = measure(FACES[0], np.diag(SCALE), 8.0, rng)
    samples[:, 0] += np.linspace(0, 0.03, len(samples))  # slides over 30 mg in 8 s
    files = [*pose_files(tmp_path, FACES[1:], np.diag(SCALE)),
             write_csv(tmp_path / "creep.csv", samples)]
    with pytest.raises(cal.MotionError, match=r"creep.csv t=\d+\.\d-\d+\.\d s: .*crept"):
        cal.calibrate(load(files))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("time,x,y,z\n0,0,0,1\n", "header must be t,ax,ay,az,gx,gy,gz"),
        ("t,ax,ay,az,gx,gy,gz\n0,0,0,1,0,0,0\n0.02,0,0,1,0,0\n", "line 3: expected 7 columns"),
        ("t,ax,ay,az,gx,gy,gz\n0,0,0,1,0,0,0\n0.02,0,zero,1,0,0,0\n", "line 3: not a number"),
        ("t,ax,ay,az,gx,gy,gz\n0,0,0,1,0,0,0\n0.02,0,nan,1,0,0,0\n", "line 3: NaN"),
        ("t,ax,ay,az,gx,gy,gz\n0,0,0,1,0,0,0\n0,0,0,1,0,0,0\n", "line 3: time does not"),
        ("t,ax,ay,az,gx,gy,gz\n0,0,0,9.81,0,0,0\n0.02,0,0,9.8,0,0,0\n", "m/s\\^2"),
    ],
)
def test_malformed_csv(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(cal.RecordingError, match=f"^bad.csv: .*{message}"):
        cal.read_recording(path)


def test_cli_writes_json(tmp_path, capsys):
    out = tmp_path / "calib.json"
    files = [str(p) for p in pose_files(tmp_path, FACES, np.diag(SCALE))]

    assert cal.main([*files, "--out", str(out)]) == 0

    d = json.loads(out.read_text())
    assert d["format"] == cal.FORMAT and d["model"] == "scale"
    assert set(d["firmware"]) == {"accel_offset_mg", "accel_scale_q16", "gyro_bias_ddps"}
    assert all(isinstance(v, int) for row in d["firmware"]["accel_scale_q16"] for v in row)
    assert len(d["segments"]) == 6 and d["fit"]["dof"] == 0
    assert "model: scale" in capsys.readouterr().out


def test_cli_errors_and_help(tmp_path, capsys):
    files = [str(p) for p in pose_files(tmp_path, FACES[:4], np.diag(SCALE))]
    assert cal.main(files) == 1
    assert "calibrate: error: 4 distinct orientations" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cal.main(["--help"])
    assert exc.value.code == 0
    assert "six poses" in capsys.readouterr().out


def test_recorder_script_output_reads_back(tmp_path, monkeypatch, capsys):
    """The MicroPython recorder, run on CPython against the emulated LSM6DSOX, prints a
    recording the calibration reads (units converted as on the board)."""
    imu = FakeLSM6DSOX()
    slot = [0]

    def sleep_ms(ms):  # the FIFO fills at 52 Hz while the script sleeps
        for _ in range(round(ms * RATE_HZ / 1000)):
            # 1 g on z is 8192 LSB at +-4 g; 1 deg/s is 1 / 0.0175 LSB at +-500 dps
            imu.push(word(TAG_ACCEL, slot[0], 82, -164, 8192),
                     word(TAG_GYRO, slot[0], 74, -40, 0))
            slot[0] += 1

    machine = types.ModuleType("machine")
    machine.I2C = lambda *a, **k: imu
    machine.Pin = lambda *a, **k: None
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setattr(time, "sleep_ms", sleep_ms, raising=False)
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    exec(compile(cal.RECORDER_SCRIPT, "record_pose.py", "exec"), {})

    out = capsys.readouterr().out
    path = tmp_path / "pose.csv"
    path.write_text(out.replace("\n", "\r\n"))  # as mpremote passes the board's line ends
    rec = cal.read_recording(path)
    assert len(rec.t) == 520
    np.testing.assert_allclose(rec.acc_g[-1], [0.010, -0.020, 1.000], atol=0.0006)
    np.testing.assert_allclose(rec.gyro_dps[-1], [1.3, -0.7, 0.0], atol=0.051)
