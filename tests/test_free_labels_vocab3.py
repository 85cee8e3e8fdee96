"""Label vocabularies of public atlases read as Cell Ontology terms, third round: vocabularies of
tissues and species the reader had not seen (scripts/free_label_heldout3.csv): DC1/DC2 as today's
atlases mean them, one-clade synonyms, the Allen taxonomy's layer and gene-named subclasses,
and words CL writes another way."""

from __future__ import annotations

import pytest

from cellmodel.annotate import ontology
from cellmodel.annotate.free_labels import read_label, user_candidates

PDC = "CL:0000784"
CD1C_DC = "CL:0002399"
CD141_DC = "CL:0002394"


def _ids(labels: list[str]) -> dict[str, str | None]:
    return {c.given: c.cl_id for c in user_candidates(labels)}


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_dc2_is_the_cd1c_conventional_dc_not_the_plasmacytoid_one() -> None:
    # CL's exact synonym "DC2" (its sense before cDC1/cDC2) made a list's DC2 a plasmacytoid DC,
    # and the list's own "Plasmacytoid DCs" was then left free (its term taken).
    got = _ids(["DC1", "DC2", "Plasmacytoid DCs", "Migratory DCs"])
    assert got["DC2"] == CD1C_DC
    assert got["DC1"] == CD141_DC
    assert got["Plasmacytoid DCs"] == PDC
    assert ontology.lookup("DC2") is None
    assert ontology.lookup("pDC") == PDC  # CL's other synonyms still name their term


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_alpha_cell_of_an_islet_list_is_no_mouse_retinal_ganglion_cell() -> None:
    # "alpha cell" is an exact synonym of "alpha retinal ganglion cell (Mmus)": a human islet
    # list's alpha cells were called mouse retinal neurons.
    got = _ids(["alpha cell", "beta cell", "delta cell", "ductal cell"])
    assert got["alpha cell"] == "CL:0000171"  # pancreatic A cell
    assert got["beta cell"] == "CL:0000169"
    assert ontology.lookup("alpha cell") is None
    # a one-clade term's synonym no other term holds still names it, and sensu Vertebrata
    # holds every species a lab studies
    assert ontology.lookup("neuroblast") == "CL:0000031"


@pytest.mark.parametrize(
    ("label", "cl_id"),
    [
        ("L2/3 IT", "CL:4030059"),  # was the primary motor cortex's L2/3 IT neuron
        ("L5 IT", "CL:4030064"),
        ("L5 ET", "CL:4023041"),  # was left free
        ("L5 PT", "CL:4023041"),
        ("L5/6 NP", "CL:4030067"),
        ("L6b", "CL:4023038"),
        ("L6 IT Car3", "CL:4030068"),
    ],
)
def test_allen_layer_subclasses_read_as_cl_terms(label: str, cl_id: str) -> None:
    assert read_label(label)[0] == cl_id


def test_projection_class_letters_alone_are_not_read() -> None:
    # "PT" is the kidney's proximal tubule; only after a layer is it the pyramidal tract.
    assert read_label("PT")[0] != "CL:4023041"
    assert read_label("IT")[0] is None


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_gene_named_subclasses_read_beside_cortical_neurons_only() -> None:
    # "Vip"/"Lamp5" were CL synonyms of primate striatal interneurons; "Pvalb", "Sst" free.
    got = _ids(["L2/3 IT", "L6 CT", "Pvalb", "Sst", "Vip", "Lamp5", "Meis2", "Astro"])
    assert got["Pvalb"] == "CL:4023018" and got["Sst"] == "CL:4023017"
    assert got["Vip"] == "CL:4023016" and got["Lamp5"] == "CL:4023011"
    assert got["Meis2"] == "CL:4023065"
    # an islet list's SST is the D cell's hormone: not read as a cortical interneuron
    got = _ids(["alpha", "beta", "SST", "VIP"])
    assert got["SST"] is None and got["VIP"] is None


