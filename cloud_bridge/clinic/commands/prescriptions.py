"""rtm-clinic prescribe and program: a patient's prescription (home exercise program), its
versions, and its delivery to the patient's wearables over MQTT (docs/mqtt.md, Program)."""

from __future__ import annotations

import argparse
import sqlite3
import time
from pathlib import Path

from cloud_bridge.arg_types import argument_type, parse_broker, parse_date
from cloud_bridge.broker_link import BrokerSecurity, BrokerSecurityError
from cloud_bridge.clinic import device_gateways as gw
from cloud_bridge.clinic import prescriptions as rx
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.commands import common
from cloud_bridge.clinic.commands.common import (
    Refused,
    existing_clinic_db,
    fail,
    patient_registry,
    sqlite_file,
)
from cloud_bridge.clinic.commands.options import Subcommands, add_clinic_options
from cloud_bridge.clinic.program_publisher import (
    DEFAULT_CLIENT_ID,
    Deliveries,
    ProgramLink,
    PublishError,
    delivery_state,
    publish_prescription,
)
from cloud_bridge.device_keys import keys_path_for
from firmware.core import exercises


def add_parser(sub: Subcommands) -> None:
    """Adds both commands: prescribe, then program."""
    _add_prescribe(sub)
    _add_program(sub)


def _now_ms() -> int:
    return int(time.time() * 1000)


_rom = argument_type(rx.parse_rom)


