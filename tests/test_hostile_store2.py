"""Hostile input to a local store from a lab member on a shared disk: an output that is a link
(`/dev/stdout` among them), an Ensembl id of the other species, versions that share one gene.
Earlier rounds' cases (test_hostile_store, test_hostile_query, test_store*, test_integrity*)
are not repeated."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import genekb as gk
from genekb.build import build
from genekb.compare import compare
from genekb.errors import GenekbError
from genekb.query import similar
from genekb.store.store import Store
from tests.conftest import make_genes, one_line_error
from tests.conftest import run_genekb as run


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Tags `human` (GENE1-40, Ensembl ENSG ids) and `one` (GENE1 only)."""
    store = Store.open(tmp_path_factory.mktemp("store2") / "store", create=True)
    genes = make_genes(40)
    build(store, model="fake", gene_table=genes, tag="human")
    build(store, model="fake", gene_table=genes, genes=["GENE1"], tag="one")
    return store


@pytest.mark.parametrize("target", ["kept.tar", "/proc/self/fd/1", "missing.tar"])
def test_an_export_over_a_link_is_refused_and_the_link_kept(store, tmp_path, target):
    # `genekb export REF /dev/stdout --force` renamed the tar over the link /dev/stdout itself,
    # leaving a regular file in /dev; any link given as the output was replaced the same way.
    kept = tmp_path / "kept.tar"
    kept.write_bytes(b"the user's file")
    link = tmp_path / "out.tar"
    link.symlink_to(target if target.startswith("/") else tmp_path / target)
    result = run("export", "human", str(link), "--force", "--root", str(store.root))
    line = one_line_error(result)
    assert ("is a stream" if target.startswith("/proc") else "is a symbolic link") in line
    assert link.is_symlink() and kept.read_bytes() == b"the user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.tar", "out.tar"]


def test_an_ensembl_id_of_the_other_species_is_named_as_such(store):
    # It said "gene 'ENSMUSG…' is not in embedding human; build a store that holds it".
    line = one_line_error(run("similar", "ENSMUSG00000032093.5", "--ref", "human",
                              "--root", str(store.root)))  # fmt: skip
    assert "Ensembl id of another species" in line and "ENSG ids" in line
    assert "build a store" not in line
    with pytest.raises(GenekbError, match="another species"):
        similar(store.embedding("human"), "ensmusg00000032093")
    with pytest.raises(GenekbError, match="build a store that holds it"):  # own species: absent
        similar(store.embedding("human"), "ENSG00000099999")


def test_versions_sharing_one_gene_are_not_told_to_use_a_k_below_1(store):
    # It said "share 1 genes; need more than k=10: give a k below 1 (-k)", which -k refuses.
    line = one_line_error(run("compare", "human", "one", "--root", str(store.root)))
    assert "share 1 gene," in line and "below 1" not in line
    with pytest.raises(GenekbError, match="no neighbours"):
        compare([store.embedding("human"), store.embedding("one")], k=1)


def test_a_plain_output_file_is_still_overwritten_with_force(store, tmp_path):
    out = tmp_path / "out.tar"
    out.write_bytes(b"old")
    assert run("export", "human", str(out), "--force", "--root", str(store.root)).exit_code == 0
    assert not out.is_symlink() and out.stat().st_size > 3
    assert Path(out).read_bytes()[:3] != b"old"


def test_a_default_tag_moved_to_another_species_is_not_read_for_this_one(tmp_path):
    # `build --taxon mouse --tag human/ncbi-card/fake --force` by mistake: `similar CD3E -m fake`
    # then answered from the mouse version (CD3E matched Cd3e, case aside) without a word.
    store = Store.open(tmp_path / "store", create=True)
    build(store, model="fake", gene_table=make_genes(40), tag="human/ncbi-card/fake")
    mouse = build(store, model="fake", gene_table=make_genes(40, taxon=10090), taxon="mouse",
                  tag="human/ncbi-card/fake", force=True)  # fmt: skip
    line = one_line_error(run("similar", "GENE3", "-m", "fake", "--root", str(store.root)))
    assert f"points at {mouse['embedding_id']}, a version of taxon 10090 (mouse)" in line
    with pytest.raises(GenekbError, match="not human"):
        gk.similar(store, "GENE3", model="fake")
    ok = run("similar", "GENE3", "--ref", "human/ncbi-card/fake", "--root", str(store.root))
    assert ok.exit_code == 0  # named, the version is read as it is


