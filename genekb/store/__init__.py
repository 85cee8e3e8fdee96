"""The versioned store: layout, versions, manifests, catalog, export and import."""

from genekb.store import remote as _remote  # noqa: F401 - lets Store.open read a URL
from genekb.store.store import EmbeddingVersion, Store, TextVersion
from genekb.store.store_root import resolve_root

__all__ = ["EmbeddingVersion", "Store", "TextVersion", "resolve_root"]
