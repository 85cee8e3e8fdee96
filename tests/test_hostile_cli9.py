"""Hostile input to genekb's gene-side commands, ninth sweep: a store on a read-only disk still
reads, a user's NCBI table saved by another program is read or refused by its line, and a gene
name holding a look-alike letter is named as such."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

from genekb.build import build
from genekb.errors import GenekbError
from genekb.fileio import write_failed
from genekb.store import integrity
from genekb.store.store import Store
from tests.conftest import make_genes, one_line_error
from tests.conftest import run_genekb as run
from tests.test_remote import build_tags


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store with tag t0 (GENE1…) and its catalog, no hash records yet."""
    store = Store.open(tmp_path / "store", create=True)
    build_tags(store, "t0")
    assert run("reindex", "--root", str(store.root)).exit_code == 0
    shutil.rmtree(store.root / integrity.VERIFIED_DIR, ignore_errors=True)
    return store


# ---- a store on a read-only disk ---------------------------------------------------------------


def test_a_read_only_store_still_reads(store, tmp_path, monkeypatch):
    # Every reader failed on its first look: writing the hash record (a cache that only saves
    # work) turned the disk's refusal into "cannot write .verified/…" and exit 1.
    def read_only(path: Path, data: bytes, **_: object) -> None:
        raise write_failed(path, OSError(errno.EROFS, "Read-only file system"))

    monkeypatch.setattr(integrity, "atomic_write", read_only)
    root = ("--root", str(store.root))
    for args in (
        ("list",),
        ("verify",),
        ("info", "t0"),
        ("sql", "SELECT count(*) AS n FROM embeddings"),
        ("similar", "GENE5", "--ref", "t0", "-k", "2"),
        ("export", "t0", str(tmp_path / "t0.tar")),
    ):
        result = run(*args, *root)
        assert result.exit_code == 0, (args, result.output)
        assert "cannot write" not in result.output


# ---- a user's NCBI gene table saved by another program -----------------------------------------

GENE_INFO = Path(__file__).parent / "data" / "ncbi" / "gene_info"


def _build_from(table: Path, root: Path):
    args = ("build", "--model", "fake", "--source", "ncbi", "--source-opt", f"gene_info={table}")
    return run(*args, "--root", str(root), "--json")


def test_a_gene_table_saved_with_a_byte_order_mark_reads_as_without(tmp_path):
    # It was refused as "not an NCBI gene_info file … missing tax_id": the BOM hid the '#'.
    with_bom = tmp_path / "gene_info.tsv"
    with_bom.write_bytes(b"\xef\xbb\xbf" + GENE_INFO.read_bytes().replace(b"\n", b"\r\n"))
    plain = json.loads(_build_from(GENE_INFO, tmp_path / "plain").stdout)
    result = _build_from(with_bom, tmp_path / "bom")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_genes"] == plain["n_genes"] > 0


def test_a_latin1_gene_table_is_refused_by_line_not_embedded_as_replacement_marks(tmp_path):
    # A Latin-1 'é' became U+FFFD in the gene's text and the build went on, signing mangled text.
    lines = GENE_INFO.read_bytes().splitlines(keepends=True)
    number = next(i for i, ln in enumerate(lines) if ln.startswith(b"9606\t")) + 1
    lines[number - 1] = lines[number - 1].replace(b"\t-\t", b"\tcat\xe9nine\t", 1)
    table = tmp_path / "gene_info.tsv"
    table.write_bytes(b"".join(lines))
    line = one_line_error(_build_from(table, tmp_path / "store"))
    assert f"line {number} is not UTF-8 text" in line and "iconv" in line
    assert not (tmp_path / "store").exists()


def test_a_latin1_vector_table_says_it_is_not_utf8(tmp_path):
    # It said "is not a readable tsv table (UnicodeDecodeError)": a class name, no way out.
    table = tmp_path / "vectors.tsv"
    table.write_bytes(b"gene\td0\td1\nGENE1\t1\t2\nCAT\xe9\t3\t4\n")
    root = tmp_path / "store"
    line = one_line_error(run("import-vectors", str(table), "--model", "m", "--root", str(root)))
    assert "is not UTF-8 text; save it as UTF-8" in line
    assert not root.exists()


# ---- gene names holding a look-alike letter ----------------------------------------------------

CYRILLIC_IE = "\u0415"  # 'Е', drawn as the Latin 'E'
SAYS = "U+0415 CYRILLIC CAPITAL LETTER IE"


