"""Hostile but plausible gene task files, vector tables and gene names from a user's hands:
Excel's "Unicode Text" (UTF-16), Latin-1, a padded or ';'-split header, an empty file, labels
saved as integers and as floats, a line-less file, look-alike letters and very long names."""

from __future__ import annotations

import re
import warnings

import pytest

import genekb as gk
from genekb.build import build
from genekb.errors import GenekbError, GenekbWarning, UsageError
from genekb.eval.tasks import read_task_file
from genekb.gene_lists import read_gene_list
from genekb.genemap import GeneIndex
from genekb.store.store import Store
from genekb.store.vector_files import load_vectors
from tests.conftest import make_genes, one_line_error
from tests.conftest import run_genekb as run

ROWS = [(f"GENE{i}", "ab"[i % 2]) for i in range(1, 41)]


def _table(sep: str = ",", header: str = "gene,label", eol: str = "\n") -> str:
    return eol.join([header.replace(",", sep)] + [f"{g}{sep}{lab}" for g, lab in ROWS]) + eol


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store.open(tmp_path_factory.mktemp("genes3") / "store", create=True)
    build(store, model="fake", gene_table=make_genes(40), tag="human")
    return store


@pytest.mark.parametrize("name", ["task.txt", "task.csv"])
def test_excel_unicode_text_is_read(tmp_path, name):
    # Excel's "Unicode Text" is UTF-16 with a BOM: it said "is not UTF-8 text".
    path = tmp_path / name
    path.write_bytes(
        _table(sep="\t" if name.endswith(".txt") else ",", eol="\r\n").encode("utf-16")
    )
    task = read_task_file(path)
    assert task.genes[:2] == ("GENE1", "GENE2") and task.classes == ["a", "b"]


def test_utf16_without_a_bom_and_latin1_say_what_to_do(tmp_path):
    # UTF-16 without a BOM said "a ragged table (line 42 has 1 fields …)"; Latin-1 said only
    # "is not UTF-8 text", with nothing to do.
    bare = tmp_path / "bare.tsv"
    bare.write_bytes(_table(sep="\t").encode("utf-16-le"))
    with pytest.raises(GenekbError, match=r"holds NUL bytes \(UTF-16 text without a byte-order"):
        read_task_file(bare)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(_table().replace(",a\n", ",caf\u00e9\n").encode("latin-1"))
    with pytest.raises(GenekbError, match=r"byte 0xE9 at offset .*save it as UTF-8"):
        read_task_file(latin)


def test_a_padded_header_is_read(tmp_path):
    # "gene , label" said "no gene column; … (found gene ,  label )".
    path = tmp_path / "padded.csv"
    path.write_text(_table(header="gene , label "))
    assert len(read_task_file(path).genes) == 40


def test_a_semicolon_table_and_an_empty_file_say_what_to_do(tmp_path):
    semi = tmp_path / "semi.csv"
    semi.write_text(_table(sep=";"))
    with pytest.raises(GenekbError, match="its fields are split by ';': save it with ','"):
        read_task_file(semi)
    empty = tmp_path / "empty.csv"
    empty.write_text("  \n\n")  # said "is not a readable table (EmptyDataError)"
    with pytest.raises(GenekbError, match="is empty; give a header"):
        read_task_file(empty)


