"""A new user following the docs literally (the second sweep): every option of every command says
what it is in `--help`, the command lines of the README and the main pages use options that
exist and folders a fresh checkout can write, and `annotate` lists clusters in their order."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import typer.main

from cellmodel.annotate import to_markdown
from cellmodel.annotate.inputs import groups_of
from cli.cellmodel_app import app as cellmodel_app
from cli.genekb_app import app as genekb_app
from genekb.build import build
from genekb.errors import GenekbError
from genekb.store.store import Store
from tests.conftest import make_genes, one_line_error, run_genekb

REPO = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/cellmodel.md", "docs/genekb.md", "docs/sharing.md", "docs/first_run.md"]
APPS = {
    "cellmodel": typer.main.get_command(cellmodel_app),
    "genekb": typer.main.get_command(genekb_app),
}

# `cellmodel CMD ...` / `genekb CMD ...` in a code line or span, up to a comment or the span's end
COMMAND_LINE = re.compile(r"\b(cellmodel|genekb) ([a-z][a-z-]*(?: [a-z]+)?[^`\n#|]*)")


def _is_group(command: Any) -> bool:
    return hasattr(command, "commands")  # typer's own click: no isinstance against click's


def _commands(group: Any, path: str) -> list[tuple[str, Any]]:
    found = []
    for name, command in group.commands.items():
        found.append((f"{path} {name}", command))
        if _is_group(command):
            found += _commands(command, f"{path} {name}")
    return found


ALL_COMMANDS = [c for app, group in APPS.items() for c in _commands(group, app)]


@pytest.mark.parametrize(("name", "command"), ALL_COMMANDS, ids=[n for n, _ in ALL_COMMANDS])
def test_every_command_and_option_says_what_it_is(name: str, command: Any) -> None:
    # `genekb similar --help` listed --model, --taxon and --template with no word of help.
    assert (command.help or command.short_help or "").strip(), f"{name} has no help"
    options = [p for p in command.params if p.param_type_name == "option"]
    assert options or _is_group(command), name  # --help at least
    bare = [p.opts[0] for p in options if not p.help]
    assert not bare, f"{name}: options without help: {bare}"
    # README: "Every command has `--help` and `--json`"
    assert _is_group(command) or any("--json" in p.opts for p in options), name


def test_the_command_lists_show_each_first_paragraph_unbroken() -> None:
    # `genekb --help` broke "… annotation-depth and / bag-of-words controls" where the
    # docstring wraps: Typer's rich mode keeps a paragraph's line breaks in the list.
    from typer.testing import CliRunner

    for app in (genekb_app, cellmodel_app):
        shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "400"}).output
        assert "annotation-depth and bag-of-words controls" in shown or app is cellmodel_app
        rows = [ln for ln in shown.splitlines() if ln.startswith("│ ") and ln.strip("│ ")]
        for group in (c for n, c in ALL_COMMANDS if _is_group(c)):
            for command in group.commands.values():
                assert "\n" not in (group.get_command(None, command.name).short_help or "")
        assert all(not ln[2:].startswith(" ") for ln in rows if "Commands" not in ln)


def test_the_merge_split_help_says_what_the_check_does() -> None:
    # It said the split "removes most variance, where that removes variance": the rule the
    # check measured and dropped (cellmodel/cluster/merge_split.py); the silhouette decides.
    option = next(
        p for p in APPS["cellmodel"].commands["cluster"].params if p.name == "merge_split"
    )
    assert "highest silhouette" in option.help and "where that removes variance" not in option.help


def _doc_commands() -> list[tuple[str, Any, list[str]]]:
    """(page, command, its words after the command's name) for each command line of the pages."""
    found = []
    for page in PAGES:
        text = (REPO / page).read_text().replace("\\\n", " ")
        for m in COMMAND_LINE.finditer(text):
            command, words = APPS[m.group(1)], m.group(2).split()
            while words and _is_group(command) and words[0] in command.commands:
                command = command.commands[words.pop(0)]
            if not _is_group(command):
                found.append((page, command, words))
    return found


def test_the_pages_command_lines_use_options_that_exist() -> None:
    lines = _doc_commands()
    assert len(lines) > 50  # the pattern still finds the pages' commands
    unknown = []
    for page, command, words in lines:
        spelled = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        for word in words:
            flag = word.split("=")[0].rstrip(",.;:)`'")
            if (
                flag.startswith("-")
                and len(flag) > 1
                and not flag[1].isdigit()
                and flag not in spelled
            ):
                unknown.append(f"{page}: {command.name} {flag}")
    assert not unknown


def test_the_pages_output_folders_need_no_folder_a_fresh_checkout_lacks() -> None:
    # README's `cluster ... --plots runs/plots` stopped at "directory runs does not exist": an
    # output folder's parent must exist (tests/test_hostile_inputs.py), and no `runs/` ships.
    nested = []
    for page, _command, words in _doc_commands():
        for flag, value in itertools.pairwise(words):
            if flag not in ("--plots", "--out") or value.isupper() or value.startswith("/"):
                continue  # a placeholder (OUT) or a place the reader chose
            if not (REPO / value).parent.is_dir():
                nested.append(f"{page}: {flag} {value}")
    assert not nested


@pytest.mark.parametrize(
    "column",
    [pd.Categorical([str(i % 11) for i in range(44)], categories=[str(i) for i in range(11)]),
     np.arange(44) % 11],
    ids=["categorical", "integers"],
)  # fmt: skip
def test_annotate_lists_clusters_in_their_order(column) -> None:
    # `cellmodel annotate clustered.h5ad` listed the groups 0, 1, 10, 2, ...: the column was
    # turned into text and sorted as text, while `explain` kept 0, 1, 2, ..., 10.
    cells = ad.AnnData(obs=pd.DataFrame({"cluster": column}, index=[f"c{i}" for i in range(44)]))
    _key, groups = groups_of(cells, "cluster")
    assert [str(c) for c in groups.categories] == [str(i) for i in range(11)]
    assert [str(g) for g in np.asarray(groups)[:3]] == ["0", "1", "2"]


def _walked_report() -> dict:
    """A report whose one group the lineage walk called by the ranking's second term."""
    top = [
        {"label": "pancreatic stellate cell", "score": 4.84},
        {"label": "endothelial cell", "score": 2.12},
    ]
    group = {
        "group": "8", "n_cells": 60, "label": "endothelial cell", "cl_id": "CL:0000115",
        "score": 4.84, "margin": 2.72, "top": top, "markers": ["PLVAP"], "signature": [],
        "markerdb": {"top": [], "overlap": []}, "evidence": [],
        "lineage": {"lineage": ["endothelial"], "confidence": None, "why": "", "abstained": False},
        "mentions": {"named": [{"words": "vimentin", "gene": "VIM", "log_fold_change": 1.52}]},
        "processes": {"genes": ["NES"]},
    }  # fmt: skip
    return {
        "n_groups": 1, "groupby": "cellmodel_cluster", "n_cells": 60, "method": "combined",
        "candidates": {"n": 2, "source": "cell-ontology", "cl_version": "v", "with_cl_id": 2,
                       "in_marker_table": 2},
        "store": {"embedding_id": "emb-0", "model": "minilm"}, "params": {"gene_vectors": "real"},
        "groups": [group],
    }  # fmt: skip


def test_a_walked_call_names_whose_genes_it_shows_and_another_runner_up() -> None:
    # The walk called "endothelial cell" (the ranking's second): the table gave it as its own
    # runner-up and the section said "Genes the label's text names: vimentin", which are the
    # stellate cell's.
    text = to_markdown(_walked_report())
    row = next(line for line in text.splitlines() if line.startswith("| 8 |"))
    assert row.split("|")[7].strip() == "pancreatic stellate cell"
    assert "Genes the text of pancreatic stellate cell names: vimentin" in text
    assert "GO process genes of pancreatic stellate cell: NES" in text
    assert "the label's text" not in text


def test_a_tag_a_remote_lacks_is_named_with_the_remote_url(tmp_path, monkeypatch) -> None:
    # `genekb similar CD3E --root URL` (docs/sharing.md) said "no embedding version
    # 'human/ncbi-card/minilm+tfidf-lsa' in ~/.cache/genekb/remotes/1c38fb66311c12ab": a folder
    # the user never named, where the URL was meant.
    monkeypatch.setenv("GENEKB_CACHE", str(tmp_path / "cache"))
    source = Store.open(tmp_path / "source", create=True)
    build(source, model="fake", gene_table=make_genes(20), tag="t0")
    assert run_genekb("publish", str(tmp_path / "pub"), "--root", str(source.root)).exit_code == 0
    url = f"file://{tmp_path / 'pub'}"
    line = one_line_error(run_genekb("similar", "GENE1", "--model", "fake", "--root", url))
    assert f"in {url}; known: t0" in line and "remotes" not in line
    with pytest.raises(GenekbError, match="no version or tag 'nope' in file://"):
        Store.open(url).version("nope")


def test_verify_beside_a_running_write_says_so_rather_than_a_stopped_one(tmp_path) -> None:
    # `genekb verify` while `cellmodel cluster` embedded a new version (its text version already
    # in place) said the catalog "was behind the store (a write stopped early); rewritten".
    root = tmp_path / "store"
    store = Store.open(root, create=True)
    build(store, model="fake", gene_table=make_genes(30), genes=[f"GENE{i}" for i in range(10)])
    stale = (root / "catalog.duckdb").read_bytes()
    build(store, model="fake", gene_table=make_genes(30), genes=[f"GENE{i}" for i in range(20)])
    (root / "catalog.duckdb").write_bytes(stale)  # as between a version and the catalog
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root / "locks" / "emb-0123456789abcdef.lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run_genekb("verify", "--root", str(root))
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 0, result.output
    assert "while another process writes to it (emb-0123456789abcdef)" in result.output
    assert "stopped early" not in result.output and (root / "catalog.duckdb").read_bytes() == stale
    again = run_genekb("verify", "--root", str(root))  # the writer gone: the old note and rewrite
    assert "was behind the store (a write stopped early); rewritten" in again.output


# a writer: holds a version's lock (kept referenced: a dropped FileLock lets go)
HOLD = (
    "import sys, time\nfrom filelock import FileLock\nlock = FileLock(sys.argv[1])\n"
    "lock.acquire()\nprint('held', flush=True)\ntime.sleep(120)"
)
