"""Battery: cell voltage from the ADC through a divider, state of charge by table, charger input.

hardware/pinmap.md: the LiPo feeds a 1 MOhm / 1 MOhm divider (100 nF at the tap) into an ADC1
pin, read with 11 dB attenuation through `ADC.read_uv()` (factory-calibrated), so the cell
voltage is twice the pin voltage. The charging input is high while USB power is present.

The percentage comes from a typical LiPo open-circuit curve at 5 % steps, integers only. It is
not characterised for our cell and reads low under load (the radio draws tens of mA), so treat
it as a fuel gauge with about 10 % resolution, not a measurement.
"""

from firmware.core.compat import const

# Cell mV at 0, 5, 10, ... 100 % (typical 1-cell LiPo, open circuit, room temperature).
_CURVE_MV = (3270, 3610, 3690, 3710, 3730, 3750, 3770, 3790, 3800, 3820, 3840, 3850, 3870,
             3910, 3950, 3980, 4020, 4080, 4110, 4150, 4200)
_STEP_PCT = const(5)
LOW_PCT = const(15)


def percent_from_mv(cell_mv: int) -> int:
    """State of charge (0..100) for a cell voltage in mV, linear between table points."""
    if cell_mv <= _CURVE_MV[0]:
        return 0
    last = len(_CURVE_MV) - 1
    if cell_mv >= _CURVE_MV[last]:
        return 100
    i = 0
    while _CURVE_MV[i + 1] <= cell_mv:
        i += 1
    lo = _CURVE_MV[i]
    return i * _STEP_PCT + _STEP_PCT * (cell_mv - lo) // (_CURVE_MV[i + 1] - lo)


def cell_mv_from_pin_uv(pin_uv: int, divider_x1000: int) -> int:
    """Cell mV from the ADC pin voltage in uV and the divider ratio (cell/pin) times 1000."""
    return (pin_uv // 1000) * divider_x1000 // 1000


class Battery:
    """`adc` has `read_uv()` (machine.ADC); `charge_pin` has `value()` or is None."""

    def __init__(self, adc, charge_pin=None, divider_x1000: int = 2000,
                 charging_level: int = 1, samples: int = 8) -> None:
        self._adc = adc
        self._charge_pin = charge_pin
        self._divider_x1000 = divider_x1000
        self._charging_level = charging_level
        self._samples = samples

    def millivolts(self) -> int:
        """Cell voltage in mV, the mean of a few ADC readings."""
        total_uv = 0
        for _ in range(self._samples):
            total_uv += self._adc.read_uv()
        return cell_mv_from_pin_uv(total_uv // self._samples, self._divider_x1000)

    def percent(self) -> int:
        return percent_from_mv(self.millivolts())

    def charging(self) -> bool:
        """True while the charger has input power (USB plugged in)."""
        pin = self._charge_pin
        return pin is not None and pin.value() == self._charging_level
