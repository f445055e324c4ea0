"""Argument types and the options that several rtm-clinic commands share.

One helper per shared option keeps its name, type, default and wording the same in every
command; a command passes only the words that differ (what its clinic.db holds, say).
"""

from __future__ import annotations

import argparse
from typing import TypeAlias
from zoneinfo import ZoneInfo

from cloud_bridge.arg_types import argument_type, parse_date, parse_zone
from cloud_bridge.clinic import clinic_db
from cloud_bridge.clinic import fees as fees_mod
from cloud_bridge.clinic.billing import Month

# A string: argparse's class is generic only to type checkers, not at run time.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

DEFAULT_STORE = "sqlite:///rtm.db"
CLINIC_TZ_HELP = "the clinic's time zone, the bridge's --clinic-tz (default UTC)"


# --- argument types: a bad value is a usage error (exit 2) with the reason in words ---------


def _month(text: str) -> Month:
    return Month.parse(text)


parse_month = argument_type(_month)


# --- shared options ----------------------------------------------------------------------


def add_store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=DEFAULT_STORE, help="store URL (default %(default)s)")


def add_registry_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", required=True, help="enrollment registry CSV")


def add_clinic_db_option(p: argparse.ArgumentParser, holding: str = "") -> None:
    """--clinic-db; `holding` tells what the command reads there, e.g. " with the
    prescriptions", right after "the clinic's SQLite file"."""
    p.add_argument("--clinic-db", default=clinic_db.DEFAULT_PATH,
                   help=f"the clinic's SQLite file{holding} (default %(default)s)")


def add_tz_option(p: argparse.ArgumentParser, help_text: str = CLINIC_TZ_HELP) -> None:
    p.add_argument("--tz", type=parse_zone, default=ZoneInfo("UTC"), help=help_text)


def add_today_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--today", type=parse_date,
                   help="the day to take as today (default: now)")


def add_fees_option(p: argparse.ArgumentParser, detail: str = "") -> None:
    """--fees; `detail` goes right after "fee table CSV", e.g. " for the billing page"."""
    p.add_argument("--fees", default=str(fees_mod.DEFAULT_PATH),
                   help=f"fee table CSV{detail} (default: the shipped table of EXAMPLE "
                        "amounts)")


def add_day_range_options(p: argparse.ArgumentParser, first_help: str, last_help: str,
                          required: bool = False, metavar: str | None = None) -> None:
    """--from and --to, the first and last day of the data a command reads
    (args.first, args.last)."""
    p.add_argument("--from", dest="first", type=parse_date, required=required,
                   metavar=metavar, help=first_help)
    p.add_argument("--to", dest="last", type=parse_date, required=required,
                   metavar=metavar, help=last_help)


def add_clinic_options(p: argparse.ArgumentParser) -> None:
    """PATIENT and the clinic's files, as prescribe, program and adherence take them."""
    p.add_argument("patient", metavar="PATIENT", help="patient id, as in the registry")
    add_registry_option(p)
    add_clinic_db_option(p)
    add_tz_option(p, f"{CLINIC_TZ_HELP}; also the patients' home zone for the wearable's day")
    add_store_option(p)
