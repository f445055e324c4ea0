"""The MicroPython WebAssembly harness itself: it runs the real interpreter and reports errors."""

from __future__ import annotations

import pytest

from simulators.micropython_wasm import MicroPythonError, MicroPythonRunnerError, MicroPythonWasm

pytestmark = pytest.mark.micropython


def test_runs_code_and_returns_stdout(micropython: MicroPythonWasm) -> None:
    assert micropython.run("print('hello', 6 * 7)") == "hello 42\n"
    assert micropython.run("print('no newline', end='')") == "no newline"
    assert micropython.run("x = 1") == ""


def test_is_really_micropython(micropython: MicroPythonWasm) -> None:
    assert micropython.run("import sys\nprint(sys.implementation.name)") == "micropython\n"
    assert "MicroPython v1." in micropython.version
    assert micropython.eval_json("sys.platform") == "webassembly"


def test_globals_persist_between_calls(micropython: MicroPythonWasm) -> None:
    micropython.run("_harness_counter = 41")
    assert micropython.eval_json("_harness_counter + 1") == 42


def test_exception_is_reported_with_traceback(micropython: MicroPythonWasm) -> None:
    code = (
        "def _harness_fail():\n"
        "    raise ValueError('bad value')\n"
        "print('before')\n"
        "_harness_fail()\n"
    )
    with pytest.raises(MicroPythonError) as info:
        micropython.run(code)
    error = info.value
    assert error.exc_type == "ValueError"
    assert error.stdout == "before\n"
    assert "Traceback (most recent call last):" in str(error)
    assert "in _harness_fail" in str(error)
    assert "ValueError: bad value" in str(error)
    # The interpreter is still usable afterwards.
    assert micropython.run("print('still alive')") == "still alive\n"


def test_syntax_error_and_system_exit_are_errors(micropython: MicroPythonWasm) -> None:
    with pytest.raises(MicroPythonError) as info:
        micropython.run("def (:")
    assert info.value.exc_type == "SyntaxError"
    with pytest.raises(MicroPythonError) as info:
        micropython.run("import sys\nsys.exit(3)")
    assert info.value.exc_type == "SystemExit"
    assert micropython.run("print(1)") == "1\n"


def test_unicode_output(micropython: MicroPythonWasm) -> None:
    text = "Wiederholung \u00e9\u00e8 \u2713 \U0001f4aa"
    assert micropython.run(f"print({text!r})") == text + "\n"


def test_gc_mem_alloc(micropython: MicroPythonWasm) -> None:
    out = micropython.run(
        "import gc\n"
        "gc.collect()\n"
        "_before = gc.mem_alloc()\n"
        "_buf = bytearray(20000)\n"
        "print(gc.mem_alloc() - _before)\n"
        "del _buf\n"
    )
    assert 20000 <= int(out) < 21000


def test_mounted_firmware_package_imports(micropython: MicroPythonWasm) -> None:
    out = micropython.run("import firmware\nprint(firmware.__file__)")
    assert out == "/lib/firmware/__init__.py\n"


def test_top_level_await(micropython: MicroPythonWasm) -> None:
    code = (
        "import asyncio\n"
        "async def _harness_job(n):\n"
        "    await asyncio.sleep_ms(5)\n"
        "    return n * 2\n"
        "print(await asyncio.gather(_harness_job(1), _harness_job(2)))\n"
    )
    assert micropython.run_async(code) == "[2, 4]\n"
    with pytest.raises(MicroPythonError) as info:
        micropython.run_async("await asyncio.sleep_ms(1)\nraise KeyError('k')")
    assert info.value.exc_type == "KeyError"


def test_async_timeout_keeps_interpreter(micropython: MicroPythonWasm) -> None:
    with pytest.raises(MicroPythonError) as info:
        micropython.run_async("import asyncio\nawait asyncio.Event().wait()", timeout=0.2)
    assert info.value.exc_type == "TimeoutError"
    assert micropython.run("print('ok')") == "ok\n"


def test_hung_code_kills_runner_and_next_call_starts_fresh() -> None:
    with MicroPythonWasm() as interpreter:
        interpreter.run("_harness_state = 1")
        with pytest.raises(MicroPythonRunnerError, match="no answer within"):
            interpreter.run("while True:\n    pass", timeout=0.5)
        assert interpreter.run("print('_harness_state' in globals())") == "False\n"


def test_heapsize_is_configurable() -> None:
    # The heap starts at `heapsize` and grows on demand (split heap), so a 2 MB allocation
    # succeeds even with a 64 KiB initial heap.
    with MicroPythonWasm(heapsize=64 * 1024) as interpreter:
        out = interpreter.run(
            "import gc\n_b = bytearray(2_000_000)\nprint(gc.mem_alloc() > 2_000_000)"
        )
        assert out == "True\n"
