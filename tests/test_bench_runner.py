"""run_bench's warm-up and failure records, with the worker process stood in for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cellmodel.bench import runner
from cellmodel.bench.data import DatasetRef


def test_warm_up_runs_once_per_dataset_and_reports_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs: list[dict[str, Any]] = []

    def spawn(job, log_path, timeout_s, threads):
        jobs.append(job)
        if job["dataset"]["name"] == "b":
            return {"status": "failed", "error": "no store"}, 2.0
        return {"status": "ok"}, 1.234

    monkeypatch.setattr(runner, "_spawn", spawn)
    refs = [DatasetRef("a", "synthetic", n_cells=60), DatasetRef("b", "synthetic", n_cells=60)]
    config = runner.BenchConfig(refs, ["semantic"], [3], tmp_path)
    lines: list[str] = []
    warmups = runner._warm_up(config, {"root": None}, tmp_path, lines.append)
    assert [j["kind"] for j in jobs] == ["warmup", "warmup"]
    assert jobs[0]["controls"] == runner.warmup_controls(["semantic"], [3])
    assert warmups[0] == {"dataset": "a", "process_seconds": 1.23, "status": "ok"}
    assert any("warm-up failed: no store" in line for line in lines)
    cells = [{"dataset": "a", "method": "semantic", "status": "timeout", "error": "slow"}]
    assert runner._failures(cells, warmups) == [
        {"dataset": "a", "method": "semantic", "error": "slow"},
        {"dataset": "b", "method": "warm-up", "error": "no store"},
    ]
    no_warm = runner.BenchConfig(refs, ["semantic"], [3], tmp_path, warm=False)
    assert runner._warm_up(no_warm, {}, tmp_path, lines.append) == []
    assert len(jobs) == 2
