"""Run Python code under the real MicroPython interpreter (the official WebAssembly port).

`MicroPythonWasm` starts ``node runner.mjs`` (next to this file) as a persistent child
process. The runner loads the ``@micropython/micropython-webassembly-pyscript`` npm package,
copies the host directories it is given into the WebAssembly file system under ``/lib`` (on
MicroPython's ``sys.path``), and then executes one code string per request. Globals persist
between requests, like a REPL session.

    with MicroPythonWasm(mounts=[repo / "firmware"]) as mp:
        mp.run("import firmware.core.codec")
        assert mp.run("print(1 + 1)") == "2\\n"

Install the npm package once with ``npm ci --prefix simulators/micropython_wasm``.
"""

from __future__ import annotations

import itertools
import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "HERE",
    "NPM_PACKAGE",
    "MicroPythonError",
    "MicroPythonRunnerError",
    "MicroPythonWasm",
    "ensure_installed",
    "find_node",
]

HERE = Path(__file__).resolve().parent
"""This directory: holds runner.mjs, package.json and (after ``npm ci``) node_modules."""

NPM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
RUNNER = HERE / "runner.mjs"
INSTALL_HINT = "npm ci --prefix simulators/micropython_wasm"


class MicroPythonError(Exception):
    """A Python exception raised inside MicroPython.

    ``str(error)`` is MicroPython's traceback text. ``exc_type`` is the exception's class
    name (e.g. ``"ValueError"``); ``stdout``/``stderr`` hold what the code printed before it
    failed.
    """

    def __init__(self, traceback: str, *, exc_type: str, stdout: str = "", stderr: str = ""):
        super().__init__(traceback)
        self.traceback = traceback
        self.exc_type = exc_type
        self.stdout = stdout
        self.stderr = stderr


class MicroPythonRunnerError(RuntimeError):
    """The runner itself failed: not installed, did not start, crashed or timed out."""


def find_node() -> str:
    """Return the path of the ``node`` executable, or raise `MicroPythonRunnerError`."""
    node = shutil.which("node")
    if node is None:
        raise MicroPythonRunnerError(
            "Node.js is needed to run MicroPython's WebAssembly port but `node` is not on PATH:"
            " install Node.js >= 18 (e.g. `apt-get install -y nodejs npm`), then run"
            f" `{INSTALL_HINT}`."
        )
    return node


def ensure_installed() -> Path:
    """Return the installed npm package's directory, or raise `MicroPythonRunnerError`.

    The package lives in ``simulators/micropython_wasm/node_modules``, installed from the
    committed package-lock.json by ``npm ci --prefix simulators/micropython_wasm``.
    """
    package_dir = HERE / "node_modules" / NPM_PACKAGE
    if (
        not (package_dir / "micropython.mjs").is_file()
        or not (package_dir / "micropython.wasm").is_file()
    ):
        raise MicroPythonRunnerError(
            f"the npm package {NPM_PACKAGE} is not installed in {HERE / 'node_modules'}:"
            f" run `{INSTALL_HINT}` from the repository root."
        )
    return package_dir


