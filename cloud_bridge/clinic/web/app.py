"""The dashboard as a WSGI app: login, routing, and the pages.

Every path but /login (and its stylesheet) needs a valid session; without one, a GET is
sent to /login and comes back after it. Every POST needs the session's CSRF token. Pages
are registered with `add_route` and listed in the navigation with `nav`, so that new ones
(the prescriptions) plug in without touching the others.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape

from cloud_bridge.clinic import fees as fees_mod
from cloud_bridge.clinic import patient_report, time_log
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.billing import Month
from cloud_bridge.clinic.prescriptions import Prescriptions
from cloud_bridge.clinic.web import billing_page, charts, patient_view, users, worklist
from cloud_bridge.clinic.web.sessions import COOKIE, Session, Signer, load_secret
from cloud_bridge.clinic.web.targets import TargetPerDay, target_per_day
from cloud_bridge.clinic.web.wsgi_io import HttpError, Request, Response, redirect
from cloud_bridge.stores.base import Store, StoreError

log = logging.getLogger("rtm.web")

STYLESHEET = "/static/style.css"
# Pages draw charts as inline SVG and load one stylesheet: nothing else may run or load.
_SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebConfig:
    store: Store  # opened for `zone`; shared by the request threads
    registry_path: Path  # read on every request: enrollments show up without a restart
    clinic_db: Path
    zone: ZoneInfo
    fees_path: Path = fees_mod.DEFAULT_PATH
    session_s: int = 8 * 3600  # a clinic shift
    failed_login_delay_s: float = 1.0  # every failed login is answered this late
    secure_cookie: bool = True  # browsers keep it over HTTPS and on localhost only
    clock: Callable[[], datetime] = _utc_now
    target_per_day: TargetPerDay = target_per_day


@dataclass
class Context:
    """What a page handler gets."""

    req: Request
    session: Session
    user: users.User
    conn: sqlite3.Connection  # clinic.db, for this request
    today: date
    match: re.Match[str]


Handler = Callable[[Context], Response]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


@dataclass
class NavItem:
    label: str
    path: str


def patient_url(patient_id: str) -> str:
    return "/patients/" + quote(patient_id, safe="")


def _money(amount: Decimal | None, currency: str = "") -> str:
    return "-" if amount is None else f"{amount:.2f} {currency}".strip()


_ISO_DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def _dates(text: object) -> Markup:
    """`text` escaped, each ISO day in it a <time> element, which the stylesheet keeps on
    one line: a browser would break 2026-12-24 at a hyphen."""
    return Markup(_ISO_DAY.sub(lambda m: f'<time datetime="{m[0]}">{m[0]}</time>',
                               str(escape(text))))


def _local_path(target: str | None) -> str | None:
    """`target` if it is a path on this site (no scheme, no other host), else None."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return None
    return target


