"""Zero-shot naming of cell groups from gene knowledge (`annotate`), with its baseline and report.

Modules: `ontology` (Cell Ontology candidates and their text), `score` (marker genes' text vectors
against candidate text, hubness-corrected), `mentions` (the genes a candidate's text names, read
in the data), `processes` (the genes of GO processes that name a candidate), `markerdb`
(marker-table over-representation baseline), `enrichment` (the over-representation statistic the
last two share), `methods` (the channels and their sums a call is made by), `fusion` (every
ranking of a run, and the default's margin-weighted experts), `inputs` (gene reference, groups,
markers, background, store and text vectors), `params` (a run's checked
settings and its candidates), `channels` (every channel of a run scored), `kinds` (the
ontology's coarse kinds of cell, and grading against them), `lineage` (the lineage-first walk),
`gates` (the walk's expression gates), `signatures` (lineage signatures from the marker table),
`infer` (the species and tissue read from the file), `core` (the public
`annotate`; `naming.name_groups` names groups from their gene sums however gathered),
`report` (the stored report, and Markdown), `evaluate` (scoring against reference labels, for
experiments only).
"""

from cellmodel.annotate.core import OBS_KEY, annotate
from cellmodel.annotate.methods import METHODS
from cellmodel.annotate.report import report_of, to_markdown

__all__ = ["METHODS", "OBS_KEY", "annotate", "report_of", "to_markdown"]
