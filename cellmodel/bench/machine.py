"""What machine a run was measured on."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

from cellmodel.bench.settings import THREAD_VARIABLES


def _proc_field(path: str, prefix: str) -> str | None:
    """The value after `prefix:` on the first matching line of a /proc file (None elsewhere)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    found = next((line for line in lines if line.startswith(prefix)), None)
    return found.split(":", 1)[1].strip() if found else None


def machine_info() -> dict[str, Any]:
    """CPU model, usable cores and RAM from /proc (where there is one), and library versions."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    mem_total = _proc_field("/proc/meminfo", "MemTotal")  # "24580000 kB"
    ram = int(mem_total.split()[0]) / 2**20 if mem_total else math.nan
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    versions = {}
    for package in ("torch", "scanpy", "scikit-learn"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu_model": cpu,
        "cpus": cpus,
        "cpu_count": os.cpu_count(),
        "ram_gib": round(ram, 2),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "torch": versions["torch"],
        "versions": versions,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "thread_variables": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
    }
