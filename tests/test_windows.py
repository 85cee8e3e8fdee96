"""Windows instead of truncation: every word embedded, pooled by tokens, counted per gene."""

from __future__ import annotations

import numpy as np
import pytest

from genekb.build import build
from genekb.encoders import registry
from genekb.errors import UsageError
from genekb.store.store import Store
from tests.conftest import make_genes

LONG = "One two three four five. Six seven eight nine ten eleven; twelve.\n" + " ".join(
    f"w{i}" for i in range(45)
)


def test_split_keeps_every_word_within_the_limit():
    enc = registry.load("fake-windows")
    assert enc.spec.long_text == "windows" and enc.spec.spec_sha256() != (
        registry.resolve("fake").spec_sha256()
    )
    windows = enc.split(LONG)
    assert len(windows) > 2
    assert all(n <= enc.inner.spec.max_length for n in enc.count_tokens(windows))
    assert " ".join(windows).split() == LONG.split()
    assert enc.split("short text") == ["short text"]
    assert enc.windows([LONG, "short"], enc.count_tokens([LONG, "short"])) == [len(windows), 1]
    assert enc.truncated([500]) == [False]


def test_pooled_vector_is_the_token_weighted_mean_of_its_windows():
    enc = registry.load("fake-windows")
    plain = registry.load("fake")
    got = enc.encode([LONG, "short text"])
    parts = enc.split(LONG)
    weights = np.array(plain.count_tokens(parts), float)
    mean = (plain.encode(parts) * weights[:, None]).sum(axis=0)
    assert np.allclose(got[0], mean / np.linalg.norm(mean), atol=1e-6)
    assert np.allclose(got[1], plain.encode(["short text"])[0], atol=1e-6)


def test_build_records_windows_per_gene(tmp_path):
    store = Store.open(tmp_path, create=True)
    cut = build(store, model="fake", gene_table=make_genes())
    windowed = build(store, model="fake-windows", gene_table=make_genes())
    assert cut["truncated"] > 0 and windowed["truncated"] == 0
    version = store.embedding(windowed["embedding_id"])
    table = version.table(["n_tokens", "n_windows", "truncated"]).to_pandas()
    assert (table.loc[table.n_tokens > 20, "n_windows"] >= 2).all()
    assert (table.loc[table.n_tokens <= 20, "n_windows"] == 1).all()
    assert version.manifest["counts"]["windowed"] == int((table.n_windows > 1).sum()) > 0
    assert (store.embedding(cut["embedding_id"]).table(["n_windows"]).column(0).to_pylist()
            == [1] * 40)  # fmt: skip
    with pytest.raises(UsageError, match="never truncates"):
        registry.resolve("tfidf-lsa-windows")
