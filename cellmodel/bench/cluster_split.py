"""The cluster design set's split (docs/cluster_design_set.md, "The split"): which registry files
are development and which were held out, in which round. Fixed when each round's files were
registered; the scripts that score the sides read it from here."""

from __future__ import annotations

# Fixed on 2026-11-27 when the fresh files were registered (docs/cluster_design_set.md).
DEVELOPMENT = (
    "baron-human", "baron-mouse", "cellhint-pancreas", "paul2015-2660", "pbmc68k-reduced",
    "tirosh2016-184", "stoeckius-cbmc-8617", "zeisel2015-3005", "worm-neuron-4186", "wu2020-200",
)  # fmt: skip
# Held out, but their default and baseline figures were read by earlier work (no rule was set on
# them alone; the merge-split check's last two rules were chosen on all sixteen files).
HELD_OUT_SEEN = (
    "swanson2021-teaseq-5048", "wang2018-starmap-3704", "pollen2014-301", "deng2014-268",
    "tabula-sapiens-lung-1000", "travaglini2020-lung-1000",
)  # fmt: skip
# Never run before the split was fixed.
HELD_OUT_FRESH = (
    "decoupler-pbmc-160", "treutlein2014-lung-185", "trapnell2014-hsmm-271", "yan2013-90",
    "goolam2016-124", "kolodziejczyk2015-704",
)  # fmt: skip
# Fixed on 2026-11-27 at 04:26 UTC, when they were registered and before any clustering or
# baseline was run on them: by then every file above had been run and its figures read. Runs
# once the default is frozen (docs/cluster_design_set.md, "The split").
HELD_OUT_ROUND2 = ("leng2015-fucci-247", "biase2014-49")
# The sides of the per-file table; "held out (all)" stays the first round's twelve files.
FILE_SIDES = {
    "development": DEVELOPMENT,
    "held out (seen)": HELD_OUT_SEEN,
    "held out (fresh)": HELD_OUT_FRESH,
    "held out (round 2)": HELD_OUT_ROUND2,
}
SIDES = {**FILE_SIDES, "held out (all)": HELD_OUT_SEEN + HELD_OUT_FRESH}