def test_labels_saved_as_integers_and_as_floats_are_one_class(tmp_path):
    # A column pandas saved as floats (it held a NaN) beside integers: "1" and "1.0" were two
    # classes, so a binary task was scored as four classes without a word.
    path = tmp_path / "numbers.csv"
    labels = ["0", "1", "1.0", "0.0", "NaN"]
    path.write_text(
        "gene,label\n" + "".join(f"{g},{labels[i % 5]}\n" for i, (g, _) in enumerate(ROWS))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the NaN rows' note
        task = read_task_file(path)
    assert task.classes == ["0", "1"] and task.kind == "binary"


@pytest.mark.parametrize("what", ["task", "vectors"])
def test_a_line_less_file_is_one_line(tmp_path, store, what):
    # A field over csv's 128 KiB limit: "unexpected Error: field larger than field limit".
    path = tmp_path / "huge.csv"
    path.write_text(("gene,label\n" if what == "task" else "gene,d0\n") + "A" * 300_000 + ",1\n")
    if what == "task":
        args = ["eval", "human", "--task", str(path), "--no-controls", "--seeds", "1"]
    else:
        args = ["import-vectors", str(path), "--taxon", "human", "-m", "mine"]
    line = one_line_error(run(*args, "--root", str(store.root)))
    assert "not a readable table at line 2" in line and len(line) < 300


def test_a_utf16_vector_table_is_read(tmp_path):
    # It said "a ragged table (line 42 has 1 fields, the header has 3)".
    path = tmp_path / "vectors.csv"
    text = "gene,d0,d1\n" + "".join(f"GENE{i},{i / 7:.3f},{1 - i / 9:.3f}\n" for i in range(1, 41))
    path.write_bytes(text.encode("utf-16"))
    found = load_vectors(path)
    assert found.names[:2] == ["GENE1", "GENE2"] and found.matrix.shape == (40, 2)


def test_look_alike_letters_in_a_task_are_named(tmp_path, store):
    # It said only "only 0 of 40 task genes are in this version": the genes looked present.
    path = tmp_path / "greek.csv"
    path.write_text(_table().replace("GENE", "G\u0395NE"))
    with pytest.raises(GenekbError, match="U\\+0395 GREEK CAPITAL LETTER EPSILON"):
        gk.eval(store.embedding("human"), [str(path)], seeds=1, feature_sets=["vectors"])


def test_a_very_long_name_is_cut_short_in_the_message(store):
    # The whole 100,000-character name came back in the error line.
    line = one_line_error(
        run("similar", "A" * 100_000, "--ref", "human", "--root", str(store.root))
    )
    assert "(100,000 characters)" in line and len(line) < 300


def test_eval_says_why_a_shared_name_or_a_date_went_missing(tmp_path):
    # Both were only "missing 2, e.g. SHARED, 1-Mar": a name two genes share and a symbol a
    # spreadsheet made a date of look like genes the version lacks.
    from tests.test_hostile_query import _sharing_an_alias

    store = Store.open(tmp_path / "store", create=True)
    build(store, model="fake", gene_table=_sharing_an_alias(), tag="human")
    path = tmp_path / "task.csv"
    path.write_text(_table() + "SHARED,a\n1-Mar,b\n")
    result = run("eval", "human", "--task", str(path), "--no-controls", "--seeds", "1",
                 "--root", str(store.root))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 unmatched name names several genes each (SHARED)" in result.stdout
    assert "1 gene name is a date ('1-Mar')" in result.stdout


def test_a_gene_list_r_wrote_is_read_without_quotes_or_header(tmp_path):
    # R's write.csv quotes each name: '"TP53"' matched nothing ("none of the 5 genes given
    # matches"), and the header "gene" was counted as a gene the source lacks.
    path = tmp_path / "genes.csv"
    path.write_text('"gene","score"\n"TP53",1\n"CD3E",2\n"MS4A1",3\n')
    assert read_gene_list(path) == ["TP53", "CD3E", "MS4A1"]
    huge = tmp_path / "huge.txt"
    huge.write_text("A" * 300_000)
    with pytest.raises(GenekbError, match="is no list of gene names"):
        read_gene_list(huge)


def test_a_task_of_entrez_ids_under_gene_id_is_read(tmp_path):
    # "gene_id" (what NCBI and the bundled tasks call an Entrez id) was "no gene column".
    path = tmp_path / "entrez.csv"
    path.write_text(
        "gene_id,label\n" + "".join(f"{i}.0,{lab}\n" for i, (_, lab) in enumerate(ROWS, 1))
    )
    assert read_task_file(path).genes[:2] == ("1.0", "2.0")


@pytest.mark.parametrize(
    ("name", "gene_id"),
    [("\ufeffGENE3", 3), ("GENE4\u200b", 4), (" ALIAS6\u2060", 6), ("ENSG00000000005.20_PAR_Y", 5)],
)
def test_names_with_invisible_marks_or_a_par_y_suffix_are_found(name, gene_id):
    # A BOM left where two files were joined, a zero-width space from a web page, GENCODE's id of
    # a pseudoautosomal gene's Y copy: each matched no gene.
    frame = make_genes(10).table.to_pandas()
    assert GeneIndex.from_frame(frame).resolve_one(name)[0] == gene_id


def test_a_tsv_saved_with_commas_is_read(tmp_path):
    # It said "needs a gene column and a label column, found ['gene,label']".
    path = tmp_path / "task.tsv"
    path.write_text(_table())
    assert len(read_task_file(path).genes) == 40


@pytest.mark.parametrize(
    ("name", "sep", "says"), [("v.tsv", ",", "--format csv"), ("v.csv", "\t", "--format tsv")]
)
def test_a_vector_table_under_the_other_suffix_says_so(tmp_path, name, sep, says):
    # It said only "no vector columns beside 'gene,d0,d1'".
    path = tmp_path / name
    path.write_text(
        ("gene,d0,d1\n" + "".join(f"GENE{i},0.{i},0.5\n" for i in range(1, 9))).replace(",", sep)
    )
    with pytest.raises(GenekbError, match=f"no vector columns beside .*{says}"):
        load_vectors(path)


def test_one_task_or_ref_given_bare_is_one_not_its_letters(tmp_path, store):
    # gk.eval(v, "task.csv") read task "t" ("task file / is a directory") and refs="human" ref "h".
    path = tmp_path / "task.csv"
    path.write_text(_table())
    for report in (
        gk.eval(store.embedding("human"), str(path), seeds=1, feature_sets=["vectors"]),
        gk.eval(store.root, path, refs="human", seeds=1, feature_sets=["vectors"]),
    ):
        assert report["results"][0]["coverage"]["found"] == 40


def test_one_gene_given_bare_builds_that_gene(tmp_path):
    # gk.build(genes="GENE12") read the letters and digits: G, E, N, 1, 2 found genes 1 and 2.
    store = Store.open(tmp_path / "store", create=True)
    report = build(store, model="fake", gene_table=make_genes(40), genes="GENE12", tag="one")
    assert report["n_genes"] == 1


def test_a_task_gene_holding_a_terminal_escape_is_printed_escaped(tmp_path, store):
    # The eval report wrote a missing name's escape sequence raw to the terminal.
    path = tmp_path / "task.csv"
    path.write_text(_table() + "\x1b]0;owned\x07X,a\n")
    result = run("eval", "human", "--task", str(path), "--no-controls", "--seeds", "1",
                 "--root", str(store.root))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\\x1b]0;owned\\x07X" in result.stdout


