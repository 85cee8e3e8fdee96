"""Follow-ups, round 19: a gene task whose columns are named as spreadsheets and databases name
them ("Gene Symbol", "entrez", "category"), two columns of one name refused, not picked; a
server that redirects without saying where, or answers in no HTTP at all; a folder remote
whose folders are links to elsewhere; an index holding NaN."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from genekb.errors import GenekbError
from genekb.eval.tasks import read_task_file, task_from_table
from genekb.gene_lists import read_gene_list
from genekb.store.hashing import sha256_json
from genekb.store.manifest import dump_manifest
from genekb.store.remote_index import dump_index
from genekb.store.store import Store
from tests.conftest import one_line_error
from tests.conftest import run_genekb as run
from tests.remote_servers import Fault, http_server
from tests.test_remote import build_tags

GENES = [f"GENE{i}" for i in range(1, 13)]


def _task_csv(path, gene: str, label: str):
    rows = [f"{g},{'a' if i % 2 else 'b'}" for i, g in enumerate(GENES)]
    path.write_text(f"{gene},{label}\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("gene", "label"),
    [
        # Each was refused: "no gene column; name one of: gene, symbol, …" or "names no gene
        # and no label column; begin the file with a header line".
        ("Gene Symbol", "label"),
        ("gene_symbol", "Class Label"),
        ("symbol", "category"),
        ("entrez", "group"),
        ("Entrez ID", "class_label"),
        ("ensembl_id", "Category"),
        ("Gene.Symbol", "GROUP"),
    ],
)
def test_task_columns_named_as_spreadsheets_name_them_are_read(tmp_path, gene, label):
    task = read_task_file(_task_csv(tmp_path / "task.csv", gene, label))
    assert task.genes == tuple(GENES)
    assert task.summary()["classes"] == {"a": 6, "b": 6}


def test_a_task_table_indexed_by_a_spaced_gene_header_is_read():
    import pandas as pd

    frame = pd.DataFrame({"Category": ["a", "b"] * 6}, index=pd.Index(GENES, name="Gene Symbol"))
    assert task_from_table(frame).genes == tuple(GENES)


def test_two_columns_of_one_gene_name_are_refused_not_picked(tmp_path):
    # "Gene" and "gene" (or "Gene Symbol" and "gene_symbol"): which holds the genes is the
    # user's to say; the last was taken without a word.
    path = tmp_path / "two.csv"
    rows = [f"{g},X{g},{'a' if i % 2 else 'b'}" for i, g in enumerate(GENES)]
    path.write_text("Gene Symbol,gene_symbol,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(GenekbError, match="'Gene Symbol' and 'gene_symbol' both name the gene"):
        read_task_file(path)


def test_a_gene_list_headed_gene_symbol_loses_its_header(tmp_path):
    path = tmp_path / "genes.txt"
    path.write_text("Gene Symbol\nTP53\nCD3E\n")
    assert read_gene_list(path) == ["TP53", "CD3E"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENEKB_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """t0 published to a folder."""
    base = tmp_path_factory.mktemp("pub19")
    source = Store.open(base / "source", create=True)
    build_tags(source, "t0")
    result = run("publish", str(base / "pub"), "--root", str(source.root))
    assert result.exit_code == 0, result.output
    return base / "pub"


def test_a_redirect_to_nowhere_says_so(tmp_path, folder):
    # A 3xx without a Location said only "HTTP 302 Found".
    with http_server(folder) as (url, served):
        for code in (301, 302, 303, 307, 308):
            served.faults[:] = [Fault("vectors.parquet", "nowhere", at=code)]
            line = one_line_error(run("pull", url, "t0", "--root", str(tmp_path / f"l{code}")))
            assert f"vectors.parquet: the server redirects it (HTTP {code}) without saying" in line
            assert "check the remote's URL" in line


def test_a_reply_in_no_http_is_refused_at_once_without_its_bytes(tmp_path, folder):
    # Retried five times (7.5 s of backoff), then "BadStatusLine: '\x15\x03…'" with the
    # reply's bytes, an escape sequence among them, in the line.
    with http_server(folder) as (url, served):
        served.faults.append(Fault("genekb-remote.json", "not-http", times=1))
        line = one_line_error(run("pull", url, "t0", "--root", str(tmp_path / "local")))
        assert served.gets["genekb-remote.json"] == 1
    assert "genekb-remote.json: the server's reply is not HTTP; check the URL's scheme" in line
    assert "\\x" not in line and "\x1b" not in line and "binary" not in line


def test_a_symlinked_folder_inside_a_folder_remote_is_refused(tmp_path):
    # The remote's `embeddings` a link to a folder elsewhere: publish wrote the new version's
    # files there, and pull read whatever lay there, both saying all was well.
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0", "t1")
    pub, elsewhere = tmp_path / "pub", tmp_path / "elsewhere"
    assert run("publish", str(pub), "t0", "--root", str(source.root)).exit_code == 0
    (pub / "embeddings").rename(elsewhere)
    (pub / "embeddings").symlink_to(elsewhere, target_is_directory=True)
    before = sorted(p.name for p in elsewhere.iterdir())
    line = one_line_error(run("publish", str(pub), "t1", "--root", str(source.root)))
    assert "lies outside the remote's folder (a symbolic link in it leads to" in line, line
    assert sorted(p.name for p in elsewhere.iterdir()) == before  # nothing written there
    local = tmp_path / "local"
    line = one_line_error(run("pull", str(pub), "t0", "--root", str(local)))
    assert "lies outside the remote's folder" in line, line
    # A link that stays inside the folder is the folder's own business.
    (pub / "embeddings").unlink()
    (elsewhere).rename(pub / "kept")
    (pub / "embeddings").symlink_to(pub / "kept", target_is_directory=True)
    assert run("pull", f"file://{pub}", "t0", "--root", str(local)).exit_code == 0


def _index_with(pub: Path, value: float, literal: str | None = None) -> None:
    """The remote's index with `value` in a field genekb does not read, its sha256 made to
    match; `literal` spells the number in the file (1e999 reads as infinity)."""
    index = pub / "genekb-remote.json"
    data = json.loads(index.read_text())
    vid = next(iter(data["versions"]))
    data["versions"][vid]["note"] = value
    data["sha256"] = sha256_json({k: v for k, v in data.items() if k != "sha256"})
    text = json.dumps(data, indent=1, sort_keys=True)
    index.write_text(text.replace("Infinity", literal) if literal else text)


@pytest.mark.parametrize(("value", "literal"), [(math.nan, None), (math.inf, "1e999")])
def test_an_index_holding_nan_is_refused_and_none_is_written(tmp_path, value, literal):
    # Read as it stood; a later publish wrote the NaN back into the index as `NaN`, which
    # JSON has not (other readers of the index refuse it).
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0", "t1")
    pub = tmp_path / "pub"
    assert run("publish", str(pub), "t0", "--root", str(source.root)).exit_code == 0
    _index_with(pub, value, literal)
    line = one_line_error(run("remote", "ls", str(pub)))
    assert "field 'versions.emb-" in line and ".note' holds a NaN or infinity" in line, line
    line = one_line_error(run("pull", str(pub), "t0", "--root", str(tmp_path / "local")))
    assert "holds a NaN or infinity" in line, line
    before = (pub / "genekb-remote.json").read_bytes()
    line = one_line_error(run("publish", str(pub), "t1", "--root", str(source.root)))
    assert "holds a NaN or infinity" in line, line
    assert (pub / "genekb-remote.json").read_bytes() == before  # not written back


def test_no_index_or_manifest_is_written_with_nan():
    with pytest.raises(GenekbError, match=r"NaN or infinity at 'versions.v.n_genes'"):
        dump_index({}, {"v": {"n_genes": math.nan}}, "2026-01-01")
    with pytest.raises(GenekbError, match=r"NaN or infinity at 'encoder.options\[0\]'"):
        dump_manifest({"encoder": {"options": [math.inf]}})
