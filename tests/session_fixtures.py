"""Expensive test fixtures, each built once per test session.

conftest.py loads this module as a pytest plugin, so any test asks for a fixture by name.
tests/conftest.py's FIXTURE_MARKERS gives the tests that use one the markers of what it
needs (the trained model needs MMseqs2, for instance), which keeps them out of `make test`.
"""

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_MARTS, DEMO_PFAM

from terpene_ensembles.data.sequence_input import sha256_text


def split_of(identifier: str) -> str:
    """train/val/test, 60/20/20, from the id's hash (no clustering: a fixed, quick split)."""
    bucket = int(sha256_text(identifier)[:8], 16) % 10
    return "train" if bucket < 6 else ("val" if bucket < 8 else "test")


@pytest.fixture(scope="session")
def small_training_run(tmp_path_factory):
    """Train, calibrate and bundle on ~150 demo enzymes (PLM off), as train + calibrate do.

    About 40 s on 2 cores (Pfam features, an all-vs-all MMseqs2 search, the CV procedure).
    Tests copy ``model_dir`` before changing anything in it.
    """
    from terpene_ensembles.data.parse_stage import run_parse
    from terpene_ensembles.features.alignment_positions import position_table
    from terpene_ensembles.features.sequence_features import INPUT_COLUMNS, feature_table
    from terpene_ensembles.learning.bundle import ModelBundle
    from terpene_ensembles.learning.cross_fitting import reliability_inputs
    from terpene_ensembles.learning.cross_validation import run_procedure
    from terpene_ensembles.learning.members import registry
    from terpene_ensembles.learning.reliability import reliability_section
    from terpene_ensembles.learning.training_data import training_data_from_frames
    from terpene_ensembles.settings import CalibrateConfig, TrainConfig
    from terpene_ensembles.split.homology import pairwise_identity

    root = tmp_path_factory.mktemp("small_run")
    table = pd.read_csv(DEMO_MARTS, dtype=str, keep_default_na=False)
    keep = table["Enzyme_marts_ID"].drop_duplicates().iloc[:150]
    export = root / "export.csv"
    table[table["Enzyme_marts_ID"].isin(keep)].to_csv(export, index=False)
    parsed = run_parse(export, None, {"top_k": 6, "min_support": 5})
    enzymes, labels = parsed.enzymes, parsed.labels
    ensemble_ids = [c for c in labels.columns if c != "id"]
    features, _ = feature_table(enzymes[INPUT_COLUMNS], DEMO_PFAM, threads=2)
    hits = pairwise_identity(enzymes["id"].tolist(), enzymes["sequence"].tolist(), threads=2)
    positions = position_table(
        enzymes["id"].tolist(), enzymes["sequence"].tolist(), DEMO_PFAM, threads=2
    )
    data = training_data_from_frames(labels, ensemble_ids, features, positions=positions)
    is_test = np.array([split_of(i) == "test" for i in data.ids])
    inner = np.array([int(sha256_text(i)[8:16], 16) % 3 for i in data.ids])
    settings = TrainConfig(seed=1)
    cross_fit, test_scores, _, thresholds, calibrated = run_procedure(
        data, is_test, inner, hits, settings, CalibrateConfig()
    )
    # The reliability table as the reliability stage builds it (without outer CV folds).
    identity, random_rows = reliability_inputs(
        cross_fit, data.subset(~is_test), data.subset(is_test), test_scores, 3, hits, settings
    )
    reliability = reliability_section(
        calibrated,
        thresholds,
        labels.set_index("id"),
        ensemble_ids,
        identity,
        random_rows,
        [],
        "model",
        registry.homology_baseline_name(),
    )
    model_dir = root / "model"
    ModelBundle.assemble(
        cross_fit.model,
        thresholds,
        enzymes,
        parsed.vocabulary,
        DEMO_PFAM,
        labels=labels,
        reliability=reliability,
    ).save(model_dir)
    return {
        "export": export,
        "model_dir": model_dir,
        "thresholds": thresholds,
        "calibrated": calibrated,
        "ensemble_ids": ensemble_ids,
        "enzymes": enzymes,
        "split": {identifier: split_of(identifier) for identifier in enzymes["id"]},
        "root": root,
    }
