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

from terpene_ensembles.data.sequence_input import InputFormatError, SequenceRecord
from terpene_ensembles.errors import UserInputError
from terpene_ensembles.predict.prefilter import (
    NOT_TPS_COLUMNS,
    NotTpsWriter,
    TpsPrefilter,
    check_mode,
    not_tps_sink,
    prefilter_records,
)
from terpene_ensembles.predict.screening_report import (
    build_screening_report,
    summary_numbers,
)
from terpene_ensembles.predict.shards import (
    CandidateShardWriter,
    merged_batches,
    read_candidates,
    run_prefilter_stage,
)
from terpene_ensembles.predict.synthetic import (
    export_sequences,
    proteome_records,
    write_proteome,
)


@pytest.fixture(scope="module")
def demo_tps() -> list[str]:
    return export_sequences(DEMO_MARTS)


def records_of(pairs) -> list[SequenceRecord]:
    return [SequenceRecord(i + 1, a, "", s) for i, (a, s) in enumerate(pairs)]


def test_prefilter_calls_exactly_the_tps_domains_predict_reports(demo_tps):
    """A candidate <=> some profile at its gathering cutoff, as predict's tps_domains."""
    from terpene_ensembles.features.domains import domain_feature_table

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


def test_candidates_carry_the_profile_features_predict_would_compute(demo_tps):
    """The profile pass's hits give each candidate exactly the Pfam domain features and
    alignment positions of a search of that candidate alone (predict then skips it)."""
    from terpene_ensembles.features.alignment_positions import position_table
    from terpene_ensembles.features.domains import domain_feature_table

    pairs = proteome_records(demo_tps[:60], 180, decoys_per_tps=2, seed=5)
    records = records_of(pairs)
    candidates = [
        record
        for batch in (records[:70], records[70:])  # two blocks of different make-up
        for verdict in TpsPrefilter(DEMO_PFAM, threads=2).classify(batch)
        if verdict.candidate
        for record in [verdict.record]
    ]
    assert len(candidates) > 40 and all(r.profile_features for r in candidates)
    ids, sequences = [r.id for r in candidates], [r.sequence for r in candidates]
    domains, _ = domain_feature_table(ids, sequences, DEMO_PFAM, threads=2)
    positions = position_table(ids, sequences, DEMO_PFAM, threads=2)
    fresh = pd.concat([domains, positions.drop(columns="id")], axis=1)
    carried = pd.DataFrame([r.profile_features for r in candidates])
    carried.insert(0, "id", ids)
    pd.testing.assert_frame_equal(carried, fresh)
    assert (carried.filter(like="_bits") > 0).any(axis=1).all()


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


def mutated(sequence: str, fraction: float, seed: int) -> str:
    """``sequence`` with a seeded ``fraction`` of its residues replaced."""
    rng = np.random.default_rng(seed)
    residues = np.array(list(sequence))
    where = rng.choice(len(residues), int(fraction * len(residues)), replace=False)
    residues[where] = rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), len(where))
    return "".join(residues)


@pytest.mark.mmseqs
def test_homolog_arm_adds_training_homologs_that_no_profile_accepts(demo_tps, tmp_path):
    """A variant (80% identity) of a training enzyme that reaches no gathering cutoff is a
    candidate with tps_domain_or_homolog, not with tps_domain; shuffled decoys are neither."""
    verdicts = TpsPrefilter(DEMO_PFAM, threads=2).classify(
        records_of((f"tps{i}", s) for i, s in enumerate(demo_tps))
    )
    no_profile = [v.record.sequence for v in verdicts if not v.candidate][:3]
    assert len(no_profile) == 3
    training = pd.DataFrame({"id": ["t0", "t1", "t2"], "sequence": no_profile})
    pairs = [(f"variant{i}", mutated(s, 0.2, i)) for i, s in enumerate(no_profile)]
    pairs += [(a, s) for a, s in proteome_records(demo_tps[:5], 60, 11, seed=2)
              if a.startswith("decoy")]  # fmt: skip
    records = records_of(pairs)
    kept = {}
    for mode in ("tps_domain", "tps_domain_or_homolog"):
        with not_tps_sink(tmp_path / f"{mode}.tsv", mode) as not_tps:
            kept[mode] = [
                r.id
                for r in prefilter_records(
                    records, mode, DEMO_PFAM, not_tps, threads=2, training=training
                )
            ]
        assert not_tps.total == len(records) - len(kept[mode])
    assert kept["tps_domain"] == []
    assert kept["tps_domain_or_homolog"] == ["variant0", "variant1", "variant2"]
    with pytest.raises(UserInputError, match="training enzymes"):
        list(prefilter_records(records, "tps_domain_or_homolog", DEMO_PFAM, []))


