"""The method registry: what a method sees (`MethodInput`), returns (`MethodOutput`), and how it
is registered so a worker process finds it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anndata as ad
import numpy as np

from cellmodel.bench.settings import BATCH_COLUMN
from genekb.errors import UnknownNameError, UsageError
from genekb.store.store import Store


@dataclass
class MethodInput:
    """What a method sees: the label-free data, the number of label classes, and the settings."""

    adata: ad.AnnData
    n_classes: int
    seed: int
    root: str | None = None
    model: str = "minilm"
    device: str | None = None
    layer: str | None = None
    gene_key: str | None = None
    gene_vectors: str = "real"  # `--gene-vectors`: what methods on real vectors get instead

    @property
    def batch_key(self) -> str | None:
        """`BATCH_COLUMN` when the dataset names a technical batch (donor), else None."""
        return BATCH_COLUMN if BATCH_COLUMN in self.adata.obs else None

    def store(self) -> Any:
        return Store.open(self.root, create=True)


@dataclass
class MethodOutput:
    labels: np.ndarray  # one cluster id per cell
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. the Leiden resolution reached


MethodFn = Callable[[MethodInput], MethodOutput]


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    run: MethodFn
    module: str  # imported by the worker process so the registration happens there too
    needs_store: bool = False
    uses_k: bool = True
    gene_vectors: str | None = None  # which sentence-cache warm-up it needs (real/shuffled/random)
    sentences: bool = True  # whether that warm-up must embed cell sentences (not just gene vectors)


METHODS: dict[str, Method] = {}
BUILTIN_METHODS: list[str] = []  # display order of `--methods all`


def register_method(
    name: str,
    description: str,
    *,
    needs_store: bool = False,
    uses_k: bool = True,
    gene_vectors: str | None = None,
    sentences: bool = True,
    builtin: bool = False,
) -> Callable[[MethodFn], MethodFn]:
    """Add a method to the registry (module-level, so a worker process registers it on import)."""

    def decorate(fn: MethodFn) -> MethodFn:
        METHODS[name] = Method(
            name, description, fn, fn.__module__, needs_store, uses_k, gene_vectors, sentences
        )
        if builtin and name not in BUILTIN_METHODS:
            BUILTIN_METHODS.append(name)
        return fn

    return decorate


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise UnknownNameError("bench method", name, list(METHODS))
    return METHODS[name]


def parse_methods(spec: str | Sequence[str] | None) -> list[str]:
    """Method names from "a,b,c" (or a list); None or "all" means every built-in method."""
    if spec is None or spec == "all":
        return list(BUILTIN_METHODS)
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    if not names:
        raise UsageError("methods= is empty; give names separated by commas, or 'all'")
    for name in names:
        get_method(name)
    return list(dict.fromkeys(names))
