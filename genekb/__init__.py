"""genekb: NCBI gene knowledge as text, embedded into versioned, verifiable Parquet stores.

In a Python session (`import genekb as gk`):

    >>> import genekb as gk
    >>> report = gk.build("artifacts", genes=["CD3E", "CD19", "INS"], model="minilm")
    >>> store = gk.Store.open("artifacts")
    >>> hits = gk.similar(store, "CD3E", k=5, model="minilm")
    >>> ax = gk.pl.neighbours(store, "CD3E", model="minilm", show=False)

`gk.build`, `gk.similar`, `gk.eval`, `gk.tag`, `gk.remove` and `gk.gc` take a `Store` or its
path; `gk.pl` draws; `gk.settings.verbosity` sets how much a session is told (0: nothing, 1:
progress bars).
"""

from genekb.api import build, gc, remove, similar, tag
from genekb.settings import settings
from genekb.store.store import EmbeddingVersion, Store, TextVersion
from genekb.store.store_root import resolve_root

__all__ = [
    "EmbeddingVersion",
    "Store",
    "TextVersion",
    "__version__",
    "build",
    "eval",
    "gc",
    "pl",
    "remove",
    "resolve_root",
    "settings",
    "similar",
    "tag",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    # `gk.eval` is the genekb.eval package, which is callable (`gk.eval(store, tasks)`), and
    # `gk.pl` imports matplotlib: both load on first use.
    if name in ("eval", "pl"):
        import importlib

        return importlib.import_module(f"genekb.{name}")
    raise AttributeError(f"module 'genekb' has no attribute {name!r}")


def __dir__() -> list[str]:  # tab completion offers the public names, not every loaded submodule
    return sorted(__all__)