@pytest.mark.mmseqs
def test_homolog_database_is_built_once_per_model_and_rebuilt_for_new_training(demo_tps, tmp_path):
    """The arm's database is built on first use into the model folder's homologs/, reused
    by later runs (same key, nothing rebuilt) and replaced when the training set changes;
    the verdicts do not depend on whether it was built or reused, nor on the batch size."""
    from terpene_ensembles.predict.homolog_database import (
        COMPLETE_MARKER,
        TrainingHomologDatabase,
    )
    from terpene_ensembles.predict.prefilter import homolog_cache_of

    cache = homolog_cache_of(tmp_path / "model")
    training = pd.DataFrame({"id": ["t0", "t1", "t2"], "sequence": demo_tps[:3]})
    queries = [mutated(s, 0.2, i) for i, s in enumerate(demo_tps[:3])]
    queries += [
        s for a, s in proteome_records(demo_tps[:5], 20, 19, seed=4) if a.startswith("decoy")
    ]

    first = TrainingHomologDatabase(training, cache)
    assert first.built and (first.folder / COMPLETE_MARKER).is_file()
    marker_time = (first.folder / COMPLETE_MARKER).stat().st_mtime_ns
    second = TrainingHomologDatabase(training, cache)
    assert not second.built and second.folder == first.folder
    assert (second.folder / COMPLETE_MARKER).stat().st_mtime_ns == marker_time
    assert first.homologous(queries) == second.homologous(queries) == {0, 1, 2}
    assert second.homologous(queries[3:8] + queries[:3]) == {5, 6, 7}  # positions in this batch

    changed = training.assign(sequence=[demo_tps[0], demo_tps[1], demo_tps[5]])
    retrained = TrainingHomologDatabase(changed, cache)
    assert retrained.built and retrained.key != first.key
    assert [p.name for p in cache.iterdir()] == [retrained.key]  # the stale one removed
    assert retrained.homologous(queries) == {0, 1}


@pytest.mark.mmseqs
def test_prefilter_runs_reuse_the_model_folders_homolog_database(demo_tps, tmp_path):
    """Two screening runs with one model folder: the first builds homologs/<key>, the second
    finds it; both keep the same candidates whatever the batch size."""
    training = pd.DataFrame({"id": ["t0", "t1"], "sequence": demo_tps[:2]})
    pairs = [("v0", mutated(demo_tps[0], 0.2, 0)), ("v1", mutated(demo_tps[1], 0.2, 1))]
    pairs += [
        (a, s) for a, s in proteome_records(demo_tps[:5], 30, 29, seed=5) if a.startswith("decoy")
    ]
    cache = tmp_path / "model" / "homologs"
    kept = []
    for batch_size in (50, 7):
        kept.append([
            r.id for r in prefilter_records(
                records_of(pairs), "tps_domain_or_homolog", DEMO_PFAM, [], threads=1,
                batch_size=batch_size, training=training, homolog_cache=cache,
            )
        ])  # fmt: skip
        assert len(list(cache.iterdir())) == 1
    assert kept == [["v0", "v1"], ["v0", "v1"]]


class RecordingHomologs:
    """A stand-in for the arm's database: the ``homologous`` sequences are hits; every
    profile pass, search start, answer and cancellation is logged in ``events``."""

    def __init__(self, homologous: set[str], events: list):
        self.homologous_sequences, self.events = homologous, events

    def submit(self, sequences):
        self.events.append("submit")
        hits = {i for i, s in enumerate(sequences) if s in self.homologous_sequences}
        events = self.events

        class Search:
            def result(self):
                events.append("result")
                return hits

            def cancel(self):
                events.append("cancel")

        return Search()


def recording_prefilter(homologous: set[str]) -> tuple[TpsPrefilter, list]:
    events: list = []
    prefilter = TpsPrefilter(DEMO_PFAM, 1, RecordingHomologs(homologous, events))
    profile = prefilter._profile

    def logged_profile(records):
        events.append("profile")
        return profile(records)

    prefilter._profile = logged_profile
    return prefilter, events


