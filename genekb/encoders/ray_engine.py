"""Encoding spread over a Ray cluster: one loaded encoder per actor (per GPU, or per CPU core).

`RayEncoder` is an `Encoder` like any backend, so a build hands it to the same
`ensure_embedding_version` (staging -> verify -> rename) and the version id, manifest and
vectors are those of a local build: the id hashes the text version and the encoder spec, never
the engine. Each actor loads the spec through the ordinary registry (offline where the local
build is offline: the driver's HF_* / TRANSFORMERS_* / GENEKB_* variables travel to the actors).

Texts go out in shards to a pool of actors (Ray core actors, `ray.util.ActorPool`): each shard is
encoded by the backend's own `encode`, which sorts it by length into batches, so one text gets
the same vector whichever shard or actor it lands in (up to padding-order float noise).
Ray is an optional dependency (`pip install genekb-cellmodel[ray]`), imported only here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from genekb.encoders import registry
from genekb.encoders.base import Encoder, EncoderSpec, Progress
from genekb.errors import GenekbError, UsageError

ENGINES: tuple[str, ...] = ("local", "ray")
INSTALL_HINT = "the ray engine needs Ray: install genekb-cellmodel[ray]"
# Texts per shard handed to one actor call: large enough to keep the backend's length-sorted
# batches full, small enough that the actors finish together.
SHARD_TEXTS = 256
_FORWARDED_ENV = ("HF_", "TRANSFORMERS_", "GENEKB_", "TOKENIZERS_", "SENTENCE_TRANSFORMERS_")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise GenekbError(INSTALL_HINT) from None
    return ray


def check_engine(engine: str, address: str | None, num_workers: int | None = None) -> None:
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if address is not None and engine != "ray":
        raise UsageError("address= is for engine='ray' only")
    if num_workers is not None and engine != "ray":  # was ignored: one local encoder ran
        raise UsageError("num_workers= (--workers) is for engine='ray' (--engine ray) only")


class _EncoderActor:
    """Holds one loaded encoder inside a Ray worker process."""

    def __init__(self, spec: dict[str, Any], device: str | None) -> None:
        self.encoder = registry.load(EncoderSpec.from_dict(spec), device)

    def spec(self) -> dict[str, Any]:
        return self.encoder.spec.to_dict()

    def count_tokens(self, texts: list[str]) -> list[int]:
        return list(self.encoder.count_tokens(texts))

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self.encoder.encode(texts, batch_size=batch_size)


def _forwarded_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_FORWARDED_ENV)}


class RayEncoder(Encoder):
    """An encoder whose work runs on `num_workers` Ray actors (default: one per GPU, else per
    CPU of the cluster). Connects to `address` (None: a private local instance, shut down by
    `close`)."""

    def __init__(
        self,
        spec: EncoderSpec,
        *,
        device: str | None = None,
        address: str | None = None,
        num_workers: int | None = None,
    ) -> None:
        ray = import_ray()
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            env = {"env_vars": _forwarded_env()}
            try:
                ray.init(
                    address=address,
                    include_dashboard=False,
                    log_to_driver=False,
                    runtime_env=env,
                    **({"num_cpus": num_workers} if address is None and num_workers else {}),
                )
            except ConnectionError as exc:
                raise GenekbError(f"cannot reach the Ray cluster at {address}: {exc}") from None
            self._started = True
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        use_gpu = gpus > 0 and device != "cpu"
        n = num_workers or (gpus if use_gpu else int(resources.get("CPU", 1)))
        if n < 1:
            raise UsageError("num_workers must be >= 1")
        # One CPU per actor also sets the actor's OMP_NUM_THREADS to 1, so actors do not
        # oversubscribe the cores they share.
        options = {"num_gpus": 1, "num_cpus": 1} if use_gpu else {"num_cpus": 1}
        actor_cls = ray.remote(**options)(_EncoderActor)
        actor_device = None if use_gpu else (device or "cpu")
        self._actors = [actor_cls.remote(spec.to_dict(), actor_device) for _ in range(n)]
        loaded = ray.get([a.spec.remote() for a in self._actors])
        if any(s != loaded[0] for s in loaded):
            raise GenekbError("Ray workers loaded different encoder weights; check their installs")
        super().__init__(EncoderSpec.from_dict(loaded[0]))
        self.n_workers = n

    def _map(
        self, method: str, texts: Sequence[str], *args: Any, each: Progress | None = None
    ) -> Iterator[Any]:
        """Results of `method` over shards of `texts`, in order (idle actors take the next)."""
        from ray.util import ActorPool

        shards = [list(texts[i : i + SHARD_TEXTS]) for i in range(0, len(texts), SHARD_TEXTS)]
        pool = ActorPool(self._actors)
        for part in pool.map(lambda a, s: getattr(a, method).remote(s, *args), shards):
            if each:
                each(len(part))
            yield part

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [n for part in self._map("count_tokens", texts) for n in part]

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        parts = self._map("encode", texts, batch_size, each=progress)
        return np.vstack([np.asarray(p, dtype=np.float32) for p in parts])

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._started:
            self._ray.shutdown()
            self._started = False
