"""Ensemble vocabulary, labels, frozen-vocabulary mode and the parse stage end to end."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import DEMO_MARTS, REPO, output_args

from terpene_ensembles.data import ensembles as ens
from terpene_ensembles.data.chemistry import skeleton_of
from terpene_ensembles.data.parse_stage import label_export, run_parse

DATA = Path(__file__).parent / "data"
NAMES = REPO / "config" / "ensemble_names.tsv"

LIMONENE = "CC1=CCC(CC1)C(C)=C"
PINENE = "CC1=CCC2CC1C2(C)C"
CARYOPHYLLENE = "C/C/1=C\\CCC(=C)[C@H]2CC(C)(C)[C@@H]2CC1"
HUMULENE = "C/C/1=C\\CC(C)(C)/C=C/C/C(C)=C/CC1"
GERMACRENE_A = "C/C/1=C\\CC/C(C)=C/C[C@@H](CC1)C(C)=C"
GPP = "CC(C)=CCC/C(C)=C/COP(=O)(O)OP(=O)(O)O"
ISOPRENE = "C=CC(C)=C"


def products(rows):
    """Product table from (enzyme id, product name, SMILES) triples."""
    records = []
    for enzyme_id, name, smiles in rows:
        skeleton = skeleton_of(smiles)
        records.append(
            {
                "enzyme_id": enzyme_id,
                "product_name": name,
                "skeleton": skeleton.smiles,
                "carbon_count": skeleton.carbon_count,
                "diphosphate": skeleton.diphosphate,
            }
        )
    return pd.DataFrame(records)


def enzymes_for(ids, inactive=(), without_product=()):
    return pd.DataFrame(
        {
            "id": ids,
            "inactive": [i in inactive for i in ids],
            "has_known_product": [i not in inactive and i not in without_product for i in ids],
        }
    )


EXAMPLE = products(
    [("e1", "limonene", LIMONENE), ("e2", "limonene", LIMONENE), ("e3", "limonene", LIMONENE)]
    + [("e1", "pinene", PINENE), ("e4", "pinene", PINENE), ("e5", "pinene", PINENE)]
    + [("e6", "caryophyllene", CARYOPHYLLENE), ("e7", "caryophyllene", CARYOPHYLLENE)]
    + [("e6", "humulene", HUMULENE), ("e8", "germacrene A", GERMACRENE_A)]
    + [("e9", "GPP", GPP), ("e10", "isoprene", ISOPRENE)]
)


def test_top_k_by_enzyme_count_with_minimum_support():
    vocabulary = ens.build_vocabulary(EXAMPLE, top_k=5, min_support=2, other_buckets=False)
    assert list(vocabulary["kind"]) == ["skeleton"] * 3
    # limonene and pinene tie at 3 enzymes: order by skeleton SMILES, fixed.
    assert list(vocabulary["support"]) == [3, 3, 2]
    assert vocabulary["definition"].iloc[2] == skeleton_of(CARYOPHYLLENE).smiles
    assert (vocabulary["support"] >= 2).all()
    top_one = ens.build_vocabulary(EXAMPLE, top_k=1, min_support=2, other_buckets=False)
    assert len(top_one) == 1


def test_curated_names_and_systematic_names():
    names = ens.load_ensemble_names(NAMES)
    vocabulary = ens.build_vocabulary(EXAMPLE, top_k=3, min_support=2, names=names)
    ids = list(vocabulary["ensemble_id"])
    assert {"p_menthane", "pinane", "caryophyllane"} <= set(ids)
    assert "limonene" in vocabulary.set_index("ensemble_id").loc["p_menthane", "example_products"]
    # Without the table, a systematic id from carbon count, ring count and a digest.
    unnamed = ens.build_vocabulary(EXAMPLE, top_k=1, min_support=2, other_buckets=False)
    assert unnamed["ensemble_id"].iloc[0].startswith("C10_")
    assert unnamed["name"].iloc[0].startswith("unnamed")


def test_other_buckets_and_rare_pool():
    vocabulary = ens.build_vocabulary(EXAMPLE, top_k=2, min_support=2, other_buckets=True)
    by_id = vocabulary.set_index("ensemble_id")
    # caryophyllane (2), humulane (1), germacrane (1) -> other C15 with 3 enzymes.
    assert by_id.loc["other_C15", "support"] == 3
    assert by_id.loc["other_C15", "definition"] == "other:carbons=13-17:diphosphate=no"
    # GPP (1 enzyme) and isoprene (1 enzyme) are below support: pooled.
    assert by_id.loc[ens.CATCH_ALL_ID, "support"] == 2
    assert list(vocabulary["kind"]) == ["skeleton"] * 2 + ["other_bucket"] * 2


def test_labels_and_status():
    vocabulary = ens.build_vocabulary(EXAMPLE, top_k=2, min_support=2, other_buckets=False)
    ids = [f"e{i}" for i in range(1, 13)]
    enzymes = enzymes_for(ids, inactive={"e11"}, without_product={"e12"})
    labels, status = ens.label_enzymes(enzymes, EXAMPLE, vocabulary)
    assert list(labels.columns) == ["id", *vocabulary["ensemble_id"]]
    assert (labels.dtypes.iloc[1:] == "int8").all()
    row = labels.set_index("id")
    assert row.loc["e1"].tolist() == [1, 1]  # limonene and pinene
    assert row.loc["e11"].sum() == 0
    by_id = dict(zip(ids, status, strict=True))
    assert by_id["e1"] == ens.LABELLED
    assert by_id["e6"] == ens.NO_VOCABULARY_PRODUCT
    assert by_id["e11"] == ens.INACTIVE
    assert by_id["e12"] == ens.UNKNOWN_PRODUCT
    coverage = ens.coverage(labels, enzymes, vocabulary)
    assert coverage["enzymes_with_product"] == 10
    assert coverage["all_classes"] == pytest.approx(0.5)


def test_frozen_vocabulary_round_trip(tmp_path):
    vocabulary = ens.build_vocabulary(EXAMPLE, top_k=2, min_support=2, other_buckets=True)
    path = tmp_path / "ensembles.tsv"
    vocabulary.to_csv(path, sep="\t", index=False)
    frozen = ens.read_vocabulary(path)
    pd.testing.assert_frame_equal(frozen, vocabulary, check_dtype=False)
    new = products([("x1", "germacrene A", GERMACRENE_A), ("x2", "GPP", GPP)])
    labels, _ = ens.label_enzymes(enzymes_for(["x1", "x2"]), new, frozen)
    assert labels.set_index("id").loc["x1", "other_C15"] == 1
    assert labels.set_index("id").loc["x2", ens.CATCH_ALL_ID] == 1


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("ensemble_id", "bad id!", "ensemble ids not matching"),
        ("definition", "C1CC=CC1", "not a canonical skeleton"),
        ("definition", "C1CC(", "cannot parse"),
        ("kind", "cluster", "unknown kind"),
    ],
)
def test_bad_vocabulary_is_refused(tmp_path, column, value, message):
    vocabulary = ens.build_vocabulary(EXAMPLE, top_k=2, min_support=2, other_buckets=False)
    vocabulary.loc[0, column] = value
    path = tmp_path / "ensembles.tsv"
    vocabulary.to_csv(path, sep="\t", index=False)
    with pytest.raises(ens.VocabularyError, match=message):
        ens.read_vocabulary(path)


def test_bad_bucket_rule_is_refused():
    vocabulary = ens.build_vocabulary(EXAMPLE, top_k=2, min_support=2, other_buckets=True)
    vocabulary.loc[vocabulary["kind"] == "other_bucket", "definition"] = "other:C15"
    with pytest.raises(ens.VocabularyError, match="bad bucket rule"):
        ens.validate_vocabulary(vocabulary)


def test_names_table_loads_with_unique_skeletons():
    names = ens.load_ensemble_names(NAMES)
    assert len(names) >= 40
    ids = [entry.ensemble_id for entry in names.values()]
    assert len(ids) == len(set(ids))


def test_names_table_with_two_names_for_one_skeleton_is_refused(tmp_path):
    path = tmp_path / "names.tsv"
    path.write_text(
        "# comment\nensemble_id\tname\treference_product\treference_smiles\n"
        f"p_menthane\tp-menthane\tlimonene\t{LIMONENE}\n"
        "terpinenes\tterpinenes\tgamma-terpinene\tCC1=CCC(=CC1)C(C)C\n"
    )
    with pytest.raises(ens.VocabularyError, match="same skeleton as p_menthane"):
        ens.load_ensemble_names(path)


@pytest.mark.parametrize(("carbons", "family"), [(5, 5), (10, 10), (11, 10), (13, 15), (16, 15)])
def test_chain_family(carbons, family):
    assert ens.chain_family(carbons) == family


def test_run_parse_small_export_adds_up(tmp_path):
    settings = {"top_k": 5, "min_support": 1}
    outputs = run_parse(DATA / "marts_small.csv", NAMES, settings)
    summary = outputs.summary
    assert summary["rows_in"] == summary["rows_used"] + summary["rows_rejected"] == 9
    assert summary["enzymes"] == len(outputs.enzymes) == len(outputs.labels) == 6
    assert list(outputs.labels["id"]) == list(outputs.enzymes["id"])
    status = outputs.enzymes.set_index("id")["label_status"]
    assert status["N1"] == status["U1"] == "inactive"
    assert status["S1"] == "unknown_product"
    assert status["Q1"] == "labelled"
    assert outputs.labels.set_index("id").loc["N1"].sum() == 0
    json.dumps(summary, allow_nan=False)  # the summary must be writable as strict JSON

    path = tmp_path / "ensembles.tsv"
    outputs.vocabulary.to_csv(path, sep="\t", index=False)
    # Frozen mode on the same export reproduces the labels exactly...
    _, same_labels = label_export(DATA / "marts_small.csv", path)
    pd.testing.assert_frame_equal(same_labels, outputs.labels)
    # ...and labels another export (the first four rows, reformatted) with the same classes.
    _, labels = label_export(DATA / "marts_bom_crlf.csv", path)
    assert list(labels.columns) == ["id", *outputs.vocabulary["ensemble_id"]]
    original = outputs.labels.set_index("id")
    assert labels.set_index("id").loc["Q1"].equals(original.loc["Q1"])


def test_parse_script_writes_every_output(tmp_path):
    settings = json.dumps({"top_k": 5, "min_support": 1, "other_buckets": False})
    subprocess.run(
        [
            sys.executable,
            str(REPO / "workflow" / "scripts" / "parse.py"),
            "--marts",
            str(DATA / "marts_bad_rows.csv"),
            "--names",
            str(NAMES),
            "--settings",
            settings,
            *output_args("parse.py", tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    rejected = pd.read_csv(tmp_path / "rejected.tsv", sep="\t")
    assert list(rejected.columns[:2]) == ["source_row", "reason"]
    assert len(rejected) == 7
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["rows_in"] == 8 and summary["rows_used"] == 1
    assert sum(summary["rejected_by_reason"].values()) == 7
    enzymes = pd.read_parquet(tmp_path / "enzymes.parquet")
    assert list(enzymes["id"]) == ["M1"]
    assert pd.read_parquet(tmp_path / "labels.parquet").shape[0] == 1
    assert (tmp_path / "ensembles.tsv").exists()


def test_shared_export_meets_the_coverage_targets():
    outputs = run_parse(DEMO_MARTS, NAMES, {})
    summary = outputs.summary
    assert summary["rows_in"] == summary["rows_used"] + summary["rows_rejected"] == 1903
    detail = summary["label_coverage_detail"]
    assert detail["top_k_skeletons_only"] >= 0.80
    assert detail["with_other_buckets"] >= 0.95
    skeletons = outputs.vocabulary[outputs.vocabulary["kind"] == "skeleton"]
    assert len(skeletons) == 30
    assert (skeletons["support"] >= 10).all()
    assert outputs.enzymes["id"].is_unique
    ids = set(skeletons["ensemble_id"])
    assert {"p_menthane", "pinane", "germacrane", "caryophyllane", "humulane"} <= ids