def test_homolog_arm_searches_a_batch_while_the_next_is_profiled(demo_tps):
    """screen() starts the arm's search of batch k, profiles batch k+1, then takes batch
    k's answer: candidates and not_tps rows equal classify()'s on the whole input."""
    pairs = [(a, s) for a, s in proteome_records(demo_tps[:3], 9, 2, seed=6)]
    decoys = [s for a, s in pairs if a.startswith("decoy")]
    records = records_of(pairs)
    prefilter, events = recording_prefilter({decoys[1], decoys[4]})
    whole = prefilter.classify(records)
    expected = [v.record for v in whole if v.candidate]
    assert len(expected) == 5  # the 3 TPS by their profiles, 2 decoys by the arm
    events.clear()
    not_tps: list = []
    assert list(prefilter.screen(records, not_tps, batch_size=3)) == expected
    assert [v.not_tps_row() for v in not_tps] == [v.not_tps_row() for v in whole if not v.candidate]
    assert events == ["profile", "submit", "profile", "result", "submit", "profile",
                      "result", "submit", "result"]  # fmt: skip


def test_input_error_mid_screen_cancels_the_running_homolog_search(demo_tps):
    """A bad record in batch 2 stops the screen while batch 1's search runs: it is cancelled
    (no MMseqs2 child left behind), and the error reaches the caller."""
    records = records_of(proteome_records(demo_tps[:3], 9, 2, seed=6))

    def failing_input():
        yield from records[:4]
        raise InputFormatError("record 5: not a protein")

    prefilter, events = recording_prefilter(set())
    with pytest.raises(InputFormatError, match="record 5"):
        list(prefilter.screen(failing_input(), [], batch_size=3))
    assert events == ["profile", "submit", "cancel"]


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
    assert all(r.profile_features is None for shard in back for r in shard)
    # A record's profile features (floats and position strings) come back exactly.
    profile = {"pfam_PF03936_bits": 123.456789012345, "pfam_PF03936_start": -1.0, "aln_X": "M-K"}
    carrying = [SequenceRecord(1, "c", "", "MKV", profile_features=profile)]
    with CandidateShardWriter([tmp_path / "carry.parquet"]) as writer:
        writer.write(carrying[0])
    assert [r.profile_features for r in read_candidates(tmp_path / "carry.parquet")] == [profile]
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
    from terpene_ensembles.data.sequence_input import iter_fasta

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


# --- end to end on the small trained model (tests/session_fixtures.py) -------------------


@pytest.fixture
def trained(small_training_run):
    return small_training_run


def screening_fasta(run, path, demo_tps, decoys=True):
    """Twelve trained enzymes, one unseen TPS, shuffled decoys and bad records."""
    enzymes = run["enzymes"].iloc[:12]
    pairs = [(f"{i}_q", s) for i, s in zip(enzymes["id"], enzymes["sequence"], strict=True)]
    pairs.append(("unseen_tps", demo_tps[-1]))
    if decoys:
        pairs += [
            p for p in proteome_records(demo_tps[:20], 40, decoys_per_tps=40) if "decoy" in p[0]
        ]
    rng = np.random.default_rng(0)
    pairs = [pairs[i] for i in rng.permutation(len(pairs))]
    text = "".join(f">{a}\n{s}\n" for a, s in pairs)
    text += ">dna\n" + "ACGT" * 20 + "\n>empty\n\n" + f">{pairs[0][0]}\n{pairs[0][1]}\n"
    path.write_text(text)
    return path


def run_sharded(run, fasta, outdir, shards, pfam=DEMO_PFAM):
    from terpene_ensembles.predict.loop import ScreeningSettings
    from terpene_ensembles.predict.shards import gather, run_prefilter_stage, run_shard

    items = [f"{k}-of-{shards}" for k in range(1, shards + 1)]
    candidates = [outdir / "prefilter" / "candidates" / f"{i}.parquet" for i in items]
    run_prefilter_stage(
        fasta, candidates, outdir / "not_tps.tsv", outdir / "rejected.tsv",
        outdir / "prefilter" / "summary.json", "tps_domain", pfam, threads=2,
    )  # fmt: skip
    settings = ScreeningSettings(chunk_size=4, threads=2)
    for item, path in zip(items, candidates, strict=True):
        run_shard(run["model_dir"], path, outdir / "shards" / item, settings, pfam_dir=pfam)
    return gather(
        outdir / "prefilter" / "summary.json", [outdir / "shards" / i for i in items], outdir
    )


