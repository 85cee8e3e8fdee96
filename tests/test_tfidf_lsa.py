"""The TF-IDF + LSA encoder: a fitted, model-free backend that builds and shares like any other."""

from __future__ import annotations

import numpy as np
import pytest

from genekb.build import build
from genekb.encoders import registry
from genekb.encoders.tfidf_backend import FIT_FILE, parse_recipe
from genekb.errors import UsageError
from genekb.store.integrity import verify_version
from genekb.store.sharing import export_version, import_file
from genekb.store.store import Store
from tests.conftest import make_genes

TEXTS = [
    "insulin hormone glucose pancreas beta cell secretion",
    "glucagon hormone glucose pancreas alpha cell",
    "t cell receptor complex antigen immune signalling",
    "cd3 t cell receptor antigen immune",
    "hemoglobin oxygen transport erythrocyte blood",
    "oxygen binding erythrocyte heme blood",
]


def test_fit_hash_pins_the_fit_and_vectors_follow_meaning():
    spec = registry.resolve("tfidf-lsa")
    assert spec.backend == "tfidf" and parse_recipe(spec.model_id)["dim"] == 256
    enc = registry.load(spec)
    with pytest.raises(UsageError, match="after fit"):
        enc.encode(TEXTS)
    fitted = enc.fit(TEXTS)
    assert fitted.dim == 5 and len(fitted.weights_sha256) == 64  # dim capped by 6 texts
    assert fitted.spec_sha256() != spec.spec_sha256()
    again = registry.load(spec)
    assert again.fit(TEXTS).weights_sha256 == fitted.weights_sha256  # deterministic
    other = registry.load(spec)
    assert other.fit([*TEXTS[::-1], "one more pancreas text"]).weights_sha256 != (
        fitted.weights_sha256
    )
    v = enc.encode(TEXTS)
    assert v.shape == (6, 5) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    sims = v @ v.T
    assert sims[2, 3] > sims[2, 0] and sims[4, 5] > sims[4, 1]
    assert enc.count_tokens(["CD3-epsilon binds 2 things"]) == [3]


def _genes(changes: dict[int, str] | None = None, date: str = "2024-01-01"):
    """40 synthetic genes whose names carry the words of TEXTS (the fit needs shared words)."""
    names = {i: TEXTS[i % len(TEXTS)] for i in range(1, 41)}
    return make_genes(rename=names | (changes or {}), date=date)


def test_build_records_the_fit_and_shares(tmp_path):
    store = Store.open(tmp_path / "a", create=True)
    report = build(store, model="tfidf-lsa", gene_table=_genes())
    assert report["truncated"] == 0 and report["embedded"] == 40
    version = store.embedding(report["embedding_id"])
    assert FIT_FILE in version.manifest["files"]
    assert version.spec.weights_sha256 and version.spec.dim == report["dim"]
    assert verify_version(store.root, version.path, "embedding")["ok"]
    registry.BACKENDS["tfidf"] = "no.such:module"  # a rebuild must find the version, not refit
    try:
        again = build(store, model="tfidf-lsa", gene_table=_genes())
    finally:
        registry.BACKENDS["tfidf"] = "genekb.encoders.tfidf_backend:load"
    assert again["embedding_id"] == report["embedding_id"] and not again["embedding_created"]
    # Another corpus gives another fit, hence another version id.
    changed = build(store, model="tfidf-lsa", gene_table=_genes({3: "renamed"}, "2024-02-01"))
    assert changed["embedding_id"] != report["embedding_id"]
    export_version(store, report["embedding_id"], tmp_path / "v.tar")
    other = Store.open(tmp_path / "b", create=True)
    import_file(other, tmp_path / "v.tar")
    assert (other.root / "embeddings" / report["embedding_id"] / FIT_FILE).exists()


def test_a_gene_list_gets_the_whole_sources_fit_and_reuses_its_vectors(tmp_path):
    store = Store.open(tmp_path, create=True)
    whole = build(store, model="tfidf-lsa", gene_table=_genes())
    three = ["GENE1", "GENE2", "GENE3"]
    few = build(store, model="tfidf-lsa", gene_table=_genes(), genes=three, tag="few")
    assert few["n_genes"] == 3 and few["embedded"] == 0 and few["reused"] == 3
    whole_v, few_v = store.embedding(whole["embedding_id"]), store.embedding(few["embedding_id"])
    assert few_v.spec.weights_sha256 == whole_v.spec.weights_sha256 and few_v.dim == whole_v.dim
    assert few_v.read_bytes(FIT_FILE) == whole_v.read_bytes(FIT_FILE)  # one fit, stored with both
    ids, vectors = few_v.matrix()
    rows = whole_v.rows_of([int(g) for g in ids])
    np.testing.assert_array_equal(vectors, whole_v.matrix()[1][rows])
    # Two genes alone are too few for a fit of their own, not for the source's.
    two = build(store, model="tfidf-lsa", gene_table=_genes(), genes=["GENE4", "GENE5"], tag="two")
    assert two["n_genes"] == 2 and two["reused"] == 2


def test_a_stored_fit_loads_back_and_must_match_its_spec():
    enc = registry.load(registry.resolve("tfidf-lsa"))
    spec = enc.fit(TEXTS)
    again = registry.load(spec).load_fit(enc.fit_file())
    np.testing.assert_array_equal(again.encode(TEXTS), enc.encode(TEXTS))
    other = registry.load(registry.resolve("tfidf-lsa"))
    other.fit(TEXTS[:5])
    with pytest.raises(UsageError, match="not the one its spec names"):
        registry.load(spec).load_fit(other.fit_file())


def test_a_named_multi_view_build_tags_its_views_under_its_name(tmp_path):
    store = Store.open(tmp_path, create=True)
    report = build(store, model="fake+tfidf-lsa", gene_table=_genes(), tag="T")
    tags = store.tags()
    assert set(tags) == {"T", "T/fake", "T/tfidf-lsa"}  # the default tags stay untouched
    assert tags["T"] == report["embedding_id"]
