import gzip
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import DEMO_MARTS, DEMO_PFAM, REPO, put_failing_mmseqs_first_on_path, run_snakemake
from readme_blocks import readme_commands

from terpene_ensembles.data.sequence_input import SequenceRecord, iter_fasta, sha256_text
from terpene_ensembles.learning.training_data import HIT_COLUMNS
from terpene_ensembles.predict.loop import ScreeningSettings, records_frame, screen
from terpene_ensembles.predict.model import (
    BundleScorer,
    ChunkScores,
    ModelCompatibilityError,
    default_featurizer,
    load_compatible_bundle,
    plm_settings_for,
)
from terpene_ensembles.predict.neighbours import TrainingNeighbourSearch, nearest_neighbours
from terpene_ensembles.predict.output import (
    OOD_NO_DOMAIN,
    OOD_NO_NEIGHBOUR,
    PredictionWriter,
    RejectionWriter,
    out_of_domain_reason,
    summarise_chunk,
    top_ensembles,
)
from terpene_ensembles.predict.run import run_prediction

ENSEMBLES = ["germacrane", "bisabolane", "other_C20"]

# Two unrelated real-looking TPS fragments (from the shared MARTS table's first enzymes).
SEQ_A = (
    "MAIINLPVPTNSSSEVNKHNHLRSCLPSGRATFTTLSAAAMRSATMAAANVREQSGQKQQLINRRSGNYEAPLWEFDYIQSLKNEY"
    "AGDIYVSRANELKEQVKMMLDEEDMKLLDCMELVDGLERLGLAYHFEGRINRLLSSDYKAIHEGNHQRNKEDLYAAALEFRIFRQ"
)
SEQ_B = (
    "MSEKNVVRIPMKWGRIEREILTQNTIPELVDTNRLISWVKECNLADEALVTKYMNVIRPYHFSRLVFPILPDKDVCREAFAVFIEF"
    "LIVLYLCDDELEAKCNLNELEIVCSAYDFLDEKLKQCFPRIPSVEELRSFLPHVKKERLLALVVSLIDSVSRVVSPLLKYSVFPQ"
)


def chunk_frame(records):
    return pd.DataFrame(
        {
            "id": [r[0] for r in records],
            "record": list(range(1, len(records) + 1)),
            "sequence_sha256": [sha256_text(r[1]) for r in records],
            "length": [len(r[1]) for r in records],
        }
    )


def test_top_ensembles_are_sorted_with_stable_ties():
    names, values = top_ensembles(np.array([[0.2, 0.5, 0.2]]), ENSEMBLES)
    assert names == [["bisabolane", "germacrane", "other_C20"]]
    assert values == [[0.5, 0.2, 0.2]]


def test_out_of_domain_reasons():
    assert out_of_domain_reason(["PF03936"], 0.8, 0.3) == ""
    assert out_of_domain_reason([], 0.8, 0.3) == OOD_NO_DOMAIN
    assert out_of_domain_reason(["PF03936"], 0.2, 0.3) == OOD_NO_NEIGHBOUR
    assert out_of_domain_reason([], float("nan"), 0.3) == f"{OOD_NO_DOMAIN};{OOD_NO_NEIGHBOUR}"


def test_nearest_neighbours_ranks_by_identity_then_bits():
    hits = pd.DataFrame(
        {
            "query": ["q", "q", "q", "q", "r"],
            "target": ["t1", "t2", "t3", "t4", "t1"],
            "identity": [0.5, 0.9, 0.5, 0.3, 0.4],
            "bits": [100, 50, 200, 10, 80],
        }
    )
    result = nearest_neighbours(hits, ["q", "r", "lonely"], k=3)
    assert result["q"] == (["t2", "t3", "t1"], [0.9, 0.5, 0.5])
    assert result["r"] == (["t1"], [0.4])
    assert result["lonely"] == ([], [])


def test_summarise_chunk_and_writer_round_trip(tmp_path):
    chunk = chunk_frame([("a", SEQ_A), ("b", SEQ_B)])
    probabilities = np.array([[0.8, 0.6, 0.1], [0.05, 0.1, 0.2]])
    frame = summarise_chunk(
        chunk,
        probabilities,
        ENSEMBLES,
        calls=np.array([[True, False, False], [False, False, True]]),
        neighbours={"a": (["train1", "train2"], [0.95, 0.4])},
        tps_domains={"a": ["PF01397", "PF03936"]},
        identity_floor=0.3,
    )
    assert frame["called"].tolist() == [["germacrane"], ["other_C20"]]
    both = summarise_chunk(
        chunk, probabilities, ENSEMBLES, calls=np.array([[True, True, True], [True, True, True]]),
        neighbours={}, tps_domains={}, identity_floor=0.3,
    )  # fmt: skip
    # the most probable call first, whatever the vocabulary order
    assert both["called"].tolist() == [
        ["germacrane", "bisabolane", "other_C20"],
        ["other_C20", "bisabolane", "germacrane"],
    ]
    assert frame["top3"].tolist()[0] == ["germacrane", "bisabolane", "other_C20"]
    assert frame["out_of_domain"].tolist() == [False, True]
    assert frame.loc[1, "ood_reason"] == f"{OOD_NO_DOMAIN};{OOD_NO_NEIGHBOUR}"
    assert np.isnan(frame.loc[1, "best_identity"])

    with PredictionWriter(tmp_path, ENSEMBLES) as writer:
        writer.write(frame.iloc[:1])
        writer.write(frame.iloc[1:])
    assert writer.rows == 2
    table = pq.read_table(tmp_path / "predictions.parquet").to_pandas()
    assert table["id"].tolist() == ["a", "b"]
    assert table["nearest_training"].map(list).tolist() == [["train1", "train2"], []]
    assert table["prob_bisabolane"].tolist() == [0.6, 0.1]
    tsv = pd.read_csv(tmp_path / "predictions.tsv", sep="\t", keep_default_na=False)
    assert tsv["called"].tolist() == ["germacrane", "other_C20"]
    assert tsv.loc[0, "nearest_training"] == "train1;train2"
    assert tsv.loc[0, "nearest_identity"] == "0.9500;0.4000"
    assert list(tsv.columns) == list(table.columns)


