"""Hostile input to genekb's command line, seventh sweep: a failed command into a root that held
no store leaves none behind, and each refusal is one line with nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from genekb.store.store import Store
from tests.conftest import make_genes, one_line_error
from tests.conftest import run_genekb as run
from tests.test_remote import build_tags


@pytest.fixture
def folder_remote(tmp_path: Path) -> Path:
    """A store with tag t0, published to a local folder."""
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0")
    assert run("publish", str(tmp_path / "pub"), "--root", str(source.root)).exit_code == 0
    return tmp_path / "pub"


def test_a_refused_pull_into_a_new_root_leaves_no_store(tmp_path, folder_remote):
    # It left genekb-store.json, locks/ and .staging/ (and the folders it made) behind.
    nested = tmp_path / "new" / "deeper" / "store"
    args = ("pull", str(folder_remote), "--expect", "0" * 16, "--root")
    line = one_line_error(run(*args, str(nested)))
    assert "you expected" in line
    assert not (tmp_path / "new").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(run(*args, str(empty)))
    assert list(empty.iterdir()) == []
    vectors = next(folder_remote.glob("embeddings/*/vectors.parquet"))
    good = vectors.read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 0x01
    vectors.write_bytes(bytes(data))
    line = one_line_error(run("pull", str(folder_remote), "--root", str(empty)))
    assert "does not match the remote's index" in line
    assert list(empty.iterdir()) == []  # the text version it had verified is not kept either
    vectors.write_bytes(good)
    assert run("pull", str(folder_remote), "--root", str(empty)).exit_code == 0  # then it works


def test_a_refused_import_into_a_new_nested_root_leaves_no_folder(tmp_path, folder_remote):
    source = tmp_path / "source"
    assert run("export", "t0", str(tmp_path / "t0.tar"), "--root", str(source)).exit_code == 0
    nested = tmp_path / "new" / "deeper" / "store"
    args = ("import", str(tmp_path / "t0.tar"), "--expect", "0" * 16, "--root", str(nested))
    one_line_error(run(*args))
    assert not (tmp_path / "new").exists()  # it left new/deeper/ behind


def test_gene_names_from_a_file_are_printed_as_text_not_markup_or_escapes(tmp_path):
    # A `[/x]` in an unmatched gene name made rich raise MarkupError after the import was
    # written (exit 1, "unexpected MarkupError"); an ESC sequence reached the terminal raw.
    # And ":x:" became an emoji.
    table = "gene,d0,d1\nCD3E,1,2\n[/nope],3,4\nX\x1b[31mRED,5,6\n:x:,7,8\n"
    (tmp_path / "v.csv").write_text(table)
    result = run(
        "import-vectors", str(tmp_path / "v.csv"), "-m", "x", "--root", str(tmp_path / "s")
    )
    assert result.exit_code == 0, result.output
    assert "[/nope]" in result.stderr and "X\\x1b[31mRED" in result.stderr
    assert ":x:" in result.stderr
    assert "\x1b" not in result.stderr


def test_sql_values_and_names_are_printed_as_text(tmp_path, folder_remote):
    query = "SELECT '[/nope]' AS \"[/h]\", chr(27) || '[2J' AS b"
    result = run("sql", query, "--root", str(tmp_path / "source"))
    assert result.exit_code == 0, result.output
    assert "[/nope]" in result.stdout and "[/h]" in result.stdout
    assert "\\x1b[2J" in result.stdout and "\x1b" not in result.stdout


def test_an_error_quoting_a_newline_or_an_escape_is_one_line(tmp_path):
    missing = tmp_path / "a\nb\x1b[2J.csv"
    line = one_line_error(run("import-vectors", str(missing), "-m", "x", "--root", str(tmp_path)))
    assert "a\\nb\\x1b[2J.csv does not exist" in line


def test_a_refused_import_keeps_a_concurrent_first_writers_work(tmp_path, folder_remote):
    # A refused import into a new root removed the whole root, with the staging of another
    # import into it that was still running: that one then failed, calling its file damaged.
    from genekb.errors import GenekbError
    from genekb.store.sharing import import_file

    assert (
        run("export", "t0", str(tmp_path / "t0.tar"), "--root", str(tmp_path / "source")).exit_code
        == 0
    )
    root = tmp_path / "new"
    other, mine = Store.open(root, create=True), Store.open(root, create=True)
    staging = other.staging_dir("import-")
    (staging / "half-written").write_text("x")
    with pytest.raises(GenekbError, match="you expected"):
        import_file(mine, tmp_path / "t0.tar", expect="0" * 16)
    assert (staging / "half-written").is_file()
    assert not Store.open(root).is_new  # the other writer's store keeps its marker


def test_a_ragged_task_file_is_named_as_such(tmp_path):
    # A row one field longer than the header made pandas read the genes as an index and the
    # extra field as the label: "a task needs at least two labels, found ['x']".
    from genekb.errors import GenekbError
    from genekb.eval.tasks import read_task_file

    rows = "".join(f"GENE{i},{i % 2},x\n" for i in range(20))
    (tmp_path / "task.csv").write_text("gene,label\n" + rows)
    with pytest.raises(
        GenekbError, match=r"a ragged table \(line 2 has 3 fields, the header has 2\)"
    ):
        read_task_file(tmp_path / "task.csv")


def test_an_export_name_never_lies_about_its_format(tmp_path, folder_remote, monkeypatch):
    # `-` made a file named `-` (it is stdin to every input); `.tar.zst` and `.tar.lz4` got a
    # plain tar, and `.tbz2` / `.txz` (names tar reads as bzip2 / xz) a plain tar as well.
    import tarfile

    monkeypatch.chdir(tmp_path)
    export = ("export", "t0", "--root", str(tmp_path / "source"))
    line = one_line_error(run(*export[:2], "-", *export[2:]), code=2)
    assert "writes a file, not stdout" in line and not (tmp_path / "-").exists()
    for name in ("t0.tar.zst", "t0.tar.lz4", "t0.tar.Z"):
        assert "an export is a tar archive" in one_line_error(
            run(*export[:2], name, *export[2:]), code=2
        )
        assert not (tmp_path / name).exists()
    for name, magic in (("t0.tbz2", b"BZh"), ("t0.txz", b"\xfd7zXZ")):
        assert run(*export[:2], name, *export[2:]).exit_code == 0
        assert (tmp_path / name).read_bytes().startswith(magic)
        with tarfile.open(tmp_path / name) as tar:
            assert "genekb-export.json" in tar.getnames()


def test_an_import_whose_catalog_cannot_be_written_says_the_versions_are_in(
    tmp_path, folder_remote
):
    # A folder where catalog.duckdb belongs: the import published its versions, then said
    # "cannot write …/catalog.duckdb: Is a directory; nothing was written there".
    source = tmp_path / "source"
    assert run("export", "t0", str(tmp_path / "t0.tar"), "--root", str(source)).exit_code == 0
    root = tmp_path / "store"
    assert run("import", str(tmp_path / "t0.tar"), "--root", str(root)).exit_code == 0
    (root / "catalog.duckdb").unlink()
    (root / "catalog.duckdb").mkdir()
    line = one_line_error(run("reindex", "--root", str(root)))
    assert "cannot write the catalog" in line and "the versions and tags are not affected" in line
    assert "nothing was written there" not in line


def test_a_tag_that_is_no_name_is_mended_by_a_command_that_exists(tmp_path, folder_remote):
    # verify said "re-tag it: `genekb tag` …", and genekb has no `tag` command. Re-signing
    # refuses a tag that is no name (build, import and pull refuse it), so such a tag reaches
    # verify from an older store's unsigned tags.json.
    import json

    from genekb.store.store_verify import tag_problems

    store = Store.open(tmp_path / "source")
    tags = store.tags()
    store.tags_file.write_text(json.dumps({**tags, "../x": tags["t0"]}))  # unsigned, older
    (problem,) = [p for p in tag_problems(store) if "'../x'" in p]
    assert "`genekb tag --delete NAME` removes it" in problem  # the command exists now
    before = store.tags_file.read_bytes()
    line = one_line_error(run("reindex", "--resign-tags", "--root", str(store.root)))
    assert "'../x'" in line and "refused to re-sign" in line
    assert store.tags_file.read_bytes() == before
    store.tags_file.write_text(json.dumps(tags))  # what the message says to do
    assert run("reindex", "--resign-tags", "--root", str(store.root)).exit_code == 0
    assert tag_problems(store) == []
    store.tags_file.write_text(json.dumps({**tags, "../x": tags["t0"]}))
    assert run("tag", "--delete", "../x", "--root", str(store.root)).exit_code == 0
    assert tag_problems(store) == [] and store.tags() == tags


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("INSTALL httpfs", "INSTALL"),
        ("/* note */\n checkpoint", "CHECKPOINT"),
        ("PRAGMA threads=1", "PRAGMA"),
    ],
)
def test_a_refused_sql_statement_is_named_by_its_own_first_word(
    tmp_path, folder_remote, query, word
):
    # DuckDB's statement type was shown: "not LOAD" for INSTALL, "not CALL" for CHECKPOINT,
    # "not SET" for PRAGMA.
    line = one_line_error(run("sql", query, "--root", str(tmp_path / "source")))
    assert f"only queries run here (SELECT, EXPLAIN), not {word};" in line


def test_a_model_name_that_gives_no_tag_is_refused_before_any_work(tmp_path):
    # `-m ..` set the tag "human/imported" itself, shared by every such name.
    (tmp_path / "v.csv").write_text("gene,d0,d1\nCD3E,1,2\nCD19,3,4\n")
    args = ("import-vectors", str(tmp_path / "v.csv"), "--root", str(tmp_path / "s"))
    line = one_line_error(run(*args, "-m", ".."), code=2)
    assert "gives no tag name; pass --tag" in line and not (tmp_path / "s").exists()
    assert run(*args, "-m", "..", "--tag", "human/imported/dots").exit_code == 0
    # A tag the user gives is theirs, whatever the model's name makes of it.
    assert run(*args, "-m", "...", "--tag", "human/imported", "--force").exit_code == 0


def test_publishing_into_a_stores_own_folders_is_refused(tmp_path, folder_remote):
    # It wrote the remote's files among the versions: a folder `pub` in embeddings/ that
    # verify then called a damaged version, and a file unlisted in a text version's manifest.
    source = tmp_path / "source"
    text = next((source / "texts").iterdir())
    for dest in (source / "embeddings" / "pub", text / "pub", source / ".staging" / "pub"):
        line = one_line_error(run("publish", str(dest), "--root", str(source)))
        assert "is inside the genekb store" in line and not dest.exists()
    assert run("verify", "--root", str(source)).exit_code == 0


def test_a_url_root_is_never_a_local_folder(tmp_path, folder_remote, monkeypatch):
    # `genekb import F --root file:///…` (a Path option folds "//") and GENEKB_HOME=https://…
    # wrote a local store under ./file:/… and ./https:/… and then failed on the catalog.
    from genekb.errors import UsageError

    monkeypatch.chdir(tmp_path)
    source = tmp_path / "source"
    assert run("export", "t0", "t0.tar", "--root", str(source)).exit_code == 0
    url = folder_remote.as_uri()
    line = one_line_error(run("import", "t0.tar", "--root", url), code=2)
    assert "is a remote store, read-only; write to a local root" in line
    monkeypatch.setenv("GENEKB_HOME", "https://127.0.0.1:9/store")
    one_line_error(run("import", "t0.tar"), code=2)
    with pytest.raises(UsageError, match="is a URL; this command takes a local store"):
        Store.open(Path("https://127.0.0.1:9/store"), create=True)
    assert not (tmp_path / "file:").exists() and not (tmp_path / "https:").exists()
    # A read through a URL root works: export from the published folder.
    assert run("export", "t0", "again.tar", "--root", url).exit_code == 0


def test_sql_json_keeps_every_column_of_a_repeated_name(tmp_path, folder_remote):
    # `SELECT 1 AS a, 2 AS a --json` printed one key, "a": 2 (the first column lost), while
    # --all (DuckDB's own fetchdf) named them a and a_1.
    import json

    root = str(tmp_path / "source")
    for more in ((), ("--all",)):
        result = run("sql", "SELECT 1 AS a, 2 AS A, 3 AS a", "--root", root, "--json", *more)
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        assert document["columns"] == ["a", "A_1", "a_2"]
        assert document["rows"] == [{"a": 1, "A_1": 2, "a_2": 3}]


def test_sql_json_all_writes_a_vector_as_numbers(tmp_path, folder_remote):
    # --json --all (DuckDB's fetchdf) wrote a vector as NumPy's text: "[0.1 0.2 ... 0.3]", its
    # middle left out past 1,000 numbers, and a DATE as a timestamp; with a limit, as numbers.
    import json

    query = "SELECT range(2000)::FLOAT[] AS v, DATE '2020-01-02' AS d"
    rows = []
    for more in ((), ("--all",)):
        result = run("sql", query, "--root", str(tmp_path / "source"), "--json", *more)
        assert result.exit_code == 0, result.output
        rows.append(json.loads(result.stdout)["rows"])
    assert rows[0] == rows[1] == [{"v": [float(i) for i in range(2000)], "d": "2020-01-02"}]


def test_a_build_whose_encoder_cannot_load_leaves_no_new_store(tmp_path, monkeypatch):
    # The text version was written first, so a failed build (weights not downloaded) left a
    # store behind in a root that held none.
    from genekb.build import build
    from genekb.encoders import registry
    from genekb.errors import GenekbError

    def unavailable(spec, device=None):
        raise GenekbError(f"encoder {spec.name!r}: not available offline")

    monkeypatch.setattr(registry, "load", unavailable)
    root = tmp_path / "new"
    with pytest.raises(GenekbError, match="not available offline"):
        build(Store.open(root, create=True), model="fake", gene_table=make_genes(), genes=["GENE1"])
    assert not root.exists()
