"""Pfam domain features with pyhmmer on the shared TPS profiles."""

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_MARTS, DEMO_PFAM

from terpene_ensembles.features.domains import ABSENT_POSITION, domain_feature_table, load_profiles

PFAM_DIR = DEMO_PFAM


@pytest.fixture(scope="module")
def marts_sequences():
    table = pd.read_csv(DEMO_MARTS, dtype=str, keep_default_na=False)
    table = table.drop_duplicates("Aminoacid_sequence")
    return table.set_index("Enzyme_marts_ID")["Aminoacid_sequence"].str.upper()


def test_profiles_are_read_with_accessions_and_gathering_cutoffs():
    _, profiles = load_profiles(PFAM_DIR)
    keys = [p.key for p in profiles]
    assert keys == sorted(keys)  # files are read in name order
    assert {"PF01397", "PF03936", "PF13243"} <= set(keys)
    assert all(p.gathering is not None and p.length > 50 for p in profiles)


def test_plant_tps_hits_both_terpene_synthase_domains(marts_sequences):
    # A0A6P6W6H5: a plant (Coffea) limonene synthase, class I with N-terminal domain.
    sequence = marts_sequences["A0A6P6W6H5"]
    rng = np.random.default_rng(0)
    scrambled = "".join(rng.permutation(list(sequence)))
    features, columns = domain_feature_table(["tps", "scrambled"], [sequence, scrambled], PFAM_DIR)
    tps, shuffled = features.iloc[0], features.iloc[1]
    for key in ["PF01397", "PF03936"]:
        assert tps[f"pfam_{key}_bits"] > 50
        assert tps[f"pfam_{key}_gathering"] == 1.0
        assert 0.5 < tps[f"pfam_{key}_hmm_coverage"] <= 1.0
        assert 0 <= tps[f"pfam_{key}_start"] < tps[f"pfam_{key}_end"] <= 1
    # The N-terminal domain precedes the metal-binding C-terminal domain.
    assert tps["pfam_PF01397_start"] < tps["pfam_PF03936_start"]
    assert tps["pfam_PF00494_bits"] == 0.0
    assert tps["pfam_PF00494_start"] == ABSENT_POSITION
    # Same composition, no order: no domain survives.
    bits = [c for c in features.columns if c.endswith("_bits")]
    assert (shuffled[bits] == 0).all()
    assert list(columns["column"]) == list(features.columns[1:])
    assert columns["description"].str.contains("Terpene_synth").any()


def test_results_do_not_depend_on_threads(marts_sequences):
    ids = list(marts_sequences.index[:40])
    sequences = list(marts_sequences.iloc[:40])
    one, _ = domain_feature_table(ids, sequences, PFAM_DIR, threads=1)
    two, _ = domain_feature_table(ids, sequences, PFAM_DIR, threads=2)
    pd.testing.assert_frame_equal(one, two)


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_profiles(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="no \\*.hmm files"):
        load_profiles(tmp_path)


def test_duplicate_profiles_are_rejected(tmp_path):
    shutil.copy(PFAM_DIR / "PF01397.hmm", tmp_path / "a.hmm")
    shutil.copy(PFAM_DIR / "PF01397.hmm", tmp_path / "b.hmm")
    with pytest.raises(ValueError, match="duplicate profiles"):
        load_profiles(tmp_path)


def test_letters_outside_the_protein_alphabet_are_an_error():
    with pytest.raises(ValueError, match="protein alphabet"):
        domain_feature_table(["x"], ["MAK1"], PFAM_DIR)
