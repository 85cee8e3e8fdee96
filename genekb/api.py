"""The Python session's genekb: `gk.build`, `gk.similar`, `gk.eval`, and a store's tags and
disk: `gk.tag`, `gk.remove`, `gk.gc` (`import genekb as gk`).

Thin wrappers over `genekb.build.build`, `genekb.query.similar`, `genekb.eval.evaluate`,
`genekb.store.tag_edits` and `genekb.store.removal` with the command line's defaults, a store
given as a `Store` or a path (None: `$GENEKB_HOME`, else `./artifacts`, as `--root`), and
progress bars that follow `gk.settings.verbosity`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Loaded here, not on first call: importing the submodule genekb.build later would rebind the
# package's `build` name to the module, over the function `gk.build` is.
from genekb.build import build as run_build
from genekb.encoders.registry import DEFAULT_MODEL
from genekb.errors import GenekbError, UsageError
from genekb.gene_lists import gene_names_of
from genekb.progress import notice, stage_bars, store_bars
from genekb.store.store import EmbeddingVersion, Store
from genekb.templates import DEFAULT_TEMPLATE

if TYPE_CHECKING:
    from pandas import DataFrame, Series  # a task given as a table; pandas loads on use

StoreLike = Store | str | os.PathLike[str] | None


def open_store(store: StoreLike, *, create: bool = False) -> Store:
    """A `Store` as given, or the one at a path (None: the default root)."""
    return store if isinstance(store, Store) else Store.open(store, create=create)


def default_ref(model: str = DEFAULT_MODEL, taxon: str = "human") -> str:
    """The tag a default build of `model` writes (`human/ncbi-card/minilm+tfidf-lsa`): what
    `genekb similar` and `genekb eval` read when no version is named."""
    from genekb.store.ids import default_tag

    return default_tag(taxon, DEFAULT_TEMPLATE, model)


SIMILAR_WAY_OUT = "name one with ref=, or its encoder with model="  # --ref, --model
EVAL_WAY_OUT = "name one: `genekb eval REF` (refs= in Python)"


def default_tag_of(
    store: Store,
    model: str = DEFAULT_MODEL,
    taxon: str = "human",
    template: str = DEFAULT_TEMPLATE,
    way_out: str = SIMILAR_WAY_OUT,
) -> str:
    """The tag a default build of `model` writes, refused with the store's tags and `way_out`
    (how to name one) where the store has tags but not it: built with `--model minilm`, as the
    README's Python builds it, the bare "no embedding version" gave no way on."""
    from genekb.store.ids import default_tag

    tag = default_tag(taxon, template, model)
    tags = store.tags()
    if tags and tag not in tags:
        raise GenekbError(
            f"no embedding version {tag!r} (the tag `genekb build --model {model}` writes) in"
            f" {store.place}; known: {', '.join(sorted(tags))}; {way_out}"
        )
    return tag


def eval_versions(store: Store, refs: list[str] | None = None) -> list[EmbeddingVersion]:
    """The versions `genekb eval` scores: those named (ids, prefixes or tags), else the default
    build's, refused with the store's tags where it has tags but not that one."""
    return [store.embedding(r) for r in (refs or [default_tag_of(store, way_out=EVAL_WAY_OUT)])]


def default_version(
    store: Store, model: str = DEFAULT_MODEL, taxon: str = "human", template: str = DEFAULT_TEMPLATE
) -> EmbeddingVersion:
    """The version the tag of a default build (`taxon/template/model`) points at, refused when
    the tag was moved to another species' version (`build --tag … --force`): its genes answered
    for this species' names, case aside (CD3E as mouse Cd3e), without a word."""
    from genekb.records import TAXA

    tag = default_tag_of(store, model, taxon, template)
    version = store.embedding(tag)
    wanted = TAXA.get(taxon)
    if wanted is not None and version.taxon != wanted:
        names = {v: k for k, v in TAXA.items()}
        raise GenekbError(
            f"tag {tag!r} points at {version.id}, a version of taxon {version.taxon}"
            f" ({names.get(version.taxon, 'another species')}), not {taxon}; name the version"
            f" to read (--ref), or point the tag at a {taxon} version (`genekb build --taxon"
            f" {taxon} --tag {tag} --force`)"
        )
    return version


