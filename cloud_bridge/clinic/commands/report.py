"""rtm-clinic report: the monthly RTM report, the month's documentation, as CSV or as a
printable HTML page."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cloud_bridge.clinic.commands.common import build_month, fail
from cloud_bridge.clinic.commands.options import (
    Subcommands,
    add_clinic_db_option,
    add_fees_option,
    add_registry_option,
    add_store_option,
    add_today_option,
    add_tz_option,
    parse_month,
)


def add_parser(sub: Subcommands) -> None:
    p = sub.add_parser(
        "report", help="the monthly RTM report of a patient (or --all): days with data, "
                       "wearables, time, communications, program, billing; CSV or "
                       "printable HTML",
        description="The monthly RTM report, the month's documentation: days with data "
                    "and the wearables that sent it, logged minutes and interactive "
                    "communications, the prescription versions in force, and the month's "
                    "billing lines as `rtm-clinic billing` gives them. As CSV (one file per "
                    "patient-month, a `section` column per row) or as a printable HTML page.")
    p.add_argument("patient", nargs="?", metavar="PATIENT", help="the patient id, as in the "
                                                                 "registry")
    p.add_argument("--all", action="store_true",
                   help="every enrolled patient, one file each in --out-dir")
    p.add_argument("--month", type=parse_month, required=True, metavar="YYYY-MM",
                   help="the calendar month (in --tz)")
    p.add_argument("--format", choices=("csv", "html"), default="csv",
                   help="csv (default) or html")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--out", metavar="FILE", help="write to FILE (default: stdout)")
    out.add_argument("--out-dir", metavar="DIR",
                     help="write rtm-report-YYYY-MM-PATIENT.EXT files into DIR (with --all "
                          "and html also rtm-report-YYYY-MM.html: every patient, to print)")
    add_today_option(p)
    add_store_option(p)
    add_registry_option(p)
    add_clinic_db_option(p, ": time, prescriptions")
    add_tz_option(p)
    add_fees_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: only this command renders HTML (Jinja2).
    from cloud_bridge.clinic import monthly_report, monthly_report_csv, monthly_report_html
    from cloud_bridge.clinic import monthly_report_files as files

    if args.all == (args.patient is not None):
        return fail("give a PATIENT or --all", "report")
    if args.all and args.out_dir is None:
        return fail("--all writes one file per patient: give --out-dir DIR", "report")
    built = build_month(args, "report", monthly_report.build,
                        "time is logged there with rtm-clinic log-time, prescriptions with "
                        "rtm-clinic prescribe")
    if isinstance(built, int):
        return built
    reports = built[0]
    csv_out = args.format == "csv"

    def text(rs: list[monthly_report.MonthlyReport]) -> str:
        # CSV: one patient-month per file, always; HTML: one page may hold several.
        return (monthly_report_csv.format_csv(rs[0]) if csv_out
                else monthly_report_html.format_html(rs))

    if args.out_dir is None and args.out is None:
        sys.stdout.write(text(reports))
        return 0
    if args.out is not None:
        outputs = [(Path(args.out), reports)]
    else:
        outputs = [(Path(args.out_dir) / files.patient_file(r.patient_id, args.month,
                                                            args.format), [r])
                   for r in reports]
        if args.all and not csv_out and reports:
            outputs.append((Path(args.out_dir) / files.combined_file(args.month, "html"),
                            reports))
    try:
        if args.out_dir is not None:
            os.makedirs(args.out_dir, mode=0o700, exist_ok=True)
        for path, rs in outputs:
            files.write_private(path, text(rs), bom=csv_out)
            if args.out_dir is not None:
                print(f"wrote {path}")
    except OSError as e:
        return fail(f"cannot write {e.filename or args.out or args.out_dir}: "
                    f"{e.strerror or e}", "report")
    return 0