class _NewItem(argparse.Action):
    """--exercise NAME starts an item; the item options after it belong to it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        items = list(getattr(namespace, "items", None) or [])
        items.append({"exercise": values})
        namespace.items = items


class _ItemField(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        items = getattr(namespace, "items", None)
        if not items:
            raise argparse.ArgumentError(self, "must follow the --exercise it belongs to")
        if self.dest in items[-1]:
            raise argparse.ArgumentError(self, f"given twice for {items[-1]['exercise']}")
        items[-1][self.dest] = values


def _add_delivery_options(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("delivery to the wearables (docs/mqtt.md, Program)")
    d.add_argument("--broker", type=parse_broker, metavar="HOST:PORT",
                   help="the MQTT broker; without it nothing is sent or heard")
    d.add_argument("--device-keys", type=Path, metavar="PATH",
                   help="the bridge's device-key table, read for each wearable's gateway "
                        "(default: next to a SQLite --store)")
    d.add_argument("--gateway", action="append", default=[], metavar="DEVICE=GATEWAY",
                   help="the gateway of a wearable not enrolled through the bridge "
                        "(repeatable; wins over the key table)")
    d.add_argument("--client-id", default=DEFAULT_CLIENT_ID,
                   help="fixed client id: the broker keeps the acks for this session while "
                        "no clinic tool runs (default %(default)s)")
    d.add_argument("--ack-wait", type=float, default=2.0, metavar="S",
                   help="listen for acks until none came for S seconds (default %(default)s)")
    d.add_argument("--ca-file", type=Path, metavar="PATH",
                   help="TLS: verify the broker's certificate against this CA")
    d.add_argument("--cert-file", type=Path, metavar="PATH", help="client certificate")
    d.add_argument("--key-file", type=Path, metavar="PATH")
    d.add_argument("--username", help="the clinic's broker user (with --password-file)")
    d.add_argument("--password-file", type=Path, metavar="PATH",
                   help="file holding the password; never give it on the command line")


def _add_prescribe(sub: Subcommands) -> None:
    p = sub.add_parser(
        "prescribe", help="give a patient a new prescription version (home exercise program)",
        description="Each --exercise starts an item; the options after it belong to it: "
                    "rtm-clinic prescribe P-1 --exercise squat --sets 3 --reps 10 "
                    "--days-per-week 5 --rom 60-90 --exercise heel_raise --sets 2 --reps 15 "
                    "--days-per-week 3")
    add_clinic_options(p)
    items = p.add_argument_group("items (repeat from --exercise for each)")
    items.add_argument("--exercise", dest="items", action=_NewItem, metavar="NAME",
                       help=f"one of: {', '.join(exercises.NAMES[1:])}")
    items.add_argument("--sets", type=int, action=_ItemField, default=argparse.SUPPRESS)
    items.add_argument("--reps", type=int, action=_ItemField, default=argparse.SUPPRESS,
                       help="reps per set")
    items.add_argument("--days-per-week", type=int, action=_ItemField,
                       default=argparse.SUPPRESS)
    items.add_argument("--rom", type=_rom, action=_ItemField, default=argparse.SUPPRESS,
                       metavar="MIN-MAX", help="target range of motion, whole degrees")
    items.add_argument("--rest", dest="rest_s", type=int, action=_ItemField,
                       default=argparse.SUPPRESS, metavar="S",
                       help=f"rest between sets (default {rx.DEFAULT_REST_S} s)")
    p.add_argument("--file", type=Path, metavar="CSV",
                   help=f"the items from a CSV file ({','.join(rx.CSV_COLUMNS)})")
    p.add_argument("--clear", action="store_true",
                   help="no exercises from --start on (the wearable goes back to generic sets)")
    p.add_argument("--start", type=parse_date, help="first day in force (default: today)")
    p.add_argument("--publish", action="store_true",
                   help="send the prescription in force today to the patient's wearables")
    _add_delivery_options(p)
    p.set_defaults(run=run_prescribe)


def _add_program(sub: Subcommands) -> None:
    p = sub.add_parser("program", help="a patient's prescription history and whether each "
                                       "wearable has its program; --publish sends it again")
    add_clinic_options(p)
    p.add_argument("--publish", action="store_true",
                   help="send the prescription in force today again (after a daylight "
                        "saving change, for a new wearable, or on a later version's start day)")
    _add_delivery_options(p)
    p.set_defaults(run=run_program)


def _items_from_options(raw: list[dict]) -> list[rx.Item]:
    items = []
    for d in raw:
        missing = [opt for key, opt in (("sets", "--sets"), ("reps", "--reps"),
                                        ("days_per_week", "--days-per-week")) if key not in d]
        if missing:
            raise rx.PrescriptionError(f"{d['exercise']}: {', '.join(missing)} missing")
        low, high = d.get("rom", (None, None))
        items.append(rx.Item(d["exercise"], d["sets"], d["reps"], d["days_per_week"], low,
                             high, d.get("rest_s", rx.DEFAULT_REST_S)))
    rx.check_items(items)
    return items


def _security(args: argparse.Namespace) -> BrokerSecurity | None:
    given = (args.ca_file, args.cert_file, args.key_file, args.username, args.password_file)
    return None if all(v is None for v in given) else BrokerSecurity(*given)


def _targets(args: argparse.Namespace,
             registry: registry_mod.Registry) -> tuple[dict[str, str], dict[str, str]]:
    """The patient's wearables a program can reach (device -> gateway), and why not the
    others. Refuses when none can be reached."""
    overrides = dict(gw.parse_override(text) for text in args.gateway)
    keys = args.device_keys
    if keys is None:
        store_path = sqlite_file(args.store)
        if store_path is not None:
            candidate = keys_path_for(store_path)
            keys = candidate if candidate.is_file() else None
    known = gw.read_key_table(keys) if keys is not None else {}
    devices = registry.devices_of(args.patient)
    targets, skipped = gw.resolve(devices, known, overrides)
    if not targets:
        why = "; ".join(f"{d}: {reason}" for d, reason in skipped.items())
        raise Refused(f"no wearable of {args.patient} can be reached: {why}")
    return targets, skipped


def _delivery_input(args: argparse.Namespace, registry: registry_mod.Registry
                    ) -> tuple[BrokerSecurity | None, dict[str, str], dict[str, str]]:
    if args.publish and args.broker is None:
        raise Refused("--publish needs --broker HOST:PORT")
    if args.ack_wait < 0:
        raise Refused("--ack-wait must not be negative")
    security = _security(args)
    targets, skipped = _targets(args, registry) if args.publish else ({}, {})
    return security, targets, skipped


def _deliver(args: argparse.Namespace, conn: sqlite3.Connection, devices: list[str],
             current: rx.Prescription | None, security: BrokerSecurity | None,
             targets: dict[str, str], skipped: dict[str, str]) -> int:
    """Publish `current` (if given) to `targets`, collect acks, print each device's state."""
    deliveries = Deliveries(conn)
    status = 0
    if args.broker is not None:
        host, port = args.broker
        try:
            link = ProgramLink(host, port, deliveries, security, args.client_id)
            link.connect()
        except (PublishError, BrokerSecurityError) as e:
            return fail(e, status=1)
        try:
            if current is not None:
                for pub in publish_prescription(link, deliveries, current, targets, args.tz,
                                                _now_ms()):
                    print(f"published prescription v{pub.prescription_version} to "
                          f"{pub.device_id} at gateway {pub.gateway_id} as program version "
                          f"{pub.version}")
            link.collect_acks(args.ack_wait)
            if link.lost:
                status = fail("the broker closed the connection: if it was after a publish, "
                              "its ACL may have refused it (the clinic's user must write "
                              "rtm/v1/+/+/program)", status=1)
        except PublishError as e:
            status = fail(e, status=1)
        finally:
            link.close()
    print("Wearables:")
    for device in devices:
        state = delivery_state(deliveries.last_publication(device),
                               deliveries.last_ack(device), args.tz)
        note = f" (not sent: {skipped[device]})" if device in skipped else ""
        print(f"  {device}: {state}{note}")
    return status