def test_summarise_chunk_writes_the_evidence_columns(tmp_path):
    from terpene_ensembles.predict.evidence import PredictionContext

    chunk = chunk_frame([("a", SEQ_A), ("b", SEQ_B)])
    probabilities = np.array([[0.8, 0.6, 0.1], [0.05, 0.1, 0.2]])
    context = PredictionContext(
        members=["m1", "m2"],
        reliability=[  # what a prediction is told: the monotone expected precision
            {"band": ">=90%", "top_precision": 0.95, "expected_top_precision": 0.9},
            {"band": "<30%", "top_precision": 0.25, "expected_top_precision": 0.25},
        ],
        reference_names={"train1": "germacrene A synthase"},
        reference_ensembles={"train1": ["germacrane"], "train2": ["bisabolane", "other_C20"]},
    )
    members = {  # raw member scores: m1 ranks bisabolane first for a, m2 germacrane
        "m1": np.array([[0.1, 0.9, 0.0], [0.0, 0.1, 0.9]]),
        "m2": np.array([[0.9, 0.1, 0.0], [0.0, 0.1, 0.9]]),
    }
    frame = summarise_chunk(
        chunk,
        probabilities,
        ENSEMBLES,
        calls=np.array([[True, True, False], [False, False, True]]),
        neighbours={"a": (["train1", "train2"], [0.95, 0.4])},
        tps_domains={"a": ["PF03936"], "b": ["PF03936"]},
        identity_floor=0.3,
        context=context,
        member_scores=members,
    )
    assert frame["support"].tolist() == [["m2", "m1"], ["m1,m2"]]
    assert frame["identity_band"].tolist() == [">=90%", "<30%"]
    assert frame["expected_top_precision"].tolist() == [0.9, 0.25]
    assert frame["nearest_training_name"].tolist() == ["germacrene A synthase", ""]
    assert frame["nearest_training_ensembles"].tolist() == [
        ["germacrane", "bisabolane,other_C20"],
        [],
    ]
    with PredictionWriter(tmp_path, ENSEMBLES) as writer:
        writer.write(frame)
    tsv = pd.read_csv(tmp_path / "predictions.tsv", sep="\t", keep_default_na=False)
    assert tsv["support"].tolist() == ["m2;m1", "m1,m2"]
    assert tsv.loc[0, "nearest_training_ensembles"] == "germacrane;bisabolane,other_C20"
    table = pq.read_table(tmp_path / "predictions.parquet").to_pandas()
    assert table["expected_top_precision"].tolist() == [0.9, 0.25]


def test_reliability_honesty_checks_what_the_predictions_carry():
    from terpene_ensembles.predict.evidence import PredictionContext
    from terpene_ensembles.predict.run import (
        NO_RELIABILITY_TABLE,
        MetricsCollector,
        reliability_honesty,
    )

    table = [
        {"band": ">=90%", "top_precision": 0.95, "expected_top_precision": 0.9},
        {"band": "<30%", "top_precision": 0.25, "expected_top_precision": 0.25},
    ]
    collector = MetricsCollector(ENSEMBLES, [])
    chunks = [  # (id, sequence), probabilities, neighbours: two chunks as screen gives them
        ([("a", SEQ_A), ("b", SEQ_B)], [[0.8, 0.6, 0.1], [0.05, 0.1, 0.2]], {"a": (["t"], [0.95])}),
        ([("c", SEQ_A), ("d", SEQ_B)], [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]], {"c": (["t"], [0.2])}),
    ]
    for records, probabilities, neighbours in chunks:
        chunk = chunk_frame(records)
        probabilities = np.array(probabilities)
        scores = ChunkScores(probabilities, probabilities >= 0.5, {}, {"model": probabilities})
        predictions = summarise_chunk(
            chunk, probabilities, ENSEMBLES, scores.calls, neighbours, {}, 0.3,
            PredictionContext(reliability=table),
        )  # fmt: skip
        collector(chunk, scores, predictions)
    # a: top call right (>=90%); b (no hit) wrong, c right (<30%); d has no label.
    truth = pd.DataFrame(
        [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]], index=list("abcd"), columns=ENSEMBLES
    )
    result = reliability_honesty(collector, truth, ["b", "c", "d"], table)
    everything, unseen = result["all"], result["not_in_training"]
    assert (everything["n_enzymes"], everything["n_labelled"]) == (4, 3)
    assert (unseen["n_enzymes"], unseen["n_labelled"]) == (3, 2)
    observed = {
        name: {
            row["band"]: (
                row["n"],
                row["observed_top_precision"],
                row["mean_expected_top_precision"],
            )
            for row in section["bands"]
            if row["n"]
        }
        for name, section in result.items()
    }
    assert observed == {
        "all": {"<30%": (2, 0.5, 0.25), ">=90%": (1, 1.0, 0.9)},
        "not_in_training": {"<30%": (2, 0.5, 0.25)},
    }
    assert reliability_honesty(collector, truth, [], None) == {
        "all": None,
        "not_in_training": None,
        "reason": NO_RELIABILITY_TABLE,
    }