def embedding_of(
    store: StoreLike | EmbeddingVersion, ref: str | None = None, model: str = DEFAULT_MODEL
) -> EmbeddingVersion:
    """An embedding version: given, or named by id / tag (default: `default_version(model)`)."""
    if isinstance(store, EmbeddingVersion):
        return store
    return open_store(store).embedding(ref) if ref else default_version(open_store(store), model)


def build(
    store: StoreLike = None,
    *,
    genes: Any = None,
    model: str = DEFAULT_MODEL,
    tag: str | None = None,
    force: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Build (or find) the gene text and embedding versions in `store`; the build's report.

    `genes`: gene names, an AnnData (its var_names) or None (every gene of the source).
    `model`: an encoder name (default `minilm+tfidf-lsa`, side by side, as `genekb build`).
    `options` go to `genekb.build.build` (source, taxon, template, device, batch_size, ...).
    A bar shows the embedding when it lasts more than a moment.

    Examples
    --------
    >>> import genekb as gk
    >>> report = gk.build("artifacts", genes=["CD3E", "CD19", "INS"], model="minilm")
    >>> report["tag"]
    'human/ncbi-card/minilm'
    """
    if genes is not None and hasattr(genes, "var_names"):
        genes = gene_names_of(genes)
    target = open_store(store, create=True)
    given = options.pop("progress", None)  # a caller's own factory wins over the bars
    with store_bars(f"genekb build {model}") as bars:
        report = run_build(
            target, model=model, genes=genes, tag=tag, force=force, progress=given or bars,
            **options,
        )  # fmt: skip
    notice(
        f"store {report['tag']} = {report['embedding_id']}: {report['n_genes']} genes, embedded"
        f" {report['embedded']}, reused {report['reused']}"
    )
    return report


def similar(
    store: StoreLike | EmbeddingVersion,
    gene: str,
    k: int = 10,
    *,
    ref: str | None = None,
    model: str = DEFAULT_MODEL,
) -> dict[str, Any]:
    """The `k` genes nearest to `gene` (cosine of their text vectors) in one embedding version.

    `store`: a `Store`, its path, or an `EmbeddingVersion`; `ref` names the version (id or tag;
    default the tag a default build of `model` writes, as `genekb similar`).

    Examples
    --------
    >>> import genekb as gk
    >>> hits = gk.similar("artifacts", "CD3E", k=5, model="minilm")["hits"]
    >>> [h["symbol"] for h in hits][:2]  # in a store built for pbmc68k-reduced's genes
    ['CD3G', 'CD247']
    """
    from genekb.query import similar as run_similar

    return run_similar(embedding_of(store, ref, model), gene, k)


def evaluate(
    store: StoreLike | EmbeddingVersion | Sequence[EmbeddingVersion],
    tasks: str | Path | DataFrame | Series | Sequence[Any] | None = None,
    *,
    refs: str | Sequence[str] | None = None,
    seeds: int = 3,
    folds: int = 5,
    **options: Any,
) -> dict[str, Any]:
    """Gene-level tasks scored from each version's vectors beside random, shuffled and
    bag-of-words controls of the same genes (`genekb eval`); one JSON-ready report.

    `store`: a `Store` or path (with `refs`: ids or tags; default the tag a default build
    writes, `human/ncbi-card/minilm+tfidf-lsa`; `refs="human/ncbi-card/minilm"` after a build
    with `model="minilm"`), an `EmbeddingVersion` or a list of them. `tasks`: bundled names,
    CSV/TSV paths, DataFrames with a gene and a label column or Series of gene -> label, one or
    a list (default: the two binary bundled tasks).
    `options` go to `genekb.eval.evaluate` (feature_sets, leakage, tune).

    Examples
    --------
    >>> import genekb as gk
    >>> report = gk.eval("artifacts", ["dosage-tfs"], seeds=1)  # a default build of all genes
    >>> sorted(report["results"][0]["scores"])[:3]
    ['annotation-depth', 'bag-of-words', 'random']
    """
    from genekb.eval.evaluate import evaluate as run_evaluate
    from genekb.eval.tasks import DEFAULT_TASKS

    refs = [refs] if isinstance(refs, str) else refs  # a bare "human" read as ref "h"
    if isinstance(store, EmbeddingVersion):
        versions = [store]
    elif isinstance(store, list | tuple):
        versions = list(store)
    else:
        versions = eval_versions(open_store(store), refs)
    log = notice if _chatty() else None
    with stage_bars():  # one bar per task's probe fits
        if tasks is None or (isinstance(tasks, list | tuple) and not tasks):
            tasks = DEFAULT_TASKS  # not `tasks or`: a DataFrame has no truth value
        return run_evaluate(versions, tasks, seeds=seeds, folds=folds, log=log, **options)


def tag(
    store: StoreLike,
    name: str,
    version: str | None = None,
    *,
    force: bool = False,
    delete: bool = False,
) -> dict[str, Any]:
    """Point tag `name` at an embedding version (`genekb tag`), or delete it with `delete`.

    `version`: an id, unique id prefix or tag. A tag pointing elsewhere moves only with
    `force`; the report names the version it pointed at before (`previous`). `store.tags()`
    lists the tags.

    Examples
    --------
    >>> import genekb as gk
    >>> gk.tag("artifacts", "lab/current", "human/ncbi-card/minilm")["embedding_id"][:4]
    'emb-'
    >>> report = gk.tag("artifacts", "lab/current", delete=True)
    """
    from genekb.store.tag_edits import delete_tag, point_tag

    if delete and (version is not None or force):
        raise UsageError("delete=True takes the tag's name alone (no version, no force)")
    if delete:
        return delete_tag(open_store(store), name)
    if version is None:
        raise UsageError(f"give the version to point {name!r} at, or delete=True")
    return point_tag(open_store(store), name, version, force=force)


def remove(
    store: StoreLike, versions: str | Sequence[str], *, force: bool = False, dry_run: bool = False
) -> dict[str, Any]:
    """Remove versions (ids, unique id prefixes, tags) and free their disk (`genekb rm`).

    Refused while a tag points at one, unless `force` (which deletes those tags), and while
    another version rests on one (its text version, a multi-view version's views). `dry_run`
    reports what would go. The report lists each version removed with its bytes.

    Examples
    --------
    >>> import genekb as gk
    >>> report = gk.remove("artifacts", ["human/ncbi-card/minilm"], force=True, dry_run=True)
    >>> report["removed"][0]["kind"]
    'embedding'
    """
    from genekb.store.removal import remove as run_remove

    return run_remove(open_store(store), versions, force=force, dry_run=dry_run)


def gc(store: StoreLike = None, *, dry_run: bool = False) -> dict[str, Any]:
    """Remove what nothing needs (`genekb gc`): text versions no embedding version rests on,
    leftovers of writers that no longer run. Embedding versions stay; `untagged` lists those no
    tag points at. `dry_run` reports what would go.

    Examples
    --------
    >>> import genekb as gk
    >>> report = gk.gc("artifacts", dry_run=True)
    >>> sorted(report)
    ['bytes_freed', 'dry_run', 'notes', 'removed', 'untagged']
    """
    from genekb.store.removal import collect_garbage

    return collect_garbage(open_store(store), dry_run=dry_run)


def _chatty() -> bool:
    from genekb.settings import settings

    return settings.verbosity >= 2
