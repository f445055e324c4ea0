"""rtm-clinic adherence: a patient's adherence to the prescription, per day, week and
exercise, with the range of motion reached."""

from __future__ import annotations

import argparse
import sqlite3
from datetime import timedelta

from cloud_bridge.clinic import adherence
from cloud_bridge.clinic import prescriptions as rx
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.commands import common
from cloud_bridge.clinic.commands.common import (
    Refused,
    existing_clinic_db,
    fail,
    patient_registry,
)
from cloud_bridge.clinic.commands.options import (
    Subcommands,
    add_clinic_options,
    add_day_range_options,
)
from cloud_bridge.daily import day_start_ms
from cloud_bridge.stores.base import StoreError, open_store


def _percent(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"must be a whole percentage 1..100, got {text!r}")
    return int(text)


def add_parser(sub: Subcommands) -> None:
    p = sub.add_parser("adherence", help="a patient's adherence to the prescription, per "
                                         "day, week (Monday to Sunday) and exercise")
    add_clinic_options(p)
    add_day_range_options(p, "first day (default: the Monday three weeks before this week's)",
                          "last day (default: today)")
    p.add_argument("--day-threshold", type=_percent, default=adherence.DEFAULT_THRESHOLD_PCT,
                   metavar="PCT", help="share of a day's prescribed reps that makes it an "
                                       "exercise day (default %(default)s)")
    p.add_argument("--no-rom", action="store_true",
                   help="leave out ROM (it reads the window's rep records, not only the "
                        "daily totals)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        registry = patient_registry(args)
        conn = existing_clinic_db(args.clinic_db)
    except (Refused, registry_mod.RegistryError, sqlite3.Error, OSError) as e:
        return fail(e)
    try:
        history = rx.Prescriptions(conn).history(args.patient)
    finally:
        conn.close()
    last = args.last or common.now().astimezone(args.tz).date()
    first = args.first or adherence.week_start(last) - timedelta(weeks=3)
    if first > last:
        return fail("--from is after --to")
    try:
        store = open_store(args.store, zone=args.tz)
    except (ValueError, StoreError) as e:
        return fail(e)
    devices = registry.devices_of(args.patient)
    start_ms, end_ms = day_start_ms(first, args.tz), day_start_ms(last + timedelta(1), args.tz)
    try:
        totals = store.daily_totals(devices, first, last)
        rom = None if args.no_rom else adherence.rom_samples(
            store.query(devices, start_ms, end_ms), args.tz)
        undated = sum(1 for r in store.undated(devices, start_ms, end_ms)
                      if r.kind == "rep" and not r.partial)
    except StoreError as e:
        return fail(f"store: {e}", status=1)
    finally:
        store.close()
    report = adherence.compute(history, totals, first, last, rom, args.day_threshold)
    print(adherence.format_report(args.patient, report, history, args.tz.key, undated))
    return 0
