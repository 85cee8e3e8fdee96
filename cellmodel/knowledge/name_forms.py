"""Forms gene names take in real files that a lookup of each name alone misreads.

- Multi-genome references (species-mixing, "barnyard" experiments) prefix every gene with its
  genome: Cell Ranger writes "GRCh38_CD3E" and "mm10___Cd3e", older ones "hg19_", "mm10_".
- `var_names_make_unique` (scanpy, anndata) renames the second "TBCE" to "TBCE-1".
- Some pipelines upper-case mouse symbols ("CD3E", "INS2", "LY6A"), which then vote human by case.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_GENOME_PREFIX = re.compile(r"^(GRCh3[78]|hg19|hg38|mm9|mm10|mm39|GRCm3[89])_+", re.IGNORECASE)
GENOME_PREFIX_FIX = (
    "keep one species' genes and strip the prefix from their names"
    " (adata[:, adata.var_names.str.startswith('GRCh38_')], then 'GRCh38_CD3E' -> 'CD3E')"
)
_UNIQUE_SUFFIX = re.compile(r"^(.+)-\d+$")
# Upper-case names read as mouse genes only when this share of them are mouse genes and not human
# ones, and at least MOUSE_ONLY_RATIO times as many as the reverse: human files hold human-only
# genes (HLA-DRA, lncRNAs) by the hundreds, an upper-cased mouse file Ins1, Ly6a, Gm genes.
MOUSE_ONLY_MIN_RATE = 0.1
MOUSE_ONLY_RATIO = 2


def genome_prefix_note(names: Sequence[str]) -> str | None:
    """A note naming the genome prefixes when at least half of `names` carry one, else None."""
    counts = Counter(m.group(0) for n in names if (m := _GENOME_PREFIX.match(n)))
    if not names or sum(counts.values()) * 2 < len(names):
        return None
    shown = ", ".join(f"{prefix} {n}" for prefix, n in counts.most_common())
    return (
        f"the gene names carry the genome prefixes of a multi-genome reference ({shown} names):"
        " a species-mixing matrix whose names match no species' genes as they are"
    )


def made_unique_sources(names: Sequence[str], matched: np.ndarray) -> dict[int, int]:
    """Row of each unmatched name made unique ("TBCE-1") -> row of the matched name it was made
    from ("TBCE"). Both names are in the data, so the suffix is the renaming, not a gene's own
    name; a real gene named so ("NKX2-1") matched already and is never touched."""
    row_of = {name: i for i, name in enumerate(names)}
    sources = {}
    for i, name in enumerate(names):
        found = None if matched[i] else _UNIQUE_SUFFIX.match(name)
        j = row_of.get(found.group(1)) if found else None
        if j is not None and matched[j]:
            sources[i] = j
    return sources


def mouse_in_capitals(human: np.ndarray, mouse: np.ndarray) -> str | None:
    """A note when upper-case names that vote human are mouse genes; `human`, `mouse`: whether
    each name resolves in that species' snapshot. None when they read as human."""
    only_mouse = int((mouse & ~human).sum())
    only_human = int((human & ~mouse).sum())
    if only_mouse < MOUSE_ONLY_MIN_RATE * len(human) or only_mouse < MOUSE_ONLY_RATIO * only_human:
        return None
    return (
        f"upper-case gene names read as mouse genes ({only_mouse} are mouse genes and not human"
        f" ones, {only_human} the reverse); pass taxon=human to read them as human"
    )
