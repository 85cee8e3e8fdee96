"""The genekb command line: JSON mode, exit codes and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

from genekb.store.store import Store
from tests.conftest import make_genes
from tests.conftest import one_line_error as _one_line_error
from tests.conftest import run_genekb as run


def _store_with_fake(tmp_path: Path) -> Path:
    from genekb.build import build

    build(Store.open(tmp_path, create=True), model="fake", gene_table=make_genes())
    return tmp_path


def test_unknown_model_exits_2_and_lists_choices(tmp_path):
    line = _one_line_error(run("build", "--model", "gpt-99", "--root", str(tmp_path)), 2)
    assert "unknown model 'gpt-99'" in line and "minilm" in line


def test_missing_genes_file(tmp_path):
    line = _one_line_error(
        run("build", "--genes", str(tmp_path / "nope.txt"), "--root", str(tmp_path)), 1
    )
    assert "nope.txt does not exist" in line


def test_foreign_root_is_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    line = _one_line_error(run("list", "--root", str(tmp_path)), 1)
    assert "not a genekb store" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_root_from_environment(tmp_path, monkeypatch):
    root = _store_with_fake(tmp_path / "env")
    monkeypatch.setenv("GENEKB_HOME", str(root))
    result = run("list", "--json")
    assert result.exit_code == 0
    kinds = sorted(v["kind"] for v in json.loads(result.stdout)["versions"])
    assert kinds == ["embedding", "text"]


def test_corrupt_manifest_verify_names_it(tmp_path):
    root = _store_with_fake(tmp_path)
    manifest = next((root / "embeddings").iterdir()) / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:-40])
    result = run("verify", "--root", str(root), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert not doc["ok"] and str(manifest) in json.dumps(doc)
    line = _one_line_error(run("info", manifest.parent.name, "--root", str(root)), 1)
    assert "corrupt manifest" in line


def test_import_of_a_foreign_file(tmp_path):
    foreign = tmp_path / "data.csv"
    foreign.write_text("a,b\n1,2\n")
    line = _one_line_error(run("import", str(foreign), "--root", str(tmp_path / "s")), 1)
    assert "not a genekb export" in line


def test_json_documents(tmp_path):
    root = _store_with_fake(tmp_path)
    result = run("similar", "GENE3", "--model", "fake", "-k", "3", "--root", str(root), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["query"] == "GENE3" and len(doc["hits"]) == 3
    assert all(set(h) >= {"symbol", "score"} for h in doc["hits"]) and "GENE3" not in [
        h["symbol"] for h in doc["hits"]
    ]
    result = run("sql", "SELECT count(*) AS n FROM genes", "--root", str(root), "--json")
    assert json.loads(result.stdout)["rows"] == [{"n": 40}]
    line = _one_line_error(run("sql", "SELEC nonsense", "--root", str(root)), 1)
    assert line.startswith("error: SQL error")
    line = _one_line_error(run("similar", "NOTAGENE", "--model", "fake", "--root", str(root)), 1)
    assert "NOTAGENE" in line
    result = run("sources", "--json")
    assert {s["name"] for s in json.loads(result.stdout)["sources"]} >= {
        "bundled",
        "orgdb",
        "ncbi",
        "entrez",
    }


def test_export_refuses_overwrite_without_force(tmp_path):
    root = _store_with_fake(tmp_path / "s")
    target = tmp_path / "mine.tar"
    target.write_text("precious")
    line = _one_line_error(
        run("export", "human/ncbi-card/fake", str(target), "--root", str(root)), 1
    )
    assert "--force" in line and target.read_text() == "precious"
    result = run(
        "export", "human/ncbi-card/fake", str(target), "--root", str(root), "--force", "--json"
    )
    assert result.exit_code == 0 and len(json.loads(result.stdout)["versions"]) == 2


def test_compare_refuses_one_version_named_twice(tmp_path):
    root = _store_with_fake(tmp_path)
    version = Store.open(root).embeddings()[0]
    refs = [version.id, version.id[:12]]  # an id and its prefix name one version
    line = _one_line_error(run("compare", *refs, "--root", str(root)), 2)
    assert "the same version is given twice" in line
