"""Charts as inline SVG, drawn here in Python: no JavaScript, no chart library, and the
numbers are in the page as text (value labels, <title>s), readable without the picture.

Colours come from the stylesheet through class names (bar, target, line, point, grid), so
the page's Content-Security-Policy needs no inline styles. Every chart scales to its
container (viewBox, width 100%).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 560, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 40, 8, 20, 34


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


def _svg(label: str, body: list[str], css_class: str) -> Markup:
    return Markup(
        f'<svg class="chart {css_class}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>")


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
    return _svg(label, body, "bars")


def line_chart(days: Sequence[date], values: Sequence[float | None], label: str,
               unit: str = "") -> Markup:
    """A point per day with a value, joined in order; days without one are gaps on the
    axis that the line spans."""
    if len(days) != len(values) or not days:
        raise ValueError("line_chart needs as many values as days, at least one")
    known = [v for v in values if v is not None]
    lo = max(0.0, math.floor((min(known, default=0) - 5) / 10) * 10)
    hi = math.ceil((max(known, default=10) + 5) / 10) * 10
    plot_h = HEIGHT - _TOP - _BOTTOM
    slot = (WIDTH - _LEFT - _RIGHT) / len(days)

    def y_of(v: float) -> float:
        return _TOP + plot_h * (1 - (v - lo) / (hi - lo))

    body = _y_grid(lo, hi, y_of, unit)
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
    return _svg(label, body, "trend")
