"""rtm-clinic export-fhir: a patient's exercise sets as a FHIR R4 Bundle."""

from __future__ import annotations

import argparse
import os
import sys

from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.commands.common import fail
from cloud_bridge.clinic.commands.options import (
    Subcommands,
    add_day_range_options,
    add_registry_option,
    add_store_option,
    add_tz_option,
)
from cloud_bridge.stores.base import StoreError, open_store


def add_parser(sub: Subcommands) -> None:
    e = sub.add_parser("export-fhir", help="a patient's exercise sets as a FHIR R4 Bundle "
                                           "(JSON): Patient, Devices, one Observation per set")
    e.add_argument("patient", metavar="PATIENT", help="the patient_id as in the registry")
    add_day_range_options(e, "first day", "last day", required=True, metavar="YYYY-MM-DD")
    e.add_argument("--out", metavar="FILE", help="write the Bundle to FILE (default: stdout)")
    add_store_option(e)
    add_registry_option(e)
    add_tz_option(e, "the clinic's time zone: days and times are local there (default UTC)")
    e.add_argument("--system-base", metavar="URL",
                   help="a URL the clinic controls: base of the identifier and code systems "
                        "(default: a placeholder under .example)")
    e.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the FHIR models take a while to load and only this command needs them.
    from cloud_bridge.clinic.fhir_export import DEFAULT_SYSTEM_BASE, ExportError, export_patient

    if args.first > args.last:
        return fail("--from is after --to")
    try:
        registry = registry_mod.load(args.registry)
        store = open_store(args.store, zone=args.tz)
    except (registry_mod.RegistryError, ValueError, StoreError) as e:
        return fail(e)
    try:
        bundle = export_patient(store, registry, args.patient, args.first, args.last,
                                args.tz, args.system_base or DEFAULT_SYSTEM_BASE)
    except ExportError as e:
        return fail(e)
    except StoreError as e:
        return fail(f"store: {e}", status=1)
    finally:
        store.close()
    text = bundle.model_dump_json(indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        # Owner-only when created, like clinic.db: the Bundle ties data to a patient id.
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        return fail(f"cannot write {args.out}: {e.strerror or e}")
    return 0
