"""Hostile but plausible input to genekb's query and housekeeping commands (similar, compare,
combine, verify, list): a name two genes share, values of the wrong kind, versions of two
species read side by side, a catalog another program holds open."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pytest

import genekb as gk
from genekb.build import build
from genekb.errors import GenekbError, UsageError
from genekb.records import GeneTable
from genekb.store.store import Store
from tests.conftest import make_genes, one_line_error
from tests.conftest import run_genekb as run


def _sharing_an_alias(taxon: int = 9606) -> GeneTable:
    """40 synthetic genes of which GENE1 and GENE2 share the alias "SHARED"."""
    genes = make_genes(40, taxon=taxon)
    aliases = [[f"ALIAS{i}"] for i in range(1, 41)]
    aliases[0] = aliases[1] = ["SHARED"]
    table = genes.table.set_column(
        genes.table.schema.get_field_index("aliases"), "aliases", pa.array(aliases)
    )
    return GeneTable(table, genes.snapshot)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Tags `human` (GENE1-40, GENE1 and GENE2 sharing an alias) and `mouse`: the same gene ids
    under another taxon."""
    store = Store.open(tmp_path_factory.mktemp("query") / "store", create=True)
    build(store, model="fake", gene_table=_sharing_an_alias(), tag="human")
    build(store, model="fake", gene_table=make_genes(40, taxon=10090), tag="mouse", taxon="mouse")
    return store


def test_a_name_two_genes_share_is_named_as_such_not_missing(store):
    # It said "gene 'SHARED' is not in embedding human; build a store that holds it".
    line = one_line_error(run("similar", "SHARED", "--ref", "human", "--root", str(store.root)))
    assert "'SHARED' names 2 genes of embedding human: GENE1 (1), GENE2 (2)" in line
    assert "by its symbol or GeneID" in line and "build a store" not in line
    with pytest.raises(GenekbError, match="names 2 genes"):
        gk.similar(store, "shared", ref="human")
    assert gk.similar(store, "GENE1", k=2, ref="human")["query"] == "GENE1"


@pytest.mark.parametrize("k", [2.5, 1e9, "3", True, float("nan")])
def test_similar_refuses_a_k_that_is_no_whole_number(store, k):
    # A float or a string raised TypeError from deep inside NumPy; True counted as 1.
    with pytest.raises(UsageError, match=r"k=.* must be a whole number, at least 1"):
        gk.similar(store, "GENE1", k, ref="human")


@pytest.mark.parametrize("gene", [None, ["GENE1", "GENE2"], ("GENE1",), 1.0, "", "   "])
def test_similar_refuses_what_is_not_one_gene(store, gene):
    # A list, None or "" came back as "gene [...] is not in embedding human; build a store
    # that holds it" (exit 1), as if the store lacked it.
    with pytest.raises(UsageError) as caught:
        gk.similar(store, gene, ref="human")
    assert "build a store" not in str(caught.value)
    line = one_line_error(run("similar", "", "--ref", "human", "--root", str(store.root)), 2)
    assert "give a gene name" in line


def test_versions_of_two_species_are_never_matched_by_gene_id(store):
    # Mouse and human versions (or a cell-ontology given-text one) whose ids share numbers were
    # compared and combined gene by gene as if GENE1 of one were GENE1 of the other.
    before = sorted(p.name for p in (store.root / "embeddings").iterdir())
    root = ("--root", str(store.root))
    line = one_line_error(run("compare", "human", "mouse", "-k", "3", *root))
    assert "human is of taxon 9606 (human) and mouse of taxon 10090 (mouse)" in line
    line = one_line_error(run("combine", "human", "mouse", "--tag", "both", *root))
    assert "combine versions of one species" in line
    assert sorted(p.name for p in (store.root / "embeddings").iterdir()) == before
    assert "both" not in store.tags()


def test_a_catalog_another_program_holds_open_is_not_called_unreadable(store):
    # DuckDB's own shell opens a file for writing by default. verify said "catalog.duckdb:
    # unreadable; `genekb reindex` rewrites it", which would swap the file under that program.
    code = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('open', flush=True);"
        " sys.stdin.read()"
    )
    catalog = store.root / "catalog.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(catalog)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        result = run("verify", "--root", str(store.root))
    finally:
        holder.communicate("")
    assert result.exit_code == 1 and "Traceback" not in result.output
    said = [ln for ln in result.stderr.splitlines() if "catalog.duckdb" in ln]
    assert len(said) == 1 and "unreadable" not in said[0]
    assert "open for writing in another program (python" in said[0]
    assert f"PID {holder.pid}), so it cannot be checked; close it there" in said[0]


def test_sql_gives_a_versions_dim_as_a_whole_number(store):
    # Text versions have no dim, so the column was DOUBLE: --json wrote "dim": 40.0 and the
    # table 40.0, and `dim = 8` compared floats.
    sql = "SELECT kind, typeof(dim) AS t, dim FROM versions WHERE kind = 'embedding' LIMIT 1"
    result = run("sql", sql, "--json", "--root", str(store.root))
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["rows"][0]
    assert row["t"] == "BIGINT" and isinstance(row["dim"], int)


def test_a_piped_table_shows_every_id_whole(store):
    # Piped or redirected, rich's 80 columns cut the ids and tags to "txt-…" and "huma…".
    result = run("list", "--root", str(store.root))
    assert result.exit_code == 0, result.output
    for version in store.versions():
        assert version.id in result.stdout
    assert "…" not in result.stdout
