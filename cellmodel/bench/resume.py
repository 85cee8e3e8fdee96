"""Finished (dataset, method) runs kept beside their logs, so a bench stopped part-way (Ctrl-C,
SIGTERM, a lost session) resumes where it stopped instead of losing hours of runs.

Each finished run is written to `logs/<dataset>__<method>.result.json` with a key of everything
that decides it: the job (dataset, method, seeds, store, model, device, layer, gene key,
control), the threads, and the sizes and modification times of the dataset file and of the
method's module. The same command run again takes a run whose key matches and measures the
rest; a finished bench removes these files, so a later run (`--force`) measures all anew.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from cellmodel.bench.report import write_json

SUFFIX = ".result.json"


def _stamp(path: str | None) -> list[int] | None:
    """A file's size and modification time: edited, it is another run."""
    try:
        info = os.stat(path) if path else None
    except OSError:  # gone: its run fails and says so
        return None
    return None if info is None else [info.st_size, info.st_mtime_ns]


def run_key(job: dict[str, Any], threads: int | None) -> str:
    """What decides a (dataset, method) run, hashed: the job, the threads, and the stamps of the
    dataset file and of the method's module (a developer edits a method between two runs)."""
    spec = importlib.util.find_spec(job["method_module"])
    stamps = [_stamp(job["dataset"].get("path")), _stamp(spec.origin if spec else None)]
    decided = {"job": job, "threads": threads, "files": stamps}
    text = json.dumps(decided, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def kept_path(log_path: Path) -> Path:
    return log_path.with_name(log_path.name.removesuffix(".log") + SUFFIX)


def kept_run(log_path: Path, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The cell record and seed runs an interrupted bench finished with this key, or None."""
    path = kept_path(log_path)
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):  # none, or not ours: measure it again
        return None
    if not isinstance(kept, dict) or kept.get("key") != key:
        return None
    cell, runs = kept.get("cell"), kept.get("runs")
    if not isinstance(cell, dict) or cell.get("status") != "ok" or not isinstance(runs, list):
        return None
    return {**cell, "resumed": True}, runs


def keep_run(log_path: Path, key: str, cell: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    """Keep a finished run for a rerun after an interruption (failed runs are run again)."""
    if cell.get("status") == "ok":
        write_json(kept_path(log_path), {"key": key, "cell": cell, "runs": runs})


def forget_runs(logs: Path) -> None:
    """A finished bench's kept runs removed: its report holds them now."""
    for path in logs.glob(f"*{SUFFIX}"):
        path.unlink(missing_ok=True)
