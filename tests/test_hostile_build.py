"""`genekb build` from the messy inputs a user brings: NCBI bulk files packed, of another
organism or saved from a spreadsheet, and gene lists written by R, pandas or a spreadsheet."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import warnings
import zipfile
from pathlib import Path

import pytest

from genekb.build import build
from genekb.errors import GenekbError
from genekb.gene_lists import read_gene_list
from genekb.sources.ncbi import read_ncbi
from genekb.store.foreign import OtherSpeciesNamesWarning
from genekb.store.store import Store
from tests.conftest import feed_fifo, one_line_error, run_genekb

NCBI = Path(__file__).parent / "data" / "ncbi"
GENE_INFO = NCBI / "gene_info"
GENE2GO = NCBI / "gene2go"


def _ncbi_build(root: Path, *source_opts: str, taxon: str = "human"):
    opts = [a for o in source_opts for a in ("--source-opt", o)]
    return run_genekb(
        "build", "--model", "fake", "--source", "ncbi", *opts, "--taxon", taxon,
        "--root", str(root),
    )  # fmt: skip


def _zip(data: bytes) -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("gene_info", data)
    return packed.getvalue()


@pytest.mark.parametrize(
    ("name", "pack", "says"),
    [
        ("gene_info.xz", lzma.compress, "xz-compressed, not a gene_info file; decompress it"),
        ("gene_info.bz2", bz2.compress, "bzip2-compressed, not a gene_info file; decompress"),
        ("gene_info.zip", _zip, "a zip archive (an Excel .xlsx is one), not a gene_info file"),
    ],
)
def test_a_gene_info_packed_other_than_gzip_is_named_not_shown_as_noise(tmp_path, name, pack, says):
    # The header of binary noise was quoted back: "its header is '\xfd7zXZ\x00...'; expected
    # '#tax_id GeneID ...'", with no word of the packing or what to do.
    packed = tmp_path / name
    packed.write_bytes(pack(GENE_INFO.read_bytes()))
    line = one_line_error(_ncbi_build(tmp_path / "s", f"gene_info={packed}"))
    assert says in line and "\\x" not in line
    go = tmp_path / "gene2go.xz"
    go.write_bytes(lzma.compress(GENE2GO.read_bytes()))
    line = one_line_error(_ncbi_build(tmp_path / "s", f"gene_info={GENE_INFO}", f"gene2go={go}"))
    assert "gene2go.xz is xz-compressed, not a gene2go file" in line


def test_a_gene2go_of_another_organism_is_refused_not_built_without_go(tmp_path):
    # A mouse gene2go beside a human gene_info: every human card was built without GO terms,
    # exit 0 and no word of it.
    lines = GENE2GO.read_text().splitlines(keepends=True)
    mouse = tmp_path / "gene2go_mouse"
    mouse.write_text(lines[0] + "".join(ln for ln in lines[1:] if ln.startswith("10090\t")))
    with pytest.raises(GenekbError, match=r"gene2go_mouse annotates none of the 4 genes of taxon"):
        read_ncbi(GENE_INFO, mouse, taxon=9606)
    line = one_line_error(_ncbi_build(tmp_path / "s", f"gene_info={GENE_INFO}", f"gene2go={mouse}"))
    assert "(1 rows read, 0 of taxon 9606)" in line and "leave gene2go out" in line
    assert not (tmp_path / "s" / "texts").exists() or not any((tmp_path / "s" / "texts").iterdir())
    # The same file with the mouse gene_info is that organism's GO: read as before.
    rows = read_ncbi(GENE_INFO, mouse, taxon=10090).table.to_pylist()
    assert [r["symbol"] for r in rows if r["go_cc"]] == ["Cd3e"]


def test_a_gene_info_saved_from_a_spreadsheet_is_refused(tmp_path):
    # Excel turns SEPTIN1's old symbol SEPT1 into "1-Sep" and MARCH1 into "1-Mar": the gene was
    # built as "1-Sep: septin 1." and found under "1-Sep", the file's other damage unseen.
    rows = GENE_INFO.read_text().splitlines(keepends=True)
    mangled = tmp_path / "gene_info.txt"
    mangled.write_text(rows[0] + rows[1].replace("\tCD3E\t", "\t1-Sep\t", 1) + "".join(rows[2:]))
    line = one_line_error(_ncbi_build(tmp_path / "s", f"gene_info={mangled}"))
    assert "line 2: GeneID 916 has the Symbol '1-Sep', a date" in line
    assert "download it again" in line


def test_a_gene_list_with_quoted_tabs_and_line_breaks_is_read_row_by_row(tmp_path):
    # Each line was parsed alone, its delimiter guessed from it: a quoted tab made the line a
    # TSV ('CD3E,"a, b' was a gene) and a quoted line break made 'line"' one.
    path = tmp_path / "genes.csv"
    path.write_text('gene,note\n"CD3E","a, b\tc"\n"TP53","two\nlines"\nCD19,x\n')
    assert read_gene_list(path) == ["CD3E", "TP53", "CD19"]
    tsv = tmp_path / "genes.tsv"
    tsv.write_text('gene\tnote\r\nCD3E\t"a\tb"\r\nTP53\t"c, d"\r\n')
    assert read_gene_list(tsv) == ["CD3E", "TP53"]
    # A quote never closed takes no lines after it: each line is a name, as before.
    unclosed = tmp_path / "unclosed.txt"
    unclosed.write_text('CD3E\n"TP53\nCD19\nMS4A1\n')
    assert read_gene_list(unclosed) == ["CD3E", "TP53", "CD19", "MS4A1"]


@pytest.mark.parametrize(
    "written",
    [
        ",gene,score\n0,CD3E,1.5\n1,TP53,0.5\n2,CD19,0.1\n",  # pandas df.to_csv(path)
        '"","x"\n"1","CD3E"\n"2","TP53"\n"3","CD19"\n',  # R write.csv(genes, path)
        "gene\tscore\n1\tCD3E\t1.5\n2\tTP53\t0.5\n3\tCD19\t0.1\n",  # R write.table(sep="\t")
    ],
)
def test_a_gene_list_written_with_its_index_gives_its_genes_not_geneids_1_2_3(tmp_path, written):
    # The index's row numbers were read as the genes: GeneIDs 1, 2, 3 are A1BG, A2M, NAT1, so the
    # build embedded three genes nobody listed.
    path = tmp_path / "genes.csv"
    path.write_text(written)
    assert read_gene_list(path) == ["CD3E", "TP53", "CD19"]


def test_gene_lists_of_numbers_and_names_alone_read_as_before(tmp_path):
    for text, genes in [
        ("1\n2\n3\n", ["1", "2", "3"]),  # GeneIDs, one a line
        ("gene_id,score\n1,0.5\n2,0.3\n", ["1", "2"]),  # GeneIDs under their own header
        ('"","p_val"\n"CD3E",0.01\n"TP53",0.2\n', ["CD3E", "TP53"]),  # genes as R's row names
        ("# mine\nCD3E\n\nTP53\n", ["CD3E", "TP53"]),
    ]:
        path = tmp_path / "genes.txt"
        path.write_text(text)
        assert read_gene_list(path) == genes


def test_a_mouse_gene_list_built_as_human_says_so(tmp_path):
    # Names match case-blind: Cd3e and Trp53 (an alias of TP53) built the human genes under the
    # default --taxon human, exit 0 and not a word; a human list under --taxon mouse likewise.
    mouse = tmp_path / "mouse.txt"
    mouse.write_text("Cd3e\nTrp53\n")
    result = _ncbi_build_genes(tmp_path, mouse)
    assert result.exit_code == 0, result.output
    assert (
        "warning: 2 of the 2 genes given are written as mouse symbols (e.g. Cd3e, Trp53) and were"
        " read as the human genes" in result.stderr
    )
    assert "build with --taxon mouse" in result.stderr
    human = tmp_path / "human.txt"
    human.write_text("CD3E\nTRP53\n")
    with pytest.warns(OtherSpeciesNamesWarning, match="written as human symbols"):
        build(
            Store.open(tmp_path / "s"), model="fake", genes=human.read_text().split(),
            gene_table=read_ncbi(GENE_INFO, taxon=10090), tag="m",
        )  # fmt: skip
    # Names written as the taxon writes them: no word.
    with warnings.catch_warnings():
        warnings.simplefilter("error", OtherSpeciesNamesWarning)
        build(
            Store.open(tmp_path / "s"), model="fake", genes=["CD3E", "TP53"],
            gene_table=read_ncbi(GENE_INFO, taxon=9606), tag="h",
        )  # fmt: skip


def test_a_mouse_gene_table_built_without_taxon_is_tagged_mouse(tmp_path):
    # build(gene_table=<mouse genes>) took taxon="human" by default: the version was tagged
    # human/ncbi-card/fake, the tag human readers look up, who were then refused its genes.
    store = Store.open(tmp_path / "s", create=True)
    mouse = read_ncbi(GENE_INFO, taxon=10090)
    report = build(store, model="fake", gene_table=mouse)
    assert report["tag"] == "mouse/ncbi-card/fake" and report["taxon"] == "mouse"
    assert set(store.tags()) == {"mouse/ncbi-card/fake"}
    with pytest.raises(GenekbError, match=r"taxon='human' but gene_table holds genes of taxon"):
        build(store, model="fake", gene_table=mouse, taxon="human")
    assert build(store, model="fake", gene_table=mouse, taxon="mouse")["tag"] == report["tag"]


def test_two_copies_of_an_undated_gene_table_build_one_text_version(tmp_path):
    # A table whose Modification_date is "-" throughout was dated by the file's mtime: a copy of
    # the same bytes (cp, a new download, a checkout) built another text version, another id.
    rows = [line.split("\t") for line in GENE_INFO.read_text().splitlines()]
    for row in rows[1:]:
        row[14] = "-"
    copies = [tmp_path / "a" / "gene_info", tmp_path / "b" / "gene_info"]
    for when, path in zip((86_400, 86_400 * 400), copies, strict=True):
        path.parent.mkdir()
        path.write_text("\n".join("\t".join(r) for r in rows) + "\n")
        os.utime(path, (when, when))
    ids = {build(Store.open(tmp_path / "s", create=True), model="fake",
                 gene_table=read_ncbi(p, taxon=9606))["embedding_id"] for p in copies}  # fmt: skip
    assert len(ids) == 1
    assert read_ncbi(copies[0], taxon=9606).snapshot.date == "undated"


@pytest.mark.parametrize("source", ["refseq", "entrez"])
def test_a_layered_source_is_not_its_own_base(tmp_path, source):
    # --source refseq --source-opt base=refseq filled the summaries twice over the bundled genes
    # and built the same texts under another id ("bundled+refseq+refseq"); entrez asked NCBI
    # for every gene's summary twice.
    result = run_genekb(
        "build", "--model", "fake", "--source", source, "--source-opt", f"base={source}",
        "--root", str(tmp_path / "s"),
    )  # fmt: skip
    line = one_line_error(result, 2)
    assert f"source '{source}' cannot be its own base; give base= one of bundled" in line


def test_build_arguments_of_the_wrong_kind_are_refused_in_words(tmp_path):
    # taxon="Mouse" beside a gene table was taken as a name: the version was tagged
    # Mouse/ncbi-card/fake; model=None and gene_info=123 failed inside with TypeErrors, and
    # genes=[None] looked for a gene called "None".
    store = Store.open(tmp_path / "s", create=True)
    human = read_ncbi(GENE_INFO, taxon=9606)
    with pytest.raises(GenekbError, match="unknown taxon 'Mouse'; choose one of: human, mouse"):
        build(store, model="fake", gene_table=human, taxon="Mouse")
    with pytest.raises(GenekbError, match="model=None must be an encoder name"):
        build(store, model=None, gene_table=human)  # type: ignore[arg-type]
    with pytest.raises(GenekbError, match="source option gene_info=123 must be a path"):
        build(store, model="fake", source="ncbi", source_options={"gene_info": 123})
    report = build(store, model="fake", gene_table=human, genes=["CD3E", None])
    assert report["genes_requested"] == 1 and report["genes_unmatched"] == 0
    assert store.tags() == {"human/ncbi-card/fake": report["embedding_id"]}


def test_a_gene_list_that_is_a_web_page_says_so(tmp_path):
    # A failed download saves the server's page: its lines were read as five gene names, and the
    # build said "none of the 5 genes given matches the human ncbi source; check the names".
    page = tmp_path / "genes.txt"
    page.write_text("<!DOCTYPE html>\n<html>\n<head><title>404</title></head>\n<body>gone</body>\n")
    result = _ncbi_build_genes(tmp_path, page)
    line = one_line_error(result)
    assert "genes.txt is an HTML page, not a list or table (a failed download" in line
    page.write_text("<!-- saved -->\n<HTML><BODY>Please log in</BODY></HTML>\n")
    with pytest.raises(GenekbError, match="is an HTML page"):
        read_gene_list(page)
    page.write_text("CD3E\n<html>\n")  # a list that merely holds such a line is a list
    assert read_gene_list(page) == ["CD3E", "<html>"]


def test_an_orgdb_given_as_its_package_archive_is_named(tmp_path):
    # The package's .tar.gz (or a gzipped .sqlite) given as org_db: "is not a SQLite database
    # (file is not a database)", with no word of the packing.
    archive = tmp_path / "org.Hs.eg.db_3.16.0.tar.gz"
    archive.write_bytes(gzip.compress(b"org.Hs.eg.db/DESCRIPTION\x00" * 40))
    result = run_genekb(
        "build", "--model", "fake", "--source", "orgdb", "--source-opt", f"org_db={archive}",
        "--source-opt", f"go_db={archive}", "--root", str(tmp_path / "s"),
    )  # fmt: skip
    line = one_line_error(result)
    assert "tar.gz is gzip-compressed, not a SQLite database; decompress it first" in line
    assert "extdata/ folder" in line


def test_a_source_file_given_from_home_with_a_tilde_is_found(tmp_path, monkeypatch):
    # `--source-opt gene_info=~/gene_info` is one word, whose ~ zsh (macOS) and sh pass on as
    # written: "gene_info file ~/gene_info does not exist".
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "gene_info").write_bytes(GENE_INFO.read_bytes())
    result = _ncbi_build(tmp_path / "s", "gene_info=~/gene_info")
    assert result.exit_code == 0, result.output
    assert "4 genes" in result.stderr


@pytest.mark.parametrize(
    "written",
    [
        "score,gene\n1,CD3E\n2,TP53\n",  # the genes' column named, not first
        '"","p_val","cluster","gene"\n"CD3E",0.01,"0","CD3E"\n"TP53.1",0.2,"1","TP53"\n',  # Seurat
        "p_val\tcluster\tgene\n1\t0.01\t0\tCD3E\n2\t0.2\t1\tTP53\n",  # R write.table's index
    ],
)
def test_a_gene_table_whose_header_names_the_gene_column_gives_that_column(tmp_path, written):
    # The first column was taken whatever the header said: "score,gene" built GeneIDs 1 and 2
    # (A1BG, A2M) and counted "score" as a gene; FindAllMarkers' table gave its row names,
    # "TP53.1" among them.
    path = tmp_path / "markers.csv"
    path.write_text(written)
    assert read_gene_list(path) == ["CD3E", "TP53"]


def test_a_gene_info_field_holding_a_tab_is_refused_not_shifted(tmp_path):
    # A spreadsheet's quoted field holding a tab split it in two: every field after it moved one
    # column on (TP53's type was read from its name's second half), exit 0. A trailing tab, an
    # empty extra field, is still read.
    rows = GENE_INFO.read_text().splitlines(keepends=True)
    shifted = tmp_path / "gene_info"
    shifted.write_text(rows[0] + rows[1] + rows[2].replace("tumor protein p53", '"tumor\tp53"', 1))
    with pytest.raises(GenekbError, match=r"line 3 has 17 tab-separated fields, the header 16"):
        read_ncbi(shifted, taxon=9606)
    trailing = tmp_path / "trailing"
    trailing.write_text("".join(r.replace("\n", "\t\n") for r in rows))
    assert read_ncbi(trailing, taxon=9606).table.equals(read_ncbi(GENE_INFO, taxon=9606).table)


def test_a_gene_list_none_of_whose_names_match_says_why(tmp_path):
    # Mouse Ensembl ids under the default --taxon human, or symbols a spreadsheet made dates of,
    # were told only "none of the 2 genes given matches ...; check the gene names and the taxon".
    ids = tmp_path / "ids.txt"
    ids.write_text("ENSMUSG00000032093\nENSMUSG00000059552.3\n")
    line = one_line_error(_ncbi_build_genes(tmp_path, ids))
    assert "2 names are ENSMUSG Ensembl ids, of another species than the source's (ENSG):" in line
    assert line.endswith("build with --taxon mouse")
    dates = tmp_path / "dates.txt"
    dates.write_text("1-Sep\n2-Mar\n")
    line = one_line_error(_ncbi_build_genes(tmp_path, dates))
    assert "2 gene names are dates ('1-Sep', '2-Mar')" in line
    other = tmp_path / "other.txt"
    other.write_text("NOSUCHGENE\n")
    assert one_line_error(_ncbi_build_genes(tmp_path, other)).endswith(
        "check the gene names and the taxon"
    )


def _ncbi_build_genes(tmp_path: Path, genes: Path):
    return run_genekb(
        "build", "--model", "fake", "--source", "ncbi", "--source-opt", f"gene_info={GENE_INFO}",
        "--genes", str(genes), "--root", str(tmp_path / "s"),
    )  # fmt: skip


def test_a_multi_view_build_says_each_note_on_the_names_once(tmp_path):
    # `--model A+B` (the default is minilm+tfidf-lsa) printed the spreadsheet-date note three
    # times, once for the build and once for each view, and the mouse-names warning per view.
    genes = tmp_path / "genes.txt"
    genes.write_text("Cd3e\nTrp53\n1-Sep\n")
    result = run_genekb(
        "build", "--model", "fake+fake-windows", "--source", "ncbi", "--source-opt",
        f"gene_info={GENE_INFO}", "--genes", str(genes), "--root", str(tmp_path / "s"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.count("1 gene name is a date ('1-Sep')") == 1, result.stderr
    assert result.stderr.count("written as mouse symbols") == 1, result.stderr
    assert result.stderr.count("1 of 3 genes not in the source") == 1, result.stderr


def test_a_gene_table_a_spreadsheet_saved_with_semicolons_is_read(tmp_path):
    # Excel in German, French, ... locales saves "CSV" with ';' between fields and ',' in
    # numbers: each line was read as one name ("CD3E;1,5"), and no gene matched.
    path = tmp_path / "genes.csv"
    path.write_text("Gene;log2FC\r\nCD3E;1,5\r\nTP53;-0,25\r\n")
    assert read_gene_list(path) == ["CD3E", "TP53"]
    path.write_text("CD3E;1,5\nTP53;-0,25\n")
    assert read_gene_list(path) == ["CD3E", "TP53"]


def test_a_gene_info_streamed_through_a_pipe_is_read(tmp_path):
    # `--source-opt gene_info=<(zcat Homo_sapiens.gene_info.gz)` gave "gene_info file not found:
    # /dev/fd/63": the streaming reader took only regular files, and sought back after its peek.
    pipe = feed_fifo(tmp_path / "gene_info", GENE_INFO.read_bytes())
    go = feed_fifo(tmp_path / "gene2go", gzip.compress(GENE2GO.read_bytes()))
    genes = read_ncbi(pipe, go, taxon=9606)
    assert genes.table.equals(read_ncbi(GENE_INFO, GENE2GO, taxon=9606).table)
    plain = read_ncbi(GENE_INFO, taxon=9606).snapshot.details["files"][0]
    assert genes.snapshot.details["files"][0]["sha256"] == plain["sha256"]
    # The pipe's own name (/dev/fd/63, another number another time) is not the snapshot's.
    again = read_ncbi(feed_fifo(tmp_path / "63", GENE_INFO.read_bytes()), taxon=9606).snapshot
    assert (
        again == read_ncbi(feed_fifo(tmp_path / "62", GENE_INFO.read_bytes()), taxon=9606).snapshot
    )
    assert "gene_info from a pipe" in again.description
