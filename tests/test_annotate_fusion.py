"""The default's scores for a user's list (`annotate.fusion.weighted`): the marker table (gated at
Bonferroni) and the knowledge, each weighted per group by its own margin; over the ontology the
plain sum."""

from __future__ import annotations

import numpy as np

from cellmodel.annotate import fusion

NAN = np.nan


def _channels(text, mentions, processes, table) -> dict[str, np.ndarray]:
    rows = {"text": text, "mentions": mentions, "processes": processes, "markerdb": table}
    out = {k: np.atleast_2d(np.asarray(v, dtype=float)) for k, v in rows.items()}
    out["context"] = np.full(out["text"].shape, NAN)
    return out


def _call(ch: dict[str, np.ndarray], closed_list: bool = True) -> int:
    return int(np.nanargmax(fusion.rankings(ch, "combined", closed_list)[0]["combined"][0]))


def test_a_sure_table_is_not_outvoted_by_several_knowledge_channels_that_prefer_another() -> None:
    # the table is sure of 0 (p = 1e-20, the rest near 1); text, mentions and processes each
    # prefer 1, and an equal-weight sum of the four standardised rows lets their number win
    ch = _channels(
        [0.0, 3.0, 0.0, 0.0], [0.3, 0.5, 0.0, 0.0], [0.0, 1.5, NAN, NAN], [20, 0.3, 0.2, 0.1]
    )
    assert fusion.summed(ch, fusion.COMBINATIONS["combined"])[0].argmax() == 1
    assert _call(ch) == 0  # two experts, each by its margin: the table's is the larger
    weights = fusion.rankings(ch, "combined", True)[1].of(0)
    assert weights is not None and weights["markerdb"] > weights["knowledge"] > 0
    # knowledge far surer than a split table wins
    split = _channels(
        [0.0, 3.0, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0], [0.0, 1.5, NAN, NAN], [20, 19, 0.2, 0.1]
    )
    assert _call(split) == 1


def test_an_insignificant_table_stands_flat_and_the_knowledge_calls() -> None:
    # 4 candidates scored: Bonferroni at 0.05 needs -log10 p > log10(80) = 1.9; none clears it,
    # yet standardised per group this near-noise would read as a strong preference for 0
    ch = _channels([0.5, 1.0, 0.0, 0.0], [NAN] * 4, [NAN] * 4, [0.03, 0.0, 0.0, 0.0])
    assert np.allclose(fusion.gated(ch["markerdb"]), 0)
    assert int(np.nanargmax(fusion.summed(ch, ("text", "markerdb"))[0])) == 0
    assert _call(ch) == 1
    assert fusion.rankings(ch, "combined", True)[1].of(0)["markerdb"] == 0


def test_the_gate_keeps_significant_scores_and_unscored_candidates() -> None:
    table = np.array([[20.0, 1.0, NAN, 2.5], [NAN] * 4])
    out = fusion.gated(table)  # 3 scored in row 0: threshold log10(60) = 1.78
    assert np.allclose(out[0], [20.0, 0.0, NAN, 2.5], equal_nan=True)
    assert np.isnan(out[1]).all()


def test_where_neither_expert_has_a_margin_the_plain_sum_decides() -> None:
    ch = _channels([1.0, 1.0, 0.0], [NAN] * 3, [0.0, 2.0, NAN], [0.0, 0.0, 0.0])
    ch["text"] = np.array([[1.0, 1.0, 1.0]])
    ch["processes"] = np.array([[NAN, NAN, NAN]])
    matrices, weights = fusion.rankings(ch, "combined", True)
    assert weights.of(0) is None
    assert np.allclose(
        matrices["combined"], fusion.summed(ch, fusion.COMBINATIONS["combined"]), equal_nan=True
    )


def test_over_the_ontology_the_default_is_the_plain_sum() -> None:
    ch = _channels([0.0, 1.0, 0.0, 0.0], [0.4, 0.5, 0.0, 0.0], [NAN] * 4, [20.0, 0.3, 0.2, 0.1])
    matrices, weights = fusion.rankings(ch, "text+markerdb", closed_list=False)
    assert set(matrices) >= {"text", "markerdb", "knowledge", "combined", "text+markerdb"}
    assert np.allclose(matrices["combined"], fusion.summed(ch, fusion.COMBINATIONS["combined"]))
    assert weights.of(0) is None


def test_margins_of_rows_with_few_scores() -> None:
    m = fusion.margins(np.array([[3.0, 1.0, NAN], [NAN, 2.0, NAN], [NAN, NAN, NAN]]))
    assert np.allclose(m, [2.0, 0.0, 0.0])
