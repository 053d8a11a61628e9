"""One error style: an expected problem is one line on stderr, exit status 2, no traceback.

Each stage script is run as the Snakemake rules run it (python workflow/scripts/X.py) with
one bad input; TPS_DEBUG=1 brings the traceback back; unexpected errors keep theirs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO, output_args

from terpene_ensembles import errors
from terpene_ensembles.data.marts import MartsFormatError

SCRIPTS = REPO / "workflow" / "scripts"
DATA = REPO / "tests" / "data"
ONE_LINE = "error: "


def run_stage(script: str, *args, debug: bool = False, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != errors.DEBUG_ENV}
    if debug:
        env[errors.DEBUG_ENV] = "1"
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def assert_one_line_error(result, *fragments):
    assert result.returncode == errors.EXIT_USER_ERROR, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if ONE_LINE in line]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def write_labels(path, ids, classes=("E1", "E2")):
    frame = pd.DataFrame({"id": ids, **{c: [i % 2 for i in range(len(ids))] for c in classes}})
    frame.to_parquet(path, index=False)
    return path


# --- one bad input per stage ------------------------------------------------------------


def test_parse_without_product_smiles(tmp_path):
    result = run_stage(
        "parse.py",
        "--marts",
        DATA / "marts_missing_columns.csv",
        "--names",
        REPO / "config" / "ensemble_names.tsv",
        *output_args("parse.py", tmp_path / "parse"),
    )
    line = assert_one_line_error(result, "Product_smiles", "marts_missing_columns.csv")
    assert "config key marts_csv" in line  # how to fix it
    assert not (tmp_path / "parse").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"\x00\x9f\x92\x96binary\xff", "not UTF-8")],
    ids=["empty", "binary"],
)
def test_parse_of_an_empty_or_binary_file(tmp_path, content, message):
    marts = tmp_path / "export.csv"
    marts.write_bytes(content)
    result = run_stage(
        "parse.py", "--marts", marts, "--names", REPO / "config" / "ensemble_names.tsv",
        *output_args("parse.py", tmp_path / "parse"),
    )  # fmt: skip
    assert_one_line_error(result, message, str(marts))


def test_features_with_an_enzymes_table_without_sequences(tmp_path):
    enzymes = tmp_path / "enzymes.parquet"
    pd.DataFrame({"id": ["a", "b"]}).to_parquet(enzymes, index=False)
    result = run_stage(
        "features.py", "--enzymes", enzymes, "--pfam-dir", tmp_path,
        "--output", tmp_path / "f.parquet", "--columns", tmp_path / "c.tsv",
        "--positions", tmp_path / "p.parquet",
    )  # fmt: skip
    assert_one_line_error(result, "enzymes table lacks columns", "sequence", "rerun")


def test_features_without_pfam_hmms(tmp_path):
    enzymes = tmp_path / "enzymes.parquet"
    pd.DataFrame({"id": ["a"], "sequence": ["MKVLAAGIDD"], "kingdom": ["Plantae"]}).to_parquet(
        enzymes, index=False
    )
    result = run_stage(
        "features.py", "--enzymes", enzymes, "--pfam-dir", tmp_path / "no_pfam",
        "--output", tmp_path / "f.parquet", "--columns", tmp_path / "c.tsv",
        "--positions", tmp_path / "p.parquet",
    )  # fmt: skip
    assert_one_line_error(result, "Pfam HMM folder not found", "no_pfam", "features.pfam_dir")


def test_split_with_labels_of_other_enzymes(tmp_path):
    enzymes = tmp_path / "enzymes.parquet"
    pd.DataFrame(
        {"id": ["a", "b"], "sequence": ["MKV", "MKL"], "substrate_family": ["C10", "C15"]}
    ).to_parquet(enzymes, index=False)
    labels = write_labels(tmp_path / "labels.parquet", ["a", "c"])
    result = run_stage(
        "split.py", "--enzymes", enzymes, "--labels", labels,
        "--settings", json.dumps({"min_seq_id": 0.4}), *output_args("split.py", tmp_path / "split"),
    )  # fmt: skip
    assert_one_line_error(result, "same ids in the same order", "'b'")


def test_train_with_features_of_other_enzymes(tmp_path):
    labels = write_labels(tmp_path / "labels.parquet", ["a", "b"])
    features = tmp_path / "features.parquet"
    pd.DataFrame({"id": ["x", "y"], "length": [1.0, 2.0]}).to_parquet(features, index=False)
    positions = tmp_path / "positions.parquet"
    pd.DataFrame({"id": ["a", "b"], "aln_PF1": ["AC", "AD"]}).to_parquet(positions, index=False)
    result = run_stage(
        "train.py", "--labels", labels, "--features", features,
        "--positions", tmp_path / "positions.parquet", "--split", tmp_path / "split.tsv",
        "--folds", tmp_path / "folds.tsv", "--identity", tmp_path / "identity.parquet",
        "--enzymes", tmp_path / "enzymes.parquet", "--model", tmp_path / "model.pt",
        "--predictions", tmp_path / "p.parquet", "--substrate", tmp_path / "s.parquet",
        "--summary", tmp_path / "summary.json", "--best-identity", tmp_path / "best.tsv",
        "--random-folds", tmp_path / "random_folds.parquet",
    )  # fmt: skip
    assert_one_line_error(result, "features: 2 labelled enzymes missing", "rerun")


def test_calibrate_with_predictions_of_other_classes(tmp_path):
    labels = write_labels(tmp_path / "labels.parquet", ["a", "b"])
    predictions = tmp_path / "predictions.parquet"
    pd.DataFrame(
        {"id": ["a"], "split": ["val"], "predictor": ["model"], "OTHER": [0.5]}
    ).to_parquet(predictions, index=False)
    result = run_stage(
        "calibrate.py", "--predictions", predictions, "--labels", labels,
        *output_args("calibrate.py", tmp_path / "calibrate"),
    )  # fmt: skip
    assert_one_line_error(result, "predictions lack ensemble columns", "E1")


def test_calibrate_with_a_missing_input_file(tmp_path):
    labels = write_labels(tmp_path / "labels.parquet", ["a", "b"])
    missing = tmp_path / "nowhere" / "predictions.parquet"
    result = run_stage(
        "calibrate.py", "--predictions", missing, "--labels", labels,
        *output_args("calibrate.py", tmp_path / "calibrate"),
    )  # fmt: skip
    assert_one_line_error(result, "input not found", str(missing), "check the path")


def test_predict_with_a_binary_file(tmp_path):
    binary = tmp_path / "sequences.fasta"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    result = run_stage(
        "predict.py", "--model-dir", tmp_path / "model", "--input", binary,
        "--outdir", tmp_path / "out",
    )  # fmt: skip
    assert_one_line_error(result, str(binary), "give a FASTA file")
    assert not (tmp_path / "out").exists()


# --- the switches and the unexpected errors --------------------------------------------


def test_debug_brings_the_traceback_back(tmp_path):
    args = [
        "--marts", DATA / "marts_missing_columns.csv",
        "--names", REPO / "config" / "ensemble_names.tsv", *output_args("parse.py", tmp_path / "p"),
    ]  # fmt: skip
    for result in (
        run_stage("parse.py", *args, debug=True),
        run_stage("parse.py", *args, "--debug"),
    ):
        assert result.returncode != 0
        assert "Traceback" in result.stderr, result.stderr
        assert "MartsFormatError" in result.stderr


def test_unexpected_errors_keep_their_traceback():
    def broken():
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        errors.run_main(broken, argv=[])
    missing = FileNotFoundError(2, "No such file", "/not/an/argument")
    assert errors.expected_message(missing, argv=["--input", "other.fasta"]) is None


def test_one_line_names_what_where_and_fix(caplog):
    def bad():
        raise errors.ConfigError("unknown method 'x'", where="calibrate.method")

    assert errors.run_main(bad, argv=[]) == errors.EXIT_USER_ERROR
    [line] = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert line.startswith("error: unknown method 'x'; calibrate.method; correct the value")
    assert "\n" not in line
    error = MartsFormatError("x.csv is empty,\nnot an export")
    assert isinstance(error, ValueError) and isinstance(error, errors.UserInputError)
    assert error.one_line().startswith("error: x.csv is empty, not an export; give a MARTS")