def test_a_build_names_the_genes_a_shared_name_left_out(tmp_path, capsys):
    # "1 of 2 genes not in the source, e.g. SHARED": the name is there, as two genes' alias.
    from cli.genekb_build_cmd import _build_summary
    from tests.test_hostile_query import _sharing_an_alias

    store = Store.open(tmp_path / "store", create=True)
    report = build(store, model="fake", gene_table=_sharing_an_alias(), genes=["GENE3", "SHARED"])
    assert report["unmatched_shared_examples"] == ["SHARED"]
    _build_summary(report)
    assert "1 unmatched name names several genes each (SHARED)" in capsys.readouterr().err


def test_an_import_names_the_genes_a_shared_name_left_out(tmp_path, capsys):
    from cli.genekb_eval_cmd import _import_summary
    from genekb.store.foreign import map_genes
    from tests.test_hostile_query import _sharing_an_alias

    _, mapping = map_genes(["GENE3", "SHARED", "NOPE"], _sharing_an_alias())
    assert mapping["unmatched_shared_examples"] == ["SHARED"]
    report = {"mapping": mapping, "tag": "t", "embedding_id": "e", "text_id": "x", "dim": 2}
    _import_summary({**report, "created": True})
    assert "1 unmatched name names several genes each (SHARED)" in capsys.readouterr().err


def test_a_gene_written_na_is_no_gene(tmp_path):
    # R writes a missing symbol as NA, pandas as NaN: NCBI lists "NA" as an alias of XK and "NaN"
    # of SCN11A, so such rows put a gene nobody named into the task, the list or the import.
    task = tmp_path / "task.csv"
    task.write_text(_table() + "NA,a\nNaN,b\n,a\n,\n")
    with pytest.warns(GenekbWarning, match=r"3 rows have no gene \(empty, NA or NaN\)"):
        assert "NA" not in read_task_file(task).genes
    genes = tmp_path / "genes.txt"
    genes.write_text("GENE1\nNA\nnan\n#N/A\n")
    assert read_gene_list(genes) == ["GENE1"]
    vectors = tmp_path / "vectors.csv"
    vectors.write_text("gene,d0\nGENE1,0.5\nNA,0.2\n")
    with pytest.raises(GenekbError, match="1 genes have an empty name \\(or NA, NaN\\)"):
        load_vectors(vectors)


