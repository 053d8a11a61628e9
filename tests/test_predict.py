import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from terpene_ensembles.predict import (
    OOD_NO_DOMAIN,
    OOD_NO_NEIGHBOUR,
    ChunkScores,
    PredictionWriter,
    RejectionWriter,
    ScreeningSettings,
    TrainingNeighbourSearch,
    nearest_neighbours,
    out_of_domain_reason,
    screen,
    summarise_chunk,
    top_ensembles,
)
from terpene_ensembles.sequence_input import iter_fasta, sha256_text

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
            "fident": [0.5, 0.9, 0.5, 0.3, 0.4],
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


def test_writer_leaves_no_output_when_a_chunk_fails(tmp_path):
    with pytest.raises(RuntimeError), PredictionWriter(tmp_path, ENSEMBLES):
        raise RuntimeError("scoring failed")
    assert list(tmp_path.iterdir()) == []


def test_summarise_chunk_rejects_misshaped_probabilities():
    with pytest.raises(ValueError, match="shape"):
        summarise_chunk(
            chunk_frame([("a", SEQ_A)]), np.zeros((1, 2)), ENSEMBLES, np.zeros((1, 3)), {}, {}, 0.3
        )


def test_mmseqs_search_finds_the_training_enzyme_of_a_close_variant(tmp_path):
    training = pd.DataFrame({"id": ["train_a", "train_b"], "sequence": [SEQ_A, SEQ_B]})
    search = TrainingNeighbourSearch(training, tmp_path / "mmseqs", threads=1)
    variant = SEQ_A[:50] + "W" + SEQ_A[51:]
    hits = search.search([("my|odd id", variant), ("random", "MKVLAAGGHW" * 8)])
    neighbours = nearest_neighbours(hits, ["my|odd id", "random"])
    assert neighbours["my|odd id"][0][0] == "train_a"
    assert neighbours["my|odd id"][1][0] > 0.95
    assert neighbours["random"] == ([], [])


class FakeScorer:
    """Scores by a fixed rule so the screening loop can be tested without a trained model."""

    ensemble_ids = ENSEMBLES

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
