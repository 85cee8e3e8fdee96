"""What docs/cellmodel.md says a user gets, checked where the code fell short of it (round 2 of
reading the pages as a new user)."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np

from cellmodel.classify import read_labels


def test_read_labels_assigned_to_obs_lines_up_by_cell_name(tmp_path):
    # docs/cellmodel.md: `read_labels` does in Python what `classify --labels` does: the labels
    # become an obs column. Assigned as pandas assigns (by index), every cell stayed unlabelled.
    cells = ad.AnnData(np.ones((4, 2), dtype=np.float32))
    cells.obs_names = ["c1", "c2", "c3", "c4"]
    path = tmp_path / "labels.csv"
    path.write_text("cell,cell_type\nc3,B\nc1,T\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the two cells the file leaves out are warned of
        labels = read_labels(path, cells.obs_names)
    cells.obs[labels.name] = labels
    assert cells.obs["cell_type"].tolist() == ["T", None, "B", None]
    assert list(labels.index) == ["c1", "c2", "c3", "c4"]


def test_a_tag_holding_a_newline_is_deleted_in_one_line_of_output(tmp_path):
    # docs/integrity.md: a tag that is not a name (a newline among them) is what
    # `genekb tag --delete NAME` removes; its report printed the newline raw, two lines.
    from genekb.build import build
    from genekb.fileio import atomic_write
    from genekb.store.store import Store
    from genekb.store.tags_file import tags_document
    from tests.conftest import make_genes, run_genekb

    store = Store.open(tmp_path / "s", create=True)
    vid = build(store, model="fake", gene_table=make_genes())["embedding_id"]
    atomic_write(store.tags_file, tags_document({"a\nb": vid, "c\td": vid}))
    listed = run_genekb("tag", "--root", str(store.root))
    assert listed.exit_code == 0 and "'a\\nb'" in listed.stdout, listed.output
    removed = run_genekb("rm", vid, "--force", "--dry-run", "--root", str(store.root))
    assert removed.exit_code == 0 and "tag 'c\\td' (->" in removed.stderr, removed.output
    deleted = run_genekb("tag", "--delete", "a\nb", "--root", str(store.root))
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stderr.strip() == f"deleted tag 'a\\nb' (was {vid})"


def test_a_subtree_naming_nothing_says_words_are_taken_too() -> None:
    # docs/cellmodel.md: --subtree "T cells" reads as CL:0000084; the refusal of words naming no
    # term still said "give a CL id or an exact label".
    import pytest

    from cellmodel.annotate.ontology import from_ontology
    from genekb.errors import UsageError

    with pytest.raises(UsageError, match=r"a label, or words naming one term \('T cells'\)"):
        from_ontology(subtree="flurbs")


def test_a_table_with_a_column_of_label_words_points_to_labels_files(tmp_path):
    # docs/cellmodel.md: a table has no obs column for labels, so they come from --labels; a
    # cell_type column of words was refused as "not a number (check --sep)", with no way out.
    from tests.conftest import one_line_error, run_cellmodel

    table = tmp_path / "cells.csv"
    table.write_text("cell,cell_type,CD3E,CD4\nc1,T cell,1,2\nc2,B cell,0,3\n")
    line = one_line_error(run_cellmodel("classify", str(table), "--label-key", "cell_type"))
    assert "'cell_type' holds 'T cell'" in line
    assert line.endswith("give labels in a file of cell id -> label (classify --labels)")


def test_rm_of_a_text_version_several_rest_on_names_them_all(tmp_path, encoder_registry):
    # docs/genekb.md: rm refuses while another version rests on one, "the error names that
    # version, and naming both removes both". With two embeddings on one text version it named
    # one, and the command it offered was refused in turn.
    from genekb.build import build
    from genekb.encoders import registry
    from genekb.encoders.base import EncoderSpec
    from genekb.store.store import Store
    from tests import fake_encoder
    from tests.conftest import make_genes, one_line_error, run_genekb

    fake_encoder.install()
    registry.register(EncoderSpec(name="fake8", backend="fake", model_id="fake8", dim=8))
    store = Store.open(tmp_path / "s", create=True)
    a = build(store, model="fake", gene_table=make_genes())
    b = build(store, model="fake8", gene_table=make_genes())
    assert a["text_id"] == b["text_id"]
    root = str(store.root)
    line = one_line_error(run_genekb("rm", a["text_id"], "--root", root))
    rest = sorted([a["embedding_id"], b["embedding_id"]])
    offered = f"`genekb rm {' '.join(rest)} {a['text_id']}`"
    assert f"2 versions rest on {a['text_id']}" in line and offered in line, line
    done = run_genekb("rm", *rest, a["text_id"], "--force", "--root", root)
    assert done.exit_code == 0, done.output


def test_gc_names_the_pull_that_drops_kept_downloads_with_its_url(tmp_path):
    # docs/genekb.md: gc leaves a pull's kept downloads to `genekb pull --clear-cache`; its note
    # offered that command without the URL it cannot run without.
    from genekb.build import build
    from genekb.store.removal import collect_garbage
    from genekb.store.store import Store
    from tests.conftest import make_genes

    store = Store.open(tmp_path / "s", create=True)
    build(store, model="fake", gene_table=make_genes())
    kept = store.root / ".staging" / "pull-cache" / "emb-1111111111111111"
    kept.mkdir(parents=True)
    (kept / "vectors.parquet.part").write_bytes(b"xx")
    (note,) = collect_garbage(store, dry_run=True)["notes"]
    assert "`genekb pull URL --clear-cache`" in note