def test_writer_leaves_no_output_when_a_chunk_fails(tmp_path):
    with pytest.raises(RuntimeError), PredictionWriter(tmp_path, ENSEMBLES):
        raise RuntimeError("scoring failed")
    assert list(tmp_path.iterdir()) == []


def test_summarise_chunk_rejects_misshaped_probabilities():
    with pytest.raises(ValueError, match="shape"):
        summarise_chunk(
            chunk_frame([("a", SEQ_A)]), np.zeros((1, 2)), ENSEMBLES, np.zeros((1, 3)), {}, {}, 0.3
        )


@pytest.mark.mmseqs
def test_mmseqs_search_finds_the_training_enzyme_of_a_close_variant(tmp_path):
    training = pd.DataFrame({"id": ["train_a", "train_b"], "sequence": [SEQ_A, SEQ_B]})
    search = TrainingNeighbourSearch(training, tmp_path / "mmseqs", threads=1)
    variant = SEQ_A[:50] + "W" + SEQ_A[51:]
    hits = search.search([("my|odd id", variant), ("random", "MKVLAAGGHW" * 8)])
    neighbours = nearest_neighbours(hits, ["my|odd id", "random"])
    assert neighbours["my|odd id"][0][0] == "train_a"
    assert neighbours["my|odd id"][1][0] > 0.95
    assert neighbours["random"] == ([], [])


@pytest.mark.mmseqs
def test_predict_search_and_the_split_stage_search_agree(tmp_path):
    """One MMseqs2 search (homology.easy_search) serves both: same pairs, same identities."""
    from terpene_ensembles.split.homology import pairwise_identity

    training = pd.DataFrame({"id": ["train_a", "train_b"], "sequence": [SEQ_A, SEQ_B]})
    variant = SEQ_A[:50] + "W" + SEQ_A[51:80]
    hits = TrainingNeighbourSearch(training, tmp_path / "mmseqs").search([("v", variant)])
    everything = pairwise_identity(["train_a", "train_b", "v"], [SEQ_A, SEQ_B, variant])
    expected = everything[everything["query"] == "v"].set_index("target")["identity"]
    got = hits.drop_duplicates(["query", "target"]).set_index("target")["identity"]
    assert not expected.empty
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)


class FakeScorer:
    """Scores by a fixed rule so the screening loop can be tested without a trained model."""

    ensemble_ids = ENSEMBLES
    context = None

    def __init__(self):
        self.training = pd.DataFrame({"id": ["train_a", "train_b"], "sequence": [SEQ_A, SEQ_B]})
        self.chunk_sizes = []

    def score(self, chunk, hits):
        self.chunk_sizes.append(len(chunk))
        probabilities = np.array(
            [
                [0.9, 0.1, 0.1] if s.startswith("MAII") else [0.1, 0.1, 0.2]
                for s in chunk["sequence"]
            ]
        )
        domains = {i: ["PF03936"] for i in chunk["id"] if not i.startswith("junk")}
        return ChunkScores(probabilities, probabilities >= 0.5, domains)


@pytest.mark.mmseqs
def test_screen_streams_chunks_and_flags_untrusted_calls(tmp_path):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(
        f">close\n{SEQ_A[:60]}W{SEQ_A[61:]}\n>bad\nMK1\n>junk1\n{'MKVLAAGGHW' * 8}\n"
        f">far_b\n{SEQ_B}\n>close\n{SEQ_A}\n"
    )
    scorer = FakeScorer()
    outdir = tmp_path / "out"
    with RejectionWriter(outdir / "rejected.tsv") as rejected:
        records = iter_fasta(fasta, rejected)
        counts = screen(records, scorer, outdir, ScreeningSettings(chunk_size=2))
    assert scorer.chunk_sizes == [2, 1]
    assert counts == {"predicted": 3, "out_of_domain": 1, "chunks": 2}
    assert rejected.counts == {"invalid_residues": 1, "duplicate_id": 1}
    table = pq.read_table(outdir / "predictions.parquet").to_pandas()
    assert table["id"].tolist() == ["close", "junk1", "far_b"]
    assert table["called"].map(list).tolist() == [["germacrane"], [], []]
    assert table["nearest_training"].map(lambda v: v[0] if len(v) else "").tolist() == [
        "train_a",
        "",
        "train_b",
    ]
    assert table["ood_reason"].tolist() == ["", f"{OOD_NO_DOMAIN};{OOD_NO_NEIGHBOUR}", ""]
    rejected_table = pd.read_csv(outdir / "rejected.tsv", sep="\t")
    assert rejected_table[["record", "id", "reason"]].values.tolist() == [
        [2, "bad", "invalid_residues"],
        [5, "close", "duplicate_id"],
    ]
    # The MMseqs2 scratch folder is gone; only the outputs remain.
    assert sorted(p.name for p in outdir.iterdir()) == [
        "predictions.parquet",
        "predictions.tsv",
        "rejected.tsv",
    ]


