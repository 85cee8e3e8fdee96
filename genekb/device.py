"""The one rule for choosing a torch device, shared by the encoders and by cellmodel."""

from __future__ import annotations

import re

from genekb.errors import GenekbError, UsageError

DEVICE_CHOICES = "cpu, cuda, cuda:N or auto"


def resolve_device(device: str | None = None) -> str:
    """The torch device name for `device`.

    None or "auto": "cuda" when torch sees a GPU, else "cpu". "cpu", "cuda" and "cuda:N" are
    taken as given once a GPU is known to be there. Anything else is a usage error; a GPU asked
    for on a machine without one is an error naming the way out.
    """
    import torch

    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    name = str(device)
    if name != "cpu" and not re.fullmatch(r"cuda(:\d+)?", name):
        raise UsageError(f"unknown device {device!r}; choose {DEVICE_CHOICES}")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GenekbError(f"device {name!r} was asked for but torch sees no GPU; use 'cpu'")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise GenekbError(
                f"device {name!r} was asked for but torch sees {torch.cuda.device_count()} GPU(s)"
            )
    return name
