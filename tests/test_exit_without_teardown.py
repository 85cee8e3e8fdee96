"""The console scripts end through `cli.exit_without_teardown`: Python's exit handlers run and
the streams are flushed, then the process leaves without the interpreter's teardown (where
pyarrow's thread pools can abort a finished command; scripts/bench_exit_aborts.py counts it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(body: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(
        """
        import atexit, sys
        from cli import exit_without_teardown

        class Torn:
            def __del__(self):
                print("teardown ran", flush=True)

        kept = Torn()  # a module global: only the interpreter's teardown deletes it
        atexit.register(lambda: print("exit handler ran"))
        """
    ) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=False
    )


def test_status_output_and_exit_handlers_are_kept_and_the_teardown_is_skipped():
    done = _run(
        """
        def app():
            sys.stdout.write("result")  # unflushed: the helper flushes it
            sys.exit(3)
        exit_without_teardown(app)
        """
    )
    assert done.returncode == 3
    assert done.stdout.startswith("result")
    assert "exit handler ran" in done.stdout
    assert "teardown ran" not in done.stdout


def test_an_exit_with_a_message_and_a_clean_return():
    done = _run("exit_without_teardown(lambda: sys.exit('bad input'))")
    assert (done.returncode, done.stderr.strip()) == (1, "bad input")
    assert _run("exit_without_teardown(lambda: None)").returncode == 0


def test_an_exception_is_left_to_python():
    done = _run("exit_without_teardown(lambda: 1 / 0)")
    assert done.returncode == 1
    assert "ZeroDivisionError" in done.stderr
