"""The LSM6DSOX driver against an emulated device on a fake I2C bus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware.device.lsm6dsox import LSM6DSOX
from tests.firmware.device.fake_i2c import (
    TAG_ACCEL,
    TAG_GYRO,
    TAG_TEMPERATURE,
    TAG_TIMESTAMP,
    FakeLSM6DSOX,
    word,
)

IMU_CONFIG_MD = Path(__file__).resolve().parents[3] / "hardware" / "imu_config.md"


def make(**kwargs) -> tuple[FakeLSM6DSOX, LSM6DSOX]:
    bus = FakeLSM6DSOX()
    return bus, LSM6DSOX(bus, **kwargs)


def samples(imu: LSM6DSOX, n: int) -> list[tuple[int, ...]]:
    return [tuple(imu.samples[6 * i:6 * i + 6]) for i in range(n)]


# -- presence ------------------------------------------------------------------------------

def test_who_am_i_mismatch_raises_oserror_naming_both_values() -> None:
    bus = FakeLSM6DSOX(who_am_i=0x6A)  # e.g. an LSM6DS3 at the same address
    with pytest.raises(OSError, match=r"WHO_AM_I .*0x6a.*expected 0x6c"):
        LSM6DSOX(bus)


def test_no_device_at_the_address_raises_oserror_with_a_hint() -> None:
    bus = FakeLSM6DSOX(address=0x6B)  # SDO/SA0 strapped high
    with pytest.raises(OSError, match=r"no answer at I2C address 0x6a.*SDO/SA0"):
        LSM6DSOX(bus)


def test_other_address_is_used_when_given() -> None:
    bus = FakeLSM6DSOX(address=0x6B)
    assert LSM6DSOX(bus, address=0x6B).address == 0x6B


def test_construction_resets_then_sets_bdu_and_auto_increment() -> None:
    bus, _ = make()
    assert bus.writes[0] == (0x12, 0x01)  # SW_RESET first
    assert bus.regs[0x12] == 0x44
    assert bus.regs[0x10] == 0 and bus.regs[0x11] == 0  # both sensors powered down


def test_bad_parameters_are_refused() -> None:
    bus = FakeLSM6DSOX()
    with pytest.raises(ValueError):
        LSM6DSOX(bus, odr_hz=50)
    with pytest.raises(ValueError):
        LSM6DSOX(bus, accel_fs_g=3)
    with pytest.raises(ValueError):
        LSM6DSOX(bus, batch_samples=100, max_samples=64)


# -- configuration matches hardware/imu_config.md -----------------------------------------

def documented_registers(section: str) -> dict[int, int]:
    """{address: value} from the table under the heading that names `section`."""
    text = IMU_CONFIG_MD.read_text(encoding="utf-8")
    start = next(m.end() for m in re.finditer(r"^#+ .*$", text, re.M) if section in m.group())
    end = re.compile(r"^#+ ", re.M).search(text, start)
    body = text[start:end.start() if end else len(text)]
    rows = re.findall(r"^\|\s*`?\w+`?\s*\|\s*0x([0-9A-Fa-f]{2})\s*\|\s*0x([0-9A-Fa-f]{2})\s*\|",
                      body, re.M)
    assert rows, f"no register table under the heading with {section!r}"
    return {int(a, 16): int(v, 16) for a, v in rows}


@pytest.mark.parametrize("section, action", [
    ("`reset()`", lambda imu: None),
    ("`start()`", lambda imu: imu.start()),
    ("`wake_on_motion()`", lambda imu: imu.wake_on_motion()),
    ("`power_down()`", lambda imu: imu.power_down()),
])
def test_register_values_are_the_documented_ones(section, action) -> None:
    bus, imu = make()
    action(imu)
    documented = documented_registers(section)
    actual = {reg: bus.regs[reg] for reg in documented}
    assert actual == documented


def test_start_sets_the_watermark_to_one_batch_of_both_sensors() -> None:
    bus, imu = make(batch_samples=26)
    imu.start()
    assert bus.regs[0x07] == 52 and bus.regs[0x08] == 0
    bus, imu = make(batch_samples=200, max_samples=256)
    imu.start()
    assert bus.regs[0x07] == 400 & 0xFF and bus.regs[0x08] == 1


def test_start_passes_through_bypass_to_empty_the_fifo() -> None:
    bus, imu = make()
    imu.start()
    fifo_modes = [v for reg, v in bus.writes if reg == 0x0A]
    assert fifo_modes[-2:] == [0x00, 0x06]


def test_wake_threshold_is_converted_from_mg() -> None:
    bus, imu = make(accel_fs_g=4)
    imu.wake_on_motion(threshold_mg=250, duration_samples=2)
    assert bus.regs[0x5B] == 4  # 62.5 mg per LSB at 4 g
    assert bus.regs[0x5C] == 0x40
    imu.wake_on_motion(threshold_mg=10)
    assert bus.regs[0x5B] == 1  # never 0: that would wake on noise
    imu.wake_on_motion(threshold_mg=10_000)
    assert bus.regs[0x5B] == 63


def test_clear_motion_reports_the_wake_up_flag() -> None:
    bus, imu = make()
    bus.regs[0x1B] = 0x08
    assert imu.clear_motion() is True
    bus.regs[0x1B] = 0x00
    assert imu.clear_motion() is False


# -- FIFO decoding -------------------------------------------------------------------------

def test_fifo_batch_decodes_to_mg_and_tenth_dps_with_negative_values() -> None:
    bus, imu = make()
    imu.start()
    bus.push(
        word(TAG_GYRO, 0, 1000, -1000, 0),
        word(TAG_ACCEL, 0, 8192, -8192, 16384),
        word(TAG_GYRO, 1, 28571, -28571, -1),
        word(TAG_ACCEL, 1, 32767, -32768, -1),
    )
    assert imu.read_fifo() == 2
    # 4 g: 0.122 mg/LSB (4000/32768); 500 dps: 17.5 mdps/LSB = 0.175 tenths of a dps.
    assert samples(imu, 2) == [
        (1000, -1000, 2000, 175, -175, 0),
        (4000, -4000, 0, 5000, -5000, 0),
    ]
    assert bus.fifo_reads == [4 * 7]  # one burst for the whole batch


def test_accelerometer_word_first_in_a_slot_is_paired_too() -> None:
    bus, imu = make()
    imu.start()
    bus.push(word(TAG_ACCEL, 2, 0, 0, 8192), word(TAG_GYRO, 2, 100, 200, 300))
    assert imu.read_fifo() == 1
    assert samples(imu, 1) == [(0, 0, 1000, 18, 35, 53)]


def test_other_full_scales_convert_with_their_sensitivity() -> None:
    bus, imu = make(accel_fs_g=2, gyro_fs_dps=2000)
    imu.start()
    bus.push(word(TAG_GYRO, 0, 1000, 0, 0), word(TAG_ACCEL, 0, 16384, 0, 0))
    assert imu.read_fifo() == 1
    # 2 g: 0.061 mg/LSB; 2000 dps: 70 mdps/LSB.
    assert samples(imu, 1) == [(1000, 0, 0, 700, 0, 0)]


def test_timestamp_and_temperature_words_are_skipped() -> None:
    bus, imu = make()
    imu.start()
    bus.push(
        word(TAG_TIMESTAMP, 0, 1, 2, 3),
        word(TAG_GYRO, 0, 0, 0, 0),
        word(TAG_TEMPERATURE, 0, 500, 0, 0),
        word(TAG_ACCEL, 0, 0, 0, 8192),
    )
    assert imu.read_fifo() == 1
    assert samples(imu, 1) == [(0, 0, 1000, 0, 0, 0)]


def test_a_slot_split_across_two_reads_completes_on_the_next_read() -> None:
    bus, imu = make()
    imu.start()
    bus.push(word(TAG_GYRO, 0, 0, 0, 0), word(TAG_ACCEL, 0, 0, 0, 8192),
             word(TAG_GYRO, 1, 40, 0, 0))
    assert imu.read_fifo() == 1
    bus.push(word(TAG_ACCEL, 1, 0, 0, -8192))
    assert imu.read_fifo() == 1
    assert samples(imu, 1) == [(0, 0, -1000, 7, 0, 0)]


def test_slot_without_gyroscope_word_reuses_the_last_gyroscope_values() -> None:
    bus, imu = make()
    imu.start()
    bus.push(
        word(TAG_GYRO, 0, 1000, 0, 0),
        word(TAG_ACCEL, 0, 0, 0, 8192),
        word(TAG_ACCEL, 1, 0, 0, 4096),  # its gyroscope word never came
        word(TAG_GYRO, 2, 2000, 0, 0),
        word(TAG_ACCEL, 2, 0, 0, 0),
    )
    assert imu.read_fifo() == 3
    assert samples(imu, 3) == [
        (0, 0, 1000, 175, 0, 0),
        (0, 0, 500, 175, 0, 0),
        (0, 0, 0, 350, 0, 0),
    ]


def test_a_read_takes_at_most_the_buffer_and_leaves_the_rest() -> None:
    bus, imu = make(batch_samples=4, max_samples=4)
    imu.start()
    for i in range(6):
        bus.push(word(TAG_GYRO, i, 0, 0, 0), word(TAG_ACCEL, i, 0, 0, 4096 * i))
    assert imu.read_fifo() == 4
    assert [s[2] for s in samples(imu, 4)] == [0, 500, 1000, 1500]
    assert imu.fifo_words() == 4
    assert imu.read_fifo() == 2
    assert [s[2] for s in samples(imu, 2)] == [2000, 2500]


def test_empty_fifo_reads_nothing() -> None:
    bus, imu = make()
    imu.start()
    assert imu.read_fifo() == 0
    assert bus.fifo_reads == []


def test_overrun_is_counted() -> None:
    bus, imu = make()
    imu.start()
    bus.overrun = True
    imu.read_fifo()
    assert imu.overruns == 1


def test_start_forgets_a_half_assembled_slot() -> None:
    bus, imu = make()
    imu.start()
    bus.push(word(TAG_ACCEL, 0, 0, 0, 8192))
    assert imu.read_fifo() == 0
    imu.start()
    bus.push(word(TAG_GYRO, 1, 0, 0, 0), word(TAG_ACCEL, 1, 0, 0, -8192))
    assert imu.read_fifo() == 1
    assert samples(imu, 1) == [(0, 0, -1000, 0, 0, 0)]
