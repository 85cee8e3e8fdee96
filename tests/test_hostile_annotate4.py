"""Hostile input to `annotate` (the fifth sweep): gene namings the project never saw (genome
prefixes of older references, other species' symbols), tiny and mixed groups, few genes."""

from __future__ import annotations

import pytest

from cellmodel.knowledge.genes import require_gene_names
from genekb.errors import UsageError


@pytest.mark.parametrize(
    ("names", "selects", "example"),
    [(["hg19_CD3E", "hg19_LYZ", "hg19_MS4A1"], "startswith('hg19_')", "'hg19_CD3E' -> 'CD3E'"),
     (["mm10___Cd3e", "mm10___Lyz2", "GRCh38_CD3E"], "startswith('mm10___')",
      "'mm10___Cd3e' -> 'Cd3e'")],
)  # fmt: skip
def test_the_genome_prefix_fix_names_the_files_own_prefix(
    names: list[str], selects: str, example: str
) -> None:
    # An hg19_ file was told to keep adata.var_names.str.startswith('GRCh38_'): copied, that
    # kept no gene at all, and the next run said "0 genes".
    with pytest.raises(UsageError) as caught:
        require_gene_names(names, None, "annotate")
    said = str(caught.value)
    assert selects in said and example in said and "GRCh38_'" not in said.replace(example, "")
