"""rtm-clinic: the clinician's view of the stored data."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from cloud_bridge.clinic import fees as fees_mod
from cloud_bridge.clinic import patient_report, worklist
from cloud_bridge.clinic import prescriptions as rx
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.commands import (
    adherence,
    billing,
    common,
    export_fhir,
    log_time,
    prescriptions,
    report,
    summary,
)
from cloud_bridge.clinic.commands.common import (
    Refused,
    existing_clinic_db,
    fail,
    missing_store_file,
    patient_registry,
)
from cloud_bridge.clinic.commands.options import (
    add_clinic_db_option,
    add_fees_option,
    add_registry_option,
    add_store_option,
    add_today_option,
    add_tz_option,
)
from cloud_bridge.stores.base import StoreError, open_store


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtm-clinic", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    summary.add_parser(sub)
    export_fhir.add_parser(sub)
    log_time.add_parser(sub)
    billing.add_parser(sub)
    report.add_parser(sub)
    prescriptions.add_parser(sub)
    adherence.add_parser(sub)
    add_worklist_command(sub)
    add_patient_command(sub)
    _add_web(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


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
