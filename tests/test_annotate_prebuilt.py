"""The vectors every annotate run needs whatever the data, built once per install and imported by
a fresh store through the store's own checked import (`cellmodel.annotate.prebuilt`). Fake
encoder, which counts its calls; one check of the real install's MiniLM set, when it is there."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cellmodel.annotate import annotate, ontology, prebuilt, report_of
from cellmodel.annotate.inputs import background_ids, store_vectors
from cellmodel.annotate.term_vectors import term_vectors
from genekb.fileio import sha256_file
from genekb.store.store import Store
from tests import fake_encoder
from tests.conftest import one_line_error
from tests.test_annotate import _islets

N_BACKGROUND = 200
RECIPE = prebuilt.Recipe(model="fake", n_background=N_BACKGROUND)
# Whatever this install holds, read before any test points GENEKB_PREBUILT elsewhere.
INSTALLED = prebuilt.prebuilt_home()


@pytest.fixture(scope="module")
def home(tmp_path_factory, fake_spec) -> Path:
    """A prebuilt folder made by the real build, for the fake encoder (module-wide: one build)."""
    folder = tmp_path_factory.mktemp("prebuilt")
    prebuilt.build(RECIPE, folder)
    return folder


@pytest.fixture
def use(home: Path, monkeypatch) -> Path:
    monkeypatch.setenv(prebuilt.ENV, str(home))
    return home


def _ids(cands=None) -> tuple[str, str]:
    spec = fake_encoder.install()
    bg = prebuilt.background_id("fake", RECIPE.template, N_BACKGROUND)
    return str(bg), prebuilt.terms_id(cands or ontology.from_ontology(), RECIPE.text_style, spec)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_second_build_does_nothing(home: Path) -> None:
    said: list[str] = []
    again = prebuilt.build(RECIPE, home, say=said.append)
    assert not again["built"] and said == [f"prebuilt vectors already in {home}; nothing to do"]
    assert set(again["versions"]) == set(_ids())
    index = json.loads((home / prebuilt.INDEX).read_text())["versions"]
    assert {e["model"] for e in index.values()} == {"fake"}
    assert not [p for p in home.iterdir() if p.name.startswith(".scratch-")]  # no leftovers


def test_a_changed_file_or_a_killed_build_is_made_again(home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in home.iterdir():
        if f.is_file():
            (copy / f.name).write_bytes(f.read_bytes())
    (copy / ".scratch-killed").mkdir()  # what a build killed mid-way leaves
    bg_id, _ = _ids()
    (copy / f"{bg_id}.tar").write_bytes(b"damaged")
    assert prebuilt.build(RECIPE, copy)["built"]
    made, first = prebuilt.read_index(copy)[bg_id], prebuilt.read_index(home)[bg_id]
    assert made["content_sha256"] == first["content_sha256"]  # the same vectors, written anew
    assert made["file_sha256"] == sha256_file(copy / f"{bg_id}.tar")
    assert not (copy / ".scratch-killed").exists()


def test_a_fresh_store_imports_them_and_embeds_only_what_they_lack(use: Path, tmp_path) -> None:
    """The hooks annotate calls: the background and the terms come from the files; the markers'
    own version then embeds only its genes the background lacks, reusing the imported vectors."""
    store = Store.open(tmp_path / "s", create=True)
    bg_id, term_id = _ids()
    said: list[str] = []
    assert prebuilt.adopt(store, bg_id, prebuilt.BACKGROUND, "fake", said.append)
    assert said == [f"imported prebuilt {prebuilt.BACKGROUND} from {use / (bg_id + '.tar')}"
                    " (every sha256 and the content id checked)"]  # fmt: skip
    bg = background_ids(N_BACKGROUND)
    extra = np.array([3630, 2641, 6750])  # INS, GCG, SST: not in the background
    assert not set(extra) & set(bg)
    fake_encoder.CALLS.clear()
    genes = store_vectors(
        store, np.union1d(bg, extra), model="fake", template="ncbi-card", build_missing=True
    )
    assert fake_encoder.CALLS == [3]  # the three markers' cards, nothing of the background
    assert prebuilt.adopt(store, term_id, prebuilt.TERMS, "fake")
    cands = ontology.from_ontology()
    _, used = term_vectors(store, cands, RECIPE.text_style, genes.spec)
    assert used == term_id and fake_encoder.CALLS == [3]  # no term text embedded
    assert all(r["ok"] for r in store.verify())


def test_another_encoder_or_text_falls_back_to_embedding(use: Path, tmp_path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    said: list[str] = []
    other_bg = prebuilt.background_id("fake", RECIPE.template, N_BACKGROUND + 1)
    assert not prebuilt.adopt(store, other_bg, prebuilt.BACKGROUND, "fake", said.append)
    assert len(said) == 1 and "none match" in said[0] and "embedding them" in said[0]
    said.clear()  # an encoder the folder holds nothing of: embedded as before, not announced
    assert not prebuilt.adopt(store, "emb-0000000000000000", prebuilt.TERMS, "other", said.append)
    assert said == [] and store.embeddings() == []


@pytest.mark.parametrize("damage", ["flip", "truncate", "index"])
def test_a_damaged_prebuilt_file_is_refused_in_one_line_and_leaves_the_store_as_it_was(
    home: Path, tmp_path, monkeypatch, damage: str
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in home.iterdir():
        if f.is_file():
            (copy / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv(prebuilt.ENV, str(copy))
    _, term_id = _ids()
    tar = copy / f"{term_id}.tar"
    data = bytearray(tar.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF  # inside the vectors' Parquet file
        tar.write_bytes(bytes(data))
    elif damage == "truncate":
        tar.write_bytes(bytes(data[: len(data) // 3]))
    else:
        (copy / prebuilt.INDEX).write_text("{not json")
    store = Store.open(tmp_path / "s", create=True)
    before = _files(store.root)
    said: list[str] = []
    assert not prebuilt.adopt(store, term_id, prebuilt.TERMS, "fake", said.append)
    assert len(said) == 1 and said[0].endswith("embedding them into this store"), said
    assert ("cannot be read" if damage == "index" else "not used") in said[0]
    assert _files(store.root) == before and not store.has("embedding", term_id)


def test_the_command_refuses_a_folder_it_cannot_make_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.prebuilt import app

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(app, ["build", "--folder", str(blocker / "prebuilt")])
    assert "cannot create the prebuilt folder" in one_line_error(result)


@pytest.mark.slow
def test_annotate_with_the_prebuilt_calls_as_a_store_that_embedded_everything(
    use: Path, tmp_path, monkeypatch
) -> None:
    settings = dict(groupby="kind", n_markers=5, top_k=2, n_background=N_BACKGROUND, model="fake")
    lines: list[str] = []
    fake_encoder.CALLS.clear()
    fast = annotate(
        _islets(), Store.open(tmp_path / "a", create=True),
        progress=lambda stage, done, total: lines.append(stage), **settings,
    )  # fmt: skip
    markers_only = sum(fake_encoder.CALLS)
    assert 0 < markers_only < 3 * 5  # the groups' markers the background lacks, at most
    assert sum("imported prebuilt" in line for line in lines) == 2
    fake_encoder.CALLS.clear()
    monkeypatch.setenv(prebuilt.ENV, str(tmp_path / "none"))
    slow = annotate(_islets(), Store.open(tmp_path / "b", create=True), **settings)
    assert sum(fake_encoder.CALLS) > 3000 + N_BACKGROUND
    assert report_of(fast)["groups"] == report_of(slow)["groups"]


@pytest.mark.slow
def test_with_the_installed_minilm_set_a_fresh_store_embeds_no_term_nor_background_card(
    tmp_path: Path, monkeypatch
) -> None:
    """The real check: when this install holds the default set (`make setup`), a fresh store's
    whole-ontology run with MiniLM embeds only marker cards the background lacks."""
    from genekb.encoders import registry

    wanted = prebuilt.background_id("minilm", "ncbi-card", prebuilt.Recipe.n_background)
    if wanted not in prebuilt.read_index(INSTALLED):
        pytest.skip(f"no prebuilt MiniLM set in {INSTALLED} (`make setup` builds it)")
    monkeypatch.setenv(prebuilt.ENV, str(INSTALLED))
    embedded: list[str] = []
    real_load = registry.load

    def counting(spec, *args, **kwargs):
        encoder = real_load(spec, *args, **kwargs)
        encode = encoder.encode

        def recorded(texts, **options):
            embedded.extend(texts)
            return encode(texts, **options)

        encoder.encode = recorded
        return encoder

    monkeypatch.setattr(registry, "load", counting)
    monkeypatch.setattr("cellmodel.annotate.term_vectors.registry_load", counting)
    adata = annotate(_islets(), Store.open(tmp_path, create=True), groupby="kind", n_markers=5)
    terms = {ontology.candidate_text(c) for c in ontology.from_ontology()}
    assert report_of(adata)["groups"] and 0 < len(embedded) <= 3 * 5
    assert not terms & set(embedded)  # no term text: all came from the prebuilt file
