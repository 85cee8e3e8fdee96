"""Names a user writes that say more than they mean: a tag that starts with another species' name,
and the short cell-type names labs write in candidate lists (Trm, TAM, cMono, Fib, ExN)."""

from __future__ import annotations

from pathlib import Path

import pytest

from genekb.build import build
from genekb.errors import UsageError
from genekb.store.foreign import import_vectors
from genekb.store.store import Store
from genekb.views import combine
from tests.conftest import make_genes, one_line_error, run_genekb

GENE_INFO = Path(__file__).parent / "data" / "ncbi" / "gene_info"
SAYS = "names human, but this build is of taxon 10090 (mouse), not human; name the tag mouse/…"


def _mouse_build(root: Path, *extra: str):
    return run_genekb(
        "build", "--model", "fake", "--source", "ncbi", "--source-opt", f"gene_info={GENE_INFO}",
        "--taxon", "mouse", "--root", str(root), *extra,
    )  # fmt: skip


def test_a_mouse_build_tagged_human_is_refused_before_any_work(tmp_path):
    # `build --taxon mouse --tag human/ncbi-card/fake` was accepted: the human default tag then
    # pointed at mouse genes, refused only when a human reader came to read it.
    root = tmp_path / "s"
    line = one_line_error(_mouse_build(root, "--tag", "human/ncbi-card/fake"), 2)
    assert SAYS in line and "--force" in line
    assert not (root / "tags.json").exists()
    assert _mouse_build(root, "--tag", "Human/lab", "--force").exit_code == 0  # told so: done
    assert Store.open(root).tags()["Human/lab"].startswith("emb-")
    store = Store.open(root)
    with pytest.raises(UsageError, match="this build is of taxon 10090"):
        build(store, model="fake", gene_table=make_genes(5, taxon=10090), tag="human/x")
    with pytest.raises(UsageError, match=r"this build is of taxon 9606 \(human\), not mouse"):
        build(store, model="fake", gene_table=make_genes(5), tag="mouse/x")
    # The species' own name, any other first part, or a tag without one: as before.
    for tag in ("mouse/x", "lab/human", "humanized/x"):
        build(store, model="fake", gene_table=make_genes(5, taxon=10090), tag=tag)


def test_genekb_tag_and_combine_refuse_another_species_name(tmp_path):
    root = tmp_path / "s"
    assert _mouse_build(root).exit_code == 0
    line = one_line_error(
        run_genekb("tag", "human/x", "mouse/ncbi-card/fake", "--root", str(root)), 2
    )
    assert "names human, but emb-" in line and "is of taxon 10090 (mouse)" in line
    assert "human/x" not in Store.open(root).tags()
    ok = run_genekb("tag", "human/x", "mouse/ncbi-card/fake", "--force", "--root", str(root))
    assert ok.exit_code == 0, ok.output
    store = Store.open(root)
    mouse = make_genes(5, taxon=10090)
    build(store, model="fake", gene_table=mouse, tag="mouse/all")
    build(store, model="fake", gene_table=mouse, genes=["GENE1"], tag="mouse/one")
    with pytest.raises(UsageError, match="the combined version is of taxon 10090"):
        combine(store, ["mouse/one", "mouse/all"], tag="human/both")
    assert combine(store, ["mouse/one", "mouse/all"], tag="mouse/both")["n_genes"] == 1
    with pytest.raises(UsageError, match="this import is of taxon 10090"):
        import_vectors(store, tmp_path / "v.pkl", model="x", taxon="mouse", tag="human/x")


@pytest.mark.parametrize(
    ("label", "term"),
    [
        ("Trm", "CL:0000813"),  # memory T cell: CL names a tissue-resident one in the lung only
        ("CD4 Trm", "CL:0000897"),
        ("CD8 Trm", "CL:0000909"),  # was CL's lung TRM cell, by every word of its synonym
        ("MDSC", "CL:0000889"),
        ("TAMs", "CL:0000235"),
        ("cMono", "CL:0000860"),
        ("intMono", "CL:0002393"),
        ("ncMono", "CL:0000875"),
        ("Ery", "CL:0000764"),
        ("Erythroid cells", "CL:0000764"),
        ("Peri", "CL:0000669"),
        ("Micro", "CL:0000129"),
        ("pre-B", "CL:0000817"),
        ("Ex neurons", "CL:0000679"),
        ("ExN", "CL:0000679"),
        ("Excitatory neurons", "CL:0000679"),
    ],
)
def test_a_labs_short_name_reads_as_its_cl_term(label, term):
    # Each read as no term (or "CD8 Trm" as the lung's), scored by its letters alone.
    from cellmodel.annotate.free_labels import read_label

    assert read_label(label)[0] == term


@pytest.mark.parametrize(
    "label", ["In neurons", "InN", "Inh neurons", "M-MDSC", "NK bright", "HSC/MPP", "Ex", "pre"]
)
def test_short_names_ambiguous_or_without_a_term_stay_free(label):
    # Inhibitory: GABAergic or glycinergic by tissue; CL's bright/dim NK cells are human-only
    # terms; "HSC/MPP" names a mixed group; "ex" and "pre" alone are no cell type.
    from cellmodel.annotate.free_labels import read_label

    assert read_label(label)[0] is None


def test_a_list_of_short_names_reads_each_as_its_term():
    from cellmodel.annotate.free_labels import user_candidates

    got = {c.given: c.cl_id for c in user_candidates(["cMono", "ncMono", "TAM", "CD8 Trm", "Fib"])}
    assert got == {"cMono": "CL:0000860", "ncMono": "CL:0000875", "TAM": "CL:0000235",
                   "CD8 Trm": "CL:0000909", "Fib": "CL:0000057"}  # fmt: skip


@pytest.mark.parametrize("cd16", ["CD16 Mono", "Mono.CD16", "CD16+ Mono", "FCGR3A+ Mono"])
def test_seurats_cd16_monocytes_beside_cd14_ones_are_the_non_classical_ones(cd16):
    # Seurat's and Azimuth's PBMC lists: "CD16 Mono" beside "CD14 Mono" read as CL's
    # "CD16+ monocyte", the CD14-positive, CD16-positive (intermediate) one; FCGR3A+ as none.
    from cellmodel.annotate.free_labels import user_candidates

    got = {c.given: c.cl_id for c in user_candidates(["CD14 Mono", cd16, "NK"])}
    assert got[cd16] == "CL:0002396" and got["CD14 Mono"] == "CL:0001054"
    # Alone, or beside an intermediate group, it keeps CL's reading; CD14 written, likewise.
    assert {c.cl_id for c in user_candidates([cd16, "NK"])} == {"CL:0002397", "CL:0000623"}
    both = user_candidates(["CD14 Mono", "CD14+CD16+ Mono", "NK"])
    assert [c.cl_id for c in both][1] == "CL:0002397"
    three = user_candidates(["CD14 Mono", cd16, "Intermediate monocytes"])
    assert [c.cl_id for c in three][1] == "CL:0002397"
