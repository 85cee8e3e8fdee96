"""Sources of gene records, by registry name. Each yields a `GeneTable` and names its snapshot."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genekb.errors import GenekbError, UnknownNameError, UsageError
from genekb.records import TAXA, GeneTable
from genekb.sources.bundled import load_bundled
from genekb.sources.ncbi import read_ncbi
from genekb.sources.orgdb import read_orgdb
from genekb.sources.refseq import add_refseq


@dataclass(frozen=True)
class SourceInfo:
    name: str
    description: str
    options: tuple[str, ...]  # keyword options the source needs (CLI: --source-opt key=value)
    loader: Callable[..., GeneTable]


def _bundled(taxon: str) -> GeneTable:
    return load_bundled(taxon)


def _need(options: dict[str, Any], key: str, source: str) -> Path:
    if not options.get(key):
        raise UsageError(f"source {source!r} needs the source option {key}=PATH")
    if not isinstance(options[key], str | os.PathLike):  # 123 failed in pathlib
        raise UsageError(f"source option {key}={options[key]!r} must be a path")
    # `gene_info=~/x` is one word: zsh (macOS) and sh leave its ~ to the program
    path = Path(options[key]).expanduser()
    if not path.exists():
        raise GenekbError(f"{key} file {path} does not exist")
    return path


def _orgdb(taxon: str, org_db: str | None = None, go_db: str | None = None) -> GeneTable:
    opts = {"org_db": org_db, "go_db": go_db}
    return read_orgdb(
        _need(opts, "org_db", "orgdb"), _need(opts, "go_db", "orgdb"), taxon=TAXA[taxon]
    )


def _ncbi(taxon: str, gene_info: str | None = None, gene2go: str | None = None) -> GeneTable:
    opts = {"gene_info": gene_info, "gene2go": gene2go}
    go = _need(opts, "gene2go", "ncbi") if gene2go else None
    return read_ncbi(_need(opts, "gene_info", "ncbi"), go, taxon=TAXA[taxon])


def _entrez(
    taxon: str, base: str = "bundled", cache_dir: str | None = None, **base_opts: Any
) -> GeneTable:
    # Here, not at the top: it loads Bio.Entrez and urllib/http, needed only by an Entrez build.
    from genekb.sources.entrez import add_summaries

    genes = load_source(base, taxon, **base_opts)
    return add_summaries(genes, cache_dir=Path(cache_dir).expanduser() if cache_dir else None)


def _refseq(taxon: str, base: str = "bundled", **base_opts: Any) -> GeneTable:
    return add_refseq(load_source(base, taxon, **base_opts))


SOURCES: dict[str, SourceInfo] = {
    s.name: s
    for s in (
        SourceInfo(
            "bundled",
            "shipped: human (org.Hs.eg.db 3.16 + GO.db 3.16), mouse (NCBI 2016 via goatools)",
            (),
            _bundled,
        ),
        SourceInfo(
            "orgdb", "any Bioconductor org.*.eg.db SQLite + GO.sqlite", ("org_db", "go_db"), _orgdb
        ),
        SourceInfo(
            "ncbi",
            "NCBI bulk gene_info(.gz) [+ gene2go(.gz)], streamed",
            ("gene_info", "gene2go"),
            _ncbi,
        ),
        SourceInfo(
            "entrez",
            "a base source + NCBI summaries via E-utilities (cached)",
            ("base", "cache_dir"),
            _entrez,
        ),
        SourceInfo(
            "refseq",
            "a base source (default bundled) + the bundled RefSeq summaries (human, mouse)",
            ("base",),
            _refseq,
        ),
    )
}


def accepted_options(name: str, base: str = "bundled") -> tuple[str, ...]:
    """The options source `name` takes: its own, and a layered source's (`base=`) its base's."""
    own = SOURCES[name].options
    if "base" not in own or base not in SOURCES or base == name:
        return own
    return own + tuple(o for o in accepted_options(base) if o not in own)


def load_source(name: str, taxon: str = "human", **options: Any) -> GeneTable:
    if name not in SOURCES:
        raise UnknownNameError("source", name, list(SOURCES))
    if taxon not in TAXA:
        raise UnknownNameError("taxon", taxon, list(TAXA))
    base = str(options.get("base", "bundled"))
    if "base" in SOURCES[name].options and base == name:  # refseq of refseq: summaries twice
        others = [s for s in SOURCES if s != name]
        raise UsageError(
            f"source {name!r} cannot be its own base; give base= one of {', '.join(others)}"
        )
    accepted = accepted_options(name, base)
    unknown = sorted(set(options) - set(accepted))
    if unknown:  # the loader would fail with Python's own words about keyword arguments
        takes = f"it takes {', '.join(accepted)}" if accepted else "it takes none"
        raise UsageError(
            f"source {name!r} has no option {unknown[0]!r}; {takes} (see `genekb sources`)"
        )
    return SOURCES[name].loader(taxon, **options)