class DashboardApp:
    def __init__(self, config: WebConfig) -> None:
        self.config = config
        with self._clinic_db() as conn:
            self._signer = Signer(load_secret(conn))
        self._templates = jinja2.Environment(
            loader=jinja2.PackageLoader("cloud_bridge.clinic.web", "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True)
        self._templates.globals.update(patient_url=patient_url, money=_money,
                                       line_dates=billing_page.line_dates,
                                       stylesheet=STYLESHEET)
        self._templates.filters["dates"] = _dates
        # Adherence as rtm-clinic patient prints it: the same figures, the same format.
        self._templates.filters["percent"] = patient_report.percent
        self._templates.filters["days_text"] = patient_report.days_text
        self._templates.filters["band_text"] = charts.band_text
        self._css = (resources.files("cloud_bridge.clinic.web") / "static" / "style.css"
                     ).read_bytes()
        self._routes: list[_Route] = []
        self.nav: list[NavItem] = [NavItem("Worklist", "/worklist"),
                                   NavItem("Billing", "/billing")]
        self.add_route("GET", "/", lambda ctx: redirect("/worklist"))
        self.add_route("GET", "/worklist", self._worklist)
        self.add_route("GET", "/patients/(?P<patient>.+)", self._patient)
        self.add_route("GET", "/billing", self._billing)
        self.add_route("POST", "/logout", self._logout)

    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        """Serve `handler` for `method` on paths matching `pattern` (whole path)."""
        self._routes.append(_Route(method, re.compile(pattern), handler))

    # --- WSGI ------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        req = Request(environ)
        try:
            resp = self._handle(req)
        except HttpError as e:
            resp = self._message(e.status, e.message)
        except StoreError as e:
            log.error("store: %s", e)
            resp = self._message(HTTPStatus.SERVICE_UNAVAILABLE,
                                 f"The record store cannot be read now: {e}")
        except (registry_mod.RegistryError, fees_mod.FeeError) as e:
            log.error("%s", e)
            resp = self._message(HTTPStatus.INTERNAL_SERVER_ERROR, str(e))
        except sqlite3.Error as e:
            log.error("clinic database %s: %s", self.config.clinic_db, e)
            resp = self._message(HTTPStatus.SERVICE_UNAVAILABLE,
                                 "The clinic database cannot be read now.")
        headers = [("Content-Type", resp.content_type),
                   ("Content-Length", str(len(resp.body))),
                   # Patient data: not to be kept by a shared tablet's browser or a proxy.
                   ("Cache-Control", "no-store"),
                   *_SECURITY_HEADERS, *resp.headers]
        start_response(f"{resp.status.value} {resp.status.phrase}", headers)
        return [b"" if req.method == "HEAD" else resp.body]

    def _handle(self, req: Request) -> Response:
        now = self.config.clock()
        now_s = int(now.timestamp())
        method = "GET" if req.method == "HEAD" else req.method
        if req.path == STYLESHEET:
            if method != "GET":
                raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "Not allowed.")
            return Response(body=self._css, content_type="text/css; charset=utf-8")
        session = self._signer.decode(req.cookie(COOKIE), now_s)
        with self._clinic_db() as conn:
            if req.path == "/login":
                if method == "POST":
                    return self._login_post(req, session, conn, now)
                if method != "GET":
                    raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "Not allowed.")
                return self._login_get(req, session, conn, now_s)
            user = self._user_of(session, conn)
            if user is None or session is None:
                # Unknown paths too: without a session nothing tells which pages exist.
                if method == "GET":
                    return redirect("/login?next=" + quote(req.full_path, safe=""))
                return redirect("/login")
            if method == "POST" and not self._signer.check_csrf(session,
                                                                req.form().get("csrf")):
                raise HttpError(HTTPStatus.FORBIDDEN, "The form had expired or was not "
                                "sent from this site. Go back, reload it and try again.")
            allowed = False
            for route in self._routes:
                match = route.pattern.fullmatch(req.path)
                if match is None:
                    continue
                if route.method != method:
                    allowed = True
                    continue
                today = now.astimezone(self.config.zone).date()
                return route.handler(Context(req, session, user, conn, today, match))
            if allowed:
                raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "Not allowed.")
            raise HttpError(HTTPStatus.NOT_FOUND, "No such page.")

    def _clinic_db(self) -> closing[sqlite3.Connection]:
        # One connection per request: cheap for SQLite, and no transaction of one request
        # can get mixed into another's.
        return closing(users.open_users(self.config.clinic_db))

    def _user_of(self, session: Session | None, conn: sqlite3.Connection) -> users.User | None:
        if session is None or session.user is None:
            return None
        user = users.get_user(conn, session.user)
        # A new password ends the sessions begun with the old one.
        if user is None or user.password_changed_ms != session.password_changed_ms:
            return None
        return user

    # --- rendering -------------------------------------------------------------------

    def render(self, template: str, ctx: Context | None,
               status: HTTPStatus = HTTPStatus.OK, **values: Any) -> Response:
        """`template` with the layout's values (user, CSRF token, navigation)."""
        common: dict[str, Any] = {"user": None, "csrf": "", "nav": self.nav,
                                  "active": ""}
        if ctx is not None:
            common.update(user=ctx.user, csrf=self._signer.csrf_token(ctx.session),
                          active=ctx.req.path)
        common.update(values)
        html = self._templates.get_template(template).render(**common)
        return Response(status, html.encode("utf-8"))

    def _message(self, status: HTTPStatus, message: str) -> Response:
        # Without the user's context: the navigation shows, the logout button does not.
        return self.render("message.html", None, status, title=status.phrase,
                           message=message)

    def _cookie(self, value: str, max_age_s: int) -> tuple[str, str]:
        attrs = f"{COOKIE}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Strict"
        return ("Set-Cookie", attrs + ("; Secure" if self.config.secure_cookie else ""))

    # --- login -----------------------------------------------------------------------

    def _login_page(self, req: Request, session: Session, status: HTTPStatus,
                    error: str = "", name: str = "", next_path: str | None = None,
                    headers: list[tuple[str, str]] | None = None) -> Response:
        # A Secure cookie is dropped by the browser over plain HTTP to another host: the
        # login would seem to do nothing. Say so instead.
        plain_http = (self.config.secure_cookie and not req.is_https
                      and not req.host_is_loopback)
        resp = self.render("login.html", None, status, title="Log in", error=error,
                           name=name, csrf=self._signer.csrf_token(session),
                           next=next_path or "", plain_http=plain_http)
        resp.headers += headers or []
        return resp

    def _login_get(self, req: Request, session: Session | None, conn: sqlite3.Connection,
                   now_s: int) -> Response:
        next_path = _local_path(req.arg("next"))
        if self._user_of(session, conn) is not None:
            return redirect(next_path or "/worklist")
        headers = []
        if session is None or session.expires_s - now_s < 600:
            session = self._signer.new_session(now_s, 3600)
            headers.append(self._cookie(self._signer.encode(session), 3600))
        return self._login_page(req, session, HTTPStatus.OK, next_path=next_path,
                                headers=headers)

    def _login_post(self, req: Request, session: Session | None, conn: sqlite3.Connection,
                    now: datetime) -> Response:
        now_s = int(now.timestamp())
        form = req.form()
        next_path = _local_path(form.get("next"))
        name = form.get("name", "").strip()
        if session is None or not self._signer.check_csrf(session, form.get("csrf")):
            session = self._signer.new_session(now_s, 3600)
            return self._login_page(
                req, session, HTTPStatus.BAD_REQUEST, "The login form had expired. "
                "Please try again.", name, next_path,
                [self._cookie(self._signer.encode(session), 3600)])
        result = users.attempt_login(conn, name, form.get("password", ""),
                                     int(now.timestamp() * 1000))
        if result.user is None:
            where = req.environ.get("REMOTE_ADDR", "?")
            if result.retry_after_s is not None:
                log.warning("login refused for %r from %s: too many failures, %d s to wait",
                            name, where, result.retry_after_s)
                return self._login_page(
                    req, session, HTTPStatus.TOO_MANY_REQUESTS,
                    f"Too many failed logins for this name. Try again in "
                    f"{result.retry_after_s} seconds.", name, next_path,
                    [("Retry-After", str(result.retry_after_s))])
            log.warning("failed login for %r from %s", name, where)
            time.sleep(self.config.failed_login_delay_s)
            return self._login_page(req, session, HTTPStatus.FORBIDDEN,
                                    "Wrong name or password.", name, next_path)
        log.info("login: %s", result.user.name)
        fresh = self._signer.new_session(now_s, self.config.session_s, result.user.name,
                                         result.user.password_changed_ms)
        resp = redirect(next_path or "/worklist")
        resp.headers.append(self._cookie(self._signer.encode(fresh), self.config.session_s))
        return resp

    def _logout(self, ctx: Context) -> Response:
        log.info("logout: %s", ctx.user.name)
        resp = redirect("/login")
        resp.headers.append(self._cookie("", 0))
        return resp

    # --- pages -----------------------------------------------------------------------

    def _registry(self) -> registry_mod.Registry:
        return registry_mod.load(self.config.registry_path)

    def _worklist(self, ctx: Context) -> Response:
        histories = Prescriptions(ctx.conn).histories()
        rows = worklist.rank(worklist.rows(self.config.store, self._registry(), histories,
                                           ctx.today))
        return self.render("worklist.html", ctx, title="Worklist", rows=rows,
                           today=ctx.today, zone=self.config.zone.key)

    def _patient(self, ctx: Context) -> Response:
        patient = ctx.match.group("patient")
        registry = self._registry()
        if patient not in registry.patients():
            raise HttpError(HTTPStatus.NOT_FOUND, f"No patient {patient!r} in the "
                                                  "enrollment registry.")
        page = patient_view.build(self.config.store, registry, ctx.conn, patient, ctx.today,
                                  self.config.zone, self.config.target_per_day)
        figures = {}
        for ex in page.exercises:
            days = [d.day for d in ex.days]
            figures[ex.exercise] = (
                charts.bar_chart(days, [d.reps for d in ex.days], [d.target for d in ex.days],
                                 f"{ex.exercise}: full reps per day"),
                charts.line_chart(days, [d.mean_rom_deg for d in ex.days],
                                  f"{ex.exercise}: mean range of motion per day, degrees",
                                  unit="°", bands=ex.rom_bands))
        return self.render("patient.html", ctx, title=f"Patient {patient}", page=page,
                           figures=figures, zone=self.config.zone.key, active="/worklist",
                           days_shown=patient_view.DAYS_SHOWN)

    def _billing(self, ctx: Context) -> Response:
        text = ctx.req.arg("month")
        try:
            month = Month.parse(text) if text else Month.of(ctx.today)
        except ValueError as e:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(e)) from None
        if month.first > ctx.today:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"{month} has not started yet.")
        time_log.ensure_schema(ctx.conn)
        page = billing_page.build(self.config.store, self._registry(), ctx.conn, month,
                                  ctx.today, self.config.zone,
                                  fees_mod.load(self.config.fees_path))
        return self.render("billing.html", ctx, title=f"Billing {month}", page=page,
                           zone=self.config.zone.key)

