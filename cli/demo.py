"""`make demo`: the main job on the embedded default, end to end, printing its figures.

1. Build the default store (bundled human snapshot, ncbi-card template, minilm) for the genes of
   the bundled pbmc68k-reduced dataset, and verify every hash.
2. Ask it a nearest-gene question (CD3E).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from cli.common import info

ROOT = Path(os.environ.get("GENEKB_HOME", "artifacts"))


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import scanpy as sc

    from genekb.build import build, gene_names_of
    from genekb.query import similar
    from genekb.store.store import Store

    info(f"[bold]1. genekb build[/] the default store at {ROOT} for the genes of pbmc68k-reduced")
    adata = sc.datasets.pbmc68k_reduced()
    store = Store.open(ROOT, create=True)
    start = time.perf_counter()
    report = build(store, model="minilm", genes=gene_names_of(adata))
    rate = f", {report['texts_per_second']} texts/s" if report["texts_per_second"] else ""
    print(
        f"store {report['tag']} = {report['embedding_id']}: {report['n_genes']} genes "
        f"({report['genes_unmatched']} of {report['genes_requested']} names unmatched), "
        f"dim {report['dim']}, embedded {report['embedded']}, reused {report['reused']}, "
        f"{time.perf_counter() - start:.1f} s{rate}"
    )
    bad = [r for r in store.verify([report["embedding_id"]]) if not r["ok"]]
    print(f"verify: {'FAILED ' + str(bad) if bad else 'all hashes match'}")

    info("[bold]2. genekb similar CD3E -k 5[/]")
    result = similar(store.embedding(report["tag"]), "CD3E", 5)
    for hit in result["hits"]:
        print(f"  {hit['symbol']:<8} cosine {hit['score']:.3f}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
