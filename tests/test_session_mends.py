"""Defects found while reviewing the last rounds' work: each test fails without its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellmodel import bench
from genekb.errors import GenekbError


def test_the_library_bench_keeps_a_finished_report_unless_forced(tmp_path: Path) -> None:
    # Only the CLI checked --out: a second run_bench into one folder replaced the first's
    # bench.json, bench.md and chart without a word.
    def config(**kw: object) -> bench.BenchConfig:
        return bench.BenchConfig(  # type: ignore[arg-type]
            bench.parse_datasets("synthetic-40"), methods=["pca-kmeans"], seeds=[0],
            out=tmp_path / "out", warm=False, preload=False, model=None, **kw,
        )  # fmt: skip

    bench.run_bench(config(), log=lambda _: None)
    first = (tmp_path / "out" / "bench.json").read_bytes()
    with pytest.raises(GenekbError, match="bench.json exists"):
        bench.run_bench(config(), log=lambda _: None)
    assert (tmp_path / "out" / "bench.json").read_bytes() == first
    bench.run_bench(config(force=True), log=lambda _: None)
    assert (tmp_path / "out" / "bench.json").read_bytes() != first
