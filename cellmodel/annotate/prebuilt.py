"""The vectors every `annotate` run needs whatever the data, built once per install.

Two things depend on no user data: the whole Cell Ontology's term texts embedded (`term_vectors`'
text and embedding versions) and the fixed hubness background's gene cards (`background_ids`),
both under one encoder. `build` makes them in a scratch store with annotate's own code and writes
each embedding version (with the text version it rests on) as a `genekb export` file into the
install's prebuilt folder (`prebuilt_home`), beside an index, `prebuilt.json`, that names each
file by the embedding id it holds and that version's content sha256.

Store ids are content addresses: the encoder spec, the CL release, the text style, the gene
snapshot, the template and the gene selection all enter them. So a run computes the ids it wants
(`background_id`, `terms_id`) and looks them up in the index: a match is imported through the
store's ordinary import (every sha256 and the content id recomputed, the content checked against
the index, all or nothing), and the run then finds the versions as if it had built them; the
markers' own build reuses the background's vectors, as the store reuses any vector embedded
for the same text under the same spec. No match, a damaged file or a refused import leaves the
run embedding as before, with one line saying why; another encoder is not announced.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from cellmodel.annotate import ontology
from cellmodel.annotate.inputs import background_ids, store_vectors
from cellmodel.annotate.ontology import Candidate
from cellmodel.annotate.params import AnnotateParams
from cellmodel.annotate.term_vectors import term_table, term_vectors
from genekb.encoders import registry
from genekb.errors import GenekbError, UsageError
from genekb.fileio import atomic_path, sha256_file
from genekb.settings import install_home
from genekb.sources.bundled import load_bundled
from genekb.store import catalog
from genekb.store.ids import embedding_id
from genekb.store.manifest import now_iso
from genekb.store.sharing import export_version, import_file
from genekb.store.store import Store
from genekb.store.versions import planned_text_id
from genekb.templates import GIVEN_TEXT
from genekb.templates import resolve as resolve_template

ENV = "GENEKB_PREBUILT"
INDEX = "prebuilt.json"
FORMAT = 1
BACKGROUND = "background gene cards"
TERMS = "ontology term vectors"
Say = Callable[[str], None]


def prebuilt_home() -> Path:
    """`$GENEKB_PREBUILT` if set, else `<prefix>/share/genekb/prebuilt` in the active
    environment (`genekb.settings.install_home`)."""
    return install_home("prebuilt", ENV)


@dataclass(frozen=True)
class Recipe:
    """What the prebuilt vectors depend on besides the installed CL release and gene snapshot:
    annotate's defaults unless a user builds another set."""

    model: str = AnnotateParams.model
    template: str = AnnotateParams.template
    text_style: str = AnnotateParams.text_style
    n_background: int = AnnotateParams.n_background


def background_id(model: str, template: str, n_background: int) -> str | None:
    """The id a store gives the background's card vectors under `model` (None when `model` is
    not an encoder of the registry, e.g. a store tag, which is read as it is)."""
    try:
        spec = registry.resolve(model)
    except UsageError:
        return None
    ids = [int(g) for g in background_ids(n_background)]
    text = planned_text_id(load_bundled("human"), resolve_template(template), ids)
    return embedding_id(text, spec)


def terms_id(cands: Sequence[Candidate], style: str, spec: Any) -> str:
    """The id a store gives the term vectors of `cands` (the whole ontology) under `spec`."""
    return embedding_id(planned_text_id(term_table(cands, style), GIVEN_TEXT), spec)


def read_index(home: Path) -> dict[str, Any]:
    """The index's entries by embedding id; empty when there is none or it cannot be read."""
    try:
        index = json.loads((home / INDEX).read_text())
        entries = index["versions"] if index.get("format") == FORMAT else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return entries if isinstance(entries, dict) else {}


