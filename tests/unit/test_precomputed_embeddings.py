"""plm.precomputed: embeddings made outside the pipeline (embed.precomputed, the
embed_precomputed stage, predict with a table; the DAG: tests/workflow)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO

from terpene_ensembles import errors
from terpene_ensembles.embed.embedding_files import read_embeddings
from terpene_ensembles.embed.precomputed import (
    PrecomputedEmbeddingsError,
    check_matches_model,
    embeddings_for_enzymes,
    read_precomputed,
)
from terpene_ensembles.io_utils import sha256_file, sha256_text
from terpene_ensembles.learning.training_data import plm_identity

SCRIPT = REPO / "workflow" / "scripts" / "embed_precomputed.py"
SEQUENCES = {"e1": "MKVLAAGG", "e2": "MSTNPEQW", "e3": "MKVLAAGG", "e4": "MDDRRKLL"}


def write_table(path, columns: dict, schema: pa.Schema | None = None):
    pq.write_table(pa.table(columns, schema=schema), path)
    return path


def valid_columns(sequences, dim=4, seed=0, **extra):
    rng = np.random.default_rng(seed)
    hashes = sorted({sha256_text(s) for s in sequences})
    return {
        "sequence_sha256": hashes,
        "embedding": pa.array(
            [rng.normal(size=dim).astype(np.float32).tolist() for _ in hashes],
            pa.list_(pa.float32()),
        ),
        **extra,
    }


def enzymes_frame(sequences=SEQUENCES) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": list(sequences),
            "sequence": list(sequences.values()),
            "sequence_sha256": [sha256_text(s) for s in sequences.values()],
        }
    )


# --- reading and checking a table ---------------------------------------------------------


def test_valid_table_gives_the_embeddings_file_in_enzyme_order_with_its_source(tmp_path):
    columns = valid_columns(
        [*SEQUENCES.values(), "MEXTRA"],  # rows beyond the enzymes are allowed
        model=["esmc_600m"] * 4,
        layer=pa.array([30] * 4, pa.int16()),
    )
    path = write_table(tmp_path / "table.parquet", columns)
    table = read_precomputed(path)
    assert (table.model, table.layer, table.dim) == ("esmc_600m", 30, 4)

    enzymes = enzymes_frame()
    out = tmp_path / "embed.parquet"
    pq.write_table(embeddings_for_enzymes(table, enzymes), out)
    ids, matrix, metadata = read_embeddings(out)
    assert ids == list(SEQUENCES)
    by_hash = dict(
        zip(
            columns["sequence_sha256"],
            columns["embedding"].to_numpy(zero_copy_only=False),
            strict=True,
        )
    )
    expected = np.stack([by_hash[h] for h in enzymes["sequence_sha256"]])
    np.testing.assert_array_equal(matrix, expected)
    np.testing.assert_array_equal(matrix[0], matrix[2])  # e1 and e3 share a sequence
    assert pq.read_table(out, columns=["sequence_sha256"]).column(0).to_pylist() == list(
        enzymes["sequence_sha256"]
    )
    assert metadata["model"] == "esmc_600m" and metadata["layer"] == "30"
    assert metadata["precomputed_sha256"] == sha256_file(path)

    # What train, the bundle, metrics.json and the report see.
    identity = plm_identity(metadata)
    assert identity["weights_source"] == "precomputed"
    assert identity["random_weights"] is False
    assert identity["precomputed_path"] == str(path)
    assert identity["precomputed_sha256"] == sha256_file(path)
    assert identity["embedding_dim"] == "4"


def test_report_names_the_table_behind_the_embeddings(tmp_path):
    from terpene_ensembles.report.run import plm_status

    path = write_table(tmp_path / "t.parquet", valid_columns(["MA"], model=["esmc_600m"]))
    metadata = read_precomputed(path).metadata()
    severity, message = plm_status({"plm": {**plm_identity(metadata), "enabled": True}})
    assert severity == "ok"
    assert f"esmc_600m, precomputed outside the pipeline and read from {path}" in message
    assert sha256_file(path)[:12] in message


def test_table_without_model_or_layer_columns_is_named_precomputed(tmp_path):
    path = write_table(tmp_path / "t.parquet", valid_columns(SEQUENCES.values()))
    table = read_precomputed(path)
    out = embeddings_for_enzymes(table, enzymes_frame())
    metadata = {k.decode(): v.decode() for k, v in out.schema.metadata.items()}
    assert metadata["model"] == "precomputed" and "layer" not in metadata
    assert out.column("layer").null_count == out.num_rows


def test_missing_enzyme_is_a_one_line_error_naming_it(tmp_path):
    present = {k: v for k, v in SEQUENCES.items() if k != "e4"}
    path = write_table(tmp_path / "t.parquet", valid_columns(present.values()))
    with pytest.raises(PrecomputedEmbeddingsError) as raised:
        embeddings_for_enzymes(read_precomputed(path), enzymes_frame())
    message = raised.value.one_line()
    assert "1 of 4 enzymes have no row" in message
    assert f"e4 (sequence_sha256 {sha256_text(SEQUENCES['e4'])})" in message
    assert "e1" not in message.split("no row")[1].split(";")[0]


@pytest.mark.parametrize(
    ("columns", "fragments"),
    [
        pytest.param(
            {
                "sequence_sha256": [sha256_text("MA"), sha256_text("MB"), sha256_text("MC")],
                "embedding": pa.array(
                    [[1.0, 2.0], [1.0, 2.0, 3.0], [3.0, 4.0]], pa.list_(pa.float32())
                ),
            },
            ["2 rows of length 2, 1 rows of length 3", sha256_text("MB")],
            id="mixed lengths",
        ),
        pytest.param(
            {
                "sequence_sha256": [sha256_text("MA"), sha256_text("MB")],
                "embedding": pa.array([[1.0, float("nan")], [1.0, 2.0]], pa.list_(pa.float32())),
            },
            ["1 embeddings hold NaN", sha256_text("MA")],
            id="NaN",
        ),
        pytest.param(
            {
                "sequence_sha256": [sha256_text("MA"), sha256_text("MB")],
                "embedding": pa.array([[1.0, 2.0], [float("inf"), 2.0]], pa.list_(pa.float32())),
            },
            ["infinite", sha256_text("MB")],
            id="infinite",
        ),
        pytest.param(
            {
                "sequence_sha256": [sha256_text("MA"), sha256_text("MB")],
                "embedding": pa.array([[1.0, None], [1.0, 2.0]], pa.list_(pa.float32())),
            },
            ["missing values", sha256_text("MA")],
            id="null inside a vector",
        ),
        pytest.param(
            {
                "sequence_sha256": [sha256_text("MA"), sha256_text("MB")],
                "embedding": pa.array([None, [1.0, 2.0]], pa.list_(pa.float32())),
            },
            ["1 rows have no embedding", sha256_text("MA")],
            id="null vector",
        ),
        pytest.param(
            {
                "sequence_sha256": [sha256_text("MA")],
                "embedding": pa.array([["1", "2"]], pa.list_(pa.string())),
            },
            ["embedding must be a list<float32> column, not list<", "string>"],
            id="list of strings",
        ),
        pytest.param(
            {"sequence_sha256": [sha256_text("MA")], "embedding": [1.5]},
            ["embedding must be a list<float32> column, not double"],
            id="scalar embedding",
        ),
        pytest.param(
            {"sequence_sha256": [1], "embedding": pa.array([[1.0]], pa.list_(pa.float32()))},
            ["sequence_sha256 must be a string column, not int64"],
            id="integer hashes",
        ),
        pytest.param(
            {
                "sequence_sha256": [sha256_text("MA").upper()],
                "embedding": pa.array([[1.0]], pa.list_(pa.float32())),
            },
            ["not 64 lowercase hex digits", sha256_text("MA").upper()],
            id="uppercase hash",
        ),
        pytest.param(
            {
                "sequence_sha256": [sha256_text("MA")] * 2,
                "embedding": pa.array([[1.0], [2.0]], pa.list_(pa.float32())),
            },
            ["1 sequences have more than one row", sha256_text("MA")],
            id="duplicate rows",
        ),
        pytest.param(
            {"sequence_sha256": [sha256_text("MA")], "vector": [[1.0]]},
            ["lacks column(s) ['embedding']"],
            id="no embedding column",
        ),
        pytest.param(
            {
                "sequence_sha256": [sha256_text("MA"), sha256_text("MB")],
                "embedding": pa.array([[1.0], [2.0]], pa.list_(pa.float32())),
                "model": ["esmc_600m", "prot_t5"],
            },
            ["column model must hold one value", "'esmc_600m', 'prot_t5'"],
            id="two models",
        ),
        pytest.param(
            {
                "sequence_sha256": [sha256_text("MA")],
                "embedding": pa.array([[1.0]], pa.list_(pa.float32())),
                "layer": ["last"],
            },
            ["column layer must be an integer, not string"],
            id="text layer",
        ),
    ],
)
def test_bad_tables_are_clear_errors_naming_the_culprits(tmp_path, columns, fragments):
    path = write_table(tmp_path / "bad.parquet", columns)
    with pytest.raises(PrecomputedEmbeddingsError) as raised:
        read_precomputed(path)
    message = raised.value.one_line()
    assert "\n" not in message and message.startswith("error: ")
    for fragment in fragments:
        assert fragment in message


def test_float64_vectors_are_accepted_as_float32(tmp_path):
    columns = {
        "sequence_sha256": [sha256_text("MA")],
        "embedding": pa.array([[0.1, 0.2]], pa.list_(pa.float64())),
    }
    table = read_precomputed(write_table(tmp_path / "t.parquet", columns))
    assert table.matrix.dtype == np.float32
    np.testing.assert_array_equal(table.matrix, np.array([[0.1, 0.2]], dtype=np.float32))


def test_not_a_parquet_file_is_a_clear_error(tmp_path):
    path = tmp_path / "t.parquet"
    path.write_text("id,embedding\n")
    with pytest.raises(PrecomputedEmbeddingsError, match="not a readable Parquet file"):
        read_precomputed(path)
    with pytest.raises(PrecomputedEmbeddingsError, match="not found"):
        read_precomputed(tmp_path / "absent.parquet")


def test_table_must_hold_the_representation_the_model_was_trained_on(tmp_path):
    columns = valid_columns(["MA"], dim=4, model=["esmc_600m"], layer=[30])
    table = read_precomputed(write_table(tmp_path / "t.parquet", columns))
    check_matches_model(table, {"model": "esmc_600m", "layer": "30", "embedding_dim": "4"})
    for trained, fragment in [
        ({"model": "esm2_t33_650M_UR50D", "layer": "33"}, "model 'esmc_600m', not"),
        ({"model": "esmc_600m", "layer": "12"}, "layer 30, not 12"),
        ({"model": "esmc_600m", "embedding_dim": "1152"}, "embedding length 4, not 1152"),
    ]:
        with pytest.raises(PrecomputedEmbeddingsError, match=fragment):
            check_matches_model(table, trained)


# --- the embed_precomputed stage script ---------------------------------------------------


def run_stage(*args):
    env = {k: v for k, v in os.environ.items() if k != errors.DEBUG_ENV}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_stage_writes_the_embeddings_file_and_fails_in_one_line_on_a_missing_enzyme(tmp_path):
    enzymes = tmp_path / "enzymes.parquet"
    enzymes_frame().to_parquet(enzymes)
    good = write_table(tmp_path / "good.parquet", valid_columns(SEQUENCES.values()))
    out = tmp_path / "embed" / "precomputed.parquet"
    result = run_stage("--enzymes", enzymes, "--precomputed", good, "--output", out)
    assert result.returncode == 0, result.stderr
    ids, matrix, metadata = read_embeddings(out)
    assert ids == list(SEQUENCES) and matrix.shape == (4, 4)
    assert metadata["weights_source"] == "precomputed"

    partial = write_table(
        tmp_path / "partial.parquet", valid_columns([SEQUENCES["e1"], SEQUENCES["e2"]])
    )
    out.unlink()
    result = run_stage("--enzymes", enzymes, "--precomputed", partial, "--output", out)
    assert result.returncode == errors.EXIT_USER_ERROR, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "error: " in line]
    assert "1 of 4 enzymes have no row" in line and "e4 (sequence_sha256" in line
    assert not out.exists()


# --- predict ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def precomputed_model(tmp_path_factory):
    """A small bundle whose plm member was trained on a precomputed table (synthetic data)."""
    from conftest import DEMO_PFAM
    from learning_synthetic import calibrate_settings, fast_train, make_dataset, make_hits

    from terpene_ensembles.learning import cross_fitting as learner
    from terpene_ensembles.learning.bundle import ModelBundle
    from terpene_ensembles.learning.calibration import calibrate_predictions

    root = tmp_path_factory.mktemp("precomputed_model")
    n, dim = 60, 8
    rng = np.random.default_rng(5)
    sequences = ["M" + "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 80)) for _ in range(n)]
    data = make_dataset(n=n, plm_dim=dim)
    training_table = write_table(
        root / "training_table.parquet",
        {
            "sequence_sha256": [sha256_text(s) for s in sequences],
            "embedding": pa.array(data.embeddings.tolist(), pa.list_(pa.float32())),
            "model": ["esmc_600m"] * n,
        },
    )
    identity = plm_identity(read_precomputed(training_table).metadata())
    data = dataclasses.replace(data, plm=identity)
    hits = make_hits(data)
    settings = fast_train(members=["knn_identity", "plm"])
    is_test = np.arange(n) >= 45
    dev, test = data.subset(~is_test), data.subset(is_test)
    cross_fit = learner.fit_predictors(dev, np.arange(45) % 3, hits, settings)
    test_scores = cross_fit.model.score(test, hits)
    predictions = learner.long_predictions(cross_fit, dev, test_scores, test)
    thresholds, _ = calibrate_predictions(
        predictions, learner.labels_frame(data), data.ensemble_ids, calibrate_settings()
    )
    enzymes = pd.DataFrame({"id": data.ids, "sequence": sequences})
    ensembles = pd.DataFrame({"ensemble_id": data.ensemble_ids, "name": data.ensemble_ids})
    ModelBundle.assemble(cross_fit.model, thresholds, enzymes, ensembles, DEMO_PFAM).save(
        root / "model"
    )
    return {"model_dir": root / "model", "data": data, "sequences": sequences, "root": root}


def zero_featurizer(columns):
    def featurize(chunk):
        features = pd.DataFrame(0.0, index=range(len(chunk)), columns=columns)
        features.insert(0, "id", chunk["id"].to_numpy())
        return features, {i: [] for i in chunk["id"]}, None

    return featurize


@pytest.mark.slow  # fits a small model and runs MMseqs2 (~10 s on 2 cores)
def test_predict_rejects_queries_the_table_lacks_and_scores_the_others(precomputed_model, tmp_path):
    import shlex

    from readme_blocks import readme_commands

    from terpene_ensembles.cli import build_parser
    from terpene_ensembles.learning.bundle import ModelBundle
    from terpene_ensembles.predict.loop import ScreeningSettings
    from terpene_ensembles.predict.model import ModelCompatibilityError
    from terpene_ensembles.predict.run import run_prediction

    # The documented command parses with the CLI; this test runs its route in-process.
    (command,) = readme_commands("precomputed-predict")
    words = shlex.split(command)
    assert words[:2] == ["tps-ensembles", "predict"]
    documented = build_parser().parse_args(words[1:])
    assert documented.precomputed and documented.model_dir and documented.input

    model_dir = precomputed_model["model_dir"]
    bundle = ModelBundle.load(model_dir)
    assert bundle.plm["weights_source"] == "precomputed"
    featurizer = zero_featurizer(bundle.feature_columns)
    queries = {"q_known": precomputed_model["sequences"][0], "q_new": "MKTAYIAKQRQISFVKSHFSRQ"}
    fasta = tmp_path / "queries.fasta"
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in queries.items()))
    rng = np.random.default_rng(0)
    query_table = write_table(
        tmp_path / "queries.parquet",
        {
            "sequence_sha256": [sha256_text(queries["q_known"])],
            "embedding": pa.array([rng.normal(size=8).tolist()], pa.list_(pa.float32())),
            "model": ["esmc_600m"],
        },
    )
    outdir = tmp_path / "out"
    summary = run_prediction(
        model_dir,
        fasta,
        outdir,
        ScreeningSettings(),
        featurizer=featurizer,
        precomputed_path=query_table,
    )
    assert summary["predicted"] == 1 and summary["rejected"] == 1
    assert summary["rejected_by_reason"] == {"no_precomputed_embedding": 1}
    rejected = pd.read_csv(outdir / "rejected.tsv", sep="\t")
    assert rejected[["record", "id", "reason"]].to_dict("records") == [
        {"record": 2, "id": "q_new", "reason": "no_precomputed_embedding"}
    ]
    assert sha256_text(queries["q_new"]) in rejected["detail"].iloc[0]
    assert pd.read_parquet(outdir / "predictions.parquet")["id"].tolist() == ["q_known"]
    assert json.loads((outdir / "summary.json").read_text())["plm"]["model"] == "esmc_600m"

    # The sharded Snakemake route: the prefilter stage rejects, the shard job scores.
    from terpene_ensembles.predict.shards import run_prefilter_stage, run_shard

    sharded = tmp_path / "sharded"
    prefiltered = run_prefilter_stage(
        fasta,
        [sharded / "candidates.parquet"],
        sharded / "not_tps.tsv",
        sharded / "rejected.tsv",
        sharded / "prefilter.json",
        "none",
        None,
        model_dir=model_dir,
        plm_config={"enabled": True, "precomputed": str(query_table)},
    )
    assert prefiltered["rejected_by_reason"] == {"no_precomputed_embedding": 1}
    assert prefiltered["shard_sizes"] == [1]
    shard = run_shard(
        model_dir,
        sharded / "candidates.parquet",
        sharded / "shard",
        ScreeningSettings(),
        plm_config={"enabled": True, "precomputed": str(query_table)},
        featurizer=featurizer,
    )
    assert shard["predicted"] == 1
    np.testing.assert_array_equal(
        pd.read_parquet(sharded / "shard" / "predictions.parquet").filter(like="prob_"),
        pd.read_parquet(outdir / "predictions.parquet").filter(like="prob_"),
    )

    # No table for a model trained on one, or a table of another model: clear errors.
    with pytest.raises(ModelCompatibilityError, match="trained on precomputed esmc_600m"):
        run_prediction(
            model_dir, fasta, tmp_path / "o2", ScreeningSettings(), featurizer=featurizer
        )
    other = write_table(
        tmp_path / "other.parquet",
        {
            "sequence_sha256": [sha256_text(queries["q_known"])],
            "embedding": pa.array([[0.0] * 8], pa.list_(pa.float32())),
            "model": ["prot_t5"],
        },
    )
    with pytest.raises(PrecomputedEmbeddingsError, match="model 'prot_t5', not 'esmc_600m'"):
        run_prediction(
            model_dir,
            fasta,
            tmp_path / "o3",
            ScreeningSettings(),
            featurizer=featurizer,
            precomputed_path=other,
        )


def test_query_embeddings_come_from_the_table_then_from_esm2():
    from terpene_ensembles.data.sequence_input import SequenceRecord
    from terpene_ensembles.predict.precomputed_queries import embed_queries, reject_missing

    known, new = "MKVLAAGG", "MSTNPEQW"
    table = precomputed_from_vectors({sha256_text(known): [1.0, 2.0, 3.0]})

    class FakeEmbedder:
        dim = 3

        def embed(self, sequences, cache_dir=None, progress=False, ids=None):
            self.asked = list(sequences)
            return np.full((len(sequences), 3), 7.0, dtype=np.float32)

    embedder = FakeEmbedder()
    matrix = embed_queries(["a", "b"], [new, known], table, embedder)
    np.testing.assert_array_equal(matrix, [[7.0, 7.0, 7.0], [1.0, 2.0, 3.0]])
    assert embedder.asked == [new]  # only the query the table lacks goes through ESM2
    with pytest.raises(errors.InputDataError, match="1 query sequences have no row"):
        embed_queries(["a", "b"], [new, known], table, None)

    rejected = []
    records = [SequenceRecord(1, "a", "", new), SequenceRecord(2, "b", "", known)]
    kept = list(reject_missing(records, table, rejected))
    assert [r.id for r in kept] == ["b"]
    assert [(r.record, r.id, r.reason) for r in rejected] == [(1, "a", "no_precomputed_embedding")]


def precomputed_from_vectors(vectors: dict[str, list[float]]):
    from terpene_ensembles.embed.precomputed import PrecomputedEmbeddings

    return PrecomputedEmbeddings(
        path="memory",
        sha256="0" * 64,
        hashes=list(vectors),
        matrix=np.array(list(vectors.values()), dtype=np.float32),
    )
