"""A pickle read without running its code: an unpickler that builds only plain containers,
numbers, strings and NumPy arrays, and refuses any other global before it is built (GenePT's
gene-vector files are dict pickles; a pickle can otherwise run anything when loaded).
"""

from __future__ import annotations

import collections
import functools
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from genekb.errors import GenekbError


@functools.lru_cache(maxsize=1)
def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {("numpy", "dtype"): np.dtype}
    for module in ("numpy.core", "numpy._core"):
        allowed[(f"{module}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{module}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{module}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


_PLAIN = (dict, list, tuple, set, frozenset, float, int, complex, str, bytes, bytearray, bool)
# Pickles may ask these to allocate: `bytes(n)`, `ndarray(shape)`, `_reconstruct(cls, shape, …)`.
_SIZED = {"bytes", "bytearray", "ndarray", "_reconstruct", "scalar"}
BUDGET_SLACK = 64 << 20  # bytes any pickle may allocate beyond a multiple of its own size


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What protocol-2 pickles call (`_codecs.encode`) to carry bytes; latin-1 only."""
    if encoding.replace("-", "").lower() != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refused global _codecs.encode({encoding!r})")
    return text.encode("latin1")


_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _latin1_bytes,
    **{("builtins", t.__name__): t for t in _PLAIN},
    **{("__builtin__", t.__name__): t for t in _PLAIN},  # protocol-2 pickles from Python 2
}


class SafeUnpickler(pickle.Unpickler):
    """Builds only plain containers, numbers, strings and NumPy arrays; refuses any other global.

    Every constructor that takes a size (`bytes(n)`, an array's shape) draws on one budget, a
    multiple of the pickle's own size: the data of a real array comes from the file, so a request
    far beyond it is an attack on memory, refused before the allocation.
    """

    def __init__(self, file: Any, *, size: int) -> None:
        super().__init__(file)
        self.budget = 4 * size + BUDGET_SLACK

    def _spend(self, n_bytes: int, what: str) -> None:
        self.budget -= n_bytes
        if n_bytes < 0 or self.budget < 0:
            raise pickle.UnpicklingError(f"oversized: {what} asks for {n_bytes:,} bytes")

    def _array_bytes(self, shape: Any, dtype: Any) -> int:
        dims = shape if isinstance(shape, (tuple, list)) else (shape,)
        if not all(isinstance(d, int) and d >= 0 for d in dims):
            raise pickle.UnpicklingError("oversized: an array shape that is not sizes")
        return int(np.prod(dims, dtype=object)) * np.dtype(dtype).itemsize

    def find_class(self, module: str, name: str) -> Any:
        found = _SAFE_GLOBALS.get((module, name)) or _numpy_globals().get((module, name))
        if module == "numpy" and name == "ndarray":
            found = self._ndarray
        if found is None:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return self._sized(found, name) if name in _SIZED else found

    def _ndarray(self, shape: Any = (0,), dtype: Any = float, *args: Any) -> np.ndarray:
        """`numpy.ndarray` as a pickle sees it: the class `_reconstruct` is handed, and, called
        directly, a constructor on the budget."""
        if args:
            raise pickle.UnpicklingError("refused global numpy.ndarray with a buffer")
        self._spend(self._array_bytes(shape, dtype), "an array")
        return np.ndarray(shape, dtype)

    def _sized(self, build: Any, name: str) -> Any:
        def guarded(*args: Any) -> Any:
            if name in ("bytes", "bytearray") and args and isinstance(args[0], int):
                self._spend(args[0], name)
            elif name == "_reconstruct":
                if len(args) != 3 or args[0] != self._ndarray:
                    raise pickle.UnpicklingError("refused global _reconstruct of a non-array")
                self._spend(self._array_bytes(args[1], args[2]), "an array")
                return build(np.ndarray, args[1], args[2])
            elif name == "scalar" and args:
                self._spend(np.dtype(args[0]).itemsize, "a scalar")
            return build(*args)

        return guarded if name != "ndarray" else build


def _conversion(built: str, where: object) -> str:
    """The one line of Python that saves such a pickle as a file read here, run where it is
    trusted: a DataFrame as Parquet (its index of genes kept), else a dict of gene -> vector
    (tensors, Series, lists) as .npz."""
    name = Path(str(where)).name if isinstance(where, Path) else "FILE.pkl"
    if built.startswith("pandas.core.frame"):
        return (
            f'python -c "import pandas as pd; pd.read_pickle({name!r}).rename(columns=str)'
            ".to_parquet('vectors.parquet')\""
        )
    return (
        f'python -c "import pickle, numpy as np; d = pickle.load(open({name!r}, \'rb\'));'
        " np.savez('vectors.npz', genes=np.array([str(g) for g in d]),"
        ' vectors=np.stack([np.asarray(v, dtype=np.float32) for v in d.values()]))"'
    )


def safe_load_pickle(path: Path | io.BytesIO, size: int | None = None) -> Any:
    """Unpickle a file (or bytes in memory) with `SafeUnpickler`; GenekbError when refused."""
    where = path if isinstance(path, Path) else "the pickle"
    try:
        if isinstance(path, Path):
            with path.open("rb") as fh:
                stream = io.BufferedReader(fh)
                return SafeUnpickler(stream, size=path.stat().st_size).load()
        return SafeUnpickler(path, size=size or len(path.getbuffer())).load()
    except pickle.UnpicklingError as exc:
        message = str(exc)
        if message.startswith("refused global"):
            built = message[len("refused global ") :]
            raise GenekbError(
                f"{where}: the pickle asks to build {built}, which a gene-vector file has no need"
                " of; refused, since a pickle can run code. Where you trust it, convert it: "
                + _conversion(built, where)
            ) from None
        if message.startswith("oversized: "):
            raise GenekbError(
                f"{where}: {message[len('oversized: ') :]}, far more than the file could fill; "
                "refused before allocating it"
            ) from None
        raise GenekbError(f"{where} is not a readable pickle ({exc})") from None
    except MemoryError:
        raise GenekbError(f"{where}: the pickle asks for more memory than there is") from None
    except (
        EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, RecursionError,
    ) as exc:  # fmt: skip
        raise GenekbError(f"{where} is not a readable pickle ({exc.__class__.__name__})") from None
