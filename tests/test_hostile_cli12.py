"""Hostile input to both command lines, twelfth sweep: the command line as the shell treats it.
An empty path (an unset variable), a stdout or stderr the shell closed, a reader that left the
pipe early, and a terminal that cannot show every character."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genekb.store.store import Store
from tests.conftest import one_line_error, run_cellmodel, run_genekb
from tests.test_remote import build_tags

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("app", "args", "flag"),
    [
        (run_cellmodel, ["cluster", "cells.h5ad", "-o", "out.h5ad", "--plots", ""], "--plots"),
        (run_cellmodel, ["bench", "--datasets", "nosuch", "--out", ""], "--out"),
        (run_cellmodel, ["explain", "cells.h5ad", "--root="], "--root"),
        (run_cellmodel, ["cluster", ""], "SOURCE"),
        (run_cellmodel, ["classify", "c.h5ad", "--label-key", "g", "--reference="], "--reference"),
        (run_genekb, ["list", "--root", ""], "--root"),
        (run_genekb, ["build", "--genes="], "--genes"),
        (run_genekb, ["import", ""], "FILE"),
        (run_genekb, ["keys", "new", "--out", ""], "--out"),
    ],
)
def test_an_empty_path_is_a_usage_error_not_the_current_folder(
    tmp_path, monkeypatch, app, args, flag
):
    # Path("") is ".": `--plots ""` wrote the pictures into the current folder and `bench --out ""`
    # its tables there, `--root ""` took $GENEKB_HOME, `keys new --out ""` failed with
    # "unexpected ValueError", and an empty input was called "not a 10x matrix folder".
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GENEKB_HOME", str(tmp_path / "home"))
    line = one_line_error(app(*args), code=2)
    assert f"{flag}: it is empty; give a path" in line
    assert list(tmp_path.iterdir()) == []


def _console(*args: str, close: int | None = None, **streams) -> subprocess.CompletedProcess:
    """`genekb`/`cellmodel` as the shell starts them, with standard descriptor `close` closed
    (`>&-`, `2>&-`) where given."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    pre = (lambda: os.close(close)) if close is not None else None
    return subprocess.run([str(BIN / args[0]), *args[1:]], env=env, preexec_fn=pre,
                          timeout=120, **streams)  # fmt: skip


@pytest.mark.parametrize("closed", [1, 2])
def test_a_closed_standard_stream_is_no_traceback(tmp_path, closed):
    # `genekb sources --json >&-` ended in "AttributeError: 'NoneType' object has no attribute
    # 'write'" and a traceback at the final flush (exit 1); with stderr closed a command that
    # had done its work exited 1.
    err = tmp_path / "err"
    with err.open("wb") as sink:
        streams = {"stdout": subprocess.DEVNULL, "stderr": sink}
        streams.pop({1: "stdout", 2: "stderr"}.get(closed, ""), None)
        done = _console("genekb", "sources", "--json", close=closed, **streams)
    assert done.returncode == 0 and err.read_text() == ""


@pytest.mark.parametrize("args", [("genekb", "sources"), ("cellmodel", "--help")])
def test_a_reader_gone_before_the_output_ends_the_command_as_141(args):
    # `| head -1` after the reader left: a table or the help exited 1 (rich's and Click's
    # status, which this project keeps for bad input), where --json output exited 141.
    read, write = os.pipe()
    os.close(read)
    try:
        done = _console(*args, stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, b"")


