"""rtm-clinic log-time: treatment-management minutes and interactive communications, the
time that RTM treatment management bills, logged in clinic.db."""

from __future__ import annotations

import argparse
import sqlite3
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic import time_log
from cloud_bridge.clinic.billing import Month
from cloud_bridge.clinic.commands import common
from cloud_bridge.clinic.commands.common import fail
from cloud_bridge.clinic.commands.options import (
    Subcommands,
    add_clinic_db_option,
    add_registry_option,
    add_tz_option,
    parse_date,
    parse_month,
)


def _minutes(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of minutes: {text!r}") from None


def _timestamp(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time (YYYY-MM-DDTHH:MM, optionally with an offset such as -05:00): "
            f"{text!r}") from None


def _in_zone(at: datetime, zone: ZoneInfo) -> datetime:
    """`at` as an aware time: a time without offset is local time in the clinic's zone."""
    if at.tzinfo is not None:
        return at
    aware = at.replace(tzinfo=zone)
    # A local time skipped by a DST change would silently become another hour.
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != at:
        raise time_log.TimeLogError(f"{at.isoformat()} does not exist in {zone.key} (the "
                                    "clocks skipped it)")
    return aware


def add_parser(sub: Subcommands) -> None:
    p = sub.add_parser(
        "log-time", help="log treatment-management minutes and/or an interactive "
                         "communication for a patient, or --list a month's log",
        description="Log minutes (--minutes), an interactive communication "
                    "(--communication), both at once (a 15-minute call), or --list a month.")
    p.add_argument("patient", help="patient id, as in the enrollment registry")
    p.add_argument("--minutes", type=_minutes, help="minutes of treatment management")
    p.add_argument("--communication", metavar="KIND", choices=time_log.KINDS,
                   help=f"an interactive communication: {', '.join(time_log.KINDS)}")
    p.add_argument("--list", action="store_true", help="show the patient's log of --month")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--date", type=parse_date, help="the local day of the minutes (YYYY-MM-DD)")
    when.add_argument("--at", type=_timestamp,
                      help="when (YYYY-MM-DDTHH:MM, local time in --tz unless it has an "
                           "offset; default now)")
    p.add_argument("--by", default="", help="clinician id or initials")
    p.add_argument("--note", default="", help="a short note")
    p.add_argument("--month", type=parse_month, help="with --list: YYYY-MM (default this month)")
    add_registry_option(p)
    add_clinic_db_option(p)
    add_tz_option(p, "the clinic's time zone (default UTC)")
    p.set_defaults(run=run)


def _log_time_usage_error(args: argparse.Namespace) -> str | None:
    logging = args.minutes is not None or args.communication is not None
    if args.list:
        if logging or args.date or args.at or args.by or args.note:
            return "--list takes only --month"
        return None
    if not logging:
        return "give --minutes N, --communication KIND (or both), or --list"
    if args.month:
        return "--month goes with --list"
    if args.communication and args.date:
        return "a communication needs a time: use --at (default now), not --date"
    return None


def run(args: argparse.Namespace) -> int:
    problem = _log_time_usage_error(args)
    if problem:
        return fail(problem, "log-time")
    try:
        registry = registry_mod.load(args.registry)
        if args.patient not in registry.patients():
            raise time_log.TimeLogError(f"patient {args.patient!r} is not in the enrollment "
                                        f"registry {args.registry}")
        now = common.now()
        conn = time_log.open_time_log(args.clinic_db)
    except (registry_mod.RegistryError, time_log.TimeLogError, OSError) as e:
        return fail(e, "log-time")
    except sqlite3.Error as e:
        return fail(f"clinic database {args.clinic_db}: {e}", "log-time")
    try:
        if args.list:
            month = args.month or Month.of(now.astimezone(args.tz).date())
        else:
            day = _log(conn, args, now)
            month = Month.of(day)
        entries, comms = time_log.month_log(conn, args.patient, month.year, month.month,
                                            args.tz)
    except time_log.TimeLogError as e:
        return fail(e, "log-time")
    except sqlite3.Error as e:
        return fail(f"clinic database {args.clinic_db}: {e}", "log-time")
    finally:
        conn.close()
    if not args.list:
        what = " and ".join(
            ([f"{args.minutes} minutes"] if args.minutes is not None else [])
            + ([f"a {args.communication}"] if args.communication else []))
        print(f"logged {what} for {args.patient} on {day}")
    print(_format_month_log(args.patient, month, entries, comms, args.tz, verbose=args.list))
    return 0


def _log(conn: sqlite3.Connection, args: argparse.Namespace, now: datetime) -> date:
    """Log what args ask for, all or nothing; the local day it was logged on."""
    when: date | datetime = args.date or _in_zone(args.at or now, args.tz)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if args.minutes is not None:
            time_log.log_minutes(conn, args.patient, args.minutes, when, args.tz,
                                 clinician=args.by, note=args.note, now=now)
        if args.communication:
            assert isinstance(when, datetime)  # _log_time_usage_error refused --date
            time_log.log_communication(conn, args.patient, args.communication, when,
                                       clinician=args.by, note=args.note, now=now)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return when.astimezone(args.tz).date() if isinstance(when, datetime) else when


def _format_month_log(patient: str, month: Month, entries: list[time_log.TimeEntry],
                      comms: list[time_log.Communication], zone: ZoneInfo,
                      verbose: bool) -> str:
    minutes = sum(e.minutes for e in entries)
    lines = [f"{patient} in {month} (days in {zone.key}): {minutes} minutes, "
             f"{len(comms)} interactive communication{'' if len(comms) == 1 else 's'}"]
    if not verbose:
        return lines[0]

    def when(day: date, at_ms: int | None) -> str:
        if at_ms is None:
            return f"{day}      "
        return datetime.fromtimestamp(at_ms // 1000, zone).strftime("%Y-%m-%d %H:%M")

    items = [(e.day, e.at_ms or 0, f"  {when(e.day, e.at_ms)}  {e.minutes:>3} min", e.clinician,
              e.note) for e in entries]
    items += [(c.day, c.at_ms, f"  {when(c.day, c.at_ms)}  {c.kind}", c.clinician, c.note)
              for c in comms]
    for _, _, head, by, note in sorted(items, key=lambda i: (i[0], i[1])):
        lines.append("  ".join(x for x in (head, by, note) if x))
    return "\n".join(lines)
