"""rtm-clinic serve and add-user: the clinic's web dashboard and its users."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from cloud_bridge.clinic import fees as fees_mod
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.commands import common
from cloud_bridge.clinic.commands.common import fail, missing_store_file
from cloud_bridge.clinic.commands.options import (
    Subcommands,
    add_clinic_db_option,
    add_fees_option,
    add_registry_option,
    add_store_option,
    add_tz_option,
)
from cloud_bridge.stores.base import StoreError, open_store


def add_parser(sub: Subcommands) -> None:
    """Adds both commands: serve, then add-user."""
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
    add_clinic_db_option(s, ": users, logged time, prescriptions")
    add_tz_option(s)
    add_fees_option(s, " for the billing page")
    s.add_argument("--session-hours", type=float, default=8.0,
                   help="a login lasts this long (default %(default)s)")
    s.set_defaults(run=run_serve)

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
    u.set_defaults(run=run_add_user)


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


def run_add_user(args: argparse.Namespace) -> int:
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


def run_serve(args: argparse.Namespace) -> int:
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