def adopt(store: Store, vid: str | None, what: str, model: str, say: Say | None = None) -> bool:
    """Import version `vid` from the prebuilt folder when the store lacks it; whether the store
    now holds it. Never raises for a missing, damaged or refused file: it says so and the caller
    embeds as before. Silent for an encoder the index holds nothing of."""
    if vid is None or store.has("embedding", vid):
        return vid is not None
    note = say or (lambda _line: None)
    home = prebuilt_home()
    entries = read_index(home)
    entry = entries.get(vid)
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        known = {e.get("model") for e in entries.values() if isinstance(e, dict)}
        if model in known:
            why = "none match"
        elif not entries and (home / INDEX).exists():
            why = f"its {INDEX} cannot be read"
        elif not entries and model == Recipe.model:
            why = "there are none"
        else:  # another encoder: embedded as before, nothing to announce
            return False
        note(
            f"no prebuilt {what} for this encoder, CL release and text in {home} ({why};"
            " `make setup` builds them once per install); embedding them into this store"
        )
        return False
    file = home / Path(entry["file"]).name
    try:
        import_file(store, file, expect=str(entry.get("content_sha256") or "") or None)
    except (GenekbError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        note(f"prebuilt {what} not used ({reason}); embedding them into this store")
        return False
    if not store.has("embedding", vid):
        note(f"prebuilt {what} file {file} does not hold {vid}; embedding them into this store")
        return False
    catalog.rebuild(store)
    note(f"imported prebuilt {what} from {file} (every sha256 and the content id checked)")
    return True


def _current(home: Path, wanted: dict[str, str]) -> bool:
    """Whether the index lists every wanted id with a file whose sha256 it recorded."""
    entries = read_index(home)
    for vid in wanted:
        entry = entries.get(vid)
        if not isinstance(entry, dict):
            return False
        file = home / Path(str(entry.get("file"))).name
        if not file.is_file() or sha256_file(file) != entry.get("file_sha256"):
            return False
    return True


def build(
    recipe: Recipe | None = None,
    home: Path | None = None,
    *,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    say: Say | None = None,
) -> dict[str, Any]:
    """Build the prebuilt vectors of `recipe` into `home` (default `prebuilt_home()`), unless the
    index already lists them with intact files (`force` builds them again). Returns what was
    done: the folder, each version's id, file and content sha256, and whether it was built."""
    recipe = recipe or Recipe()
    home = Path(home or prebuilt_home())
    note = say or (lambda _line: None)
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenekbError(f"cannot create the prebuilt folder {home} ({exc.strerror}); set"
                          f" {ENV} or --folder to a folder you can write") from None  # fmt: skip
    cands = ontology.from_ontology()
    spec = registry.resolve(recipe.model)
    wanted = {
        str(background_id(recipe.model, recipe.template, recipe.n_background)): BACKGROUND,
        terms_id(cands, recipe.text_style, spec): TERMS,
    }
    with FileLock(str(home / ".build.lock")):
        for left in home.glob(".scratch-*"):  # a killed build's; under the lock none is live
            shutil.rmtree(left, ignore_errors=True)
        if _current(home, wanted) and not force:
            note(f"prebuilt vectors already in {home}; nothing to do")
            return _summary(home, wanted, built=False)
        with tempfile.TemporaryDirectory(dir=home, prefix=".scratch-") as scratch:
            store = Store.open(Path(scratch) / "store", create=True)
            genes = store_vectors(
                store,
                background_ids(recipe.n_background),
                model=recipe.model,
                template=recipe.template,
                build_missing=True,
                progress=progress,
            )
            _, terms = term_vectors(store, cands, recipe.text_style, genes.spec, None, progress)
            if {genes.id, terms} != set(wanted):  # the run computes these ids; they must agree
                raise GenekbError(f"built {genes.id}, {terms}, not the ids a run looks up"
                                  f" ({', '.join(wanted)}); nothing written")  # fmt: skip
            entries = read_index(home)
            for vid, what in wanted.items():
                entries[vid] = _export(store, vid, what, recipe, home)
                note(f"wrote {what} ({vid}) to {home / entries[vid]['file']}")
        document = {"format": FORMAT, "written": now_iso(), "versions": entries}
        with atomic_path(home / INDEX) as tmp:
            tmp.write_text(json.dumps(document, indent=2) + "\n")
    return _summary(home, wanted, built=True)


def _export(store: Store, vid: str, what: str, recipe: Recipe, home: Path) -> dict[str, Any]:
    file = home / f"{vid}.tar"
    sent = export_version(store, vid, file, force=True)
    return {
        "file": file.name,
        "what": what,
        "model": recipe.model,
        "recipe": asdict(recipe),
        "cl_version": ontology.cl_version(),
        "content_sha256": sent["content_sha256"],
        "file_sha256": sha256_file(file),
        "bytes": sent["bytes"],
    }


def _summary(home: Path, wanted: dict[str, str], *, built: bool) -> dict[str, Any]:
    entries = read_index(home)
    return {
        "folder": str(home),
        "built": built,
        "versions": {vid: {**entries.get(vid, {}), "what": what} for vid, what in wanted.items()},
    }
