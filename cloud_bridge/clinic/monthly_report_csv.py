"""The monthly RTM report as CSV: one file per patient-month, for a billing clerk's
spreadsheet.

One header row, then one row per fact. Every row has the same columns; `section` says
what the row is, and each section fills only the columns that mean something for it (the
others are empty), so a spreadsheet's filter on `section` shows one table at a time, and
`patient_id` and `month` on every row let several files be pasted into one sheet.

    section              columns filled (besides patient_id, month, section)
    report               item "as of": date (the report's day), status and note (final: the
                         month is over; in progress: still running); item "time zone": note;
                         item "monitoring start": date; item "fee table": note (its path,
                         "EXAMPLE amounts" for the shipped table)
    device               device_id (the wearable's serial), date (enrolled from),
                         note ("firmware X", or "firmware not known")
    data_day             date (a local day with data), device_id (the wearables with data
                         that day, space-separated)
    data_period          item ("period N" of the episode), date, end_date, count (days with
                         data in the whole period, up to the report's day), note (how many
                         of them are in this month)
    data_total           count (days with data in the month)
    time_entry           date, time (HH:MM local; empty when logged as a date), minutes,
                         clinician, note
    time_total           minutes (total), count (entries)
    communication        date, time (HH:MM local), item (kind: call, video, message,
                         in-person), clinician, note
    communication_total  count
    program              version, date and end_date (the days of the month it was in force
                         on), note (the version's start; "no exercises" for a version that
                         ended the prescription)
    program_item         version, item (exercise), note (sets x reps, days/week, ROM target)
    billing              item (setup and education, device supply, treatment management),
                         date, end_date, code, units, status, amount, currency, note (why)
    billing_total        status (final), amount, currency: what can be billed (one row per
                         currency; amount 0.00 and no currency when nothing is final)

Dates are YYYY-MM-DD, amounts plain decimals (12.50), in the clinic's zone. A text cell
that a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage
return) gets a leading apostrophe: notes are typed by people.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

from cloud_bridge.clinic import prescriptions as rx
from cloud_bridge.clinic.billing import Status
from cloud_bridge.clinic.monthly_report import MonthlyReport, local_time

CSV_COLUMNS = ("patient_id", "month", "section", "date", "end_date", "time", "item",
               "device_id", "version", "minutes", "count", "code", "units", "status",
               "amount", "currency", "clinician", "note")
SECTIONS = ("report", "device", "data_day", "data_period", "data_total", "time_entry",
            "time_total", "communication", "communication_total", "program", "program_item",
            "billing", "billing_total")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Row = dict[str, object]


def item_text(item: rx.Item) -> str:
    """'3 x 10, 5 days/week, ROM 60-90 deg': an item without its exercise."""
    rom = f", ROM {item.rom_min_deg}-{item.rom_max_deg} deg" if item.rom else ""
    return f"{item.sets} x {item.reps}, {item.days_per_week} days/week{rom}"


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _rows(r: MonthlyReport) -> Iterator[Row]:
    yield {"section": "report", "item": "as of", "date": r.today,
           "status": Status.IN_PROGRESS if r.running else Status.FINAL,
           "note": "the month is still running" if r.running else "the month is over"}
    yield {"section": "report", "item": "time zone", "note": r.zone.key}
    yield {"section": "report", "item": "monitoring start", "date": r.monitoring_start}
    yield {"section": "report", "item": "fee table",
           "note": f"{r.fees_path} (EXAMPLE amounts)" if r.fees_are_examples else r.fees_path}
    for d in r.devices:
        yield {"section": "device", "device_id": d.device_id, "date": d.enrolled_from,
               "note": f"firmware {d.firmware}" if d.firmware else "firmware not known"}
    for day in r.data_days:
        yield {"section": "data_day", "date": day.day, "device_id": " ".join(day.devices)}
    for period in r.periods:
        yield {"section": "data_period", "item": f"period {period.number}",
               "date": period.first, "end_date": period.last,
               "count": period.days_with_data, "note": f"{period.in_month} of them in {r.month}"}
    yield {"section": "data_total", "count": len(r.data_days)}
    for e in r.time_entries:
        yield {"section": "time_entry", "date": e.day,
               "time": "" if e.at_ms is None else local_time(e.at_ms, r.zone),
               "minutes": e.minutes, "clinician": e.clinician, "note": e.note}
    yield {"section": "time_total", "minutes": r.total_minutes, "count": len(r.time_entries)}
    for c in r.communications:
        yield {"section": "communication", "date": c.day, "time": local_time(c.at_ms, r.zone),
               "item": c.kind, "clinician": c.clinician, "note": c.note}
    yield {"section": "communication_total", "count": len(r.communications)}
    for span in r.programs:
        v = span.prescription
        yield {"section": "program", "version": v.version, "date": span.first,
               "end_date": span.last,
               "note": f"version {v.version} from {v.start}"
                       + ("" if v.items else ": no exercises (prescription ended)")}
        for item in v.items:
            yield {"section": "program_item", "version": v.version, "item": item.exercise,
                   "note": item_text(item)}
    for line in r.billing.lines:
        yield {"section": "billing", "item": line.item, "date": line.first,
               "end_date": line.last, "code": line.code, "units": line.units,
               "status": line.status,
               "amount": "" if line.amount is None else f"{line.amount:.2f}",
               "currency": line.currency, "note": line.reason}
    for currency, amount in (r.final_totals or {"": Decimal(0)}).items():
        yield {"section": "billing_total", "status": Status.FINAL, "amount": f"{amount:.2f}",
               "currency": currency}


def format_csv(report: MonthlyReport) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in _rows(report):
        row = {"patient_id": report.patient_id, "month": report.month, **row}
        w.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()