def test_two_and_three_shards_predict_exactly_what_one_job_predicts(trained, demo_tps, tmp_path):
    from terpene_ensembles.predict.loop import ScreeningSettings
    from terpene_ensembles.predict.run import run_prediction

    fasta = screening_fasta(trained, tmp_path / "in.fasta", demo_tps)
    one = run_sharded(trained, fasta, tmp_path / "one", 1)
    for shards in (2, 3):
        many = run_sharded(trained, fasta, tmp_path / f"s{shards}", shards)
        for name in ("predictions.tsv", "not_tps.tsv", "rejected.tsv"):
            assert (tmp_path / f"s{shards}" / name).read_bytes() == (
                tmp_path / "one" / name
            ).read_bytes(), name
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / f"s{shards}" / "predictions.parquet"),
            pd.read_parquet(tmp_path / "one" / "predictions.parquet"),
        )
        for key in ("records_in", "tps_candidates", "predicted", "not_tps", "rejected"):
            assert many[key] == one[key], key
        assert len(many["shards"]) == shards
    # The single-process route (tps-ensembles predict / predict.py) gives the same files.
    cli = run_prediction(
        trained["model_dir"], fasta, tmp_path / "cli",
        ScreeningSettings(chunk_size=5, threads=2, prefilter="tps_domain"), pfam_dir=DEMO_PFAM,
    )  # fmt: skip
    for name in ("predictions.tsv", "not_tps.tsv", "rejected.tsv"):
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    for key in ("records_in", "tps_candidates", "predicted", "not_tps", "rejected"):
        assert cli[key] == one[key], key
    # Counts add up, decoys are all dropped, the trained enzymes are all candidates.
    assert one["records_in"] == one["predicted"] + one["not_tps"] + one["rejected"]
    assert one["rejected_by_reason"] == {
        "duplicate_id": 1, "empty_sequence": 1, "nucleotide_sequence": 1
    }  # fmt: skip
    not_tps = pd.read_csv(tmp_path / "one" / "not_tps.tsv", sep="\t")
    assert not_tps["id"].str.startswith("decoy").sum() == 39
    predicted = pd.read_parquet(tmp_path / "one" / "predictions.parquet")
    assert predicted["record"].is_monotonic_increasing
    assert not predicted["id"].str.startswith("decoy").any()
    assert one["message"] == ""
    # The evidence columns come from the bundle: its reliability table and annotations.
    from terpene_ensembles.learning.reliability import BAND_LABELS

    assert predicted["identity_band"].isin(BAND_LABELS).all()
    assert predicted["expected_top_precision"].notna().any()
    assert (predicted["support"].map(len) == predicted["called"].map(len)).all()
    assert (
        predicted["nearest_training_ensembles"].map(len) == predicted["nearest_training"].map(len)
    ).all()
    assert predicted["nearest_training_ensembles"].map(lambda e: any(e)).any()


def test_predictions_are_the_same_whether_candidates_carry_profile_features(
    trained, demo_tps, tmp_path
):
    from dataclasses import replace

    from terpene_ensembles.predict.loop import ScreeningSettings, screen
    from terpene_ensembles.predict.model import load_scorer

    pairs = proteome_records(demo_tps[:40], 80, decoys_per_tps=1, seed=7)
    carrying = [v.record for v in TpsPrefilter(DEMO_PFAM, threads=2).classify(records_of(pairs))]
    carrying = [r for r in carrying if r.profile_features]
    assert len(carrying) > 20
    bare = [replace(r, profile_features=None) for r in carrying]
    scorer, _ = load_scorer(trained["model_dir"], None, DEMO_PFAM, 2)
    settings = ScreeningSettings(chunk_size=16, threads=2)
    screen(carrying, scorer, tmp_path / "carried", settings)
    screen(bare, scorer, tmp_path / "searched", settings)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "carried" / "predictions.parquet"),
        pd.read_parquet(tmp_path / "searched" / "predictions.parquet"),
    )


