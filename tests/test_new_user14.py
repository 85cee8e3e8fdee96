"""A new user's first hour with their own files (h14): a 10x folder, a genes × cells CSV, a
Seurat-exported .h5ad and a loom, through the README's command line and `cm.*`."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellmodel.bench.data import parse_datasets
from genekb.errors import UsageError


@pytest.mark.parametrize("name", ["cells10x", "counts.csv", "matrix.mtx.gz"])
def test_bench_names_why_it_cannot_read_an_existing_file(tmp_path: Path, name: str) -> None:
    # `bench --datasets my10x --label-key t` said "unknown dataset 'my10x'; choose from ...",
    # as though the folder were a misspelt registry name, though cluster/classify read it.
    path = tmp_path / name
    if "." in name:
        path.write_text("x")
    else:
        path.mkdir()
    with pytest.raises(UsageError) as err:
        parse_datasets(str(path), label_key="cell_type")
    message = str(err.value)
    assert "unknown dataset" not in message and str(path) in message
    assert "labelled files only" in message and "write_h5ad" in message and "\n" not in message


@pytest.mark.parametrize(
    ("noun", "adjective", "term"),
    [
        ("pancreas", "pancreatic", "type B pancreatic cell"),
        ("pancreas", "pancreatic", "pancreatic A cell"),
        ("kidney", "renal", "glomerular mesangial cell"),
        ("liver", "hepatic", "endothelial cell of hepatic portal vein"),
    ],
)
def test_a_tissue_noun_keeps_the_terms_its_adjective_names(noun, adjective, term) -> None:
    # `annotate --tissue pancreas` left out the type B pancreatic cell and the pancreatic A cell
    # ('pancreas' begins no 'pancreatic'): a file's beta cells were called "enteroendocrine
    # cell" and its alpha cells "pancreatic epsilon cell"; `--tissue pancreatic` named them.
    from cellmodel.annotate.ontology import from_ontology

    by_noun = {c.label for c in from_ontology(tissue=noun)}
    assert term in {c.label for c in from_ontology(tissue=adjective)}
    assert term in by_noun


def test_the_adjective_reads_as_before() -> None:
    from cellmodel.annotate.ontology import from_ontology

    labels = {c.label for c in from_ontology(tissue="pancreatic")}
    assert len(labels) == 18 and "enteroendocrine cell" not in labels
