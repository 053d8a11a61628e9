"""Small synthetic learning inputs shared by the learning-stage tests (no real data)."""

import numpy as np
import pandas as pd

from terpene_ensembles.learning.training_data import TrainingData
from terpene_ensembles.settings import CalibrateConfig, TrainConfig

# Column names of real feature groups, so group-wise ablations have something to remove.
FEATURE_NAMES = ("aa_A", "motif_ddxxd_count", "pfam_PF01397_bits", "kingdom_fungi", "class_polar")


def make_positions(labels: np.ndarray, ids, seed: int = 0, states: int = 30) -> pd.DataFrame:
    """Aligned strings (two profiles) whose first states spell each enzyme's labels."""
    rng = np.random.default_rng(seed)
    rows = []
    for row in labels:
        letters = rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=states)
        letters[: len(row)] = ["W" if v else "A" for v in row]
        letters[rng.random(states) < 0.1] = "-"
        rows.append("".join(letters))
    return pd.DataFrame(
        {"id": list(ids), "aln_PF00001": rows, "aln_PF00002": [r[::-1] for r in rows]}
    )


def make_dataset(
    n: int = 120,
    n_classes: int = 4,
    n_features: int = 6,
    plm_dim=None,
    seed=0,
    positions=False,
    informative_plm=False,
):
    """Features carry the labels (noisy linear signal); ids e0..e{n-1}. Embeddings (of
    ``plm_dim`` dimensions) are noise, or with ``informative_plm`` a noisy random
    projection of the labels themselves (a representation that carries the labels)."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, n_features))
    weights = rng.normal(size=(n_features, n_classes))
    logits = features @ weights - 1.0
    labels = (logits + rng.normal(scale=0.5, size=logits.shape) > 0).astype(np.float32)
    embeddings = None if plm_dim is None else rng.normal(size=(n, plm_dim)).astype(np.float32)
    if informative_plm:
        if plm_dim is None:
            raise ValueError("informative_plm needs plm_dim")
        projection = rng.normal(size=(n_classes, plm_dim))
        embeddings = (labels @ projection + 0.5 * embeddings).astype(np.float32)
    ids = np.array([f"e{i}" for i in range(n)])
    return TrainingData(
        ids=ids,
        labels=labels,
        ensemble_ids=[f"class_{j}" for j in range(n_classes)],
        features=features,
        feature_columns=[f"{FEATURE_NAMES[j % len(FEATURE_NAMES)]}_{j}" for j in range(n_features)],
        embeddings=embeddings,
        plm={"model": "none"} if plm_dim is None else {"model": "esm2_t6_8M_UR50D"},
        positions=make_positions(labels, ids, seed) if positions else None,
    )


def make_hits(data: TrainingData, seed: int = 0) -> pd.DataFrame:
    """Each enzyme 'hits' the enzymes sharing its first label, with random identity and
    alignment coverages, sequence lengths and a bit score that grows with both."""
    rng = np.random.default_rng(seed)
    rows = []
    first = data.labels.argmax(axis=1)
    for i in range(len(data.ids)):
        for j in rng.choice(len(data.ids), size=6, replace=False):
            if i != j and first[i] == first[j]:
                rows.append((data.ids[i], data.ids[j], float(rng.uniform(0.3, 0.9))))
    hits = pd.DataFrame(rows, columns=["query", "target", "identity"])
    coverage = np.random.default_rng(seed + 1).uniform(0.4, 1.0, size=(len(hits), 2))
    hits["query_coverage"], hits["target_coverage"] = coverage[:, 0], coverage[:, 1]
    lengths = np.random.default_rng(seed + 2).integers(300, 600, len(data.ids))
    length = dict(zip(data.ids, lengths, strict=True))
    hits["query_length"] = hits["query"].map(length).astype("int64")
    hits["target_length"] = hits["target"].map(length).astype("int64")
    hits["bits"] = 2.0 * hits["identity"] * hits["query_coverage"] * hits["query_length"]
    return hits


FAST_TRAIN = {
    "max_epochs": 8,
    "patience": 3,
    "batch_size": 32,
    "learning_rate": 1e-3,
    "seed": 1,
    "members": ["knn_identity", "logistic_regression", "positions", "plm"],
}


def fast_train(**overrides) -> TrainConfig:
    """The train settings of these tests (FAST_TRAIN), with ``overrides``."""
    return TrainConfig.from_config({**FAST_TRAIN, **overrides})


def calibrate_settings(**values) -> CalibrateConfig:
    return CalibrateConfig.from_config(values)
