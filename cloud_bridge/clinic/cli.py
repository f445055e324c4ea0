"""rtm-clinic: the clinician's view of the stored data."""

from __future__ import annotations

import argparse
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