def test_a_name_an_ascii_stdout_cannot_show_is_escaped_not_a_failure(tmp_path):
    # In a locale that is not UTF-8 a table holding "é" failed the finished command with
    # "unexpected UnicodeEncodeError" (exit 1); stderr already escaped such characters.
    build_tags(Store.open(tmp_path / "store", create=True), "t0")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="ascii")
    query = "select 'caf\u00e9' as name"
    done = subprocess.run([str(BIN / "genekb"), "sql", query, "--root", str(tmp_path / "store")],
                          env=env, capture_output=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"caf\\xe9" in done.stdout


def _workers(pid: int) -> list[int]:
    """The bench worker processes `pid` started (not a library's short-lived helper)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in path.read_text().split()] if path.exists() else []
    with contextlib.suppress(OSError):
        return [k for k in kids if b"worker_main" in Path(f"/proc/{k}/cmdline").read_bytes()]
    return []


def test_sigterm_unwinds_as_ctrl_c_and_stops_a_bench_worker(tmp_path):
    # `kill PID` (a scheduler's time limit) ended `cellmodel bench` at once, silently, and its
    # worker process ran on without a parent until its own timeout.
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1",
               GENEKB_HOME=str(tmp_path / "home"))  # fmt: skip
    argv = [str(BIN / "cellmodel"), "bench", "--datasets", "synthetic-300", "--methods",
            "pca-kmeans", "--seeds", "1", "--out", str(tmp_path / "out")]  # fmt: skip
    bench = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while not (workers := _workers(bench.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert workers, "the bench started no worker"
        bench.terminate()
        _, err = bench.communicate(timeout=60)
        time.sleep(0.5)
        orphans = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    finally:
        for pid in [bench.pid, *workers]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    lines = [ln for ln in err.decode().splitlines() if ln.strip()]
    assert bench.returncode == 143 and lines[-1].startswith("error: terminated"), err
    assert orphans == []


def test_a_tilde_the_shell_left_is_the_home_folder_as_for_the_store_root(tmp_path, monkeypatch):
    # Bash leaves `--out=~/k` and a quoted "~/x" as typed. --root and $GENEKB_HOME read "~" as
    # the home folder; every other path named a folder "~" ("directory ~ does not exist; create
    # it first", or "~/x.h5ad does not exist").
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    assert run_genekb("keys", "new", "--out=~/signing").exit_code == 0
    assert (tmp_path / "home" / "signing.pub").is_file() and not (tmp_path / "~").exists()
    line = one_line_error(run_cellmodel("explain", "~/missing.h5ad"))
    assert f"{tmp_path}/home/missing.h5ad does not exist" in line


def test_text_holding_bytes_the_locale_cannot_decode_names_the_bytes(tmp_path):
    # A Latin-1 "é" from `$(cat file)` reaches Python as a lone surrogate: DuckDB refused the
    # query with "unexpected TypeError: extract_statements(): incompatible function arguments",
    # and a name was said to hold "U+DCE9 an unnamed character".
    build_tags(Store.open(tmp_path / "store", create=True), "t0")
    root = ("--root", str(tmp_path / "store"))
    line = one_line_error(run_genekb("sql", "select 'caf\udce9'", *root), code=2)
    assert "QUERY \"select 'caf\\xe9'\" is not utf-8 text; give it as UTF-8" in line
    line = one_line_error(run_genekb("info", "t\udce9", *root), code=2)
    assert "REF 't\\xe9' is not utf-8 text" in line


@pytest.mark.parametrize("typed", ["--k", "-K"])
def test_a_short_option_typed_long_or_in_capitals_is_suggested(typed):
    # "No such option: --k" said nothing more: Click suggests long options only.
    line = one_line_error(run_genekb("similar", "CD3E", typed, "3"), code=2)
    assert f"No such option: {typed} (Possible options: -k)" in line


def test_a_dash_where_a_folder_or_a_remote_is_written_is_refused(tmp_path, monkeypatch):
    # `-` is stdin to every input and refused as an output file, but `publish -` copied the
    # whole store into a folder named "-" (exit 0), and `--plots -` / `bench --out -` wrote there.
    from genekb.errors import UsageError
    from genekb.output_paths import check_output_dir

    store = Store.open(tmp_path / "store", create=True)
    build_tags(store, "t0")
    monkeypatch.chdir(tmp_path)
    for command in ("publish", "pull"):
        line = one_line_error(run_genekb(command, "-", "--root", str(store.root)), code=2)
        assert "a remote is a URL or a folder, not - (stdin or stdout)" in line
    with pytest.raises(UsageError, match="--plots '-': this writes files into a folder, not"):
        check_output_dir(Path("-"), force=False, flag="--plots")
    assert not (tmp_path / "-").exists()


def test_keys_show_names_its_own_argument_not_pulls_option(tmp_path, monkeypatch):
    # It said "--trust nosuch: no such file", an option `keys show` does not have.
    monkeypatch.chdir(tmp_path)
    line = one_line_error(run_genekb("keys", "show", "nosuch"))
    assert line == "error: key nosuch: no such file, and not a `genekb-ed25519 …` key line"


@pytest.mark.parametrize(
    ("app", "args", "says"),
    [
        (run_genekb, ["pull", "remote", "--trust="], "--trust is empty; give a .pub file"),
        (
            run_cellmodel,
            ["cluster", "c.h5ad", "--chunk-size", "9", "-o", "o.h5ad", "--dask-address="],
            "--dask-address is empty; give the scheduler",
        ),
    ],
)
def test_an_empty_key_or_scheduler_is_a_usage_error(tmp_path, monkeypatch, app, args, says):
    # `--trust=` read "." ("public key file . is a directory"); `--dask-address=` ran on a
    # local cluster as if the option had not been given.
    monkeypatch.chdir(tmp_path)
    assert says in one_line_error(app(*args), code=2)


@pytest.mark.parametrize("columns", ["20", "60"])
def test_help_in_a_narrow_terminal_keeps_every_flag_whole(monkeypatch, columns):
    # Typer's table cut the flags to fit: at 20 columns every one read `-…`; at 60, 28 across
    # the commands (`--train-fra…`, `--gene-vect…`).
    monkeypatch.setenv("COLUMNS", columns)
    shown = run_cellmodel("classify", "--help").stdout
    for flag in ("--label-key", "--train-fraction", "--gene-vectors", "--small-classes"):
        assert flag in shown


def test_bench_prints_its_table_in_a_locale_that_is_not_utf8(tmp_path):
    # The bench writes its Markdown as UTF-8 and read it back in the locale's encoding: under
    # LC_ALL=C (UTF-8 mode off) the whole run ended in "unexpected UnicodeDecodeError".
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "import cellmodel.bench as lib\n"
        "from cli.bench_cmd import _run\n"
        "md = Path(sys.argv[1])\n"
        "md.write_bytes('| ARI 0.2 \\u00b1 0.1 |\\n'.encode())\n"
        "lib.run_bench = lambda config, log: {'files': {'markdown': str(md)}, 'failures': []}\n"
        "_run(None, False)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), LC_ALL="C", PYTHONUTF8="0")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "bench.md")], env=env,
                          capture_output=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-500:]
    assert b"0.2 \\xb1 0.1" in done.stdout


@pytest.mark.parametrize("typed", ["-json", "-root=x"])
def test_a_long_option_typed_with_one_dash_is_named_as_typed(typed):
    # Click read `-json` as -j -s -o -n and said "No such option: -j", a letter never typed alone.
    word = typed.split("=")[0]
    line = one_line_error(run_genekb("list", typed), code=2)
    assert f"No such option: {word} (Possible options: -{word})" in line


@pytest.mark.parametrize(
    ("app", "args", "says"),
    [
        (run_cellmodel, ["cluster", "c.h5ad", "-o=out.h5ad"], "(-o out.h5ad), or give --output="),
        (run_genekb, ["similar", "CD3E", "-k=3"], "takes its value after a space (-k 3);"),
    ],
)
def test_a_short_option_with_equals_is_refused_not_a_value_starting_with_it(
    tmp_path, monkeypatch, app, args, says
):
    # Click gives `-o=out.h5ad` the value "=out.h5ad": the file was written as "=out.h5ad".
    monkeypatch.chdir(tmp_path)
    line = one_line_error(app(*args), code=2)
    assert f"{args[-1]}: a short option takes its value after a space" in line and says in line
    assert list(tmp_path.iterdir()) == []
