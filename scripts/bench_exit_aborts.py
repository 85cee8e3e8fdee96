"""How often a command that has done its work dies at exit, with and without the interpreter's
teardown.

An Arrow worker still finishing a read can abort a process at the interpreter's teardown, after
its work and output are complete ("terminate called without an active exception", exit 134;
apache/arrow#34314), when it releases memory Python owns and needs the GIL to do so.
The console scripts end with `cli.exit_without_teardown`, which runs Python's exit handlers,
flushes both streams and leaves without the teardown. This runs one `genekb` command line many
times each way, alternately, and counts the exit statuses:

- `teardown`: the app called as a plain function, so Python tears down as it would without the
  helper (`python -c "...; app()"`);
- `console script`: `python -m cli.genekb_app ...`, which ends through the helper.

    python scripts/bench_exit_aborts.py --runs 300 -- similar GENE --root STORE --ref VERSION

Any command line that reads a version shows it; `similar` is the quickest.

`--library` counts the same for a library user's script, which ends with the teardown: it reads
one version's table three times, alternately through genekb (`Version.table`, which hands Arrow a
copy in Arrow's memory: genekb.store.parquet_bytes) and as genekb read it before (the verified
`bytes` in a `pa.BufferReader`, released by an Arrow worker that may need the GIL at exit):

    python scripts/bench_exit_aborts.py --library --runs 300 -- STORE REF
"""

from __future__ import annotations

import argparse
import collections
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEARDOWN = "import sys; from cli.genekb_app import app; sys.argv[0] = 'genekb'; app()"
OPEN = (
    "import sys; from genekb.store.store import Store;"
    " v = Store.open(sys.argv[1]).embedding(sys.argv[2])"
)
GENEKB = OPEN + "\nfor _ in range(3): t = v.table()\nprint(t.num_rows)"
PYTHON_BYTES = (
    OPEN + "\nimport pyarrow as pa, pyarrow.parquet as pq\nfor _ in range(3):"
    " t = pq.read_table(pa.BufferReader(v.read_bytes(v.data_file)))\nprint(t.num_rows)"
)


def _run(argv: list[str]) -> tuple[int, float]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, check=False)
    return done.returncode, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="runs of each way (default 300)")
    parser.add_argument("--library", action="store_true", help="a script's reads: STORE REF")
    parser.add_argument("command", nargs="+", help="a genekb command line (or STORE REF), after --")
    args = parser.parse_args()
    ways = {
        "teardown": [sys.executable, "-c", TEARDOWN, *args.command],
        "console script": [sys.executable, "-m", "cli.genekb_app", *args.command],
    }
    if args.library:
        if len(args.command) != 2:
            parser.error("--library takes a store and a version: -- STORE REF")
        ways = {
            "script, genekb's read": [sys.executable, "-c", GENEKB, *args.command],
            "script, bytes as before": [sys.executable, "-c", PYTHON_BYTES, *args.command],
        }
    for way, argv in ways.items():  # a command line that fails anyway measures nothing
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
        if done.returncode not in (0, 134, -6):
            sys.exit(f"{way}: the command exits {done.returncode}: {done.stderr.strip()[-300:]}")
    statuses: dict[str, collections.Counter[int]] = {w: collections.Counter() for w in ways}
    seconds: dict[str, list[float]] = {w: [] for w in ways}
    for i in range(args.runs):
        for way, argv in ways.items():
            code, took = _run(argv)
            statuses[way][code] += 1
            seconds[way].append(took)
        if (i + 1) % 50 == 0:
            print(f"{i + 1}/{args.runs} runs each", file=sys.stderr)
    print("| way | runs | exit 0 | exit 134 (abort) | other | mean wall (s) |")
    print("|---|---|---|---|---|---|")
    for way, counts in statuses.items():
        other = sum(n for c, n in counts.items() if c not in (0, 134, -6))
        aborted = counts[134] + counts[-6]  # -6: SIGABRT as subprocess reports a signal
        print(
            f"| {way} | {args.runs} | {counts[0]} | {aborted} | {other} |"
            f" {statistics.mean(seconds[way]):.2f} |"
        )


if __name__ == "__main__":
    main()
