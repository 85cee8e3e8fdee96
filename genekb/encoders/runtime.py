"""Torch settings shared by the local backends: threads, compute dtype and pooling."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from genekb.errors import UsageError
from genekb.settings import env_number

if TYPE_CHECKING:
    import torch

# Spellings accepted for EncoderSpec.dtype (and the `name@dtype` suffix) -> canonical name.
DTYPE_ALIASES: dict[str, str] = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}


def canonical_dtype(name: str) -> str:
    if name not in DTYPE_ALIASES:
        raise UsageError(
            f"unknown compute dtype {name!r}; choose one of: float32, float16, bfloat16"
        )
    return DTYPE_ALIASES[name]


# More threads than any machine has cores is a typo: torch would try to start them all (1e6) or
# fail on the number itself (1e12, "Overflow when unpacking long").
MAX_THREADS = 4096


def pinned_threads() -> int:
    """The thread count GENEKB_THREADS pins; 0 (every core) when unset or 0."""
    return int(env_number("GENEKB_THREADS", 0, maximum=MAX_THREADS, whole=True))


def configure_threads() -> int:
    """Use every core this process may run on, unless the user pinned a count.

    torch defaults to the physical core count, which leaves hyper-threads and cgroup-granted
    cores idle; OMP_NUM_THREADS or GENEKB_THREADS, when set, win.
    """
    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    pinned = pinned_threads()
    wanted = pinned or available or os.cpu_count() or 1
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
    return wanted


@contextlib.contextmanager
def encoding_threads() -> Iterator[int]:
    """`configure_threads` for one encoding, then the process's count as it was: loading an
    encoder set it for the whole process, so a notebook's torch.set_num_threads(1) was undone."""
    import torch

    previous = torch.get_num_threads()
    wanted = configure_threads()
    try:
        yield wanted
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def compute_context(device: str, dtype: str) -> contextlib.AbstractContextManager[object]:
    """Autocast for half-precision specs; weights stay float32, so layer norms stay exact."""
    import torch

    dtype = canonical_dtype(dtype)
    if dtype == "float32":
        return contextlib.nullcontext()
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    return torch.autocast(device_type=device_type, dtype=getattr(torch, dtype))


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence load-time progress bars and notes such as BERT's unused MLM head weights."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens only, so padding never changes a text's vector."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def last_token(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The last real token of each row, for left- or right-padded batches alike."""
    import torch

    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = (positions * mask.long()).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def first_token(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BERT's [CLS] position (assumes right padding, which the hf backend uses)."""
    return hidden[:, 0]


POOLINGS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mean": masked_mean,
    "last": last_token,
    "cls": first_token,
}
