"""Battery: ADC microvolts through the divider to mV, mV to percent, the charging input."""

from __future__ import annotations

import pytest

from firmware.device.battery import Battery, cell_mv_from_pin_uv, percent_from_mv


class FakeADC:
    def __init__(self, *readings_uv: int) -> None:
        self.readings = list(readings_uv)
        self.reads = 0

    def read_uv(self) -> int:
        value = self.readings[self.reads % len(self.readings)]
        self.reads += 1
        return value


class FakePin:
    def __init__(self, level: int) -> None:
        self.level = level

    def value(self) -> int:
        return self.level


@pytest.mark.parametrize("mv, pct", [
    (0, 0), (3270, 0), (3000, 0), (3610, 5), (3650, 7), (3840, 50), (3845, 52),
    (4020, 80), (4199, 99), (4200, 100), (4350, 100),
])
def test_percent_from_table(mv: int, pct: int) -> None:
    assert percent_from_mv(mv) == pct


def test_percent_is_monotonic_and_integer() -> None:
    values = [percent_from_mv(mv) for mv in range(3200, 4300)]
    assert all(isinstance(v, int) for v in values)
    assert values == sorted(values)
    assert values[0] == 0 and values[-1] == 100


def test_divider_doubles_the_pin_voltage() -> None:
    assert cell_mv_from_pin_uv(1_900_000, 2000) == 3800
    assert cell_mv_from_pin_uv(1_900_999, 2000) == 3800  # sub-mV at the pin is dropped
    assert cell_mv_from_pin_uv(2_000_000, 2130) == 4260  # a measured ratio, per mille


def test_battery_averages_readings() -> None:
    adc = FakeADC(1_880_000, 1_920_000)
    bat = Battery(adc, samples=8)
    assert bat.millivolts() == 3800
    assert adc.reads == 8
    assert bat.percent() == 40


def test_charging_pin_level() -> None:
    adc = FakeADC(2_000_000)
    assert Battery(adc, FakePin(1)).charging() is True
    assert Battery(adc, FakePin(0)).charging() is False
    assert Battery(adc, FakePin(0), charging_level=0).charging() is True  # active-low STAT
    assert Battery(adc).charging() is False
