"""Property tests of the recordings reader behind `rtm-sim count` (simulators/count.py): a
valid recording reads back sample for sample; any file is a Recording or a RecordingError
that says what is wrong, never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.count import Recording, RecordingError, read_recording
from tests.csv_inputs import csv_files_around, read_as_file

pytestmark = pytest.mark.chaos

RATE_HZ = 52.0
AXIS = st.floats(-16, 16, allow_nan=False)
GYRO = st.floats(-2000, 2000, allow_nan=False)
RECORDING = ("t,ax,ay,az,gx,gy,gz\n"
             "0.0,0.0,0.0,1.0,0.0,0.0,0.0\n"
             "0.019231,0.01,0.0,1.0,1.5,0.0,0.0\n"
             "0.038462,0.02,0.0,1.0,3.0,0.0,0.0\n")


def read(data: bytes) -> Recording | None:
    try:
        return read_as_file(data, lambda path: read_recording(path, RATE_HZ))
    except RecordingError as e:
        assert type(e) is RecordingError and str(e)
        return None


@settings(max_examples=100)
@given(st.lists(st.tuples(AXIS, AXIS, AXIS, GYRO, GYRO, GYRO), min_size=2, max_size=60),
       st.booleans())
def test_a_valid_recording_reads_back_sample_for_sample(
        rows: list[tuple[float, ...]], has_gyro: bool) -> None:
    header = "t,ax,ay,az,gx,gy,gz" if has_gyro else "t,ax,ay,az"
    lines = [header] + [",".join(repr(v) for v in (i / RATE_HZ, *row[:6 if has_gyro else 3]))
                        for i, row in enumerate(rows)]
    recording = read(("\n".join(lines) + "\n").encode())
    assert recording is not None
    assert len(recording.samples) == len(rows) and recording.has_gyro == has_gyro


@settings(max_examples=300)
@given(csv_files_around(RECORDING))
def test_any_file_is_a_recording_or_a_recording_error(data: bytes) -> None:
    read(data)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_nan_and_infinite_values_are_a_recording_error(value: str) -> None:
    assert read(RECORDING.replace("0.01,", f"{value},").encode()) is None


@pytest.mark.parametrize("value, mg", [("1e300", 16000), ("-1e19", -16000)])
def test_values_beyond_full_scale_saturate_as_the_sensor_does(value: str, mg: int) -> None:
    recording = read(RECORDING.replace("0.01,", f"{value},").encode())
    assert recording is not None and recording.samples[1][1] == mg