@pytest.mark.parametrize(
    ("label", "cl_id"),
    [
        ("Atrial_Cardiomyocyte", "CL:0002129"),
        ("Ventricular_Cardiomyocyte", "CL:2000046"),
        ("migDC", "CL:4047054"),
        ("moDC", "CL:0011031"),
        ("MØ", "CL:0000235"),
        ("ENS glia", "CL:4040002"),
        ("ENS neurons", "CL:0007011"),
    ],
)
def test_atlas_word_forms(label: str, cl_id: str) -> None:
    assert read_label(label)[0] == cl_id


def test_a_reading_adds_no_other_kind_of_cell() -> None:
    # "Monocyte precursor" held every word of the GMP's synonym "granulocyte/monocyte precursor".
    assert read_label("Monocyte precursor")[0] is None


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_allen_two_letter_subclasses_read_beside_cortical_neurons_only() -> None:
    # Tasic 2018's "NP", "CR", "L4", "PVM" were left free.
    got = _ids(["L2/3 IT", "L5 PT", "NP", "CR", "L4", "PVM", "Micro-PVM", "Astro"])
    assert got["NP"] == "CL:4023012" and got["CR"] == "CL:0000695"
    assert got["L4"] == "CL:4030063" and got["PVM"] == "CL:0000881"
    assert got["Micro-PVM"] == "CL:0000878"
    assert _ids(["NP", "CR", "B cell"])["NP"] is None  # no cortical neuron in the list


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_kidney_segments_read_in_a_kidney_list_only() -> None:
    # KPMP's labels ("POD", "TAL", "DCT", "PC") were all left free.
    got = _ids(["POD", "PEC", "PT", "PT-S1", "DTL", "TAL", "DCT", "CNT", "PC", "IC-A", "EC-GC"])
    assert got["POD"] == "CL:0000653" and got["TAL"] == "CL:1001106"
    assert got["PT"] == "CL:0002306" and got["PT-S1"] == "CL:4030009"
    assert got["PC"] == "CL:1001431" and got["IC-A"] == "CL:0005011"
    assert got["EC-GC"] == "CL:1001005"
    # "PC", "MC", "PT" in another list are no nephron cells
    got = _ids(["PC", "MC", "PT", "B cell"])
    assert got["PC"] is None and got["MC"] is None and got["PT"] is None


@pytest.mark.parametrize(
    ("label", "cl_id"),
    [
        ("gd T cells", "CL:0000798"),
        ("Mgk", "CL:0000556"),
        ("Prog Mk", "CL:0000553"),
        ("LMPP", "CL:0000936"),
        ("CD4+T_cytox", "CL:0000934"),
        ("Mesothelium", "CL:0000077"),
        ("pancreatic gamma cell", "CL:0002275"),
    ],
)
def test_more_atlas_word_forms(label: str, cl_id: str) -> None:
    assert read_label(label)[0] == cl_id


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_an_islet_lists_gamma_cells_are_pp_cells() -> None:
    got = _ids(["alpha", "beta", "delta", "gamma", "epsilon", "ductal"])
    assert got["gamma"] == "CL:0002275"


def test_a_numbered_sibling_as_close_makes_the_reading_a_guess() -> None:
    # "Alveolar fibroblasts" was read as the alveolar adventitial fibroblast (the HLCA's are the
    # alveolar type 1 ones): CL's "alveolar type 1 fibroblast cell" holds the words as closely.
    assert read_label("Alveolar fibroblasts")[0] is None


@pytest.mark.parametrize(
    ("label", "cl_id"),
    [
        ("mouse B cells", "CL:0000236"),  # a species word left the label free
        ("Human NK cells", "CL:0000623"),
        ("Mouse microglia", "CL:0000129"),
        ("Kupffer's cells", "CL:0000091"),  # a possessive left it free
        ("Langerhans' cells", "CL:0000453"),
        ("Schwann\u2019s cells", "CL:0002573"),
        ("Gr1hi monocytes", "CL:0002395"),  # "hi" is CL's "-high"
        ("CD14++CD16- Mono", "CL:0002057"),  # "++" is a bright positive
        ("Bergmann glia", "CL:0000644"),
        ("MSN", "CL:1001474"),
        ("Mphs", "CL:0000235"),
    ],
)
def test_species_possessive_and_marker_forms(label: str, cl_id: str) -> None:
    assert read_label(label)[0] == cl_id


