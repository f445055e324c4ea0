"""Real servers for tests: a mosquitto broker and an InfluxDB 1.x, each in its own temp dir.

Both come from Debian's packages (`apt-get install mosquitto influxdb`). Each listens on
127.0.0.1 on free ports, keeps its config, data and log in the directory it is given, and
dies with the test process: stopped by `stop()` (fixtures call it in a finally), by an atexit
hook, and by the kernel (PR_SET_PDEATHSIG) if the test process is killed outright.

Running as root (as CI does): mosquitto would drop to the `mosquitto` user and then fail to
write into a root-owned temp dir, so its config says `user root`. influxd runs as root
without complaint and needs no environment variables.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import ctypes.util
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class ServiceError(RuntimeError):
    """A test service could not be found or started; the message says how to fix it."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(name: str, package: str) -> str:
    """The path of `name`, also looking in the sbin dirs a non-root PATH lacks."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"):
        candidate = Path(folder, name)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ServiceError(
        f"{name} not found on PATH or in /usr/sbin, /usr/bin: install it with "
        f"`apt-get install {package}` (the integration tests need a real {name})"
    )


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the kernel SIGKILL the child when the test process dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return None
    prctl = ctypes.CDLL(libc_name, use_errno=True).prctl  # resolved before fork
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return preexec


def port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Service:
    """One server process: start, wait until ready, stop; log kept in `log_path`."""

    name = "service"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self.host = "127.0.0.1"
        self._proc: subprocess.Popen[bytes] | None = None
        atexit.register(self.stop)

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        if self.running:
            return
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                list(self.command()),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is not the server's
                preexec_fn=_die_with_parent(),  # only calls prctl, resolved before the fork
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {self._proc.returncode} while starting; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if self.is_ready():
                return
            time.sleep(0.05)
        self.stop()
        raise ServiceError(
            f"{self.name} not ready after {START_TIMEOUT_S:.0f} s; log {self.log_path}:\n"
            f"{self.log_tail()}"
        )

    def stop(self, *, graceful: bool = True) -> None:
        """SIGTERM (lets the server save its state) then SIGKILL; graceful=False: SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self, *, graceful: bool = True) -> None:
        """Stop and start again on the same port with the same data directory."""
        self.stop(graceful=graceful)
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class TestPki:
    """Throwaway certificates: a CA, a server certificate for 127.0.0.1 and localhost, a
    client certificate, and a second CA that signed none of them (for "wrong CA" tests)."""

    __test__ = False  # not a test class, whatever its name

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path


def _openssl(*args: str, cwd: Path) -> None:
    binary = find_binary("openssl", "openssl")
    done = subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ServiceError(f"openssl {' '.join(args)} failed:\n{done.stderr}")


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    return cert, key


def _make_leaf(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> Path:
    csr, key, cert = (directory / f"{name}.{ext}" for ext in ("csr", "key", "crt"))
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}",
             cwd=directory)
    ext_file = directory / f"{name}.ext"
    ext_file.write_text(extensions + "\nbasicConstraints=CA:FALSE\n"
                        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext_file),
             cwd=directory)
    return cert