def test_model_directory_checks_on_a_minimal_bundle(tmp_path):
    """The checks of load_compatible_bundle and default_featurizer in-process, on a bundle
    without members; the trained-model tests below repeat them end to end."""
    from terpene_ensembles.learning.bundle import BUNDLE_FILE, ModelBundle
    from terpene_ensembles.learning.calibration import Thresholds
    from terpene_ensembles.learning.model import FittedModel
    from terpene_ensembles.learning.payload import load_payload, save_payload
    from terpene_ensembles.learning.stacking import Combiner

    profiles = sorted(p.stem for p in DEMO_PFAM.glob("*.hmm"))
    model = FittedModel(
        ensemble_ids=["x"],
        feature_columns=["aa_A", *(f"pfam_{p}_bits" for p in profiles)],
        plm={"model": "none"},
        seed=0,
        label_prior=np.zeros(1),
        reference_ids=[],
        members={},
        combiner=Combiner([], [], np.zeros(0), 0.0),
        selection={},
    )
    bundle = ModelBundle(model, [], [{"ensemble_id": "x"}], Thresholds({}, True))
    model_dir = tmp_path / "model"
    bundle.save(model_dir)
    assert load_compatible_bundle(model_dir, None).feature_columns == model.feature_columns
    plm = {"enabled": True, "model": "esm2_t6_8M_UR50D", "checkpoint": None, "layer": -1}
    with pytest.raises(ModelCompatibilityError, match="trained with PLM 'none'"):
        load_compatible_bundle(model_dir, plm)
    assert load_compatible_bundle(model_dir, {**plm, "enabled": False}).plm["model"] == "none"
    featurize = default_featurizer(bundle, DEMO_PFAM)
    records = [SequenceRecord(1, "a", "", SEQ_A), SequenceRecord(2, "b", "", SEQ_B)]
    features, domains, positions = featurize(records_frame(records))
    assert features["id"].tolist() == ["a", "b"] and set(domains) == {"a", "b"}
    assert positions is None  # no member of this bundle reads alignment positions
    partial_pfam = tmp_path / "pfam"
    partial_pfam.mkdir()
    shutil.copy(DEMO_PFAM / f"{profiles[0]}.hmm", partial_pfam)
    with pytest.raises(ModelCompatibilityError, match="not those the model was trained with"):
        default_featurizer(bundle, partial_pfam)
    with pytest.raises(ModelCompatibilityError, match="not found"):
        default_featurizer(bundle, tmp_path / "no_pfam")
    save_payload(
        {**load_payload(model_dir / BUNDLE_FILE), "format_version": 999}, model_dir / BUNDLE_FILE
    )
    with pytest.raises(ModelCompatibilityError, match="format 999"):
        load_compatible_bundle(model_dir, None)
    with pytest.raises(ModelCompatibilityError, match="no model bundle"):
        load_compatible_bundle(tmp_path / "empty", None)
    (model_dir / BUNDLE_FILE).write_bytes(b"not a torch file")
    with pytest.raises(ModelCompatibilityError, match="unreadable"):
        load_compatible_bundle(model_dir, None)


# --- end to end on the small trained model (tests/session_fixtures.py) -----------------------

PFAM_DIR = DEMO_PFAM


def test_marts_export_predictions_agree_with_the_training_run(small_training_run, tmp_path):
    from terpene_ensembles.learning.calibration import (
        call_ensembles,
        called_names,
        thresholds_vector,
    )

    run = small_training_run
    summary = run_prediction(
        run["model_dir"],
        run["export"],
        tmp_path,
        ScreeningSettings(chunk_size=64, threads=2),
        pfam_dir=PFAM_DIR,
    )
    assert summary["input_format"] == "marts"
    assert summary["predicted"] == len(run["enzymes"])
    predicted = pq.read_table(tmp_path / "predictions.parquet").to_pandas().set_index("id")
    ensemble_ids = run["ensemble_ids"]
    training = run["calibrated"]
    # The final model scores the test enzymes; the oof rows come from cross-fitted members.
    for split in ("test",):
        rows = training[(training["split"] == split) & (training["predictor"] == "model")]
        scores = rows[ensemble_ids].to_numpy(dtype=float)
        expected_calls = call_ensembles(
            scores,
            thresholds_vector(run["thresholds"]["predictors"]["model"], ensemble_ids),
            run["thresholds"]["settings"]["always_call_top"],
        )
        expected = called_names(scores, expected_calls, ensemble_ids)
        got = predicted.loc[rows["id"], "called"].map(list).tolist()
        assert got == expected, split
        probabilities = predicted.loc[rows["id"], [f"prob_{e}" for e in ensemble_ids]]
        np.testing.assert_allclose(probabilities.to_numpy(), scores, atol=1e-6)

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["baselines"]) == {
        "random",
        "label_prior",
        "knn_identity",
        "logistic_regression",
    }
    assert metrics["model"]["n_enzymes"] == len(run["enzymes"])
    for key in ("macro_f1", "micro_f1", "map", "precision_at_1", "recall_at_3", "per_class"):
        assert key in metrics["model"]
    # Training enzymes find themselves: identity 1 and never out of domain by identity.
    train_ids = [i for i in run["enzymes"]["id"] if run["split"][i] == "train"]
    assert (predicted.loc[train_ids, "best_identity"] == 1.0).all()
    assert metrics["not_in_training"]["n_enzymes"] < len(run["enzymes"])
    rejected = pd.read_csv(tmp_path / "rejected.tsv", sep="\t")
    assert len(rejected) == summary["rejected"]


EVIDENCE_COLUMNS = [
    "support",
    "identity_band",
    "expected_top_precision",
    "nearest_training_name",
    "nearest_training_ensembles",
]


