"""Loader for the `sentence-transformers` backend: st_backend's encoder plus what it leaves out.

- `wheels:<key>` model ids (mpnet): the split wheels are assembled once into a local directory,
  which is what st_backend loads; the spec keeps the portable `wheels:` id, so its hash does not
  depend on where the directory is.
- compute dtype: a spec with dtype float16/bfloat16 runs under autocast (e.g. `minilm-bf16`);
- threads: every available core while encoding, the process's own count after (see
  runtime.encoding_threads).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genekb.encoders.base import Encoder, EncoderSpec, Progress
from genekb.encoders.packaged import assemble, split_model
from genekb.encoders.runtime import (
    canonical_dtype,
    compute_context,
    encoding_threads,
    pinned_threads,
    quiet_transformers,
)
from genekb.encoders.st_backend import SentenceTransformerEncoder

WHEELS_PREFIX = "wheels:"


class TunedSentenceTransformerEncoder(SentenceTransformerEncoder):
    def __init__(self, spec: EncoderSpec, device: str | None) -> None:
        canonical_dtype(spec.dtype)
        pinned_threads()  # GENEKB_THREADS checked before the load; set only while encoding
        with quiet_transformers():
            if spec.model_id.startswith(WHEELS_PREFIX):
                local = assemble(split_model(spec.model_id.removeprefix(WHEELS_PREFIX)))
                super().__init__(spec.with_(model_id=str(local)), device)
                self.spec = self.spec.with_(model_id=spec.model_id)
            else:
                super().__init__(spec, device)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        with encoding_threads(), compute_context(self.device, self.spec.dtype):
            return super().encode(texts, batch_size=batch_size, progress=progress)


def load(spec: EncoderSpec, device: str | None) -> Encoder:
    return TunedSentenceTransformerEncoder(spec, device)
