"""What several rtm-clinic commands do when they run: the clock, error messages, and
opening the registry, the store and clinic.db with the checks every command makes."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from cloud_bridge.clinic import fees as fees_mod
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic import time_log
from cloud_bridge.clinic.billing import Month
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.stores.base import SQLITE_PREFIX, Store, StoreError, open_store

R = TypeVar("R")


def now() -> datetime:
    """Now. Commands call it as common.now() so that a test sets the clock of every command
    in one place."""
    return datetime.now(UTC)


def fail(message: object, command: str | None = None, *, status: int = 2) -> int:
    """Print `message` on stderr as "rtm-clinic[ COMMAND]: message"; the exit status to
    return (2: bad input, 1: the store or the broker failed)."""
    prefix = "rtm-clinic" if command is None else f"rtm-clinic {command}"
    print(f"{prefix}: {message}", file=sys.stderr)
    return status


class Refused(Exception):
    """Bad input: print it, exit 2."""


def sqlite_file(url: str) -> str | None:
    """The file of a sqlite store URL, None for other stores."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "":
        return url
    if url.lower().startswith(SQLITE_PREFIX):
        return unquote(url[len(SQLITE_PREFIX):])
    return None


def missing_store_file(url: str) -> str | None:
    """Why a SQLite store cannot be read, None if it can (or is no SQLite store). Opening a
    missing SQLite file would make an empty one and report nothing from it."""
    store_file = sqlite_file(url)
    if store_file is not None and not os.path.exists(store_file):
        return f"store file {store_file} does not exist"
    return None


def patient_registry(args: argparse.Namespace) -> registry_mod.Registry:
    """The registry of --registry; refuses an args.patient that is not enrolled there."""
    registry = registry_mod.load(args.registry)
    if args.patient not in registry.patients():
        raise Refused(f"patient {args.patient!r} is not in the registry {args.registry}")
    return registry


def existing_clinic_db(path: str) -> sqlite3.Connection:
    """clinic.db for reading prescriptions: refused if missing rather than made empty."""
    if path != ":memory:" and not Path(path).is_file():
        raise Refused(f"clinic database {path} does not exist (rtm-clinic prescribe "
                      f"creates it)")
    return open_clinic_db(path)


# --- billing and report: one month of a clinic's data -------------------------------------


def _clinic_today(args: argparse.Namespace) -> date | str:
    """--today or the clinic's today; a message if --today is later than that (it would
    show codes as final for periods and months that have not ended)."""
    real_today = now().astimezone(args.tz).date()
    today = args.today or real_today
    if today > real_today:
        return f"--today {today} is after today ({real_today} in {args.tz.key})"
    return today


def _open_month_inputs(args: argparse.Namespace, clinic_db_hint: str
                      ) -> tuple[sqlite3.Connection, Store] | str:
    """The clinic database and the store of a month's billing or report; a message saying
    what is missing otherwise."""
    missing = missing_store_file(args.store)
    if missing is not None:
        return missing
    if not os.path.exists(args.clinic_db):
        return f"clinic database {args.clinic_db} does not exist ({clinic_db_hint})"
    try:
        conn = time_log.open_time_log(args.clinic_db)
    except sqlite3.Error as e:
        return f"clinic database {args.clinic_db}: {e}"
    try:
        store = open_store(args.store, zone=args.tz)
    except (ValueError, StoreError) as e:
        conn.close()
        return str(e)
    return conn, store


MonthBuild = Callable[[Store, registry_mod.Registry, sqlite3.Connection, list[str], Month,
                       date, ZoneInfo, fees_mod.FeeTable], list[R]]


def build_month(args: argparse.Namespace, command: str, build: MonthBuild[R],
                clinic_db_hint: str) -> tuple[list[R], Month, date, fees_mod.FeeTable] | int:
    """What billing and report share: the registry and fee table, args.patient (None: every
    patient), the clinic's today, args.month (None: today's), clinic.db and the store, then
    `build` over them; (its reports, the month, today, the fees), or the exit status after
    saying what is wrong."""
    try:
        registry = registry_mod.load(args.registry)
        fees = fees_mod.load(args.fees)
    except (registry_mod.RegistryError, fees_mod.FeeError, OSError) as e:
        return fail(e, command)
    if args.patient is not None and args.patient not in registry.patients():
        return fail(f"patient {args.patient!r} is not in the enrollment registry "
                    f"{args.registry}", command)
    patients = [args.patient] if args.patient is not None else registry.patients()
    today = _clinic_today(args)
    if isinstance(today, str):
        return fail(today, command)
    month = args.month or Month.of(today)
    if month.first > today:
        return fail(f"month {month} is after today ({today})", command)
    opened = _open_month_inputs(args, clinic_db_hint)
    if isinstance(opened, str):
        return fail(opened, command)
    conn, store = opened
    try:
        return build(store, registry, conn, patients, month, today, args.tz, fees), \
            month, today, fees
    except fees_mod.FeeError as e:
        return fail(e, command)
    except sqlite3.Error as e:
        return fail(f"clinic database {args.clinic_db}: {e}", command)
    except StoreError as e:
        return fail(f"store: {e}", command, status=1)
    finally:
        store.close()
        conn.close()