def test_test_split_as_a_marts_export_reproduces_the_training_honesty_check(
    small_training_run, tmp_path
):
    """The training run's test enzymes, given to predict as a MARTS-DB export: its
    reliability_honesty is the training run's own honesty check on the test split, and the
    evidence columns are those of the same sequences given as a protein FASTA."""
    run = small_training_run
    enzymes = run["enzymes"]
    test = enzymes[enzymes["id"].map(run["split"]) == "test"]
    # Every row the parse stage merged into a test enzyme (its own id normalisation and
    # one enzyme per sequence): source_rows are 1-based rows of the export.
    rows = sorted(row - 1 for source_rows in test["source_rows"] for row in source_rows)
    export = tmp_path / "test_split.csv"
    table = pd.read_csv(run["export"], dtype=str, keep_default_na=False)
    table.iloc[rows].to_csv(export, index=False)
    settings = ScreeningSettings(chunk_size=64, threads=2)
    run_prediction(run["model_dir"], export, tmp_path / "marts", settings, pfam_dir=PFAM_DIR)
    marts = pd.read_csv(tmp_path / "marts" / "predictions.tsv", sep="\t", keep_default_na=False)
    assert sorted(marts["id"]) == sorted(test["id"])

    honesty = json.loads((tmp_path / "marts" / "metrics.json").read_text())["reliability_honesty"]
    trained = load_compatible_bundle(run["model_dir"], None).reliability["honesty"]["test"]

    def per_band(section):
        return [
            (
                row["band"],
                row["n"],
                row["observed_top_precision"],
                row["mean_expected_top_precision"],
            )
            for row in section["bands"]
        ]

    assert per_band(honesty["all"]) == per_band(trained)
    assert honesty["all"]["n_enzymes"] == len(test)
    assert honesty["all"]["n_labelled"] == sum(row["n"] for row in trained["bands"]) > 0
    assert honesty["not_in_training"] == honesty["all"]  # no test sequence is in training

    # The same sequences as protein FASTA, one run per kingdom (a feature FASTA records
    # take from the settings, MARTS records from the export).
    fasta_runs = []
    for kingdom, group in test.groupby("kingdom"):
        fasta = tmp_path / f"{len(fasta_runs)}.fasta"
        fasta.write_text("".join(f">{r.id}\n{r.sequence}\n" for r in group.itertuples()))
        outdir = tmp_path / f"fasta_{len(fasta_runs)}"
        kingdom_settings = ScreeningSettings(chunk_size=64, threads=2, kingdom=kingdom)
        run_prediction(run["model_dir"], fasta, outdir, kingdom_settings, pfam_dir=PFAM_DIR)
        fasta_runs.append(pd.read_csv(outdir / "predictions.tsv", sep="\t", keep_default_na=False))
    from_fasta = pd.concat(fasta_runs).set_index("id").loc[marts["id"]]
    pd.testing.assert_frame_equal(
        from_fasta[EVIDENCE_COLUMNS].reset_index(drop=True), marts[EVIDENCE_COLUMNS]
    )


def test_a_copied_model_folder_predicts_alone_whatever_mmseqs_is_on_path(
    small_training_run, tmp_path, monkeypatch
):
    """The model folder copied elsewhere, no --pfam-dir and a failing `mmseqs` first on
    PATH: the same predictions as with the training run's HMMs, from the pinned MMseqs2."""
    from terpene_ensembles.learning.bundle import PFAM_DIR as MODEL_PFAM
    from terpene_ensembles.split import homology

    run = small_training_run
    fasta = tmp_path / "query.fasta"
    with open(fasta, "w") as handle:
        for row in run["enzymes"].iloc[:8].itertuples():
            handle.write(f">{row.id}_copy\n{row.sequence}\n")
        handle.write(f">no_domain\n{'MKVLAAGGHWSTPE' * 20}\n")
    settings = ScreeningSettings(chunk_size=64, threads=2)
    with_training_hmms = {
        name: run_prediction(run["model_dir"], path, tmp_path / "trained" / name, settings,
                             pfam_dir=PFAM_DIR)
        for name, path in (("marts", run["export"]), ("fasta", fasta))
    }  # fmt: skip

    copied = tmp_path / "elsewhere" / "model"
    shutil.copytree(run["model_dir"], copied)
    fake = put_failing_mmseqs_first_on_path(tmp_path, monkeypatch)
    assert shutil.which("mmseqs") == str(fake)
    for name, path in (("marts", run["export"]), ("fasta", fasta)):
        summary = run_prediction(copied, path, tmp_path / "copied" / name, settings)
        assert summary["pfam_dir"] == str(copied / MODEL_PFAM)
        assert summary["mmseqs2"]["release"] == homology.wheel_release()
        assert summary["mmseqs2"]["path"] != str(fake)
        assert summary["predicted"] == with_training_hmms[name]["predicted"] > 0
        for output in ("predictions.tsv", "rejected.tsv"):
            assert (tmp_path / "copied" / name / output).read_bytes() == (
                tmp_path / "trained" / name / output
            ).read_bytes(), (name, output)
    trained_metrics = json.loads((tmp_path / "trained" / "marts" / "metrics.json").read_text())
    copied_metrics = json.loads((tmp_path / "copied" / "marts" / "metrics.json").read_text())
    assert copied_metrics == trained_metrics


