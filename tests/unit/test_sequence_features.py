"""Sequence features: motifs, composition, kingdom, and no leakage from products or Type."""

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_MARTS, DEMO_PFAM

from terpene_ensembles.data import marts
from terpene_ensembles.features.sequence_features import (
    ABSENT_POSITION,
    KINGDOM_GROUPS,
    feature_table,
    kingdom_group,
    sequence_feature_table,
)

PFAM_DIR = DEMO_PFAM
MARTS_CSV = DEMO_MARTS
# Columns of a MARTS export that carry the answer (products, substrates, Type).
ANSWER_COLUMNS = [
    "Type",
    "Class",
    "Substrate_name",
    "Substrate_smiles",
    "Substrate_chebi_ID",
    "Substrate_marts_ID",
    "Product_name",
    "Product_smiles",
    "Product_chebi_ID",
    "Product_marts_ID",
    "Product_yield",
    "Major_substrate",
    "Negative_substrates",
]


def enzymes_frame(rows):
    return pd.DataFrame(rows, columns=["id", "sequence", "kingdom"])


def test_motif_presence_count_and_relative_position():
    body = "AAAAADDLAD" + "A" * 32  # DDLAD starts at residue 5; no triad
    enzymes = enzymes_frame([("a", body, "Plantae"), ("b", "A" * 40, "Fungi")])
    features, _ = sequence_feature_table(enzymes)
    a, b = features.iloc[0], features.iloc[1]
    assert a["motif_ddxxd_present"] == 1.0
    assert a["motif_ddxxd_count"] == 1.0
    assert a["motif_ddxxd_first"] == pytest.approx(5 / len(body))
    assert a["motif_nse_dte_present"] == 0.0
    assert a["motif_nse_dte_first"] == ABSENT_POSITION
    assert a["motif_ddxxd_to_nse_dte"] == 0.0
    assert b["motif_ddxxd_present"] == 0.0
    assert b["motif_ddxxd_first"] == ABSENT_POSITION
    assert b["motif_ddxxd_last"] == ABSENT_POSITION


def test_overlapping_motif_matches_are_all_counted():
    # DDxxD matches at 0 (DDDAD) and at 1 (DDADD); a plain regex scan would find only one.
    sequence = "DDDADDAAAA"
    features, _ = sequence_feature_table(enzymes_frame([("x", sequence, "Plantae")]))
    assert features.loc[0, "motif_ddxxd_count"] == 2
    assert features.loc[0, "motif_ddxxd_first"] == 0.0
    assert features.loc[0, "motif_ddxxd_last"] == pytest.approx(1 / len(sequence))


def test_triad_rrx8w_dxdd_and_qw_patterns():
    triad = "NDLQSAAAE"  # (N/D)D(L/I/V)x(S/T)xxxE
    rr = "RRAAAAAAAAW"  # RRx8W
    dxdd = "DADD"
    qw = "KGAAFLAAAQAAGAW"  # (K/R)(G/A)x2(F)(L)x3Qx2GxW
    sequence = "M" + rr + "AAAA" + dxdd + "AAAA" + triad + "AAAA" + qw + "AAAA"
    features, _ = sequence_feature_table(enzymes_frame([("x", sequence, "Plantae")]))
    row = features.iloc[0]
    for motif in ["nse_dte", "rrx8w", "dxdd", "qw"]:
        assert row[f"motif_{motif}_present"] == 1.0, motif
    assert row["motif_rrx8w_first"] == pytest.approx(1 / len(sequence))
    assert row["motif_nse_dte_first"] == pytest.approx(sequence.index(triad) / len(sequence))


def test_composition_sums_to_one_and_length_is_exact():
    sequence = "ACDEFGHIKLMNPQRSTVWYX"
    features, columns = sequence_feature_table(enzymes_frame([("x", sequence, "Plantae")]))
    composition = [c for c in features.columns if c.startswith("aa_")]
    assert features.loc[0, composition].sum() == pytest.approx(1.0)
    assert features.loc[0, "aa_nonstandard"] == pytest.approx(1 / len(sequence))
    assert features.loc[0, "length"] == len(sequence)
    classes = [c for c in features.columns if c.startswith("class_")]
    assert features.loc[0, classes].sum() == pytest.approx(20 / len(sequence))
    assert list(columns["column"]) == list(features.columns[1:])


@pytest.mark.parametrize(
    "kingdom, group",
    [
        ("Plantae", "plantae"),
        ("Plantae (Red algae)", "plantae"),
        ("Animalia (Coral)", "animalia"),
        ("Animalia (Mammal, Human)", "animalia"),
        ("Amoebozoa", "protists"),
        ("Archaea", "archaea"),
        ("Viruses", "other"),
        ("Unknown", "other"),
        ("", "other"),
        (None, "other"),
    ],
)
def test_kingdom_groups(kingdom, group):
    assert kingdom_group(kingdom) == group