def test_a_gene_name_with_a_look_alike_letter_names_the_letter(store, tmp_path):
    # "gene 'GЕNE5' is not in embedding t0; build a store that holds it": the name looked
    # present, so a user would rebuild; nothing said the 'Е' was Cyrillic.
    line = one_line_error(
        run("similar", f"G{CYRILLIC_IE}NE5", "--ref", "t0", "--root", str(store.root))
    )
    assert SAYS in line and "retype it" in line and "build a store" not in line
    genes = tmp_path / "genes.txt"
    genes.write_text(f"CD3{CYRILLIC_IE}\n", encoding="utf-8")
    args = ("build", "--model", "fake", "--genes", str(genes), "--root", str(tmp_path / "new"))
    assert SAYS in one_line_error(run(*args))
    table = tmp_path / "vectors.tsv"
    table.write_text(f"gene\td0\nCD3{CYRILLIC_IE}\t1\n", encoding="utf-8")
    args = ("import-vectors", str(table), "--model", "m", "--root", str(tmp_path / "new"))
    assert SAYS in one_line_error(run(*args))
    assert not (tmp_path / "new").exists()


# ---- a build whose tag move is refused ---------------------------------------------------------


def test_a_build_refused_its_tag_leaves_a_catalog_that_lists_its_version(store):
    # The version stayed but the catalog was not rewritten: verify then said the catalog "was
    # behind the store (a write stopped early)", and DuckDB users of catalog.duckdb missed it.
    import duckdb

    built = build(
        store, model="fake", gene_table=make_genes(60), genes=["GENE1", "GENE2"], tag="t9"
    )
    with pytest.raises(GenekbError, match="pass --force"):
        build(store, model="fake", gene_table=make_genes(60), genes=["GENE3"], tag="t9")
    with duckdb.connect(str(store.root / "catalog.duckdb"), read_only=True) as con:
        listed = {row[0] for row in con.execute("SELECT id FROM versions").fetchall()}
    assert built["embedding_id"] in listed and len(listed) == len(list(store.versions()))
    result = run("verify", "--root", str(store.root))
    assert result.exit_code == 0 and "behind the store" not in result.output


# ---- a task file without rows ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("gene,label\n", "holds a header but no rows"),
        (
            "gene,label\r\nGENE1,\r\nGENE2, \r\n",
            "no row has both a gene and a label; fill in 'label'",
        ),
    ],
)
def test_a_task_file_without_labelled_rows_says_so(store, tmp_path, body, says):
    # Both said "a task needs at least two labels, found []".
    task = tmp_path / "task.csv"
    task.write_bytes(b"\xef\xbb\xbf" + body.encode())
    line = one_line_error(run("eval", "t0", "-t", str(task), "--root", str(store.root)))
    assert says in line and "found []" not in line


# ---- gene ids written as floats, and digits int() cannot read ----------------------------------


def test_entrez_ids_written_as_floats_match_and_superscripts_are_no_crash(store, tmp_path):
    # A gene column pandas wrote as floats ("5.0") matched nothing; "²" passed isdigit() and
    # int() failed: "unexpected ValueError".
    table = tmp_path / "vectors.csv"
    ids = (7157, 916, 930, 3630, 2597, 60)  # TP53, CD3E, CD19, INS, GAPDH, ACTB
    table.write_text("gene_id,d0,d1\n" + "".join(f"{i}.0,{i},1\n" for i in ids))
    root = ("--root", str(store.root))
    result = run("import-vectors", str(table), "--model", "m", "--tag", "f/m", "--json", *root)
    assert result.exit_code == 0, result.output
    mapping = json.loads(result.stdout)["mapping"]
    assert mapping["matched"] == 6 and mapping["by_route"] == {"entrez": 6}
    assert "not in embedding" in one_line_error(run("similar", "\u00b2", "--ref", "t0", *root))


def test_a_folder_in_the_catalogs_place_is_named_with_the_way_out(store):
    # verify sent the user to reindex, and reindex failed saying it would rewrite the catalog
    # "once it can be written": no command removes a folder, so the advice went in a circle.
    catalog = store.root / "catalog.duckdb"
    catalog.unlink()
    catalog.mkdir()
    result = run("verify", "--root", str(store.root))
    assert result.exit_code == 1 and "a folder, not the catalog; remove it" in result.output
    result = run("reindex", "--root", str(store.root))
    assert result.exit_code == 1
    assert f"remove the folder {catalog}" in one_line_error(result)
    catalog.rmdir()
    assert run("reindex", "--root", str(store.root)).exit_code == 0
    assert run("verify", "--root", str(store.root)).exit_code == 0
