"""The genes of every bundled task in one list (genekb.eval.task_genes)."""

from __future__ import annotations

from genekb.eval.task_genes import bundled_task_genes
from genekb.eval.tasks import BUNDLED, resolve_task


def test_bundled_task_genes_cover_every_task_once_alt_ids_first() -> None:
    genes = bundled_task_genes()
    assert len(genes) == len(set(genes))
    position = {g: i for i, g in enumerate(genes)}
    for name in BUNDLED:
        task = resolve_task(name)
        assert set(task.genes) <= set(position)
        alt = [a for a in (task.alt_ids or ()) if isinstance(a, str)]
        assert set(alt) <= set(position)
    first = resolve_task(BUNDLED[0])  # its own names come before any later task's
    own = [a for a in (first.alt_ids or ()) if isinstance(a, str)] + list(first.genes)
    assert genes[: len(dict.fromkeys(own))] == list(dict.fromkeys(own))