class MicroPythonWasm:
    """A persistent MicroPython interpreter (WebAssembly port) in a Node.js child process.

    Args:
        mounts: host directories whose ``.py`` files are copied (once, at start-up) to
            ``/lib/<directory name>`` inside MicroPython, so a mounted ``firmware/`` is
            importable as ``firmware``. A ``(host_dir, "/abs/wasm/dir")`` pair picks the target.
        heapsize: initial MicroPython GC heap in bytes; ``None`` keeps the package default
            (1 MiB). The heap grows on demand beyond it (split heap), see README.md.
        pystack: MicroPython's Python stack in words; ``None`` keeps the default (2048).
        timeout: seconds to wait for one request before the runner is killed.

    The interpreter's globals persist between `run` calls. After the runner dies (timeout
    or a WebAssembly trap), the next call starts a fresh interpreter.
    """

    def __init__(
        self,
        mounts: Iterable[str | PathLike[str] | tuple[str | PathLike[str], str]] = (),
        *,
        heapsize: int | None = None,
        pystack: int | None = None,
        timeout: float = 60.0,
    ) -> None:
        self._args: list[str] = []
        for mount in mounts:
            if isinstance(mount, tuple):
                host, target = mount
                self._args += ["--mount", f"{Path(host).resolve()}:{target}"]
            else:
                self._args += ["--mount", str(Path(mount).resolve())]
        if heapsize is not None:
            self._args += ["--heapsize", str(int(heapsize))]
        if pystack is not None:
            self._args += ["--pystack", str(int(pystack))]
        self.timeout = timeout
        self.version = ""
        """``sys.version`` inside MicroPython, e.g. ``"3.4.0; MicroPython v1.27.0 on ..."``."""
        self._proc: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        self._ids = itertools.count(1)
        self._closed = False
        self._start()

    # -- lifecycle ----------------------------------------------------------------------------
    def _start(self) -> None:
        node = find_node()
        ensure_installed()
        self._replies = queue.Queue()
        self._stderr = []
        proc = subprocess.Popen(
            [node, str(RUNNER), *self._args],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._proc = proc
        threading.Thread(target=self._pump_stdout, args=(proc,), daemon=True).start()
        threading.Thread(target=self._pump_stderr, args=(proc,), daemon=True).start()
        hello = self._receive(self.timeout)
        if not hello.get("ready"):
            self._kill()
            raise MicroPythonRunnerError(
                f"MicroPython runner failed to start: {hello.get('error')}{self._stderr_tail()}"
            )
        self.version = str(hello.get("version", ""))

    def _pump_stdout(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._replies.put(line)
        self._replies.put(None)

    def _pump_stderr(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._stderr.append(line)
            del self._stderr[:-200]

    def _stderr_tail(self) -> str:
        text = "".join(self._stderr).strip()
        return f"\nrunner stderr:\n{text}" if text else ""

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def close(self) -> None:
        """Stop the runner. Idempotent; the object cannot be used afterwards."""
        self._closed = True
        proc = self._proc
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            try:
                proc.stdin.close()  # the runner exits at end of input
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def __enter__(self) -> MicroPythonWasm:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- requests -----------------------------------------------------------------------------
    def _receive(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._replies.get(timeout=timeout)
        except queue.Empty:
            self._kill()
            raise MicroPythonRunnerError(
                f"MicroPython runner gave no answer within {timeout} s; it was killed"
                f" (the next call starts a fresh interpreter){self._stderr_tail()}"
            ) from None
        if line is None:
            proc = self._proc
            self._kill()
            code = proc.returncode if proc is not None else None
            raise MicroPythonRunnerError(
                f"MicroPython runner exited (code {code}){self._stderr_tail()}"
            )
        try:
            message: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError as exc:
            self._kill()
            raise MicroPythonRunnerError(f"runner sent a line that is not JSON: {line!r}") from exc
        return message

    def _request(self, code: str, *, is_async: bool, timeout: float | None) -> str:
        if self._closed:
            raise MicroPythonRunnerError("this MicroPythonWasm is closed")
        if self._proc is None or self._proc.poll() is not None:
            self._kill()
            self._start()
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        wait = self.timeout if timeout is None else timeout
        request_id = next(self._ids)
        request: dict[str, Any] = {"id": request_id, "code": code}
        if is_async:
            request["async"] = True
            request["timeout_ms"] = max(1, int(wait * 1000))
            wait += 5.0  # the runner reports its own timeout; this only catches a hang
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        except OSError as exc:
            self._kill()
            raise MicroPythonRunnerError(
                f"could not write to the MicroPython runner: {exc}{self._stderr_tail()}"
            ) from exc
        reply = self._receive(wait)
        if reply.get("id") != request_id:
            self._kill()
            raise MicroPythonRunnerError(f"runner answered out of turn: {reply!r}")
        stdout = str(reply.get("stdout", ""))
        stderr = str(reply.get("stderr", ""))
        error = reply.get("error")
        if error:
            if error.get("fatal"):
                self._kill()
                raise MicroPythonRunnerError(
                    f"MicroPython runner crashed ({error.get('type')}); the next call starts a"
                    f" fresh interpreter:\n{error.get('traceback')}{self._stderr_tail()}"
                )
            raise MicroPythonError(
                str(error.get("traceback", "")),
                exc_type=str(error.get("type", "")),
                stdout=stdout,
                stderr=stderr,
            )
        return stdout

    def run(self, code: str, *, timeout: float | None = None) -> str:
        """Execute ``code`` in MicroPython's ``__main__`` and return what it printed.

        Raises `MicroPythonError` (MicroPython's traceback as the message) if the code raises,
        and `MicroPythonRunnerError` if the runner fails or exceeds ``timeout`` seconds (default
        ``self.timeout``); the runner is then killed and restarted on the next call.
        """
        return self._request(code, is_async=False, timeout=timeout)

    def run_async(self, code: str, *, timeout: float | None = None) -> str:
        """Like `run`, but ``code`` may use top-level ``await`` (the port's asyncio runs on
        the JavaScript event loop; this port has no ``asyncio.run``). Waits until the awaited
        code finishes; past ``timeout`` seconds it raises `MicroPythonError` with exc_type
        ``"TimeoutError"`` and the interpreter stays usable (tasks it started keep running).
        """
        return self._request(code, is_async=True, timeout=timeout)

    def eval_json(self, expression: str) -> Any:
        """Evaluate ``expression`` in MicroPython and return its value through JSON."""
        marker = "\x1ejson:"
        out = self.run(f"import json as _j\nprint({marker!r} + _j.dumps({expression}))")
        for line in reversed(out.split("\n")):
            if line.startswith(marker):
                return json.loads(line[len(marker) :])
        raise MicroPythonRunnerError(f"no JSON value in output: {out!r}")
