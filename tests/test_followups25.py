"""Follow-ups of 2026-11-29: defects noticed while reviewing, each with the input that showed it."""

from __future__ import annotations

from pathlib import Path

import pytest

from genekb.build import build
from genekb.errors import GenekbError
from genekb.store.store import Store
from tests.conftest import make_genes, one_line_error, run_genekb


def test_a_version_prefix_needs_four_digits(tmp_path: Path) -> None:
    """`genekb rm emb-3` removed whichever version alone began with "emb-3": a destructive
    command acted on a name one keystroke long. A prefix now needs git's four digits."""
    root = tmp_path / "s"
    store = Store.open(root, create=True)
    vid = build(store, model="fake", gene_table=make_genes())["embedding_id"]
    assert store.resolve("embedding", vid[:8]) == vid  # "emb-" and four digits
    with pytest.raises(GenekbError):
        store.resolve("embedding", vid[:5])
    line = one_line_error(run_genekb("rm", vid[:6], "--root", str(root), "--force"))
    assert vid[:6] in line and "needs 4 digits" in line
    assert (root / "embeddings" / vid).is_dir()


def test_a_chosen_k_above_the_training_cells_is_said() -> None:
    """classify(k=50) with 20 training cells voted over all 20 without a word."""
    import numpy as np

    from cellmodel.classify.core import classify
    from genekb.errors import GenekbWarning

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 1.0, (30, 8)) for c in (0.0, 4.0)])
    labels = np.repeat(["a", "b"], 30)
    mask = np.zeros(60, bool)
    mask[::3] = True
    with pytest.warns(GenekbWarning, match=r"k=50 neighbours asked, but only 20 training"):
        result = classify(X, labels, mask, k=50, refine_view=False, compare=False)
    assert result.params["k_used"] == 20


def test_publishing_a_tag_sends_that_tag_not_the_versions_other_names(tmp_path: Path) -> None:
    """`genekb publish DEST v1` also published every other tag of that version (a lab's
    "scratch/alice"), and a name is all another project sees of it."""
    import json

    from genekb.store.publish import publish
    from genekb.store.tag_edits import point_tag

    store = Store.open(tmp_path / "s", create=True)
    vid = build(store, model="fake", gene_table=make_genes(), tag="v1")["embedding_id"]
    point_tag(store, "scratch/alice", vid)
    report = publish(store, str(tmp_path / "pub"), ["v1"])
    index = json.loads((tmp_path / "pub" / "genekb-remote.json").read_text())
    assert report["tags"] == ["v1"] and sorted(index["tags"]) == ["v1"]
    report = publish(store, str(tmp_path / "pub2"), [vid])  # by its id: its tags go with it
    assert report["tags"] == ["scratch/alice", "v1"]


def test_a_kind_the_file_cannot_check_is_not_entered_past_a_clearly_expressed_one() -> None:
    """PBMCs (765 genes) named over a brain's terms: their T and NK cells were Purkinje cells and
    interneurons, the neural kind having no signature and so never failing the gate beside a
    clearly expressed hematopoietic one."""
    import numpy as np

    from cellmodel.annotate.gates import gated

    inside = {"hematopoietic": np.array([0, 1]), "neural": np.array([2, 3])}
    assert set(gated(inside, {"hematopoietic": 0.8})) == {"hematopoietic"}
    # nothing expressed above the median, or no signature at all: nothing told apart, both stay
    assert set(gated(inside, {"hematopoietic": -0.1})) == {"hematopoietic", "neural"}
    assert set(gated(inside, {})) == {"hematopoietic", "neural"}