def make_test_pki(directory: Path) -> TestPki:
    """Generate a TestPki in `directory` with openssl (EC keys: fast to make)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca = _make_ca(directory, "rtm-test-ca")
    other_ca, _ = _make_ca(directory, "rtm-other-ca")
    server = _make_leaf(directory, "server", ca, "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                        "extendedKeyUsage=serverAuth")
    client = _make_leaf(directory, "client", ca, "extendedKeyUsage=clientAuth")
    return TestPki(ca[0], server, directory / "server.key", client, directory / "client.key",
                   other_ca)


def write_password_file(path: Path, users: dict[str, str]) -> None:
    """A mosquitto password file (its PBKDF2 hashes) made with mosquitto_passwd."""
    binary = find_binary("mosquitto_passwd", "mosquitto")
    path.write_text("")
    for user, password in users.items():
        done = subprocess.run([binary, "-b", str(path), user, password], capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise ServiceError(f"mosquitto_passwd failed for {user}: {done.stderr}")


class Mosquitto(Service):
    """A mosquitto broker on 127.0.0.1:`port`, with persistence in its workdir.

    By default plain and anonymous. `pki`: the listener speaks TLS only (server certificate
    from it; a client certificate is accepted, not required). `users` (name -> password):
    `allow_anonymous false` and a password file. `acl`: the text of an ACL file
    (docs/deploy/mosquitto.conf shows the deployment's). `username_as_client_id`: the
    broker names every session after its username, whatever client id a client sends.
    `client_id_prefix`: clients whose id does not start with it are refused. (Both are the
    deployment's: no client can take over or wipe another user's session; the docs file
    says why. tests/deployment.py builds the deployment's broker from these.)
    """

    name = "mosquitto"

    def __init__(self, workdir: Path, port: int | None = None, *, pki: TestPki | None = None,
                 users: dict[str, str] | None = None, acl: str | None = None,
                 username_as_client_id: bool = False,
                 client_id_prefix: str | None = None) -> None:
        super().__init__(workdir)
        self.binary = find_binary("mosquitto", "mosquitto")
        self.port = port or free_port()
        self.pki = pki
        self.config_path = self.workdir / "mosquitto.conf"
        self.persistence_dir = self.workdir / "data"
        self.persistence_dir.mkdir(exist_ok=True)
        config = [
            f"listener {self.port} {self.host}",
            *self._security_lines(pki, users, acl),
            *(["use_username_as_clientid true"] if username_as_client_id else []),
            *([f"clientid_prefixes {client_id_prefix}"] if client_id_prefix else []),
            "persistence true",
            f"persistence_location {self.persistence_dir}/",
            # As docs/deploy/mosquitto.conf: save every change, queue without limit.
            "autosave_on_changes true",
            "autosave_interval 1",
            "max_queued_messages 0",
            "max_queued_bytes 0",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            config.append("user root")  # else it drops to `mosquitto` and cannot write here
        self.config_path.write_text("\n".join(config) + "\n")

    def _security_lines(self, pki: TestPki | None, users: dict[str, str] | None,
                        acl: str | None) -> list[str]:
        lines = []
        if pki is not None:
            lines += [f"cafile {pki.ca_cert}", f"certfile {pki.server_cert}",
                      f"keyfile {pki.server_key}", "require_certificate false",
                      "tls_version tlsv1.2"]
        if users is None:
            lines.append("allow_anonymous true")
        else:
            password_file = self.workdir / "passwords"
            write_password_file(password_file, users)
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        if acl is not None:
            acl_file = self.workdir / "acl"
            acl_file.write_text(acl)
            lines.append(f"acl_file {acl_file}")
        return lines

    def command(self) -> Sequence[str]:
        return [self.binary, "-c", str(self.config_path)]

    def is_ready(self) -> bool:
        return port_accepts(self.host, self.port)


class InfluxDB1(Service):
    """An InfluxDB 1.x (Debian's 1.6.7) with its HTTP API on 127.0.0.1:`http_port`.

    `admin` (user, password): authentication on, and that admin created at the first start
    (InfluxDB 1.x lets the first user be created without credentials)."""

    name = "influxd"

    def __init__(self, workdir: Path, admin: tuple[str, str] | None = None) -> None:
        super().__init__(workdir)
        self.admin = admin
        self.binary = find_binary("influxd", "influxdb")
        self.http_port = free_port()
        self.rpc_port = free_port()
        while self.rpc_port == self.http_port:
            self.rpc_port = free_port()
        self.config_path = self.workdir / "influxdb.conf"
        data = self.workdir / "var"
        # reporting-enabled is Debian's spelling, reporting-disabled upstream's; influxd
        # ignores keys it does not know, so both are safe.
        self.config_path.write_text(
            f"""reporting-enabled = false
reporting-disabled = true
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{data}/meta"
  logging-enabled = false

[data]
  dir = "{data}/data"
  wal-dir = "{data}/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  bind-address = "{self.host}:{self.http_port}"
  log-enabled = false
  auth-enabled = {"true" if admin else "false"}

[logging]
  level = "warn"
  suppress-logo = true
"""
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def command(self) -> Sequence[str]:
        return [self.binary, "run", "-config", str(self.config_path)]

    def start(self) -> None:
        super().start()
        if self.admin is not None:
            user, password = self.admin
            # Idempotent: the same user again with the same password is not an error.
            status, body = self._post_query(
                f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES",
                self.admin)
            if status != 200 or '"error"' in body:
                raise ServiceError(f"creating the InfluxDB admin failed ({status}): {body}")

    def _post_query(self, q: str, auth: tuple[str, str] | None) -> tuple[int, str]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        conn = http.client.HTTPConnection(self.host, self.http_port, timeout=10.0)
        try:
            conn.request("POST", "/query", urllib.parse.urlencode({"q": q}), headers)
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def is_ready(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.http_port, timeout=1.0)
        try:
            conn.request("GET", "/ping")
            return conn.getresponse().status == 204
        except OSError:
            return False
        finally:
            conn.close()
