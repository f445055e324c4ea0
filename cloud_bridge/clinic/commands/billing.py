"""rtm-clinic billing: RTM billing readiness of a month, per patient, with the amounts of a
fee table."""

from __future__ import annotations

import argparse
import sqlite3
import sys

from cloud_bridge.clinic import billing_report
from cloud_bridge.clinic import fees as fees_mod
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.billing import Month
from cloud_bridge.clinic.commands.common import clinic_today, fail, open_month_inputs
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
from cloud_bridge.stores.base import StoreError


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
    try:
        registry = registry_mod.load(args.registry)
        fees = fees_mod.load(args.fees)
    except (registry_mod.RegistryError, fees_mod.FeeError, OSError) as e:
        return fail(e, "billing")
    if args.patient is not None and args.patient not in registry.patients():
        return fail(f"patient {args.patient!r} is not in the enrollment registry "
                    f"{args.registry}", "billing")
    patients = [args.patient] if args.patient is not None else registry.patients()
    today = clinic_today(args)
    if isinstance(today, str):
        return fail(today, "billing")
    month = args.month or Month.of(today)
    if month.first > today:
        return fail(f"month {month} is after today ({today})", "billing")
    opened = open_month_inputs(args, "time is logged there with rtm-clinic log-time")
    if isinstance(opened, str):
        return fail(opened, "billing")
    conn, store = opened
    try:
        reports = billing_report.build(store, registry, conn, patients, month, today,
                                       args.tz, fees)
    except fees_mod.FeeError as e:
        return fail(e, "billing")
    except sqlite3.Error as e:
        return fail(f"clinic database {args.clinic_db}: {e}", "billing")
    except StoreError as e:
        return fail(f"store: {e}", "billing", status=1)
    finally:
        store.close()
        conn.close()
    if args.csv:
        sys.stdout.write(billing_report.format_csv(reports))
    else:
        print(billing_report.format_table(reports, month, today, args.tz, fees))
    return 0
