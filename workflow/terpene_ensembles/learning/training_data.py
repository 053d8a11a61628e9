"""Load and align the inputs of the learning stages (labels, features, splits, embeddings).

Every table is keyed by enzyme ``id``; the label table fixes the row order. Missing or
duplicated ids are errors, never silently dropped rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from terpene_ensembles.errors import UserInputError
from terpene_ensembles.io_utils import parquet_metadata

OOF_SPLIT = "oof"  # split name of the out-of-fold rows in the predictions tables


class TrainingInputError(UserInputError, ValueError):
    """Inputs of the learning stages that do not fit together."""

    fix = (
        "these files come from the parse, features, embed and split stages of one run: "
        "rerun them (snakemake --forcerun parse) rather than mixing runs"
    )


@dataclass
class TrainingData:
    ids: np.ndarray  # (n,) str
    labels: np.ndarray  # (n, K) float32 0/1
    ensemble_ids: list[str]
    features: np.ndarray  # (n, F) float64
    feature_columns: list[str]
    embeddings: np.ndarray | None  # (n, D) float32, or None when the PLM is off
    plm: dict  # identity of the PLM (embeddings metadata) or {"model": "none"}
    # aligned match-state residues (alignment_positions.position_table), rows as ``ids``
    positions: pd.DataFrame | None = None

    def available_inputs(self) -> frozenset[str]:
        """The member inputs (members.base.INPUTS) these enzymes have; MMseqs2 hits are
        passed beside them, so they always count."""
        present = {"hits", "features"}
        present |= {"positions"} if self.positions is not None else set()
        present |= {"embeddings"} if self.embeddings is not None else set()
        return frozenset(present)

    def subset(self, mask: np.ndarray) -> TrainingData:
        return TrainingData(
            ids=self.ids[mask],
            labels=self.labels[mask],
            ensemble_ids=self.ensemble_ids,
            features=self.features[mask],
            feature_columns=self.feature_columns,
            embeddings=None if self.embeddings is None else self.embeddings[mask],
            plm=self.plm,
            positions=None
            if self.positions is None
            else self.positions[np.asarray(mask)].reset_index(drop=True),
        )


def _require_unique_ids(frame: pd.DataFrame, name: str) -> None:
    if "id" not in frame.columns:
        raise TrainingInputError(f"{name}: no `id` column")
    duplicated = frame["id"][frame["id"].duplicated()].unique().tolist()
    if duplicated:
        raise TrainingInputError(f"{name}: duplicated ids {duplicated[:5]}")


def _align(frame: pd.DataFrame, ids: pd.Index, name: str) -> pd.DataFrame:
    _require_unique_ids(frame, name)
    indexed = frame.set_index("id")
    missing = ids.difference(indexed.index)
    if len(missing):
        raise TrainingInputError(
            f"{name}: {len(missing)} labelled enzymes missing, e.g. {list(missing[:5])}"
        )
    return indexed.loc[ids]


def read_labels(path) -> tuple[pd.DataFrame, list[str]]:
    labels = pd.read_parquet(path)
    _require_unique_ids(labels, "labels")
    ensemble_ids = [c for c in labels.columns if c != "id"]
    if not ensemble_ids:
        raise TrainingInputError("labels: no ensemble columns")
    return labels, ensemble_ids


def read_embeddings(path) -> tuple[pd.DataFrame, dict]:
    frame = pd.read_parquet(path, columns=["id", "embedding"])
    metadata = parquet_metadata(path)
    return frame, metadata


def plm_identity(metadata: dict | None) -> dict:
    """PLM identity for reports and the model bundle; ``{"model": "none"}`` when disabled."""
    if not metadata:
        return {"model": "none", "random_weights": None, "weights_source": "none"}
    random_weights = str(metadata.get("random_weights", "")).lower() == "true"
    identity = {
        "model": metadata.get("model", "unknown"),
        "layer": metadata.get("layer"),
        "pooling": metadata.get("pooling"),
        "weights_path": metadata.get("weights_path"),
        "weights_sha256": metadata.get("weights_sha256"),
        "random_weights": random_weights,
        # A source the embed stage names (a precomputed table) wins over the weights flag.
        "weights_source": metadata.get("weights_source")
        or ("random" if random_weights else "pretrained"),
        "embedding_dim": metadata.get("embedding_dim"),
    }
    # The table behind precomputed embeddings (path, sha256; embed.precomputed).
    identity.update({k: v for k, v in metadata.items() if k.startswith("precomputed_")})
    return identity


def embedding_matrix(frame: pd.DataFrame, ids) -> np.ndarray:
    aligned = _align(frame, pd.Index(ids), "embeddings")
    matrix = np.stack([np.asarray(v, dtype=np.float32) for v in aligned["embedding"]])
    if not np.isfinite(matrix).all():
        raise TrainingInputError("embeddings: non-finite values")
    return matrix


def feature_matrix(frame: pd.DataFrame, ids, columns: list[str] | None = None):
    aligned = _align(frame, pd.Index(ids), "features")
    columns = columns or [c for c in aligned.columns]
    missing = [c for c in columns if c not in aligned.columns]
    if missing:
        raise TrainingInputError(f"features: columns missing {missing[:5]}")
    values = aligned[columns].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        bad = [c for c in columns if not np.isfinite(aligned[c].to_numpy(dtype=float)).all()]
        raise TrainingInputError(f"features: non-finite values in {bad[:5]}")
    return values, list(columns)


def training_data_from_frames(
    labels: pd.DataFrame,
    ensemble_ids: list[str],
    features: pd.DataFrame,
    embeddings: pd.DataFrame | None = None,
    embeddings_metadata: dict | None = None,
    positions: pd.DataFrame | None = None,
) -> TrainingData:
    """Align features (and embeddings) to the labelled enzymes, with the input checks."""
    ids = labels["id"].astype(str).to_numpy()
    feature_values, feature_columns = feature_matrix(features, ids)
    embedding_values, plm = None, plm_identity(None)
    if embeddings is not None:
        embedding_values = embedding_matrix(embeddings, ids)
        plm = plm_identity(embeddings_metadata)
    return TrainingData(
        ids=ids,
        labels=labels[ensemble_ids].to_numpy(dtype=np.float32),
        ensemble_ids=ensemble_ids,
        features=feature_values,
        feature_columns=feature_columns,
        embeddings=embedding_values,
        plm=plm,
        positions=None if positions is None else position_frame(positions, ids),
    )


def position_frame(positions: pd.DataFrame, ids) -> pd.DataFrame:
    """The positions table aligned to ``ids`` (id column kept, fresh index)."""
    return _align(positions, pd.Index(ids), "positions").reset_index()


def load_training_data(
    labels_path, features_path, embeddings_path=None, positions_path=None
) -> TrainingData:
    labels, ensemble_ids = read_labels(labels_path)
    embeddings, metadata = read_embeddings(embeddings_path) if embeddings_path else (None, None)
    positions = pd.read_parquet(positions_path) if positions_path else None
    return training_data_from_frames(
        labels, ensemble_ids, pd.read_parquet(features_path), embeddings, metadata, positions
    )


def read_assignment(path, column: str, ids) -> np.ndarray:
    """The `split` or `fold` column of split.tsv / cv_folds.tsv, aligned to ``ids``."""
    frame = pd.read_csv(path, sep="\t", dtype={"id": str})
    if column not in frame.columns:
        raise TrainingInputError(f"{path}: no `{column}` column")
    return _align(frame, pd.Index(ids), str(path))[column].to_numpy()


# Columns of the MMseqs2 hit tables (homology.PAIRWISE_COLUMNS) the homology members read.
# Listed, not derived: importing homology would make every stage that reads hits (train,
# calibrate, evaluate, ...) need MMseqs2 in its conda environment (tests/workflow/test_conda_envs).
HIT_COLUMNS = [
    "query",
    "target",
    "identity",
    "query_coverage",
    "target_coverage",
    "bits",
    "query_length",
    "target_length",
]


def read_identity_hits(path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    missing = [c for c in HIT_COLUMNS if c not in pq.read_schema(path).names]
    if missing:
        # A hit table cached by an older version: the search has to run again.
        raise TrainingInputError(
            f"{path}: MMseqs2 hit table without columns {missing}; it was written by an "
            "older version of the pipeline. Rerun the search: snakemake --forcerun "
            "pairwise_identity (or delete the file)."
        )
    hits = pd.read_parquet(path, columns=HIT_COLUMNS)
    hits["query"] = hits["query"].astype(str)
    hits["target"] = hits["target"].astype(str)
    return hits[hits["query"] != hits["target"]]
