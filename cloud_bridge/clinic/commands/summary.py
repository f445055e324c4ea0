"""rtm-clinic summary: reps per patient, exercise and day, for a glance at the whole clinic."""

from __future__ import annotations

import argparse
from datetime import timedelta

from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.commands import common
from cloud_bridge.clinic.commands.common import fail
from cloud_bridge.clinic.commands.options import (
    Subcommands,
    add_day_range_options,
    add_registry_option,
    add_store_option,
    add_today_option,
    add_tz_option,
)
from cloud_bridge.clinic.summary import format_summary, summarize
from cloud_bridge.stores.base import StoreError, open_store


def add_parser(sub: Subcommands) -> None:
    s = sub.add_parser("summary", help="reps per patient, exercise and day; last activity; "
                                       "days with data in the current 30-day period")
    add_store_option(s)
    add_registry_option(s)
    add_day_range_options(s, "first day (default: 6 days ago)", "last day (default: today)")
    add_today_option(s)
    add_tz_option(s)
    s.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        registry = registry_mod.load(args.registry)
        store = open_store(args.store, zone=args.tz)
    except (registry_mod.RegistryError, ValueError, StoreError) as e:
        return fail(e)
    try:
        today = args.today or common.now().astimezone(args.tz).date()
        last = args.last or today
        first = args.first or last - timedelta(days=6)
        if first > last:
            return fail("--from is after --to")
        print(format_summary(summarize(store, registry, first, last, today, args.tz),
                             first, last))
    except StoreError as e:
        return fail(f"store: {e}", status=1)
    finally:
        store.close()
    return 0
