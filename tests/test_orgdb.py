"""The orgdb source on tiny org.*.eg.db and GO.sqlite files built here; the bundled human table."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import pyarrow.compute as pc
import pytest

from genekb.errors import GenekbError
from genekb.records import GENE_SCHEMA
from genekb.sources.bundled import load_bundled
from genekb.sources.orgdb import OrgDbSource, read_orgdb
from tests.conftest import CD3E_IDENTITY

# Same tables and columns as org.Hs.eg.sqlite (AnnotationDbi HUMAN_DB schema 2.1), trimmed.
ORG_SCHEMA = """
CREATE TABLE metadata (name VARCHAR(80) PRIMARY KEY, value VARCHAR(255));
CREATE TABLE genes (_id INTEGER PRIMARY KEY, gene_id VARCHAR(10) NOT NULL UNIQUE);
CREATE TABLE gene_info (_id INTEGER NOT NULL UNIQUE, gene_name VARCHAR(255) NOT NULL,
                        symbol VARCHAR(80) NOT NULL);
CREATE TABLE genetype (_id INTEGER NOT NULL, gene_type VARCHAR(20) NOT NULL);
CREATE TABLE chromosomes (_id INTEGER NOT NULL, chromosome VARCHAR(2) NOT NULL);
CREATE TABLE cytogenetic_locations (_id INTEGER NOT NULL,
                                    cytogenetic_location VARCHAR(20) NOT NULL);
CREATE TABLE alias (_id INTEGER NOT NULL, alias_symbol VARCHAR(80) NOT NULL);
CREATE TABLE ensembl (_id INTEGER NOT NULL, ensembl_id VARCHAR(20) NOT NULL);
CREATE TABLE go_bp (_id INTEGER NOT NULL, go_id CHAR(10) NOT NULL, evidence CHAR(3) NOT NULL);
CREATE TABLE go_mf (_id INTEGER NOT NULL, go_id CHAR(10) NOT NULL, evidence CHAR(3) NOT NULL);
CREATE TABLE go_cc (_id INTEGER NOT NULL, go_id CHAR(10) NOT NULL, evidence CHAR(3) NOT NULL);
"""
GO_SCHEMA = """
CREATE TABLE metadata (name VARCHAR(80) PRIMARY KEY, value VARCHAR(255));
CREATE TABLE go_term (_id INTEGER PRIMARY KEY, go_id CHAR(10) NOT NULL UNIQUE,
                      term VARCHAR(255) NOT NULL, ontology VARCHAR(9) NOT NULL, definition TEXT);
CREATE TABLE go_synonym (_id INTEGER NOT NULL, synonym VARCHAR(255) NOT NULL,
                         secondary CHAR(10) NULL, like_go_id SMALLINT);