def test_two_task_files_of_one_name_are_told_apart(tmp_path, store):
    # a/labels.csv and b/labels.csv were both reported as task "labels"; one file given twice
    # was scored twice.
    paths = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "labels.csv")
        paths[-1].write_text(_table())
    report = gk.eval(store.embedding("human"), paths, seeds=1, feature_sets=["vectors"])
    assert [r["task"] for r in report["results"]] == [str(p) for p in paths]
    with pytest.raises(UsageError, match="task 'labels' is given twice"):
        gk.eval(store.embedding("human"), [paths[0], paths[0]], seeds=1)


def test_a_tab_table_with_cr_line_ends_and_commas_in_a_field_is_read(tmp_path):
    # Excel for Mac ends lines in CR alone: the "first line" was the whole file, whose commas
    # made it a CSV ("a ragged table (line 2 has 2 fields, the header has 1)").
    path = tmp_path / "task.txt"
    rows = "".join(f"{g}\t{lab}\tx, y\r" for g, lab in ROWS)
    path.write_bytes(("gene\tlabel\tnote\r" + rows).encode())
    assert len(read_task_file(path).genes) == 40


def test_a_vector_table_with_cr_line_ends_is_read(tmp_path):
    # Its "first line" was the whole file: 40 genes x 900 dims read as 36,000 dimensions, refused
    # as "more than the 32,768 any text encoder writes".
    rows = "".join(f"GENE{i}," + ",".join(["0.5"] * 900) + "\r" for i in range(1, 41))
    path = tmp_path / "vectors.csv"
    path.write_bytes(("gene," + ",".join(f"d{j}" for j in range(900)) + "\r" + rows).encode())
    assert load_vectors(path).matrix.shape == (40, 900)


def test_a_tag_with_a_look_alike_letter_is_named(store):
    # "no embedding version 'humаn' …; known: human" read as if the tag were there.
    line = one_line_error(run("similar", "GENE1", "--ref", "hum\u0430n", "--root", str(store.root)))
    assert "U+0430 CYRILLIC SMALL LETTER A" in line


def test_a_task_file_may_open_with_comment_lines(tmp_path):
    # A gene list takes '#' comments; a task file said "found only '# dosage task v2'".
    path = tmp_path / "task.csv"
    path.write_text("# dosage task v2\n# from a paper\n" + _table())
    assert len(read_task_file(path).genes) == 40


@pytest.mark.parametrize("ref", ["missing.xlsx", "folder/missing"])
def test_a_missing_task_file_is_named_missing(tmp_path, ref):
    # It said "unknown task (or CSV/TSV file) 'missing.xlsx'; choose one of: cell-type-markers …".
    from genekb.eval.tasks import resolve_task

    with pytest.raises(GenekbError, match=r"task file .*missing.* does not exist"):
        resolve_task(str(tmp_path / ref) if "/" in ref else ref)


@pytest.mark.parametrize(("option", "value"), [("seeds", "3"), ("seeds", 1.5), ("folds", 2.5)])
def test_eval_refuses_seeds_or_folds_that_are_no_whole_number(store, option, value):
    # A TypeError from inside: "'<=' not supported between instances of 'int' and 'str'".
    options = {"seeds": 1, "folds": 5, option: value}
    with pytest.raises(UsageError, match=f"{option}=.* must be a whole number"):
        gk.eval(store.embedding("human"), ["dosage-tfs"], **options)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"batch_size": "64"}, "batch_size='64' must be a whole number"),
        ({"batch_size": 0}, "batch_size=0 must be a whole number, at least 1"),
        ({"force": "no"}, "force='no' must be True or False"),
    ],
)
def test_build_refuses_a_batch_size_or_force_of_the_wrong_kind(tmp_path, options, says):
    # A TypeError or "range() arg 3 must not be zero" from inside; force="no" moved the tag.
    store = Store.open(tmp_path / "store", create=True)
    with pytest.raises(UsageError, match=re.escape(says)):
        build(store, model="fake", gene_table=make_genes(40), **options)


def test_build_takes_genes_from_a_generator(tmp_path):
    # "object of type 'generator' has no len()".
    store = Store.open(tmp_path / "store", create=True)
    genes = (f"GENE{i}" for i in range(1, 4))
    assert build(store, model="fake", gene_table=make_genes(40), genes=genes)["n_genes"] == 3


def test_one_feature_set_given_bare_is_one(tmp_path, store):
    # feature_sets="vectors" was read as its letters: "unknown feature set(s) ['v', 'e', …]".
    path = tmp_path / "task.csv"
    path.write_text(_table())
    report = gk.eval(store.embedding("human"), path, seeds=1, feature_sets="vectors")
    assert report["params"]["feature_sets"] == ["vectors"]
