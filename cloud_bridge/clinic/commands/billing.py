"""rtm-clinic billing: RTM billing readiness of a month, per patient, with the amounts of a
fee table."""

from __future__ import annotations

import argparse
import sys

from cloud_bridge.clinic import billing_report
from cloud_bridge.clinic.commands.common import build_month
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
        "billing", help="RTM billing readiness per patient for a month: setup, device "
                        "supply periods, treatment management; amounts from a fee table",
        description="RTM billing readiness for a calendar month, per patient: the "
                    "episode's setup code (98975), the 30-day device supply periods "
                    "(98977/98985) that end in the month or run today, and the month's "
                    "treatment management (98979/98980/98981), with the reason in words "
                    "and the amounts of the fee table. Only 'final' codes can be billed; "
                    "each is final in one month's report only.")
    p.add_argument("patient", nargs="?", help="one patient (default: every enrolled patient)")
    p.add_argument("--month", type=parse_month, help="YYYY-MM (default: the month of --today)")
    add_today_option(p)
    add_store_option(p)
    add_registry_option(p)
    add_clinic_db_option(p, " with the logged time")
    add_tz_option(p)
    add_fees_option(p, ": code,description,amount,currency")
    p.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    built = build_month(args, "billing", billing_report.build,
                        "time is logged there with rtm-clinic log-time")
    if isinstance(built, int):
        return built
    reports, month, today, fees = built
    if args.csv:
        sys.stdout.write(billing_report.format_csv(reports))
    else:
        print(billing_report.format_table(reports, month, today, args.tz, fees))
    return 0