def test_a_fasta_without_tps_candidates_ends_with_a_message_and_empty_predictions(
    trained, demo_tps, tmp_path
):
    from terpene_ensembles.predict.output import PROBABILITY_PREFIX, prediction_schema
    from terpene_ensembles.predict.screening_report import write_screening_report

    pairs = [p for p in proteome_records(demo_tps[:5], 30, decoys_per_tps=30) if "decoy" in p[0]]
    fasta = tmp_path / "decoys.fasta"
    fasta.write_text("".join(f">{a}\n{s}\n" for a, s in pairs) + ">dna\n" + "ACGU" * 20 + "\n")
    summary = run_sharded(trained, fasta, tmp_path / "out", 2)
    assert summary["predicted"] == 0 and summary["tps_candidates"] == 0
    assert summary["not_tps"] == len(pairs) and summary["rejected"] == 1
    assert "no TPS candidate" in summary["message"] and "not_tps.tsv" in summary["message"]
    table = pq.read_table(tmp_path / "out" / "predictions.parquet")
    assert table.num_rows == 0
    ensembles = [n.removeprefix(PROBABILITY_PREFIX) for n in table.schema.names if "prob_" in n]
    assert table.schema.equals(prediction_schema(ensembles))
    tsv = (tmp_path / "out" / "predictions.tsv").read_text().splitlines()
    assert tsv == ["\t".join(table.schema.names)]
    page = write_screening_report(tmp_path / "out").read_text()
    assert "no TPS candidate" in page


@pytest.mark.pipeline
@pytest.mark.snakemake
def test_snakemake_predict_with_two_shards_equals_one_shard(trained, demo_tps, tmp_path):
    import shutil

    from conftest import copy_workflow, run_snakemake

    workdir = copy_workflow(tmp_path / "wf")
    shutil.copytree(trained["model_dir"], workdir / "results" / "model")
    fasta = screening_fasta(trained, tmp_path / "query.fasta", demo_tps)
    outputs = {}
    for shards in (1, 2):
        config = workdir / f"config{shards}.yaml"
        config.write_text(
            f"marts_csv: {DEMO_MARTS}\nplm: {{enabled: false}}\n"
            f"features: {{pfam_dir: {DEMO_PFAM}}}\npredict: {{shards: {shards}}}\n"
        )
        result = run_snakemake(
            workdir, "predict", "--cores", "2", "--configfile", str(config),
            "--allowed-rules", "predict_prefilter", "predict_shard", "predict",
            "--config", f"predict_input={fasta}", f"predict_name=s{shards}",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert (
            result.stdout.count("rule predict_shard:") + result.stderr.count("rule predict_shard:")
            == shards
        )
        outputs[shards] = workdir / "results" / "predict" / f"s{shards}"
    for name in ("predictions.tsv", "not_tps.tsv", "rejected.tsv"):
        assert (outputs[1] / name).read_bytes() == (outputs[2] / name).read_bytes(), name
    pd.testing.assert_frame_equal(
        pd.read_parquet(outputs[1] / "predictions.parquet"),
        pd.read_parquet(outputs[2] / "predictions.parquet"),
    )
    summary = json.loads((outputs[2] / "summary.json").read_text())
    assert [s["shard"] for s in summary["shards"]] == ["1-of-2", "2-of-2"]
    assert summary["records_in"] == summary["predicted"] + summary["not_tps"] + summary["rejected"]
    page = (outputs[2] / "report.html").read_text()
    marked = dict(re.findall(r'data-summary="([^"]+)">(\d+)<', page))
    assert {k: int(v) for k, v in marked.items()} == summary_numbers(summary)
    for step in ("prefilter", "1-of-2", "2-of-2", ""):
        name = f"s2/{step}" if step else "s2"
        assert (workdir / "results" / "benchmarks" / "predict" / f"{name}.tsv").is_file(), name
        assert (workdir / "results" / "logs" / "predict" / f"{name}.log").is_file(), name


def test_screening_report_of_a_marts_export_shows_rows_and_enzymes():
    summary = {"rows_in": 40, "enzymes": 30, "predicted": 30, "out_of_domain": 2,
               "rejected": 10, "rejected_by_reason": {"minor_product_excluded": 10}}  # fmt: skip
    columns = ["id", "record", "length", "called", "top3", "top3_probability",
               "nearest_training", "nearest_identity", "best_identity", "tps_domains",
               "out_of_domain", "ood_reason"]  # fmt: skip
    page = build_screening_report(summary, pd.DataFrame(columns=columns), "export")
    marked = {k: int(v) for k, v in re.findall(r'data-summary="([^"]+)">(\d+)<', page)}
    assert marked == summary_numbers(summary)
    assert {"rows_in", "enzymes", "predicted", "rejected"} <= set(marked)
