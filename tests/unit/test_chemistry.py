"""The carbon-skeleton definition, pinned with real product SMILES."""

import pytest

from terpene_ensembles.data.chemistry import SmilesError, carbon_count, skeleton_of

LIMONENE = "CC1=CCC(CC1)C(C)=C"
R_LIMONENE = "CC1=CC[C@@H](CC1)C(C)=C"
S_LIMONENE = "CC1=CC[C@H](CC1)C(C)=C"
ALPHA_TERPINENE = "CC1=CC=C(CC1)C(C)C"
GAMMA_TERPINENE = "CC1=CCC(=CC1)C(C)C"
TERPINOLENE = "CC1=CCC(=C(C)C)CC1"
ALPHA_TERPINEOL = "CC1=CCC(CC1)C(C)(C)O"
CINEOLE = "CC12CCC(CC1)C(C)(C)O2"
P_CYMENE = "Cc1ccc(cc1)C(C)C"
ALPHA_PINENE = "CC1=CCC2CC1C2(C)C"
MINUS_ALPHA_PINENE = "CC1=CC[C@@H]2C[C@H]1C2(C)C"
PLUS_ALPHA_PINENE = "CC1=CC[C@H]2C[C@@H]1C2(C)C"
BETA_PINENE = "CC1(C)C2CCC(=C)C1C2"
SABINENE = "CC(C)C12CCC(=C)C1C2"
BETA_CARYOPHYLLENE = "C/C/1=C\\CCC(=C)[C@H]2CC(C)(C)[C@@H]2CC1"
ALPHA_HUMULENE = "C/C/1=C\\CC(C)(C)/C=C/C/C(C)=C/CC1"
GERMACRENE_A = "C/C/1=C\\CC/C(C)=C/C[C@@H](CC1)C(C)=C"
GERMACRENE_D = "CC(C)[C@@H]1CC/C(C)=C/CCC(=C)/C=C/1"
BETA_ELEMENE = "CC(=C)[C@@H]1CC[C@@](C)(C=C)[C@@H](C1)C(C)=C"
GPP = "CC(C)=CCC/C(C)=C/COP(=O)(O)OP(=O)(O)O"
GPP_TRIANION = "CC(C)=CCC\\C(C)=C\\COP([O-])(=O)OP([O-])([O-])=O"
LINALOOL = "CC(C)=CCCC(C)(O)C=C"
GERANIOL = "CC(C)=CCC/C(C)=C/CO"
MYRCENE = "CC(C)=CCCC(=C)C=C"
FPP = "CC(C)=CCC/C(C)=C/CC/C(C)=C/COP(=O)(O)OP(=O)(O)O"
ENT_COPALYL_PP = "CC(=CCOP(=O)(O)OP(=O)(O)O)CC[C@@H]1C(=C)CC[C@H]2C(C)(C)CCC[C@@]12C"
MANOYL_OXIDE = "C=CC1(C)CCC2C(C)(CCC3C(C)(C)CCCC23C)O1"
SCLAREOL = "CC(O)(C=C)CCC1C(C)(O)CCC2C(C)(C)CCCC12C"


def same(*smiles: str) -> bool:
    return len({skeleton_of(s).smiles for s in smiles}) == 1


def test_p_menthane_monoterpenes_share_a_skeleton():
    assert same(LIMONENE, ALPHA_TERPINENE, GAMMA_TERPINENE, TERPINOLENE)


def test_alcohol_ether_and_aromatic_p_menthanes_join_the_hydrocarbons():
    # alpha-terpineol (water capture), 1,8-cineole (internal ether; deleting the oxygen
    # opens the ring back to the p-menthane frame) and p-cymene (aromatic) all come from
    # the alpha-terpinyl cation.
    assert same(LIMONENE, ALPHA_TERPINEOL, CINEOLE, P_CYMENE)


def test_alpha_and_beta_pinene_share_a_skeleton():
    assert same(ALPHA_PINENE, BETA_PINENE)


