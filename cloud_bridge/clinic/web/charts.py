"""Charts as inline SVG, drawn here in Python: no JavaScript, no chart library, and the
numbers are in the page as text (value labels, <title>s), readable without the picture.

Colours come from the stylesheet through class names (bar, target, band, line, point,
grid), so the page's Content-Security-Policy needs no inline styles. Every chart scales to
its container (viewBox, width 100%). Each has a <title> and, where it draws more than its
values (target marks, a target band), a <desc> that says what.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date
from typing import NamedTuple

from markupsafe import Markup, escape

WIDTH, HEIGHT = 560, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 40, 8, 20, 34


class Band(NamedTuple):
    """A range shaded behind a line chart's values from day `first` to `last` (inclusive):
    the prescribed range of motion, in the chart's unit."""

    first: date
    last: date
    low: float
    high: float


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is >= value (1 for value <= 1)."""
    if value <= 1:
        return 1
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 5):
        if step * power >= value:
            return step * power
    return 10 * power


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _svg(label: str, body: list[str], css_class: str, desc: str = "") -> Markup:
    """`desc`, if any, is the chart's <desc>: what the picture shows besides its values."""
    desc_el = f"<desc>{escape(desc)}</desc>" if desc else ""
    return Markup(
        f'<svg class="chart {css_class}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(label)}</title>{desc_el}{''.join(body)}</svg>")


def _x_labels(days: Sequence[date], slot: float) -> list[str]:
    out = []
    for i, day in enumerate(days):
        x = _LEFT + slot * (i + 0.5)
        # The month only where it changes: 14 labels must fit on a tablet.
        text = f"{day:%b} {day.day}" if i == 0 or day.day == 1 else str(day.day)
        out.append(f'<text class="axis" x="{_num(x)}" y="{HEIGHT - 12}" '
                   f'text-anchor="middle">{escape(text)}</text>')
    return out


def _y_grid(lo: float, hi: float, y_of: Callable[[float], float],
            unit: str = "") -> list[str]:
    out = []
    for v in (lo, (lo + hi) / 2, hi):
        y = y_of(v)
        out.append(f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{_num(y)}" '
                   f'y2="{_num(y)}"/>')
        out.append(f'<text class="axis" x="{_LEFT - 6}" y="{_num(y + 4)}" '
                   f'text-anchor="end">{_num(v)}{escape(unit)}</text>')
    return out


def bar_chart(days: Sequence[date], values: Sequence[int],
              targets: Sequence[int | None], label: str) -> Markup:
    """One bar per day; a target mark over each day that has a target (none: no mark)."""
    if not (len(days) == len(values) == len(targets)) or not days:
        raise ValueError("bar_chart needs as many values and targets as days, at least one")
    top = _nice_ceiling(max([*values, *(t for t in targets if t is not None), 1]))
    plot_h = HEIGHT - _TOP - _BOTTOM
    slot = (WIDTH - _LEFT - _RIGHT) / len(days)

    def y_of(v: float) -> float:
        return _TOP + plot_h * (1 - v / top)

    body = _y_grid(0, top, y_of)
    for i, (day, value, target) in enumerate(zip(days, values, targets, strict=True)):
        x = _LEFT + slot * i
        y = y_of(value)
        tip = f"{day.isoformat()}: {value}" + ("" if target is None else f" of {target}")
        body.append(f'<rect class="bar" data-day="{day.isoformat()}" data-value="{value}" '
                    f'x="{_num(x + slot * 0.15)}" y="{_num(y)}" width="{_num(slot * 0.7)}" '
                    f'height="{_num(_TOP + plot_h - y)}"><title>{escape(tip)}</title></rect>')
        if value:
            body.append(f'<text class="value" x="{_num(x + slot / 2)}" y="{_num(y - 4)}" '
                        f'text-anchor="middle">{value}</text>')
        if target is not None:
            ty = _num(y_of(target))
            body.append(f'<line class="target" data-day="{day.isoformat()}" '
                        f'data-target="{target}" x1="{_num(x + 2)}" x2="{_num(x + slot - 2)}" '
                        f'y1="{ty}" y2="{ty}"/>')
    body += _x_labels(days, slot)
    desc = ("Dashed marks: the prescribed reps of the day."
            if any(t is not None for t in targets) else "")
    return _svg(label, body, "bars", desc)


def band_text(bands: Sequence[Band], unit: str = "") -> str:
    """'45-65°', or '40-60° from 2026-02-07 to 2026-02-15, 45-65° from 2026-02-16 to
    2026-02-20' when there are several; '' for none."""
    def one(b: Band) -> str:
        return f"{_num(b.low)}-{_num(b.high)}{unit}"
    if len(bands) == 1:
        return one(bands[0])
    return ", ".join(f"{one(b)} from {b.first.isoformat()} to {b.last.isoformat()}"
                     for b in bands)


def line_chart(days: Sequence[date], values: Sequence[float | None], label: str,
               unit: str = "", bands: Sequence[Band] = ()) -> Markup:
    """A point per day with a value, joined in order; days without one are gaps on the
    axis that the line spans. Each band is shaded behind them over its days' slots (the
    scale reaches over it), and named in the chart's <desc>."""
    if len(days) != len(values) or not days:
        raise ValueError("line_chart needs as many values as days, at least one")
    index = {day: i for i, day in enumerate(days)}
    if any(b.first not in index or b.last not in index or b.first > b.last
           or b.low > b.high for b in bands):
        raise ValueError("a band must run over the chart's days, low to high")
    known = [v for v in values if v is not None] + [v for b in bands for v in (b.low, b.high)]
    lo = max(0.0, math.floor((min(known, default=0) - 5) / 10) * 10)
    hi = math.ceil((max(known, default=10) + 5) / 10) * 10
    plot_h = HEIGHT - _TOP - _BOTTOM
    slot = (WIDTH - _LEFT - _RIGHT) / len(days)

    def y_of(v: float) -> float:
        return _TOP + plot_h * (1 - (v - lo) / (hi - lo))

    body = []
    for b in bands:  # first: behind the grid and the line
        top, bottom = y_of(b.high), y_of(b.low)
        x = _LEFT + slot * index[b.first]
        tip = (f"target range {_num(b.low)}-{_num(b.high)}{unit}, {b.first.isoformat()} to "
               f"{b.last.isoformat()}")
        body.append(f'<rect class="band" data-first="{b.first.isoformat()}" '
                    f'data-last="{b.last.isoformat()}" data-low="{_num(b.low)}" '
                    f'data-high="{_num(b.high)}" x="{_num(x)}" y="{_num(top)}" '
                    f'width="{_num(slot * (index[b.last] - index[b.first] + 1))}" '
                    f'height="{_num(bottom - top)}"><title>{escape(tip)}</title></rect>')
    body += _y_grid(lo, hi, y_of, unit)
    points = [(_LEFT + slot * (i + 0.5), y_of(v), day, v)
              for i, (day, v) in enumerate(zip(days, values, strict=True)) if v is not None]
    if len(points) > 1:
        path = " ".join(f"{_num(x)},{_num(y)}" for x, y, _, _ in points)
        body.append(f'<polyline class="line" points="{path}"/>')
    for x, y, day, v in points:
        body.append(f'<circle class="point" data-day="{day.isoformat()}" data-value="{_num(v)}" '
                    f'cx="{_num(x)}" cy="{_num(y)}" r="4"><title>{day.isoformat()}: '
                    f'{_num(v)}{escape(unit)}</title></circle>')
        body.append(f'<text class="value" x="{_num(x)}" y="{_num(y - 8)}" '
                    f'text-anchor="middle">{_num(v)}</text>')
    body += _x_labels(days, slot)
    desc = (f"Shaded: the prescribed target range, {band_text(bands, unit)}." if bands
            else "")
    return _svg(label, body, "trend", desc)
