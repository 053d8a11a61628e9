"""Screening: TPS prefilter, candidate shards, gather, synthetic proteome, screening report."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import DEMO_MARTS, DEMO_PFAM

from terpene_ensembles.errors import UserInputError
from terpene_ensembles.screening.prefilter import (
    NOT_TPS_COLUMNS,
    NotTpsWriter,
    TpsPrefilter,
    check_mode,
    not_tps_sink,
    prefilter_records,
)
from terpene_ensembles.screening.screening_report import (
    build_screening_report,
    summary_numbers,
)
from terpene_ensembles.screening.shards import (
    CandidateShardWriter,
    merged_batches,
    read_candidates,
    run_prefilter_stage,
)
from terpene_ensembles.screening.synthetic import (
    export_sequences,
    proteome_records,
    write_proteome,
)
from terpene_ensembles.sequence_input import InputFormatError, SequenceRecord


@pytest.fixture(scope="module")
def demo_tps() -> list[str]:
    return export_sequences(DEMO_MARTS)


def records_of(pairs) -> list[SequenceRecord]:
    return [SequenceRecord(i + 1, a, "", s) for i, (a, s) in enumerate(pairs)]


def test_prefilter_calls_exactly_the_tps_domains_predict_reports(demo_tps):
    """A candidate <=> some profile at its gathering cutoff, as predict's tps_domains."""
    from terpene_ensembles.domains import domain_feature_table

    pairs = proteome_records(demo_tps[:120], 240, decoys_per_tps=1, seed=3)
    verdicts = TpsPrefilter(DEMO_PFAM, threads=2).classify(records_of(pairs))
    features, _ = domain_feature_table([a for a, _ in pairs], [s for _, s in pairs], DEMO_PFAM, 2)
    reached = features[[c for c in features if c.endswith("_gathering")]].max(axis=1) > 0
    assert [v.candidate for v in verdicts] == reached.tolist()
    assert [v.record.id for v in verdicts] == [a for a, _ in pairs]  # input order
    decoys = [v for v in verdicts if v.record.id.startswith("decoy")]
    assert decoys and not any(v.candidate for v in decoys)
    tps = [v for v in verdicts if v.record.id.startswith("tps")]
    assert sum(v.candidate for v in tps) >= 0.9 * len(tps)
    for verdict in tps:
        if verdict.candidate:
            assert verdict.best_profile and verdict.best_bits > 20


def test_prefilter_streams_in_batches_and_keeps_input_order(demo_tps, tmp_path):
    pairs = proteome_records(demo_tps[:10], 30, decoys_per_tps=2, seed=1)
    records = records_of(pairs)
    whole = [v.candidate for v in TpsPrefilter(DEMO_PFAM).classify(records)]
    with NotTpsWriter(tmp_path / "not_tps.tsv") as not_tps:
        kept = list(prefilter_records(records, "tps_domain", DEMO_PFAM, not_tps, batch_size=7))
    assert [r.id for r in kept] == [r.id for r, c in zip(records, whole, strict=True) if c]
    table = pd.read_csv(tmp_path / "not_tps.tsv", sep="\t", keep_default_na=False)
    assert table.columns.tolist() == NOT_TPS_COLUMNS
    assert len(table) == not_tps.total == len(records) - len(kept)
    assert table["record"].tolist() == sorted(table["record"])
    assert (table["length"] == [len(records[r - 1].sequence) for r in table["record"]]).all()
    # "none" passes everything through and writes no not_tps.tsv
    with not_tps_sink(tmp_path / "none.tsv", "none") as sink:
        assert list(prefilter_records(iter(records), "none", None, sink)) == records
    assert sink.total == 0 and not (tmp_path / "none.tsv").exists()


def test_unknown_prefilter_is_a_user_error():
    with pytest.raises(UserInputError, match="unknown prefilter") as error:
        check_mode("hmm")
    assert "predict.prefilter" in error.value.one_line()


def test_candidate_shards_round_robin_and_merge_back_in_order(tmp_path):
    records = [
        SequenceRecord(3 * i + 1, f"p{i}", f"d{i}", "MKV" * (i + 1), "Fungi") for i in range(11)
    ]
    paths = [tmp_path / f"{k}-of-3.parquet" for k in (1, 2, 3)]
    with CandidateShardWriter(paths) as writer:
        for record in records:
            writer.write(record)
    assert writer.sizes == [4, 4, 3]
    back = [list(read_candidates(p)) for p in paths]
    assert back[0] == records[0::3] and back[1] == records[1::3] and back[2] == records[2::3]
    # predictions of the shards (any columns with a record) merge back into input order
    shard_files = []
    for k, shard in enumerate(back):
        path = tmp_path / f"pred{k}.parquet"
        pq.write_table(
            pa.table({"record": [r.record for r in shard], "id": [r.id for r in shard]}), path
        )
        shard_files.append(path)
    merged = pa.concat_tables(list(merged_batches(shard_files, batch_size=2)))
    assert merged.column("id").to_pylist() == [r.id for r in records]


def test_empty_shards_are_valid_files(tmp_path):
    paths = [tmp_path / "1-of-2.parquet", tmp_path / "2-of-2.parquet"]
    with CandidateShardWriter(paths) as writer:
        writer.write(SequenceRecord(1, "only", "", "MKV"))
    assert [len(list(read_candidates(p))) for p in paths] == [1, 0]