def test_other_pfam_hmms_are_refused(small_training_run, tmp_path, caplog):
    from terpene_ensembles import cli

    other = tmp_path / "other_pfam"
    shutil.copytree(PFAM_DIR, other)
    dropped = sorted(other.glob("*.hmm"))[0]
    dropped.unlink()
    status = cli.main(
        ["predict", "--model-dir", str(small_training_run["model_dir"]), "--input",
         str(small_training_run["export"]), "--outdir", str(tmp_path / "out"),
         "--pfam-dir", str(other), "--quiet"]
    )  # fmt: skip
    assert status == 2
    # The one-line error report (errors.report logs it).
    assert f"--pfam-dir {other} holds other Pfam HMMs" in caplog.text
    assert dropped.name in caplog.text
    assert not (tmp_path / "out").exists()


def test_fasta_prediction_writes_every_output(small_training_run, tmp_path):
    run = small_training_run
    enzymes = run["enzymes"].iloc[:5]
    fasta = tmp_path / "query.fasta.gz"
    import gzip

    with gzip.open(fasta, "wt") as handle:
        for identifier, sequence in zip(enzymes["id"], enzymes["sequence"], strict=True):
            handle.write(f">{identifier}_copy\n{sequence}\n")
        handle.write(">broken\nMKV#LL\n")
        handle.write(f">no_domain\n{'MKVLAAGGHWSTPE' * 20}\n")
    outdir = tmp_path / "out"
    summary = run_prediction(
        run["model_dir"], fasta, outdir, ScreeningSettings(), pfam_dir=PFAM_DIR
    )
    assert summary["predicted"] == 6
    assert summary["records_in"] == 7
    assert summary["rejected_by_reason"] == {"invalid_residues": 1}
    assert sorted(p.name for p in outdir.iterdir()) == [
        "predictions.parquet",
        "predictions.tsv",
        "rejected.tsv",
        "summary.json",
    ]
    table = pd.read_csv(outdir / "predictions.tsv", sep="\t", keep_default_na=False)
    assert table["id"].tolist() == [f"{i}_copy" for i in enzymes["id"]] + ["no_domain"]
    copies, unrelated = table.iloc[:5], table.iloc[5]
    assert (copies["best_identity"].astype(float) == 1.0).all()
    assert unrelated["best_identity"] == ""  # no hit at all: empty cell in the TSV
    assert all(row.split(";")[0] in set(run["enzymes"]["id"]) for row in copies["nearest_training"])
    assert unrelated["out_of_domain"]
    assert unrelated["ood_reason"] == f"{OOD_NO_DOMAIN};{OOD_NO_NEIGHBOUR}"
    # Real TPS sequences hit a TPS Pfam profile; trust flags follow the evidence.
    assert (copies["tps_domains"] != "").all()
    assert not copies["out_of_domain"].any()


