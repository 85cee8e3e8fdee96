"""Every gene the bundled tasks name, for building one store version that covers them all (the
gene benchmarks in scripts/ build their encoders' versions over exactly these genes)."""

from __future__ import annotations

from genekb.eval.tasks import BUNDLED, resolve_task


def bundled_task_genes() -> list[str]:
    """The bundled tasks' gene names, first seen first, without repeats: each task's alternative
    ids (e.g. Ensembl ids) before its symbols, as matching tries them."""
    names: list[str] = []
    for name in BUNDLED:
        task = resolve_task(name)
        names += [a for a in (task.alt_ids or ()) if isinstance(a, str)] + list(task.genes)
    return list(dict.fromkeys(names))
