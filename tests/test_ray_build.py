"""genekb build --engine ray: the same version as a local build, through the same staging path."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from genekb.errors import GenekbError, UsageError
from tests.conftest import one_line_error, run_genekb

N_GENES = 96


def _genes(n: int) -> list[str]:
    from genekb.sources.bundled import load_bundled

    table = load_bundled("human").table.select(["symbol", "gene_type"]).to_pandas()
    coding = table[table["gene_type"] == "protein-coding"]["symbol"].drop_duplicates()
    return [str(s) for s in coding.iloc[:: max(1, len(coding) // n)].iloc[:n]]


def test_ray_build_equals_local_build(tmp_path):
    pytest.importorskip("ray")
    import ray

    from genekb.build import build
    from genekb.store.store import Store

    genes = _genes(N_GENES)
    local = build(Store.open(tmp_path / "local", create=True), model="minilm", genes=genes)
    # Two worker processes on this machine, started by the test as a user would start a cluster.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote_store = Store.open(tmp_path / "ray", create=True)
        distributed = build(remote_store, model="minilm", genes=genes, engine="ray", num_workers=2)
        assert ray.is_initialized()  # a cluster the caller started is left running
    finally:
        ray.shutdown()
    assert distributed["engine"] == "ray" and distributed["embedded"] == local["n_genes"]
    assert distributed["embedding_id"] == local["embedding_id"]
    assert distributed["text_id"] == local["text_id"]
    a = Store.open(tmp_path / "local").embedding(local["embedding_id"])
    b = remote_store.embedding(distributed["embedding_id"])
    ids_a, va = a.matrix()
    ids_b, vb = b.matrix()
    assert np.array_equal(ids_a, ids_b)
    cosine = (va * vb).sum(1) / np.linalg.norm(va, axis=1) / np.linalg.norm(vb, axis=1)
    assert cosine.min() >= 0.99999
    # The version went through the same staging -> verify path: it reads back checked.
    assert b.manifest["counts"] == a.manifest["counts"]
    assert b.manifest["encoder"] == a.manifest["encoder"]


def test_ray_engine_missing_names_the_extra(monkeypatch, tmp_path):
    from genekb.encoders.ray_engine import RayEncoder
    from genekb.encoders.registry import resolve

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(GenekbError, match=r"install genekb-cellmodel\[ray\]"):
        RayEncoder(resolve("minilm"))


def test_engine_options_checked_before_work(tmp_path):
    from genekb.encoders.ray_engine import check_engine

    with pytest.raises(UsageError, match="unknown engine"):
        check_engine("spark", None)
    line = one_line_error(
        run_genekb("build", "--root", str(tmp_path / "s"), "--address", "auto"), code=2
    )
    assert "ray" in line
    assert not (tmp_path / "s").exists()
