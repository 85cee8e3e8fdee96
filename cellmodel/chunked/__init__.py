"""Cells out of core: .h5ad files read and written in row chunks, computed with Dask.

`embed_h5ad` is the weighted semantic view of `cellmodel.embed` for files larger than memory.
Dask and h5py are the `dask` extra (`pip install genekb-cellmodel[dask]`), imported when a
chunked path runs.
"""

from cellmodel.chunked.embed import DEFAULT_CHUNK_SIZE, embed_h5ad

__all__ = ["DEFAULT_CHUNK_SIZE", "embed_h5ad"]
