"""`cm.tl`: the steps of a run (cluster, annotate, classify, explain, embed), AnnData first.

The functions live in `cellmodel.tools`, which reads its defaults from the run dataclasses and
so loads torch; this module loads it only when one of them is first used, so `import cellmodel`
and `cm.tl` stay quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for readers and type checkers; at run time `__getattr__` loads them
    from cellmodel.tools import annotate, classify, cluster, embed, explain

__all__ = ["annotate", "classify", "cluster", "embed", "explain"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("cellmodel.tools"), name)
    raise AttributeError(f"module 'cellmodel.tl' has no attribute {name!r}")


def __dir__() -> list[str]:  # tab completion offers the public steps, not the imports
    return sorted(__all__)