def run_prescribe(args: argparse.Namespace) -> int:
    raw = getattr(args, "items", None) or []
    try:
        if sum((bool(raw), args.file is not None, args.clear)) != 1:
            raise Refused("give the exercises (--exercise NAME --sets N ...), --file CSV or "
                          "--clear: exactly one of them")
        registry = patient_registry(args)
        items = ([] if args.clear else rx.load_items_csv(args.file) if args.file
                 else _items_from_options(raw))
        security, targets, skipped = _delivery_input(args, registry)
        conn = open_clinic_db(args.clinic_db)
    except (Refused, rx.PrescriptionError, registry_mod.RegistryError, gw.GatewayLookupError,
            BrokerSecurityError, sqlite3.Error, OSError) as e:
        return fail(e)
    try:
        book = rx.Prescriptions(conn)
        today = common.now().astimezone(args.tz).date()
        p = book.add(args.patient, args.start or today, items, _now_ms())
        what = "; ".join(i.describe() for i in p.items) or "no exercises"
        print(f"{args.patient}: prescription version {p.version} from {p.start}: {what}")
        if not args.publish:
            return 0
        current = rx.in_force(book.history(args.patient), today)
        if current is None or current.version != p.version:
            print(f"not published: version {p.version} starts on {p.start}; publish it on "
                  f"that day with `rtm-clinic program {args.patient} --publish ...`")
            return 0
        return _deliver(args, conn, registry.devices_of(args.patient), current, security,
                        targets, skipped)
    finally:
        conn.close()


def run_program(args: argparse.Namespace) -> int:
    try:
        registry = patient_registry(args)
        security, targets, skipped = _delivery_input(args, registry)
        conn = existing_clinic_db(args.clinic_db)
    except (Refused, registry_mod.RegistryError, gw.GatewayLookupError, BrokerSecurityError,
            sqlite3.Error, OSError) as e:
        return fail(e)
    try:
        history = rx.Prescriptions(conn).history(args.patient)
        today = common.now().astimezone(args.tz).date()
        current = rx.in_force(history, today)
        print(f"{args.patient}: prescription history")
        for p in history:
            what = "; ".join(i.describe() for i in p.items) or "no exercises"
            mark = "  <- in force today" if current is p else ""
            print(f"  v{p.version} from {p.start}: {what}{mark}")
        if not history:
            print("  (none)")
        if args.publish and current is None:
            return fail(f"no prescription of {args.patient} is in force today")
        return _deliver(args, conn, registry.devices_of(args.patient),
                        current if args.publish else None, security, targets, skipped)
    finally:
        conn.close()