def test_model_directory_of_another_format_is_a_clear_error(small_training_run, tmp_path):
    import shutil

    import torch

    model_dir = tmp_path / "model"
    shutil.copytree(small_training_run["model_dir"], model_dir)
    payload = torch.load(model_dir / "bundle.pt", weights_only=True)
    payload["format_version"] = 999
    torch.save(payload, model_dir / "bundle.pt")
    with pytest.raises(ModelCompatibilityError, match="format 999"):
        load_compatible_bundle(model_dir, None)
    with pytest.raises(ModelCompatibilityError, match="no model bundle"):
        load_compatible_bundle(tmp_path / "empty", None)
    with pytest.raises(ModelCompatibilityError, match="not those the model was trained with"):
        partial_pfam = tmp_path / "pfam"
        partial_pfam.mkdir()
        shutil.copy(PFAM_DIR / "PF03936.hmm", partial_pfam)
        default_featurizer(
            load_compatible_bundle(small_training_run["model_dir"], None), partial_pfam
        )
    (model_dir / "bundle.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelCompatibilityError, match="unreadable"):
        load_compatible_bundle(model_dir, None)


def test_model_trained_with_another_plm_is_a_clear_error(small_training_run):
    model_dir = small_training_run["model_dir"]
    plm = {"enabled": True, "model": "esm2_t6_8M_UR50D", "checkpoint": None, "layer": -1}
    with pytest.raises(ModelCompatibilityError, match="trained with PLM 'none'"):
        load_compatible_bundle(model_dir, plm)
    assert load_compatible_bundle(model_dir, {**plm, "enabled": False}).plm["model"] == "none"


def test_cli_reports_bad_input_and_bad_model_with_exit_code_2(small_training_run, tmp_path):
    script = REPO / "workflow" / "scripts" / "predict.py"
    not_fasta = tmp_path / "notes.txt"
    not_fasta.write_text("just some notes\n")
    for model_dir, input_path, message in [
        (small_training_run["model_dir"], not_fasta, "not FASTA"),
        (tmp_path / "nowhere", small_training_run["export"], "no model bundle"),
    ]:
        result = subprocess.run(
            [
                sys.executable,
                str(script),
                "--model-dir",
                str(model_dir),
                "--input",
                str(input_path),
                "--outdir",
                str(tmp_path / "out"),
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_plm_model_embeds_new_sequences_through_the_cache(small_training_run, tmp_path):
    """A bundle that names a PLM embeds each chunk with the embed stage's cached Embedder."""
    from terpene_ensembles.embed.esm_weights import build_random_esm2, save_checkpoint
    from terpene_ensembles.io_utils import sha256_file

    checkpoint = tmp_path / "tiny_esm.pt"
    save_checkpoint(build_random_esm2(layers=2, embed_dim=32, heads=2, seed=3), checkpoint)
    from terpene_ensembles.learning.linear import LinearState

    bundle = load_compatible_bundle(small_training_run["model_dir"], None)
    bundle.model.plm = {
        "model": "esm2_t2_1M_UR50D",
        "layer": 2,
        "weights_path": str(checkpoint),
        "weights_sha256": sha256_file(checkpoint),
        "random_weights": True,
    }
    k = len(bundle.ensemble_ids)  # a PLM member (zero weights) makes the bundle embed
    bundle.model.members["plm"] = LinearState(
        coef=np.zeros((k, 32)), intercept=np.zeros(k), c=0.1, mean=np.zeros(32), scale=np.ones(32)
    )
    featurizer = default_featurizer(bundle, PFAM_DIR)
    cache = tmp_path / "cache"
    scorer = BundleScorer(bundle, featurizer, plm_settings_for(bundle, None), cache_dir=cache)
    enzymes = small_training_run["enzymes"].iloc[:3]
    records = [
        SequenceRecord(i + 1, identifier, "", sequence)
        for i, (identifier, sequence) in enumerate(
            zip(enzymes["id"], enzymes["sequence"], strict=True)
        )
    ]
    no_hits = pd.DataFrame(columns=HIT_COLUMNS)
    first = scorer.score(records_frame(records), no_hits)
    assert scorer.embedder.last_computed == 3
    assert list(cache.rglob("chunk-*.parquet"))
    second = scorer.score(records_frame(records), no_hits)
    assert scorer.embedder.last_computed == 0  # all three from the cache
    np.testing.assert_array_equal(first.probabilities, second.probabilities)

    # The configuration's PLM must be the model's: other weights or layer -> clear error.
    other = tmp_path / "other_esm.pt"
    save_checkpoint(build_random_esm2(layers=2, embed_dim=32, heads=2, seed=4), other)
    plm = {"enabled": True, "model": "esm2_t2_1M_UR50D", "checkpoint": str(other), "layer": -1}
    with pytest.raises(ModelCompatibilityError, match="not the weights"):
        BundleScorer(bundle, featurizer, plm)
    plm = {**plm, "checkpoint": str(checkpoint), "layer": 1}
    with pytest.raises(ModelCompatibilityError, match="layer 1"):
        BundleScorer(bundle, featurizer, plm)


# --- the Snakemake target ---------------------------------------------------------------------


def _dry_run_predict(tmp_path, *config):
    workflow_config = tmp_path / "config.yaml"
    workflow_config.write_text(
        f"marts_csv: {DEMO_MARTS}\nplm: {{enabled: false}}\nfeatures: {{pfam_dir: {PFAM_DIR}}}\n"
    )
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "predict",
        "-n",
        "--configfile",
        str(workflow_config),
    ]
    if config:
        command += ["--config", *config]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True)


@pytest.mark.snakemake
def test_snakemake_predict_without_input_is_a_clear_error(tmp_path):
    result = _dry_run_predict(tmp_path)
    assert result.returncode != 0
    assert "needs --config predict_input=PATH predict_name=NAME" in result.stdout + result.stderr


@pytest.mark.snakemake
def test_snakemake_predict_plans_metrics_only_for_a_marts_export(tmp_path):
    fasta = tmp_path / "q.fasta"
    fasta.write_text(">a\nMKV\n")
    outputs = {}
    for name, path in (("marts", DEMO_MARTS), ("fasta", fasta)):
        result = _dry_run_predict(tmp_path, f"predict_input={path}", f"predict_name={name}")
        assert result.returncode == 0, result.stderr
        outputs[name] = result.stdout
    assert "results/predict/marts/metrics.json" in outputs["marts"]
    assert "results/predict/fasta/predictions.parquet" in outputs["fasta"]
    assert "metrics.json" not in outputs["fasta"].split("rule predict:")[1]


@pytest.mark.snakemake
@pytest.mark.parametrize("kingdom", ["", "Animalia (Coral)"])
def test_snakemake_predict_command_line_parses(tmp_path, kingdom):
    """The FASTA route's shell commands are valid script calls, also for an empty kingdom:
    the kingdom goes to predict_prefilter.py, which writes it into the candidate shards."""
    import shlex

    import predict_prefilter as prefilter_script

    fasta = tmp_path / "q.fasta"
    fasta.write_text(">a\nMKV\n")
    result = _dry_run_predict(
        tmp_path,
        f"predict_input={fasta}",
        "predict_name=q",
        f"predict={{kingdom: '{kingdom}'}}",
    )
    assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [*result.args, "--printshellcmds"], cwd=REPO, capture_output=True, text=True
    )
    # (the rule's input line lists the script too, as a code input)
    line = next(
        x for x in result.stdout.splitlines() if "python workflow/scripts/predict_prefilter.py" in x
    )
    argv = shlex.split(line.split(" > ")[0])
    script_at = argv.index("workflow/scripts/predict_prefilter.py")
    args = prefilter_script.parse_args(argv[script_at + 1 :])
    assert args.kingdom == kingdom
    assert args.input == str(fasta)


