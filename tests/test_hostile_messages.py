"""Issue 64's silent wrong results and misleading messages, each checked where it is decided."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genekb.errors import GenekbError, GenekbWarning


def test_a_missing_gene_name_never_becomes_the_gene_aliased_nan():
    """NCBI lists "NaN" as an alias of SCN11A: a missing name must not be matched to it."""
    import anndata as ad

    from cellmodel.io import gene_names
    from genekb.gene_lists import gene_names_of

    var = pd.DataFrame({"symbol": ["CD3E", np.nan, "CD4"]}, index=["a", "b", "c"])
    with pytest.raises(GenekbError, match="1 of 3 gene names are empty or missing"):
        gene_names(var, "symbol", "x.h5ad")
    adata = ad.AnnData(np.zeros((2, 3), np.float32), var=var)
    assert gene_names_of(adata, "symbol") == ["CD3E", "CD4"]


def test_genes_from_a_device_or_a_directory_says_what_it_is(tmp_path):
    from genekb.gene_lists import genes_from_h5ad

    (tmp_path / "zero.h5ad").symlink_to("/dev/zero")
    with pytest.raises(GenekbError, match="is a device"):
        genes_from_h5ad(tmp_path / "zero.h5ad")
    with pytest.raises(GenekbError, match="is a directory"):
        genes_from_h5ad(tmp_path)
    with pytest.raises(GenekbError, match="does not exist"):
        genes_from_h5ad(tmp_path / "none.h5ad")


@pytest.mark.parametrize(
    ("coverage", "folds", "words"),
    [
        ({"found": 12, "asked": 12, "classes": {"a": 6, "b": 6}}, 5, "the task names 12 genes"),
        ({"found": 10, "asked": 60, "classes": {"a": 5, "b": 5}}, 5, "build a version"),
        ({"found": 60, "asked": 60, "classes": {"a": 30, "b": 30}}, 50, "--folds 50"),
        ({"found": 60, "asked": 60, "classes": {"a": 60}}, 5, "one class"),
        ({"found": 60, "asked": 60, "classes": {"a": 57, "b": 3}}, 2, "at least 5"),
    ],
)
def test_eval_says_why_a_task_is_skipped(coverage, folds, words):
    from genekb.eval.evaluate import _skip_reason

    assert words in _skip_reason(coverage, folds)
    assert _skip_reason({"found": 60, "asked": 60, "classes": {"a": 30, "b": 30}}, 5) is None


def test_reindex_names_the_catalog_not_its_temporary_file(tmp_path, monkeypatch):
    import duckdb

    from genekb.build import build
    from genekb.store import catalog
    from genekb.store.store import Store
    from tests.conftest import make_genes

    store = Store.open(tmp_path, create=True)
    build(store, model="fake", gene_table=make_genes())

    def failing(path: str, *args: object, **kwargs: object) -> None:
        raise duckdb.IOException(f'IO Error: Cannot open file "{path}": No space left on device')

    monkeypatch.setattr(duckdb, "connect", failing)
    with pytest.raises(GenekbError) as caught:
        catalog.rebuild(store)
    message = str(caught.value)
    assert f"the catalog {tmp_path / 'catalog.duckdb'}:" in message and ".tmp" not in message
    assert "free some space" in message  # a full disk's own way out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".catalog.duckdb")]


def test_a_sentence_cache_the_disk_refuses_is_skipped_with_one_warning(tmp_path):
    from cellmodel.sentences import SentenceCache

    (tmp_path / "cache").write_text("a file where the cache folder would be")
    with pytest.warns(GenekbWarning, match="going on without it"):
        cache = SentenceCache(tmp_path / "cache" / "sentences" / "sentences.sqlite")
    assert cache.get("spec", ["a"]) == {}
    cache.put("spec", {"a": np.ones(3, np.float32)})  # nothing to do, nothing raised


def test_a_failed_write_names_the_output_and_leaves_no_temp_file(tmp_path):
    from genekb.fileio import atomic_path

    target = tmp_path / "out.bin"
    refused = pytest.raises(GenekbError, match=f"cannot write {target}: No space left")
    with refused, atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_stops_a_long_sql_query_at_once(tmp_path):
    """DuckDB runs the query in one long C call, where Python cannot deliver Ctrl-C: the query
    runs in a thread and is interrupted from the main thread."""
    import os
    import signal
    import threading
    import time

    from genekb.build import build
    from genekb.store import catalog
    from genekb.store.store import Store
    from tests.conftest import make_genes

    store = Store.open(tmp_path, create=True)
    build(store, model="fake", gene_table=make_genes())
    endless = "SELECT sum(a.range * b.range) FROM range(100000) a, range(100000) b"
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    # A runner started in the background (nohup, `&`) inherits SIGINT ignored; Ctrl-C at a
    # terminal has Python's own handler, which this test is about.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            catalog.query(store, endless)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - start < 5


def test_a_write_that_cannot_fit_is_refused_before_it_starts(tmp_path, monkeypatch):
    """HDF5 crashes cleaning up after a failed write, so the chunked writers check the room for
    what they will write first (the file size limit, the free space)."""
    import resource

    from genekb.fileio import atomic_path

    monkeypatch.setattr(resource, "getrlimit", lambda which: (4096, 4096))
    target = tmp_path / "out.h5ad"
    refused = pytest.raises(GenekbError, match=r"over this process's file size limit.*ulimit")
    with refused, atomic_path(target, expected_bytes=1 << 20):
        raise AssertionError("the block must not run")
    assert list(tmp_path.iterdir()) == []
