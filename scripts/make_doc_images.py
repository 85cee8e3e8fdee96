"""Regenerate the pictures under docs/img/, one per plot function: it runs the tutorial
(docs/tutorial.py, which writes its figures where TUTORIAL_FIGURES says), then draws a gene task
beside its controls (`gk.eval`, `gk.pl.eval`) in the same store.

    .venv/bin/python scripts/make_doc_images.py [--root artifacts/doc-images]

The store root is kept between runs, so a second run embeds nothing.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "docs" / "img"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO / "artifacts" / "doc-images")
    args = parser.parse_args()
    os.environ.update(
        GENEKB_HOME=str(args.root), TUTORIAL_FIGURES=str(IMAGES), MPLBACKEND="Agg",
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
    )  # fmt: skip
    IMAGES.mkdir(parents=True, exist_ok=True)
    runpy.run_path(str(REPO / "docs" / "tutorial.py"), run_name="__main__")

    import genekb as gk
    from genekb.eval.tasks import resolve_task

    task = "dosage-tfs"
    gk.build(args.root, genes=list(resolve_task(task).genes), model="minilm", tag="docs/tfs")
    report = gk.eval(args.root, [task], refs=["docs/tfs"], seeds=3)
    gk.pl.eval(report, task, save=IMAGES / "eval.png")
    for path in sorted(IMAGES.glob("*.png")):
        print(f"{path.relative_to(REPO)}: {path.stat().st_size / 1024:.0f} KB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
