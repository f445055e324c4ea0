"""The monthly RTM report as a printable HTML page: the month's documentation, one patient
per printed page group (a page break between patients when several are on one page).

Standalone: the CSS is inline (print rules for A4 and Letter: no page size is forced, so the
printer's paper is used), nothing is loaded, no JavaScript; a Content-Security-Policy in
the page refuses scripts even if one slipped in. The template is in the dashboard's
template folder (package data already) and is rendered with the dashboard's settings:
autoescape on, so every note, name and id is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import cache

import jinja2

from cloud_bridge.clinic.monthly_report import MonthlyReport, local_time
from cloud_bridge.clinic.monthly_report_csv import item_text
from cloud_bridge.clinic.web.billing_page import line_dates

TEMPLATE = "monthly_report.html"


def _money(amount: Decimal | None, currency: str = "") -> str:
    return "-" if amount is None else f"{amount:.2f} {currency}".strip()


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cloud_bridge.clinic.web", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)
    env.globals.update(money=_money, line_dates=line_dates, local_time=local_time,
                       item_text=item_text)
    return env


def title(reports: Sequence[MonthlyReport]) -> str:
    months = sorted({str(r.month) for r in reports})
    who = reports[0].patient_id if len(reports) == 1 else f"{len(reports)} patients"
    return f"RTM monthly report {', '.join(months)}: {who}"


def format_html(reports: Sequence[MonthlyReport]) -> str:
    """One page holding the reports in order, each starting on a new printed page."""
    if not reports:
        raise ValueError("no report to format")
    return _environment().get_template(TEMPLATE).render(title=title(reports), reports=reports)