"""
ORG_METADATA = [
    ("DBSCHEMA", "HUMAN_DB"),
    ("ORGANISM", "Homo sapiens"),
    ("EGSOURCEDATE", "2022-Sep12"),
    ("CENTRALID", "EG"),
    ("TAXID", "9606"),
    ("GOSOURCEDATE", "2022-07-01"),
]
# Internal _id order differs from GeneID order on purpose: the output is sorted by GeneID.
GENES = [(1, "916"), (2, "1"), (3, "7157"), (4, "100")]
GENE_INFO = [
    (1, "CD3 epsilon subunit of T-cell receptor complex", "CD3E"),
    (2, "alpha-1-B glycoprotein", "A1BG"),
    (3, "tumor protein p53", "TP53"),
    (4, "adenosine deaminase", "ADA"),
]
GENETYPE = [(1, "protein-coding"), (2, "protein-coding"), (3, "protein-coding"), (4, "ncRNA")]
CYTOBANDS = [(1, "11q23.3"), (2, "19q13.43"), (3, "17p13.1"), (3, "17p13")]
ALIASES = [(1, "CD3E"), (1, "T3E"), (1, "TCRE"), (1, "T3E"), (2, "A1B"), (2, "ABG"), (3, "P53")]
ENSEMBL = [(1, "ENSG00000198851"), (3, "ENSG00000141510.17"), (3, "ENSG00000141510")]
GO_BP = [(1, "GO:0001", "IDA"), (1, "GO:0001", "IEA"), (1, "GO:0002", "TAS"), (3, "GO:0099", "IEA")]
GO_MF = [(1, "GO:0010", "IPI"), (3, "GO:0011", "IDA"), (3, "GO:0010", "IDA")]
# GO:0030 is an alt id of GO:0020; GO:0404 is unknown to GO.sqlite.
GO_CC = [(1, "GO:0020", "IDA"), (3, "GO:0030", "IDA"), (3, "GO:0404", "IDA")]
GO_TERMS = [
    (1, "GO:0001", "T cell activation", "BP", None),
    (2, "GO:0002", "signal transduction", "BP", None),
    (3, "GO:0010", "protein binding", "MF", None),
    (4, "GO:0011", "DNA binding", "MF", None),
    (5, "GO:0020", "plasma membrane", "CC", None),
    (6, "GO:0099", "apoptotic process", "BP", None),
]
GO_SYNONYMS = [(5, "GO:0030", "GO:0030", 1), (5, "cell membrane", None, 0)]


def _write_sqlite(path: Path, schema: str, rows: dict[str, list[tuple[object, ...]]]) -> Path:
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.executescript(schema)
        for table, values in rows.items():
            marks = ",".join("?" * len(values[0]))
            connection.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
    return path


def make_org(path: Path, metadata: list[tuple[str, str]] = ORG_METADATA) -> Path:
    rows = {
        "metadata": metadata,
        "genes": GENES,
        "gene_info": GENE_INFO,
        "genetype": GENETYPE,
        "chromosomes": [(1, "11"), (2, "19"), (3, "17"), (4, "20")],
        "cytogenetic_locations": CYTOBANDS,
        "alias": ALIASES,
        "ensembl": ENSEMBL,
        "go_bp": GO_BP,
        "go_mf": GO_MF,
        "go_cc": GO_CC,
    }
    return _write_sqlite(path, ORG_SCHEMA, rows)


def make_go(path: Path) -> Path:
    rows = {
        "metadata": [("GOSOURCEDATE", "2022-07-01"), ("DBSCHEMA", "GO_DB")],
        "go_term": GO_TERMS,
        "go_synonym": GO_SYNONYMS,
    }
    return _write_sqlite(path, GO_SCHEMA, rows)


@pytest.fixture()
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    # Laid out like an installed R package so the DESCRIPTION gives the name and version.
    extdata = tmp_path / "org.Tn.eg.db" / "extdata"
    extdata.mkdir(parents=True)
    (tmp_path / "org.Tn.eg.db" / "DESCRIPTION").write_text(
        "Package: org.Tn.eg.db\nTitle: Genome wide annotation\nVersion: 3.16.0\n"
    )
    return make_org(extdata / "org.Tn.eg.sqlite"), make_go(tmp_path / "GO.sqlite")


def test_read_orgdb_rows_exactly(tiny: tuple[Path, Path]) -> None:
    genes = read_orgdb(*tiny)
    assert genes.table.schema == GENE_SCHEMA
    rows = {row["symbol"]: row for row in genes.table.to_pylist()}
    assert genes.table.column("gene_id").to_pylist() == [1, 100, 916, 7157]
    assert set(genes.table.column("taxon").to_pylist()) == {9606}
    assert rows["CD3E"] == {
        **CD3E_IDENTITY,
        "aliases": ["T3E", "TCRE"],  # the symbol itself and the duplicate are gone
        "ensembl": ["ENSG00000198851"],
        "summary": None,
        "go_bp": ["T cell activation", "signal transduction"],
        "go_mf": ["protein binding"],
        "go_cc": ["plasma membrane"],
    }
    tp53 = rows["TP53"]
    assert tp53["map_location"] == "17p13.1|17p13"
    assert tp53["aliases"] == ["P53"]
    assert tp53["ensembl"] == ["ENSG00000141510"]  # version suffix stripped, then deduplicated
    assert tp53["go_bp"] == ["apoptotic process"]
    assert tp53["go_mf"] == ["DNA binding", "protein binding"]
    assert tp53["go_cc"] == ["plasma membrane"]  # named through its alt id; GO:0404 dropped
    ada = rows["ADA"]
    assert (ada["gene_type"], ada["aliases"], ada["ensembl"]) == ("ncRNA", [], [])
    assert (ada["go_bp"], ada["go_mf"], ada["go_cc"], ada["map_location"]) == ([], [], [], None)
    assert rows["A1BG"]["aliases"] == ["A1B", "ABG"]


def test_read_orgdb_snapshot(tiny: tuple[Path, Path]) -> None:
    org_sqlite, go_sqlite = tiny
    snapshot = read_orgdb(org_sqlite, go_sqlite).snapshot
    assert (snapshot.source, snapshot.taxon, snapshot.date) == ("orgdb", 9606, "2022-09-12")
    details = snapshot.details
    assert details["go_source_date"] == "2022-07-01"
    assert (details["package"], details["package_version"]) == ("org.Tn.eg.db", "3.16.0")
    assert details["org_sqlite"] == {
        "file": "org.Tn.eg.sqlite",
        "sha256": hashlib.sha256(org_sqlite.read_bytes()).hexdigest(),
    }
    assert details["go_sqlite"]["sha256"] == hashlib.sha256(go_sqlite.read_bytes()).hexdigest()
    assert details["unresolved_go_ids"] == ["GO:0404"]
    assert details["org_metadata"]["EGSOURCEDATE"] == "2022-Sep12"
    assert "org.Tn.eg.db 3.16.0" in snapshot.description


def test_package_name_without_description(tmp_path: Path) -> None:
    genes = read_orgdb(make_org(tmp_path / "org.Mm.eg.sqlite"), make_go(tmp_path / "GO.sqlite"))
    assert genes.snapshot.details["package"] == "org.Mm.eg.db"
    assert genes.snapshot.details["package_version"] is None


def test_taxon_given_must_match(tiny: tuple[Path, Path]) -> None:
    assert read_orgdb(*tiny, taxon=9606).snapshot.taxon == 9606
    with pytest.raises(GenekbError, match="taxon 9606"):
        read_orgdb(*tiny, taxon=10090)


def test_taxon_from_organism_or_argument(tmp_path: Path) -> None:
    go_sqlite = make_go(tmp_path / "GO.sqlite")
    mouse_meta = [("ORGANISM", "Mus musculus"), ("EGSOURCEDATE", "2022-Sep12")]
    mouse = read_orgdb(make_org(tmp_path / "mouse.sqlite", mouse_meta), go_sqlite)
    assert set(mouse.table.column("taxon").to_pylist()) == {10090}
    bare_meta = [("ORGANISM", "Tetraodon nigroviridis"), ("GENESOURCEDATE", "2023-03-01")]
    bare = make_org(tmp_path / "bare.sqlite", bare_meta)
    with pytest.raises(GenekbError, match="pass the taxon"):
        read_orgdb(bare, go_sqlite)
    genes = read_orgdb(bare, go_sqlite, taxon=99883)
    assert (genes.snapshot.taxon, genes.snapshot.date) == (99883, "2023-03-01")


def test_foreign_and_missing_files(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    org_sqlite, go_sqlite = tiny
    foreign = tmp_path / "foreign.sqlite"
    with closing(sqlite3.connect(foreign)) as connection, connection:
        connection.execute("CREATE TABLE things (id INTEGER, name TEXT)")
    with pytest.raises(GenekbError, match=r"is not an org\.\*\.eg\.db SQLite"):
        read_orgdb(foreign, go_sqlite)
    with pytest.raises(GenekbError, match="is not an org"):
        read_orgdb(go_sqlite, org_sqlite)  # the two files swapped
    with pytest.raises(GenekbError, match=r"is not a GO\.db SQLite"):
        read_orgdb(org_sqlite, foreign)
    text = tmp_path / "notes.sqlite"
    text.write_text("this is not a database, just some words long enough to have a header\n" * 5)
    with pytest.raises(GenekbError, match="not a SQLite database"):
        read_orgdb(text, go_sqlite)
    with pytest.raises(GenekbError, match="not found"):
        read_orgdb(tmp_path / "absent.sqlite", go_sqlite)
    assert not (tmp_path / "absent.sqlite").exists()  # read-only open created nothing


def test_orgdb_source(tiny: tuple[Path, Path]) -> None:
    source = OrgDbSource(*tiny)
    assert source.name == "orgdb"
    genes = source.load()
    assert len(genes) == 4
    assert genes.snapshot.source == "orgdb"


def test_bundled_human_snapshot() -> None:
    genes = load_bundled("human")
    table, snapshot = genes.table, genes.snapshot
    assert (snapshot.source, snapshot.taxon, snapshot.date) == ("bundled", 9606, "2022-09-12")
    assert snapshot.details["go_source_date"] == "2022-07-01"
    assert snapshot.details["org_metadata"]["EGSOURCEDATE"] == "2022-Sep12"
    assert [d["version"] for d in snapshot.details["debs"]] == ["3.16.0-1", "3.16.0-1"]
    coding = table.filter(pc.equal(table.column("gene_type"), "protein-coding"))
    named = pc.greater(pc.utf8_length(pc.fill_null(coding.column("name"), "")), 0)
    assert pc.sum(named).as_py() >= 19_000
    assert pc.count_distinct(table.column("gene_id")).as_py() == table.num_rows
    cd3e = table.filter(pc.equal(table.column("symbol"), "CD3E")).to_pylist()
    assert len(cd3e) == 1
    assert cd3e[0]["gene_id"] == 916
    assert cd3e[0]["ensembl"] == ["ENSG00000198851"]
    assert "T cell receptor complex" in cd3e[0]["go_cc"]
    assert len(cd3e[0]["go_bp"]) >= 10
    assert "CD3E" not in cd3e[0]["aliases"]