def test_an_id_prefix_reads_past_a_damaged_tags_file(store, tmp_path):
    # tags.json cut short on a shared disk: `--ref emb-1234a` failed with "tags.json is corrupt;
    # delete it", though an id prefix is never a tag (tags may not start with emb-).
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(store.root, root)
    (root / "tags.json").write_bytes((root / "tags.json").read_bytes()[:50])
    vid = store.embedding("human").id
    result = run("similar", "GENE3", "--ref", vid[:9], "--root", str(root), "--json")
    assert result.exit_code == 0, result.output
    assert "tags.json is corrupt" in one_line_error(
        run("similar", "GENE3", "--ref", "human", "--root", str(root))
    )  # a tag still needs the file


def _full(*args: object, **kwargs: object) -> None:
    """A write on a full disk as Arrow and tarfile raise it: errno set, no file named."""
    raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left")


def test_a_full_disk_under_a_build_or_an_import_names_the_store(store, tmp_path, monkeypatch):
    # It said "error: Error writing bytes to file. Detail: [errno 28] No space left on device;
    # nothing half-written was published" (and "No space left on device" for an import): no
    # file, no store, no way out.
    exported = tmp_path / "sent.tar"
    assert run("export", "human", str(exported), "--root", str(store.root)).exit_code == 0
    monkeypatch.setattr("pyarrow.parquet.write_table", _full)
    target = Store.open(tmp_path / "new", create=True)
    with pytest.raises(GenekbError, match=r"cannot write .*new/texts/txt-.*: No space left on"
                       r" device; nothing was written there; free some space"):  # fmt: skip
        build(target, model="fake", gene_table=make_genes(5))
    monkeypatch.setattr("tarfile.TarFile.extractall", _full)
    line = one_line_error(run("import", str(exported), "--root", str(tmp_path / "new")))
    assert f"cannot write {tmp_path / 'new'}: No space left on device" in line
    assert "free some space" in line and not Store.open(tmp_path / "new").embeddings()


def test_verify_given_one_ref_bare_verifies_that_version(store):
    # store.verify("human") read the string as refs "h", "u", ...: "no version or tag 'h'".
    human = store.embedding("human")
    assert {r["id"] for r in store.verify("human")} == {human.id, human.text_id}


def test_a_tag_with_a_letter_outside_ascii_is_told_which_letters(store):
    # "tag 'hümän' is not a name; a tag is … letters, digits and …": ü is a letter.
    line = one_line_error(run("import-vectors", "x.csv", "-m", "x", "--tag", "hümän",
                              "--root", str(store.root)), code=2)  # fmt: skip
    assert "'hümän' is not a name" in line and "ASCII letters" in line


@pytest.mark.parametrize(
    ("where", "keeps"),
    [("locks", "its locks"), ("locks/tags.lock", "its locks"),
     (".staging", "versions being written"), ("embeddings", "its embedding versions")],
)  # fmt: skip
def test_a_store_folder_taken_by_something_else_says_what_to_move(store, tmp_path, where, keeps):
    # It said "s/locks: File exists; nothing half-written was published" ("Is a directory",
    # "s/.staging/123-ab: Not a directory", "s/embeddings: File exists"): no way out.
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(store.root, root)
    shutil.rmtree(root / where.split("/")[0], ignore_errors=True)
    if "/" in where:
        (root / where).mkdir(parents=True)  # a folder where the tags lock file goes
    else:
        (root / where).write_text("")  # a file where a folder goes
    copy = Store.open(root)
    with pytest.raises(GenekbError, match=rf"is a (file|folder), where genekb keeps {keeps}"):
        if where.startswith("locks"):
            copy.set_tag("other", store.embedding("human").id)
        else:
            build(copy, model="fake", gene_table=make_genes(40), genes=["GENE2", "GENE3"])
    assert Store.open(root).tags() == store.tags()