def test_readme_predict_commands(small_training_run, workflow_copy):
    """The README's two predict commands: the Snakemake target as a dry run, the script for
    real on the small trained model placed where the README expects results/model/."""
    in_workflow, script = readme_commands("predict")
    table = pd.read_csv(DEMO_MARTS, dtype=str, keep_default_na=False)
    unseen = table.drop_duplicates("Aminoacid_sequence").iloc[-3:]  # not in the 150 trained on
    with gzip.open(workflow_copy / "proteins.faa.gz", "wt") as handle:
        for row in unseen.itertuples():
            handle.write(f">{row.Enzyme_marts_ID.strip()}\n{row.Aminoacid_sequence}\n")

    words = shlex.split(in_workflow)
    assert words[:4] == ["snakemake", "--cores", "4", "predict"]
    offline = yaml.safe_load((workflow_copy / "config" / "offline.yaml").read_text())
    checkpoint = workflow_copy / offline["plm"]["checkpoint"]
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"placeholder: the dry run loads nothing")
    planned = run_snakemake(workflow_copy, *words[1:], "--dry-run")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "results/predict/genome1/predictions.tsv" in planned.stdout

    words = shlex.split(script)
    assert words[:2] == ["python", "workflow/scripts/predict.py"]
    shutil.copytree(small_training_run["model_dir"], workflow_copy / "results" / "model")
    result = subprocess.run(
        [sys.executable, *words[1:]], cwd=workflow_copy, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    predictions = pd.read_csv(workflow_copy / "out" / "predictions.tsv", sep="\t")
    # The TPS prefilter is on by default: proteins without a TPS Pfam domain at its gathering
    # cutoff are listed in not_tps.tsv instead of being predicted.
    not_tps = pd.read_csv(workflow_copy / "out" / "not_tps.tsv", sep="\t")
    assert sorted([*predictions["id"], *not_tps["id"]]) == sorted(
        unseen["Enzyme_marts_ID"].str.strip()
    )
    assert predictions["called"].notna().all()


# --- the installed command line: `tps-ensembles predict` ----------------------------------


def _fasta_of(run, path, count=12):
    enzymes = run["enzymes"].iloc[:count]
    with open(path, "w") as handle:
        for identifier, sequence in zip(enzymes["id"], enzymes["sequence"], strict=True):
            handle.write(f">{identifier}_query\n{sequence}\n")
        handle.write(">broken\nMKV#LL\n")
    return path


def _install_package(venv: Path) -> Path:
    """`pip install .` into a new virtualenv; return its tps-ensembles executable.

    The dependencies come from the project virtualenv through a .pth file (installing torch
    again would download gigabytes), so --no-deps; the build uses the project's setuptools
    (--no-build-isolation). The package itself is built from a copy of the sources and
    installed for real (not editable), so nothing from the checkout is used at run time.
    """
    import shutil
    import sysconfig

    source = venv.parent / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "workflow" / "terpene_ensembles",
        source / "workflow" / "terpene_ensembles",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c",
             "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    (site / "project_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--quiet", "--no-deps", "--no-build-isolation", str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return venv / "bin" / "tps-ensembles"


@pytest.mark.install
@pytest.mark.pipeline
@pytest.mark.snakemake
def test_installed_command_predicts_like_snakemake_predict(small_training_run, tmp_path):
    import shutil

    from conftest import copy_workflow, run_snakemake

    run = small_training_run
    fasta = _fasta_of(run, tmp_path / "query.fasta")

    # `snakemake predict` in a workflow copy whose results/model is the trained bundle.
    workdir = copy_workflow(tmp_path / "wf")
    shutil.copytree(run["model_dir"], workdir / "results" / "model")
    config = workdir / "config.yaml"
    config.write_text(
        f"marts_csv: {DEMO_MARTS}\nplm: {{enabled: false}}\nfeatures: {{pfam_dir: {DEMO_PFAM}}}\n"
    )

    result = run_snakemake(
        workdir, "predict", "--cores", "2", "--configfile", str(config),
        "--allowed-rules", "predict_prefilter", "predict_shard", "predict",  # bundle given
        "--config", f"predict_input={fasta}", "predict_name=q",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    by_snakemake = workdir / "results" / "predict" / "q"

    executable = _install_package(tmp_path / "venv")
    help_text = subprocess.run(
        [str(executable), "predict", "--help"], capture_output=True, text=True, check=False
    )
    assert help_text.returncode == 0, help_text.stderr
    assert "usage: tps-ensembles predict" in help_text.stdout
    assert "--model-dir" in help_text.stdout and "examples:" in help_text.stdout

    out = tmp_path / "cli_out"
    cli = subprocess.run(
        [str(executable), "predict", "--model-dir", str(run["model_dir"]), "--input", str(fasta),
         "--outdir", str(out), "--threads", "2"],  # the model's own HMMs
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    where = subprocess.run(
        [str(executable.parent / "python"), "-c",
         "import terpene_ensembles as t; print(t.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert str(tmp_path / "venv") in where.stdout  # the installed copy, not the checkout

    mine = pd.read_parquet(out / "predictions.parquet")
    theirs = pd.read_parquet(by_snakemake / "predictions.parquet")
    assert len(mine) + len(pd.read_csv(out / "not_tps.tsv", sep="\t")) == 12
    assert len(mine) >= 10  # trained TPS: nearly all have a TPS Pfam domain
    pd.testing.assert_frame_equal(mine, theirs)
    for name in ("predictions.tsv", "rejected.tsv", "not_tps.tsv"):
        assert (out / name).read_text() == (by_snakemake / name).read_text(), name

    # An expected error from the installed command: one line, status 2.
    bad = subprocess.run(
        [str(executable), "predict", "--model-dir", str(tmp_path / "nowhere"), "--input",
         str(fasta), "--outdir", str(tmp_path / "bad")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2, bad.stderr
    assert "Traceback" not in bad.stderr
    assert "error: " in bad.stderr and "no model bundle" in bad.stderr
