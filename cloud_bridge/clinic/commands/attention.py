"""rtm-clinic worklist and patient: who needs attention and why, and one patient at a
glance. Both read the registry, every prescription history and the store the same way."""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Callable

from cloud_bridge.clinic import patient_report, worklist
from cloud_bridge.clinic import prescriptions as rx
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.commands import common
from cloud_bridge.clinic.commands.common import (
    Refused,
    existing_clinic_db,
    fail,
    missing_store_file,
    patient_registry,
)
from cloud_bridge.clinic.commands.options import (
    Subcommands,
    add_clinic_db_option,
    add_registry_option,
    add_store_option,
    add_today_option,
    add_tz_option,
)
from cloud_bridge.stores.base import StoreError, open_store


def add_parser(sub: Subcommands) -> None:
    """Adds both commands: worklist, then patient."""
    _add_worklist(sub)
    _add_patient(sub)


def _add_attention_options(p: argparse.ArgumentParser) -> None:
    add_today_option(p)
    add_store_option(p)
    add_registry_option(p)
    add_clinic_db_option(p, " with the prescriptions")
    add_tz_option(p)


def _add_worklist(sub: Subcommands) -> None:
    p = sub.add_parser(
        "worklist", help="patients by who needs attention, each with the reasons in words",
        description="Every enrolled patient who needs attention, most urgent first, with "
                    "the reasons in words: no data for 5 days or more, adherence falling "
                    "or low, ROM getting worse, partial reps rising, wearable problems "
                    "(battery, not synced, storage nearly full, failed syncs), no "
                    "prescription. Thresholds: cloud_bridge/clinic/attention.py.")
    _add_attention_options(p)
    p.add_argument("--all", action="store_true",
                   help="list the patients without reasons too (default: count them)")
    p.set_defaults(run=run_worklist)


def _add_patient(sub: Subcommands) -> None:
    p = sub.add_parser(
        "patient", help="one patient at a glance: period, last sync and wearable state, "
                        "the last 14 days per exercise, the reasons for attention")
    p.add_argument("patient", metavar="PATIENT", help="patient id, as in the registry")
    _add_attention_options(p)
    p.set_defaults(run=run_patient)


def _attention_input(args: argparse.Namespace
                     ) -> tuple[registry_mod.Registry, dict[str, list[rx.Prescription]]]:
    """The registry and every prescription history; raises Refused and the loaders'
    errors for bad input."""
    patient = getattr(args, "patient", None)  # worklist has none
    registry = registry_mod.load(args.registry) if patient is None else patient_registry(args)
    missing = missing_store_file(args.store)
    if missing is not None:
        raise Refused(missing)
    conn = existing_clinic_db(args.clinic_db)
    try:
        book = rx.Prescriptions(conn)
        histories = {patient: book.history(patient)} if patient else book.histories()
    finally:
        conn.close()
    return registry, histories


def _run_attention(args: argparse.Namespace, make_text: Callable[..., str]) -> int:
    try:
        registry, histories = _attention_input(args)
        store = open_store(args.store, zone=args.tz)
    except (Refused, registry_mod.RegistryError, sqlite3.Error, OSError, ValueError,
            StoreError) as e:
        return fail(e, args.command)
    today = args.today or common.now().astimezone(args.tz).date()
    try:
        text = make_text(store, registry, histories, today)
    except StoreError as e:
        return fail(f"store: {e}", args.command, status=1)
    finally:
        store.close()
    print(text)
    return 0


def run_worklist(args: argparse.Namespace) -> int:
    return _run_attention(args, lambda store, registry, histories, today: worklist.format_text(
        worklist.build(store, registry, histories, today), show_all=args.all))


def run_patient(args: argparse.Namespace) -> int:
    return _run_attention(args, lambda store, registry, histories, today:
                          patient_report.format_text(patient_report.build(
                              store, registry, args.patient, histories[args.patient], today)))
