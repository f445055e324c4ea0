"""rtm-clinic: the clinician's view of the stored data."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from cloud_bridge.broker_link import BrokerSecurity, BrokerSecurityError
from cloud_bridge.clinic import (
    adherence,
    patient_report,
    worklist,
)
from cloud_bridge.clinic import device_gateways as gw
from cloud_bridge.clinic import fees as fees_mod
from cloud_bridge.clinic import prescriptions as rx
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.commands import billing, common, export_fhir, log_time, report, summary
from cloud_bridge.clinic.commands.common import (
    Refused,
    existing_clinic_db,
    fail,
    missing_store_file,
    patient_registry,
    sqlite_file,
)
from cloud_bridge.clinic.commands.options import (
    CLINIC_TZ_HELP,
    add_clinic_db_option,
    add_day_range_options,
    add_fees_option,
    add_registry_option,
    add_store_option,
    add_today_option,
    add_tz_option,
    parse_date,
)
from cloud_bridge.clinic.program_publisher import (
    DEFAULT_CLIENT_ID,
    Deliveries,
    ProgramLink,
    PublishError,
    delivery_state,
    publish_prescription,
)
from cloud_bridge.daily import day_start_ms
from cloud_bridge.device_keys import keys_path_for
from cloud_bridge.stores.base import StoreError, open_store
from firmware.core import exercises


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtm-clinic", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    summary.add_parser(sub)
    export_fhir.add_parser(sub)
    log_time.add_parser(sub)
    billing.add_parser(sub)
    report.add_parser(sub)
    add_prescribe_command(sub)
    add_program_command(sub)
    add_adherence_command(sub)
    add_worklist_command(sub)
    add_patient_command(sub)
    _add_web(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


# -- prescriptions, their delivery to the wearables, adherence ---------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


def _broker(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"--broker must be HOST:PORT, got {text!r}")
    return host, int(port)


def _rom(text: str) -> tuple[int, int]:
    try:
        return rx.parse_rom(text)
    except rx.PrescriptionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _percent(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"must be a whole percentage 1..100, got {text!r}")
    return int(text)


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


def _add_clinic_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("patient", metavar="PATIENT", help="patient id, as in the registry")
    add_registry_option(p)
    add_clinic_db_option(p)
    add_tz_option(p, f"{CLINIC_TZ_HELP}; also the patients' home zone for the wearable's day")
    add_store_option(p)


def _add_delivery_options(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("delivery to the wearables (docs/mqtt.md, Program)")
    d.add_argument("--broker", type=_broker, metavar="HOST:PORT",
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


def add_prescribe_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prescribe", help="give a patient a new prescription version (home exercise program)",
        description="Each --exercise starts an item; the options after it belong to it: "
                    "rtm-clinic prescribe P-1 --exercise squat --sets 3 --reps 10 "
                    "--days-per-week 5 --rom 60-90 --exercise heel_raise --sets 2 --reps 15 "
                    "--days-per-week 3")
    _add_clinic_options(p)
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
    p.set_defaults(run=_run_prescribe)


def add_program_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("program", help="a patient's prescription history and whether each "
                                       "wearable has its program; --publish sends it again")
    _add_clinic_options(p)
    p.add_argument("--publish", action="store_true",
                   help="send the prescription in force today again (after a daylight "
                        "saving change, for a new wearable, or on a later version's start day)")
    _add_delivery_options(p)
    p.set_defaults(run=_run_program)


def add_adherence_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("adherence", help="a patient's adherence to the prescription, per "
                                         "day, week (Monday to Sunday) and exercise")
    _add_clinic_options(p)
    add_day_range_options(p, "first day (default: the Monday three weeks before this week's)",
                          "last day (default: today)")
    p.add_argument("--day-threshold", type=_percent, default=adherence.DEFAULT_THRESHOLD_PCT,
                   metavar="PCT", help="share of a day's prescribed reps that makes it an "
                                       "exercise day (default %(default)s)")
    p.add_argument("--no-rom", action="store_true",
                   help="leave out ROM (it reads the window's rep records, not only the "
                        "daily totals)")
    p.set_defaults(run=_run_adherence)


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


def _run_prescribe(args: argparse.Namespace) -> int:
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
        today = datetime.now(args.tz).date()
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


def _run_program(args: argparse.Namespace) -> int:
    try:
        registry = patient_registry(args)
        security, targets, skipped = _delivery_input(args, registry)
        conn = existing_clinic_db(args.clinic_db)
    except (Refused, registry_mod.RegistryError, gw.GatewayLookupError, BrokerSecurityError,
            sqlite3.Error, OSError) as e:
        return fail(e)
    try:
        history = rx.Prescriptions(conn).history(args.patient)
        today = datetime.now(args.tz).date()
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


def _run_adherence(args: argparse.Namespace) -> int:
    try:
        registry = patient_registry(args)
        conn = existing_clinic_db(args.clinic_db)
    except (Refused, registry_mod.RegistryError, sqlite3.Error, OSError) as e:
        return fail(e)
    try:
        history = rx.Prescriptions(conn).history(args.patient)
    finally:
        conn.close()
    last = args.last or datetime.now(args.tz).date()
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


# --- worklist, patient: who needs attention, and one patient at a glance -------------------


def _add_attention_options(p: argparse.ArgumentParser) -> None:
    add_today_option(p)
    add_store_option(p)
    add_registry_option(p)
    add_clinic_db_option(p, " with the prescriptions")
    add_tz_option(p)


def add_worklist_command(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(run=_run_worklist)


def add_patient_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "patient", help="one patient at a glance: period, last sync and wearable state, "
                        "the last 14 days per exercise, the reasons for attention")
    p.add_argument("patient", metavar="PATIENT", help="patient id, as in the registry")
    _add_attention_options(p)
    p.set_defaults(run=_run_patient)


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


def _run_worklist(args: argparse.Namespace) -> int:
    return _run_attention(args, lambda store, registry, histories, today: worklist.format_text(
        worklist.build(store, registry, histories, today), show_all=args.all))


def _run_patient(args: argparse.Namespace) -> int:
    return _run_attention(args, lambda store, registry, histories, today:
                          patient_report.format_text(patient_report.build(
                              store, registry, args.patient, histories[args.patient], today)))


# --- serve, add-user: the web dashboard ---------------------------------------------


def _add_web(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "serve", help="the web dashboard: worklist, patient pages, billing (login needed)",
        description="Serve the clinic's web dashboard over plain HTTP, on 127.0.0.1 by "
                    "default. TLS belongs to a reverse proxy in front of it (nginx, Caddy): "
                    "reach the dashboard from other machines only through that proxy. "
                    "Users are added with `rtm-clinic add-user`.")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default %(default)s; TLS belongs to a "
                        "reverse proxy)")
    s.add_argument("--port", type=int, default=8080, help="port (default %(default)s; "
                                                          "0: any free one)")
    add_store_option(s)
    add_registry_option(s)
    add_clinic_db_option(s, ": users, logged time")
    add_tz_option(s)
    add_fees_option(s, " for the billing page")
    s.add_argument("--session-hours", type=float, default=8.0,
                   help="a login lasts this long (default %(default)s)")
    s.set_defaults(run=_run_serve)

    u = sub.add_parser(
        # No abbreviations: "--password SECRET" must not pass as --password-file.
        "add-user", allow_abbrev=False,
        help="add a dashboard user (password from stdin or --password-file)",
        description="Add a user of the web dashboard to clinic.db, or set a new password "
                    "with --replace (which ends the user's sessions). The password is read "
                    "from --password-file, or from stdin (asked twice on a terminal); "
                    "never from the command line, where other users could see it.")
    u.add_argument("name", metavar="NAME", help="user name: letters, digits, . _ @ -")
    u.add_argument("--password-file", metavar="PATH",
                   help="read the password from the first line of PATH")
    u.add_argument("--replace", action="store_true", help="set a new password for NAME")
    add_clinic_db_option(u)
    u.set_defaults(run=_run_add_user)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_file:
        with open(args.password_file, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _run_add_user(args: argparse.Namespace) -> int:
    from cloud_bridge.clinic.web import users

    try:
        users.check_name(args.name)
        password = _read_password(args)
        conn = users.open_users(args.clinic_db)
    except (users.UserError, ValueError, OSError) as e:
        return fail(e, "add-user")
    except sqlite3.Error as e:
        return fail(f"clinic database {args.clinic_db}: {e}", "add-user")
    try:
        users.add_user(conn, args.name, password, int(common.now().timestamp() * 1000),
                       replace=args.replace)
    except users.UserError as e:
        return fail(e, "add-user")
    except sqlite3.Error as e:
        return fail(f"clinic database {args.clinic_db}: {e}", "add-user")
    finally:
        conn.close()
    print(f"{'new password for' if args.replace else 'added'} {args.name} in {args.clinic_db}")
    return 0


def _run_serve(args: argparse.Namespace) -> int:
    # Imported here: only this command needs Jinja2 and the server.
    import logging
    import signal
    from pathlib import Path

    from cloud_bridge.clinic.web import server, users
    from cloud_bridge.clinic.web.app import DashboardApp, WebConfig

    try:
        registry_mod.load(args.registry)
        fees_mod.load(args.fees)
    except (registry_mod.RegistryError, fees_mod.FeeError) as e:
        return fail(e, "serve")
    missing = missing_store_file(args.store)
    if missing is not None:
        return fail(missing, "serve")
    if not os.path.exists(args.clinic_db):
        return fail(f"clinic database {args.clinic_db} does not exist: add a user first "
                    f"with `rtm-clinic add-user NAME --clinic-db {args.clinic_db}`", "serve")
    try:
        conn = users.open_users(args.clinic_db)
        try:
            if users.count_users(conn) == 0:
                return fail(f"no dashboard users in {args.clinic_db}: add one with "
                            f"`rtm-clinic add-user NAME --clinic-db {args.clinic_db}`", "serve")
        finally:
            conn.close()
    except sqlite3.Error as e:
        return fail(f"clinic database {args.clinic_db}: {e}", "serve")
    if not 0 < args.session_hours <= 24 * 30:
        return fail("--session-hours must be more than 0 and at most 720", "serve")
    try:
        store = open_store(args.store, zone=args.tz)
    except (ValueError, StoreError) as e:
        return fail(e, "serve")
    try:
        app = DashboardApp(WebConfig(
            store, Path(args.registry), Path(args.clinic_db), args.tz, Path(args.fees),
            session_s=int(args.session_hours * 3600)))
        httpd = server.make_server(args.host, args.port, app)
    except (OSError, sqlite3.Error) as e:
        store.close()
        return fail(f"cannot listen on {args.host}:{args.port}: {e}" if isinstance(e, OSError)
                    else f"clinic database {args.clinic_db}: {e}", "serve")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # SIGTERM (systemd, docker stop) ends the loop like Ctrl-C: the store is closed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"rtm-clinic serve: {httpd.url} (plain HTTP: other machines reach it through a "
          "TLS reverse proxy)", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