def test_kingdom_one_hot_has_fixed_columns():
    features, _ = sequence_feature_table(enzymes_frame([("x", "MAAAK", "Fungi")]))
    kingdom = features[[f"kingdom_{g}" for g in KINGDOM_GROUPS]].iloc[0]
    assert kingdom.sum() == 1.0 and kingdom["kingdom_fungi"] == 1.0


def test_bad_sequences_are_an_error():
    with pytest.raises(ValueError, match="ids \\['bad'\\]"):
        sequence_feature_table(enzymes_frame([("ok", "MAK", "Fungi"), ("bad", "MA1K", "Fungi")]))
    with pytest.raises(ValueError, match="lacks columns"):
        sequence_feature_table(pd.DataFrame({"id": ["a"], "sequence": ["MAK"]}))


def _shared_subset(tmp_path, n_rows=120, shuffle_answers=False):
    table = pd.read_csv(MARTS_CSV, dtype=str, keep_default_na=False).head(n_rows)
    if shuffle_answers:
        rng = np.random.default_rng(0)
        for column in ANSWER_COLUMNS:
            table[column] = rng.permutation(table[column].to_numpy())
    path = tmp_path / ("shuffled.csv" if shuffle_answers else "original.csv")
    table.to_csv(path, index=False)
    enzymes, _ = marts.read_enzymes(path)
    return enzymes


def test_features_ignore_products_substrates_and_type(tmp_path):
    """Shuffling every answer column of the export leaves the feature table unchanged."""
    original = _shared_subset(tmp_path)
    shuffled = _shared_subset(tmp_path, shuffle_answers=True)
    assert set(original["id"]) == set(shuffled["id"])
    assert not original.set_index("id")["types"].equals(shuffled.set_index("id")["types"])
    before, columns = feature_table(original, PFAM_DIR)
    after, _ = feature_table(shuffled, PFAM_DIR)
    after = after.set_index("id").loc[before["id"]].reset_index()
    pd.testing.assert_frame_equal(before, after)

    # The same on the enzymes table itself: scramble every non-input column, add products.
    scrambled = original.copy()
    rng = np.random.default_rng(1)
    for column in ["types", "substrate_family", "inactive", "label_status", "enzyme_name"]:
        if column in scrambled.columns:
            scrambled[column] = rng.permutation(scrambled[column].to_numpy())
    scrambled["products"] = [["fake product"]] * len(scrambled)
    again, _ = feature_table(scrambled, PFAM_DIR)
    pd.testing.assert_frame_equal(before, again)

    forbidden = ("product", "substrate", "type", "label", "inactive")
    assert not [c for c in columns["column"] if any(word in c.lower() for word in forbidden)]
    assert set(columns["group"]) == {"length", "composition", "motif", "kingdom", "pfam"}
    assert columns["description"].str.len().min() > 10
    numeric = before.drop(columns="id")
    assert all(dtype == np.float64 for dtype in numeric.dtypes)
    assert np.isfinite(numeric.to_numpy()).all()


def test_an_enzymes_features_do_not_depend_on_the_other_enzymes(tmp_path):
    enzymes = _shared_subset(tmp_path, n_rows=60)
    together, _ = feature_table(enzymes, PFAM_DIR)
    alone, _ = feature_table(enzymes.iloc[[3]], PFAM_DIR)
    pd.testing.assert_frame_equal(together.iloc[[3]].reset_index(drop=True), alone)


# Two features-stage processes: slow; test_features_ignore_products_substrates_and_type is
# its in-process twin.
@pytest.mark.slow
def test_features_stage_outputs_ignore_products_substrates_and_type(tmp_path):
    """The features stage, run on an enzymes table with every answer column shuffled,
    writes the same feature table and the same alignment-position table."""
    import subprocess
    import sys

    from conftest import REPO

    original = _shared_subset(tmp_path, n_rows=60)
    shuffled = _shared_subset(tmp_path, n_rows=60, shuffle_answers=True)
    shuffled = shuffled.set_index("id").loc[original["id"]].reset_index()
    outputs = {}
    for name, enzymes in (("original", original), ("shuffled", shuffled)):
        table = tmp_path / f"{name}.parquet"
        enzymes.to_parquet(table)
        out = tmp_path / name
        out.mkdir()
        subprocess.run(
            [sys.executable, str(REPO / "workflow" / "scripts" / "features.py"),
             "--enzymes", str(table), "--pfam-dir", str(PFAM_DIR),
             "--output", str(out / "features.parquet"), "--columns", str(out / "columns.tsv"),
             "--positions", str(out / "positions.parquet")],
            check=True, capture_output=True,
        )  # fmt: skip
        outputs[name] = out
    for file in ("features.parquet", "positions.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(outputs["original"] / file), pd.read_parquet(outputs["shuffled"] / file)
        )
    positions = pd.read_parquet(outputs["original"] / "positions.parquet")
    assert [c for c in positions.columns if c != "id"] == [
        f"aln_{p.stem}" for p in sorted(PFAM_DIR.glob("*.hmm"))
    ]