def test_a_species_word_alone_names_no_cell() -> None:
    assert read_label("human")[0] is None


@pytest.mark.parametrize("label", ["LP", "PD", "IC", "AB", "LC"])
def test_two_letter_synonyms_name_no_term(label: str) -> None:
    # "LP" (the breast's luminal progenitor) was CL's lateral pyloric motor neuron of crustaceans,
    # "IC" (the kidney's intercalated cell) the inferior cardiac neuron.
    assert ontology.lookup(label) is None
    assert read_label(label)[0] is None


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_a_retina_lists_rbc_is_the_rod_bipolar_cell() -> None:
    # Yan 2020's "RBC" was CL's erythrocyte (its exact synonym) beside the rods and cones.
    got = _ids(["Rod", "Cone", "RBC", "AC", "HC", "RGC", "MG", "Microglia"])
    assert got["RBC"] == "CL:0000751" and got["AC"] == "CL:0000561"
    assert got["HC"] == "CL:0000745" and got["RGC"] == "CL:0000740" and got["MG"] == "CL:0000636"
    assert _ids(["RBC", "Neutrophils", "B cells"])["RBC"] == "CL:0000232"  # blood: erythrocyte


@pytest.mark.parametrize(
    ("label", "cl_id"),
    [
        ("FB", "CL:0000057"),
        ("T_prolif", "CL:4033069"),
        ("Hep", "CL:0000182"),
        ("Adipo", "CL:0000136"),
        ("Melano", "CL:0000148"),
        ("EECs", "CL:0000164"),
        ("SPG", "CL:0000020"),
    ],
)
def test_atlas_shortenings(label: str, cl_id: str) -> None:
    assert read_label(label)[0] == cl_id


@pytest.mark.parametrize("label", ["IPC", "VEC", "GBC", "ARC"])
def test_synonyms_labs_use_for_another_cell_name_no_term(label: str) -> None:
    # "IPC" of a developing-cortex list was the plasmacytoid DC, "VEC" the valve endothelial cell
    assert ontology.lookup(label) is None
    assert read_label(label)[0] is None


@pytest.mark.parametrize(
    ("label", "cl_id"),
    [
        ("Granule neurons", "CL:0000120"),  # CL writes "granule cell"
        ("Basket neurons", "CL:0000118"),
        ("Unipolar brush neurons", "CL:4023161"),
    ],
)
def test_neurons_read_where_cl_writes_cell(label: str, cl_id: str) -> None:
    assert read_label(label)[0] == cl_id


def test_cells_are_not_read_as_neurons() -> None:
    # a lab's "cells" may be no neurons: "Sensory cells" hold hair cells
    assert read_label("Sensory cells")[0] is None
    assert read_label("Bipolar cells")[0] is None


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_two_labels_of_one_atlas_term_read_as_neither() -> None:
    got = _ids(["POD", "TAL", "DCT", "PT-S1", "PTS1"])
    assert got["PT-S1"] is None and got["PTS1"] is None
    assert got["POD"] == "CL:0000653"


@pytest.mark.parametrize(
    ("label", "cl_id"),
    [
        ("Cells, dendritic", "CL:0000451"),  # an index's word order
        ("Cell, mast", "CL:0000097"),
        ("AT-2", "CL:0002063"),
        ("ATII", "CL:0002063"),
        ("AEC2", "CL:0002063"),
        ("AT II", "CL:0002063"),
    ],
)
def test_word_order_and_alveolar_type_forms(label: str, cl_id: str) -> None:
    assert read_label(label)[0] == cl_id