def test_pinane_and_thujane_differ():
    assert not same(ALPHA_PINENE, SABINENE)


def test_caryophyllene_and_humulene_differ():
    assert not same(BETA_CARYOPHYLLENE, ALPHA_HUMULENE)


def test_germacrene_a_and_d_share_a_skeleton():
    assert same(GERMACRENE_A, GERMACRENE_D)


def test_germacrene_and_elemene_differ():
    assert not same(GERMACRENE_A, BETA_ELEMENE)


def test_gpp_and_linalool_differ():
    assert not same(GPP, LINALOOL)
    assert skeleton_of(GPP).diphosphate
    assert not skeleton_of(LINALOOL).diphosphate


def test_acyclic_monoterpenes_share_a_skeleton():
    assert same(LINALOOL, GERANIOL, MYRCENE)


def test_enantiomers_share_a_skeleton():
    assert same(R_LIMONENE, S_LIMONENE, LIMONENE)
    assert same(MINUS_ALPHA_PINENE, PLUS_ALPHA_PINENE)


def test_diphosphate_charge_state_does_not_matter():
    assert same(GPP, GPP_TRIANION)
    assert skeleton_of(GPP_TRIANION).smiles.endswith("OP(=O)(O)OP(=O)(O)O")


def test_prenyl_diphosphates_of_different_length_differ():
    assert not same(GPP, FPP)
    assert skeleton_of(FPP).carbon_count == 15


def test_copalyl_diphosphate_stays_apart_from_labdanes():
    assert same(MANOYL_OXIDE, SCLAREOL)
    assert not same(ENT_COPALYL_PP, MANOYL_OXIDE)
    assert skeleton_of(ENT_COPALYL_PP).diphosphate


def test_skeleton_properties():
    pinane = skeleton_of(ALPHA_PINENE)
    assert pinane.smiles == "CC1CCC2CC1C2(C)C"
    assert pinane.carbon_count == 10
    assert pinane.ring_count == 2
    assert skeleton_of(LINALOOL).ring_count == 0
    assert skeleton_of(BETA_CARYOPHYLLENE).carbon_count == 15


def test_skeleton_is_idempotent():
    for smiles in (LIMONENE, GPP, ENT_COPALYL_PP, CINEOLE, BETA_CARYOPHYLLENE):
        skeleton = skeleton_of(smiles).smiles
        assert skeleton_of(skeleton).smiles == skeleton


def test_largest_carbon_fragment_is_kept():
    # Geranyl acetate: the acetyl carbons leave with the ester oxygen.
    assert same("CC(=O)OC/C=C(C)/CCC=C(C)C", GERANIOL)
    # A salt's counter-ion is dropped.
    assert same("[Na+].CC(C)=CCC/C(C)=C/C[O-]", GERANIOL)


@pytest.mark.parametrize("bad", ["CC1=CCC(CC1", "not a smiles", "", "   "])
def test_unparsable_smiles_raise(bad):
    with pytest.raises(SmilesError):
        skeleton_of(bad)


def test_molecule_without_carbon_raises():
    with pytest.raises(SmilesError, match="no carbon"):
        skeleton_of("O")


def test_carbon_count():
    assert carbon_count(FPP) == 15


def test_reference_skeletons_match_the_curated_names():
    # Skeletons of the test molecules equal those computed from MARTS-DB's own SMILES.
    assert skeleton_of(ALPHA_HUMULENE).smiles == "CC1CCCC(C)CCC(C)(C)CCC1"
    assert skeleton_of(BETA_CARYOPHYLLENE).smiles == "CC1CCCC(C)C2CC(C)(C)C2CC1"
    assert skeleton_of(GERMACRENE_D).smiles == "CC1CCCC(C)CCC(C(C)C)CC1"
    assert skeleton_of(LIMONENE).smiles == "CC1CCC(C(C)C)CC1"
