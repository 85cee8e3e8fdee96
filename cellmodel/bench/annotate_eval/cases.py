"""The registry datasets the annotate experiments score, each cell's reference CL id, and the
settings the runs go through (held-out datasets, tissue words, channel sums, ablations).

Labels only score: a dataset's truth is its own CL column or its labels mapped by hand through a
reviewed table (dataset,label,cl_id,reason; the experiments keep theirs beside their drivers), and
each group's truth is the CL id most of its cells carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anndata as ad
import pandas as pd

from cellmodel import datasets
from cellmodel.annotate.evaluate import cell_truth, group_truth, load_label_map

# name -> (label column, CL id column or None to map the labels through the label map)
DATASETS = {
    "baron-human": ("cell_type1", "cell_ontology_id"),
    "baron-mouse": ("cell_type1", "cell_ontology_id"),
    "pbmc68k-reduced": ("bulk_labels", None),
    "wu2020-200": ("cluster_orig", None),
    "tirosh2016-184": ("cell_type", None),
    "paul2015-2660": ("celltype", None),
    "cellhint-pancreas": ("cell_type", "cell_type_ontology_term_id"),
}
# A tissue word (`--tissue`) for the datasets whose cells all come from one organ the word names.
TISSUES = {
    "baron-human": "pancreatic",
    "baron-mouse": "pancreatic",
    "cellhint-pancreas": "pancreatic",
}
# Added after the annotate defaults and rules were set; only the two rules written later (the
# context prior, the natural zero of the sums) were chosen with their scores printed (docs).
HELD_OUT = ("tirosh2016-184", "paul2015-2660", "cellhint-pancreas")
SUMMED_ALL = "text+mentions+processes+markerdb+context"
# Each channel's share in the sums: every '+' method the registry accepts, beside the named ones.
CHANNEL_SUMS: list[tuple[str, str]] = [
    ("text + context", "text+context"),
    ("text + mentions", "text+mentions"),
    ("text + processes", "text+processes"),
    ("mentions + processes", "mentions+processes"),
    ("text + mentions + processes (knowledge without context)", "text+mentions+processes"),
    ("knowledge: text + mentions + processes + context", "knowledge"),
    ("text + mentions + table", "text+mentions+markerdb"),
    ("processes + table", "processes+markerdb"),
    ("all four channels (default without context)", "text+mentions+processes+markerdb"),
    ("all four + context, summed (the default before the weighting)", SUMMED_ALL),
    ("default: all four + context", "combined"),
]
ABLATIONS: list[tuple[str, dict[str, Any]]] = [
    ("default", {}),
    ("markers: one-vs-rest", {"markers": "rest"}),
    ("pooling: mean of all markers", {"pooling": "mean"}),
    ("top_k 3", {"top_k": 3}),
    ("top_k 10", {"top_k": 10}),
    ("hubness: none", {"hubness": "none"}),
    ("hubness: center", {"hubness": "center"}),
    ("hubness: csls", {"hubness": "csls"}),
    ("hubness: lift", {"hubness": "lift"}),
    ("hubness: both", {"hubness": "both"}),
    ("no across-group standardisation", {"across_groups": "off"}),
    ("text: definition", {"text_style": "definition"}),
    ("text: label only", {"text_style": "label"}),
    ("text: synonyms", {"text_style": "synonyms"}),
]


# How the tables name each ranking.
METHOD_NAMES = {
    "text": "text",
    "mentions": "mentions",
    "processes": "processes",
    "knowledge": "knowledge",
    "markerdb": "marker table",
    "combined": "default",
}
# The five rankings a call can be made by alone (the default combines them).
SINGLE = ("text", "mentions", "processes", "knowledge", "markerdb")


def cells_truth(adata: ad.AnnData, name: str, label_map: Path) -> pd.Series:
    """Each cell's CL id: the dataset's own CL column, or its labels through `label_map`."""
    label_key, cl_key = DATASETS[name]
    if cl_key:
        return adata.obs[cl_key].astype(str)
    return cell_truth(adata, label_key, load_label_map(label_map, name))


@dataclass
class Case:
    """One dataset ready to score: `adata` with each cell's CL id in obs["_truth"], the label
    column its true groups come from, each group's truth and the dataset's own CL terms."""

    adata: ad.AnnData
    label_key: str
    truth: dict[str, str]
    own: list[str]


def load_case(name: str, cache_dir: Path, label_map: Path) -> Case:
    """Dataset `name` from the registry (read from `cache_dir`) with its truth."""
    label_key = DATASETS[name][0]
    adata = datasets.load(name, cache_dir=cache_dir)
    adata.obs["_truth"] = cells_truth(adata, name, label_map).to_numpy()
    truth = group_truth(adata.obs[label_key], adata.obs["_truth"])
    return Case(adata, label_key, truth, sorted(set(truth.values())))


def cluster_truth(clustered: ad.AnnData) -> dict[str, str]:
    """Each `cellmodel cluster` cluster's truth: the majority CL id of its cells."""
    return group_truth(clustered.obs["cellmodel_cluster"], clustered.obs["_truth"])


def merge_results(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs' results (each of some datasets) as one: the first run's settings, every
    dataset (a later run's wins), in the order of `DATASETS`."""
    data: dict[str, Any] = {}
    for part in parts:
        data.update(part["data"])
    return {**parts[0], "data": {n: data[n] for n in DATASETS if n in data}}
