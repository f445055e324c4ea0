"""rtm-clinic: the clinician's view of the stored data."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.summary import format_summary, summarize
from cloud_bridge.stores.base import StoreError, open_store


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _zone(text: str) -> ZoneInfo:
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"unknown time zone {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtm-clinic", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="reps per patient, exercise and day; last activity; "
                                       "days with data in the current 30-day period")
    s.add_argument("--store", default="sqlite:///rtm.db", help="store URL (default %(default)s)")
    s.add_argument("--registry", required=True, help="enrollment registry CSV")
    s.add_argument("--from", dest="first", type=_date, help="first day (default: 6 days ago)")
    s.add_argument("--to", dest="last", type=_date, help="last day (default: today)")
    s.add_argument("--today", type=_date, help="the day to take as today (default: now)")
    s.add_argument("--tz", type=_zone, default=ZoneInfo("UTC"),
                   help="the clinic's time zone, the bridge's --clinic-tz (default UTC)")
    add_export_fhir(sub)
    return p


def add_export_fhir(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    e = sub.add_parser("export-fhir", help="a patient's exercise sets as a FHIR R4 Bundle "
                                           "(JSON): Patient, Devices, one Observation per set")
    e.add_argument("patient", metavar="PATIENT", help="the patient_id as in the registry")
    e.add_argument("--from", dest="first", type=_date, required=True, metavar="YYYY-MM-DD",
                   help="first day")
    e.add_argument("--to", dest="last", type=_date, required=True, metavar="YYYY-MM-DD",
                   help="last day")
    e.add_argument("--out", metavar="FILE", help="write the Bundle to FILE (default: stdout)")
    e.add_argument("--store", default="sqlite:///rtm.db", help="store URL (default %(default)s)")
    e.add_argument("--registry", required=True, help="enrollment registry CSV")
    e.add_argument("--tz", type=_zone, default=ZoneInfo("UTC"),
                   help="the clinic's time zone: days and times are local there (default UTC)")
    e.add_argument("--system-base", metavar="URL",
                   help="a URL the clinic controls: base of the identifier and code systems "
                        "(default: a placeholder under .example)")
    e.set_defaults(run=run_export_fhir)


def run_export_fhir(args: argparse.Namespace) -> int:
    # Imported here: the FHIR models take a while to load and only this command needs them.
    from cloud_bridge.clinic.fhir_export import DEFAULT_SYSTEM_BASE, ExportError, export_patient

    if args.first > args.last:
        print("rtm-clinic: --from is after --to", file=sys.stderr)
        return 2
    try:
        registry = registry_mod.load(args.registry)
        store = open_store(args.store, zone=args.tz)
    except (registry_mod.RegistryError, ValueError, StoreError) as e:
        print(f"rtm-clinic: {e}", file=sys.stderr)
        return 2
    try:
        bundle = export_patient(store, registry, args.patient, args.first, args.last,
                                args.tz, args.system_base or DEFAULT_SYSTEM_BASE)
    except ExportError as e:
        print(f"rtm-clinic: {e}", file=sys.stderr)
        return 2
    except StoreError as e:
        print(f"rtm-clinic: store: {e}", file=sys.stderr)
        return 1
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
        print(f"rtm-clinic: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "run", None) is not None:  # a subcommand that runs itself
        return int(args.run(args))
    try:
        registry = registry_mod.load(args.registry)
        store = open_store(args.store, zone=args.tz)
    except (registry_mod.RegistryError, ValueError, StoreError) as e:
        print(f"rtm-clinic: {e}", file=sys.stderr)
        return 2
    try:
        today = args.today or datetime.now(args.tz).date()
        last = args.last or today
        first = args.first or last - timedelta(days=6)
        if first > last:
            print("rtm-clinic: --from is after --to", file=sys.stderr)
            return 2
        print(format_summary(summarize(store, registry, first, last, today, args.tz),
                             first, last))
    except StoreError as e:
        print(f"rtm-clinic: store: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