def test_prefilter_stage_keeps_every_bad_record_with_its_reason(demo_tps, tmp_path):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(
        f">tps1\n{demo_tps[0]}\n"
        ">dna\n" + "ACGT" * 30 + "\n"
        ">empty\n\n"
        f">tps1\n{demo_tps[1]}\n"  # duplicate id
        ">not_a_tps\n" + "MKVLAAGGHWSTPE" * 20 + "\n"
        ">stop\nMKV*LLAAG\n"
        f">tps2\n{demo_tps[2]}\n"
    )
    shards = [tmp_path / "c" / "1-of-2.parquet", tmp_path / "c" / "2-of-2.parquet"]
    summary = run_prefilter_stage(
        fasta, shards, tmp_path / "not_tps.tsv", tmp_path / "rejected.tsv",
        tmp_path / "summary.json", "tps_domain", DEMO_PFAM, threads=2, kingdom="Plantae",
    )  # fmt: skip
    rejected = pd.read_csv(tmp_path / "rejected.tsv", sep="\t")
    assert dict(zip(rejected["id"], rejected["reason"], strict=True)) == {
        "dna": "nucleotide_sequence",
        "empty": "empty_sequence",
        "tps1": "duplicate_id",
        "stop": "internal_stop",
    }
    not_tps = pd.read_csv(tmp_path / "not_tps.tsv", sep="\t")
    assert not_tps["id"].tolist() == ["not_a_tps"]
    candidates = [r for path in shards for r in read_candidates(path)]
    assert sorted(r.id for r in candidates) == ["tps1", "tps2"]
    assert {r.kingdom for r in candidates} == {"Plantae"}
    assert summary["records_in"] == 7
    assert (
        summary["records_in"]
        == summary["tps_candidates"] + summary["not_tps"] + summary["rejected"]
    )
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_prefilter_stage_refuses_a_marts_export(tmp_path):
    with pytest.raises(InputFormatError, match="scored whole"):
        run_prefilter_stage(
            DEMO_MARTS, [tmp_path / "1-of-1.parquet"], tmp_path / "n.tsv", tmp_path / "r.tsv",
            tmp_path / "s.json", "tps_domain", DEMO_PFAM,
        )  # fmt: skip


def test_synthetic_proteome_dilutes_tps_in_shuffled_decoys(tmp_path):
    tps = ["MKVLAAGW" * 5, "ACDEFGHIKLMNPQRSTVWY" * 3]
    pairs = proteome_records(tps, 202, decoys_per_tps=100, seed=0)
    ids = [a for a, _ in pairs]
    assert len(pairs) == 202 and len(set(ids)) == 202
    assert sum(a.startswith("tps_") for a in ids) == 2
    for identifier, sequence in pairs:
        if identifier.startswith("decoy_"):
            assert sorted(sequence) in (sorted(tps[0]), sorted(tps[1]))  # same residues
    assert proteome_records(tps, 202, seed=0) == pairs  # seeded
    path = write_proteome(tmp_path / "p.faa.gz", pairs)
    from terpene_ensembles.sequence_input import iter_fasta

    assert [(r.id, r.sequence) for r in iter_fasta(path)] == pairs


def test_screening_report_numbers_are_the_summary_numbers():
    summary = {
        "records_in": 10, "tps_candidates": 3, "predicted": 3, "not_tps": 5, "rejected": 2,
        "out_of_domain": 1, "rejected_by_reason": {"duplicate_id": 1, "empty_sequence": 1},
        "plm": {"random_weights": True, "model": "esm2_t6_8M_UR50D"}, "input": "x.faa",
    }  # fmt: skip
    predictions = pd.DataFrame(
        {
            "id": ["a", "b<", "c"],
            "record": [1, 4, 9],
            "length": [300, 310, 500],
            "called": [["pinane"], ["pinane", "bornane"], ["kaurane"]],
            "top3": [["pinane", "bornane", "x"], ["bornane", "pinane", "x"], ["kaurane", "x", "y"]],
            "top3_probability": [[0.9, 0.05, 0.01], [0.5, 0.45, 0.01], [0.3, 0.2, 0.1]],
            "nearest_training": [["t1"], [], ["t2", "t3"]],
            "nearest_identity": [[0.9], [], [0.4, 0.35]],
            "best_identity": [0.9, np.nan, 0.4],
            "tps_domains": [["PF01397"], ["PF03936"], ["PF01397", "PF03936"]],
            "out_of_domain": [False, True, False],
            "ood_reason": ["", "no_training_enzyme_above_identity_floor", ""],
        }
    )
    page = build_screening_report(summary, predictions, "genome1", generated_at="now")
    marked = dict(re.findall(r'data-summary="([^"]+)">(\d+)<', page))
    assert {k: int(v) for k, v in marked.items()} == {
        k: v for k, v in summary_numbers(summary).items()
    }
    assert "RANDOM weights" in page
    assert 'data-value="b&lt;"' in page  # ids are escaped
    assert page.count('<tr><td class="num" data-value=') == 3  # one table row per candidate
    assert "src=" not in page and "href=" not in page  # loads nothing


def test_screening_report_of_an_empty_prediction_table():
    summary = {"records_in": 4, "tps_candidates": 0, "predicted": 0, "not_tps": 4,
               "rejected": 0, "message": "no TPS candidate among the 4 valid proteins"}  # fmt: skip
    columns = ["id", "record", "length", "called", "top3", "top3_probability",
               "nearest_training", "nearest_identity", "best_identity", "tps_domains",
               "out_of_domain", "ood_reason"]  # fmt: skip
    page = build_screening_report(summary, pd.DataFrame(columns=columns), "none")
    assert "no TPS candidate" in page and 'id="candidates"' in page
