"""The CLI writes its option defaults out (importing the run dataclasses would load anndata and
torch before `--help`); these tests hold each one equal to the library's own default."""

from __future__ import annotations

import inspect
from dataclasses import MISSING, fields

import pytest

from cellmodel.annotate.params import AnnotateParams
from cellmodel.classify.options import ClassifyOptions
from cellmodel.cluster.options import ClusterRun
from cellmodel.embed import SemanticParams
from cli import annotate_cmd, cellmodel_app, classify_cmd, cluster_cmd

# (command, the dataclass its options feed, {CLI name: field name} where they differ)
CASES = [
    (annotate_cmd.annotate, AnnotateParams, {}),
    (cluster_cmd.cluster, ClusterRun, {"semantic": "use_semantic"}),
    (cellmodel_app.embed, SemanticParams, {}),
    (classify_cmd.classify, ClassifyOptions, {"markers": "n_markers"}),
]


@pytest.mark.parametrize(
    ("command", "params", "renamed"), CASES, ids=["annotate", "cluster", "embed", "classify"]
)
def test_cli_defaults_are_the_library_defaults(command, params, renamed) -> None:
    cli = {name: p.default for name, p in inspect.signature(command).parameters.items()}
    field_of = {renamed.get(name, name): name for name in cli}
    compared = 0
    for f in fields(params):
        if f.name in field_of and f.default is not MISSING:
            assert cli[field_of[f.name]] == f.default, (command.__name__, f.name)
            compared += 1
    assert compared >= 2, f"{command.__name__}: too few options compared ({compared})"
