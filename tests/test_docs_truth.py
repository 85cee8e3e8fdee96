"""What the user pages show, as a user runs it: each test is a command or snippet of README.md
or docs/*.md that did not do what its page says."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_a_console_script_that_left_a_thread_pool_running_still_exits():
    # `cellmodel embed|cluster --chunk-size` (docs/cellmodel.md) wrote their output and then hung:
    # Dask's thread pool stays up until threading's exit hooks stop it, and the exit path joined
    # its idle workers before running those hooks.
    script = textwrap.dedent(
        """
        from concurrent.futures import ThreadPoolExecutor
        from cli import exit_without_teardown

        pool = ThreadPoolExecutor(2)  # never shut down, as Dask's default pool

        def app():
            print(pool.submit(sum, [1, 2]).result())

        exit_without_teardown(app)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "3")


def test_genekb_encoders_says_tfidf_lsa_is_fitted_on_the_whole_source():
    # docs/genekb.md: fitted on every text of the source, also for a gene list's version (so a
    # gene's vector does not depend on the genes built beside it); the listing said otherwise.
    from genekb.encoders.listing import encoder_rows

    reasons = {row["name"]: row["reason"] for row in encoder_rows()}
    assert "every text of the source" in reasons["tfidf-lsa"]
    assert "of the version it builds" not in reasons["tfidf-lsa"]


def test_embed_chunk_size_counts_its_passes_in_chunks():
    # `cellmodel embed --chunk-size` (docs/cellmodel.md) showed "statistics: 5/5, 180.9 texts/s":
    # its passes go over chunks of cells, as cluster --chunk-size's lines say.
    from cli.progress import stage_progress

    lines: list[str] = []
    ticks = iter(range(100))
    hook = stage_progress(write=lines.append, clock=lambda: float(next(ticks)))
    for stage in ("statistics", "weighted view", "centring"):
        hook(stage, 0, 5)
        hook(stage, 5, 5)
    rates = [line for line in lines if "/s" in line]
    assert len(rates) == 3
    assert all("chunks/s" in line for line in rates), rates
