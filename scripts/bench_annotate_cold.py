"""A cold and a warm `cellmodel annotate` over the whole Cell Ontology: wall and CPU seconds, the
load average beside each, and the longest silence on stderr (progress must come every 10 s).

    python scripts/annotate_speed_file.py STORE/datasets/baron-human.h5ad --out baron2000.h5ad
    python scripts/bench_annotate_cold.py baron2000.h5ad --warm 2             # one thread
    python scripts/bench_annotate_cold.py baron2000.h5ad --warm 2 --threads 0  # as a user runs it

Each run is the command a user types, in a child process: `cellmodel annotate FILE --groupby
cell_type1 --root STORE --json`. Cold is a fresh store (it imports the install's prebuilt vectors,
`python -m cli.prebuilt build`, when they are there); warm repeats it on that store. The CPU figure
is the child's user + system time (`getrusage`), which a neighbour's load on a shared machine
changes far less than the wall time. `--no-prebuilt` runs the cold store with an empty prebuilt
folder, as a store embedded everything before this step existed (about 5 min of CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(file: Path, root: Path, groupby: str, env: dict[str, str]) -> dict[str, Any]:
    """One annotate command: wall, CPU, load average at start and end, longest stderr gap."""
    command = [sys.executable, "-m", "cli.cellmodel_app", "annotate", str(file),
               "--groupby", groupby, "--root", str(root), "--json"]  # fmt: skip
    load_start, cpu_start, start = os.getloadavg()[0], _cpu(), time.monotonic()
    lines, last, gap = [], start, 0.0
    # stdout (the JSON report, larger than a pipe holds) goes to a file, so reading stderr line
    # by line never waits on a child blocked writing stdout.
    with tempfile.TemporaryFile("w+") as out_file:
        child = subprocess.Popen(command, env=env, stdout=out_file, stderr=subprocess.PIPE,
                                 text=True)  # fmt: skip
        assert child.stderr is not None
        for line in child.stderr:
            now = time.monotonic()
            gap, last = max(gap, now - last), now
            lines.append(f"{now - start:7.1f} s  {line.rstrip()}")
        child.wait()
        wall = time.monotonic() - start
        gap = max(gap, time.monotonic() - last)
        out_file.seek(0)
        out = out_file.read()
    if child.returncode != 0:
        raise SystemExit(f"annotate failed ({child.returncode}):\n" + "\n".join(lines[-5:]))
    report = json.loads(out)
    calls = [g.get("label") for g in report.get("groups", [])]
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(_cpu() - cpu_start, 1),
        "load_start": round(load_start, 2),
        "load_end": round(os.getloadavg()[0], 2),
        "inside_annotate_s": report.get("seconds"),
        "longest_silence_s": round(gap, 1),
        "calls": calls,
        "stderr": lines,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="the .h5ad (scripts/annotate_speed_file.py)")
    parser.add_argument("--groupby", default="cell_type1")
    parser.add_argument("--warm", type=int, default=1, help="warm runs after the cold one")
    parser.add_argument("--no-prebuilt", action="store_true", help="cold without prebuilt files")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP_NUM_THREADS for the runs (0: leave it unset)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--log", action="store_true", help="print each run's stderr, timed")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if args.threads:  # 0: as a user runs it, torch picking its own thread count
        env["OMP_NUM_THREADS"] = str(args.threads)
    results = []
    with tempfile.TemporaryDirectory(prefix="annotate-bench-") as scratch:
        if args.no_prebuilt:
            env["GENEKB_PREBUILT"] = str(Path(scratch) / "no-prebuilt")
        root = Path(scratch) / "store"
        for i in range(1 + args.warm):
            name = "cold" if i == 0 else f"warm {i}"
            result = {"run": name, **run_once(args.file, root, args.groupby, env)}
            results.append(result)
            print(f"{name}: wall {result['wall_s']} s, CPU {result['cpu_s']} s, load"
                  f" {result['load_start']} -> {result['load_end']}, inside annotate"
                  f" {result['inside_annotate_s']} s, longest silence"
                  f" {result['longest_silence_s']} s", flush=True)  # fmt: skip
            if args.log:
                print("\n".join(result["stderr"]), flush=True)
    same = all(r["calls"] == results[0]["calls"] for r in results)
    threads = env.get("OMP_NUM_THREADS", "unset")
    print(f"calls identical in every run: {same}; OMP_NUM_THREADS={threads}; {os.cpu_count()} CPUs")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
