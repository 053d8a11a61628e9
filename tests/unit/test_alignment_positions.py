"""Alignment-position features: residues per match state, and their one-hot encoder."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_MARTS, DEMO_PFAM

from terpene_ensembles.features.alignment_positions import (
    GAP,
    PositionEncoder,
    match_state_residues,
    position_table,
)


def test_match_states_by_hand():
    alignment = SimpleNamespace(hmm_from=2, hmm_sequence="ab..cd", target_sequence="WXyzV-")
    # columns: a->W (state 2), b->X (3), two inserts, c->V (4), d->deletion (5)
    assert match_state_residues(alignment, 6) == "-WXV--"


def test_positions_of_real_tps_sequences_depend_on_each_sequence_alone():
    table = pd.read_csv(DEMO_MARTS, dtype=str, keep_default_na=False)
    sequences = table["Aminoacid_sequence"].str.replace("*", "").drop_duplicates().head(12)
    ids = [f"e{i}" for i in range(len(sequences))]
    together = position_table(ids, sequences.tolist(), DEMO_PFAM)
    alone = position_table(ids[5:6], sequences.tolist()[5:6], DEMO_PFAM)
    pd.testing.assert_frame_equal(together.iloc[[5]].reset_index(drop=True), alone)
    # Every column is one string per enzyme with one letter per match state.
    for column in together.columns[1:]:
        assert together[column].str.len().nunique() == 1
    terpene_synth_c = together["aln_PF03936"]
    assert (terpene_synth_c.str.count(GAP) < terpene_synth_c.str.len()).mean() > 0.5


def test_encoder_keeps_covered_states_and_round_trips():
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "aln_P1": ["AC-", "AD-", "GC-", "----"[:3]],
            "aln_P2": ["WW", "WY", "--", "--"],
        }
    )
    encoder = PositionEncoder.fit(frame, min_coverage=0.5)
    # P1 state 3 is never aligned; P2 states are aligned by half the enzymes: kept
    assert encoder.names() == [
        "aln_P1:1A",
        "aln_P1:1G",
        "aln_P1:2C",
        "aln_P1:2D",
        "aln_P2:1W",
        "aln_P2:2W",
        "aln_P2:2Y",
    ]
    matrix = encoder.transform(frame).toarray()
    np.testing.assert_array_equal(matrix[0], [1, 0, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(matrix[3], np.zeros(7))
    again = PositionEncoder.from_dict(encoder.to_dict())
    np.testing.assert_array_equal(again.transform(frame).toarray(), matrix)
    with pytest.raises(ValueError, match="lacks columns"):
        encoder.transform(frame.drop(columns="aln_P2"))


def test_one_profile_search_feeds_positions_and_domain_features_as_two_would():
    from terpene_ensembles.features.domains import domain_feature_table, search_profiles

    table = pd.read_csv(DEMO_MARTS, dtype=str, keep_default_na=False)
    sequences = table["Aminoacid_sequence"].str.replace("*", "").drop_duplicates().head(8)
    sequences = sequences.tolist()
    ids = [f"e{i}" for i in range(len(sequences))]
    searched = search_profiles(sequences, DEMO_PFAM, threads=2)
    pd.testing.assert_frame_equal(
        position_table(ids, sequences, DEMO_PFAM, searched=searched),
        position_table(ids, sequences, DEMO_PFAM),
    )
    shared, _ = domain_feature_table(ids, sequences, DEMO_PFAM, searched=searched)
    alone, _ = domain_feature_table(ids, sequences, DEMO_PFAM)
    pd.testing.assert_frame_equal(shared, alone)
    assert shared.filter(like="_bits").to_numpy().max() > 0  # real hits were compared
