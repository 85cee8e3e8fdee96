"""Chunk tasks run by Dask: the local threaded scheduler by default, a distributed cluster when
given its address. Results come back in chunk order, a bounded window at a time, so the caller
holds only a few chunks' results however many cells the file has."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from genekb.errors import GenekbError

INSTALL_HINT = "the chunked path runs on Dask: install genekb-cellmodel[dask]"
# Chunks in flight per worker: enough to keep every worker busy while the caller writes.
WINDOW_PER_WORKER = 2


def import_dask() -> Any:
    try:
        import dask
    except ImportError:
        raise GenekbError(INSTALL_HINT) from None
    return dask


def _default_workers() -> int:
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class DaskEngine:
    """Where chunk tasks run: `address` None is the local threaded scheduler with `workers`
    threads (default: the usable cores); an address connects a `distributed.Client` (the
    workers must read the same input path)."""

    address: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        import_dask()
        self._client: Any = None
        if self.address is not None:
            try:
                from distributed import Client
            except ImportError:
                raise GenekbError(INSTALL_HINT) from None
            try:
                self._client = Client(self.address, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise GenekbError(
                    f"cannot reach the Dask scheduler at {self.address}: {exc}"
                ) from None
            self.workers = self.workers or max(1, len(self._client.scheduler_info()["workers"]))
        self.workers = self.workers or _default_workers()

    @property
    def scheduler(self) -> str:
        return f"distributed {self.address}" if self._client else f"threads x{self.workers}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(self, func: Callable[..., Any], args: Sequence[tuple[Any, ...]]) -> Iterator[Any]:
        """func(*a) for each a in `args`, yielded in order."""
        assert self.workers is not None
        window = max(1, self.workers * WINDOW_PER_WORKER)
        if self._client is not None:
            yield from self._map_distributed(func, args, window)
            return
        import dask

        for lo in range(0, len(args), window):
            tasks = [dask.delayed(func, pure=False)(*a) for a in args[lo : lo + window]]
            yield from dask.compute(*tasks, scheduler="threads", num_workers=self.workers)

    def _map_distributed(
        self, func: Callable[..., Any], args: Sequence[tuple[Any, ...]], window: int
    ) -> Iterator[Any]:
        pending: list[Any] = []
        queue = iter(args)
        for a in queue:
            pending.append(self._client.submit(func, *a, pure=False))
            if len(pending) >= window:
                break
        while pending:
            future = pending.pop(0)
            result = future.result()
            future.release()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(self._client.submit(func, *nxt, pure=False))
            yield result

    def reduce(self, func: Callable[..., Any], args: Sequence[tuple[Any, ...]]) -> Any:
        """The sum (`+`) of func(*a) over `args`."""
        total = None
        for part in self.map(func, args):
            total = part if total is None else total + part
        return total
