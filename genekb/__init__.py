"""genekb: NCBI gene knowledge as text, embedded into versioned, verifiable Parquet stores.

    >>> from genekb import Store, build
    >>> store = Store.open("artifacts", create=True)
    >>> report = build(store, model="minilm", genes=["CD3E", "CD19", "INS"])
    >>> vectors, found = store.embedding(report["tag"]).vectors(["CD3E", "NOTAGENE"])
"""

from genekb.build import build
from genekb.store.store import EmbeddingVersion, Store, TextVersion, resolve_root

__all__ = ["EmbeddingVersion", "Store", "TextVersion", "__version__", "build", "resolve_root"]
__version__ = "0.1.0"
