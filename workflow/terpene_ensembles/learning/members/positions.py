"""``positions``: one-vs-rest L2 logistic regression on the alignment-position one-hot
(:mod:`terpene_ensembles.features.alignment_positions`) plus the engineered features (less
``train.exclude_feature_groups``), fitted on the design's leading principal components."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from terpene_ensembles.features.alignment_positions import PositionEncoder
from terpene_ensembles.features.sequence_features import feature_group
from terpene_ensembles.learning.linear import LinearState, fit_logistic_regression_path
from terpene_ensembles.learning.members.base import Member, register

C_GRID = (0.03, 0.1, 0.3)
COMPONENTS = 256


def engineered_columns(columns: list[str], exclude: list[str]) -> np.ndarray:
    """Indices of the feature columns whose group is not excluded."""
    kept = [i for i, c in enumerate(columns) if feature_group(c) not in set(exclude)]
    return np.array(kept, dtype=np.int64)


def _scaler(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


@dataclass
class PositionsState:
    """The per-class weights over [alignment one-hot | standardised engineered features]."""

    weights: LinearState  # fitted on the design as it is (sparse: no standardisation)
    encoder: PositionEncoder
    columns: np.ndarray  # engineered feature columns used
    feature_mean: np.ndarray
    feature_scale: np.ndarray

    def design(self, data) -> sparse.csr_matrix:
        """[alignment one-hot | standardised engineered features] as a sparse matrix."""
        onehot = self.encoder.transform(data.positions)
        dense = (data.features[:, self.columns] - self.feature_mean) / self.feature_scale
        return sparse.hstack([onehot, sparse.csr_matrix(dense)]).tocsr()

    def to_payload(self) -> dict:
        return {
            "coef": self.weights.coef,
            "intercept": self.weights.intercept,
            "c": self.weights.c,
            "encoder": self.encoder.to_dict(),
            "columns": self.columns,
            "feature_mean": self.feature_mean,
            "feature_scale": self.feature_scale,
        }

    @classmethod
    def from_payload(cls, payload: dict) -> PositionsState:
        return cls(
            weights=LinearState(
                np.asarray(payload["coef"]), np.asarray(payload["intercept"]), float(payload["c"])
            ),
            encoder=PositionEncoder.from_dict(payload["encoder"]),
            columns=np.asarray(payload["columns"], dtype=np.int64),
            feature_mean=np.asarray(payload["feature_mean"]),
            feature_scale=np.asarray(payload["feature_scale"]),
        )


@register
class PositionsMember(Member):
    name = "positions"
    needs = frozenset({"positions", "features"})
    uses_feature_groups = True
    ablation_group = "positions"

    def grid(self, settings) -> tuple:
        return C_GRID

    def fit_grid(self, train, values, settings, device="cpu") -> dict[float, PositionsState]:
        """Logistic regression on the leading principal components of the positions design.

        The design (about 15k one-hot columns + the engineered features) is projected on its
        :data:`COMPONENTS` leading principal components (eigenvectors of the enzymes' Gram
        matrix: cheap with a few hundred enzymes); one-vs-rest L2 logistic regression is
        fitted there. The PCA and the regression are linear, so they fold into one weight
        vector per class over the original columns, which is what is stored and applied.
        """
        encoder = PositionEncoder.fit(train.positions, settings.position_min_coverage)
        columns = engineered_columns(train.feature_columns, settings.exclude_feature_groups)
        mean, scale = _scaler(train.features[:, columns])
        unfitted = PositionsState(None, encoder, columns, mean, scale)
        design = unfitted.design(train).toarray()
        centre = design.mean(axis=0)
        centred = design - centre
        eigenvalues, eigenvectors = np.linalg.eigh(centred @ centred.T)
        order = np.argsort(-eigenvalues, kind="stable")[: min(COMPONENTS, len(design) - 1)]
        keep = order[eigenvalues[order] > 1e-9 * max(eigenvalues.max(), 1e-12)]
        root = np.sqrt(eigenvalues[keep])
        scores = eigenvectors[:, keep] * root  # principal-component scores of the training rows
        unit = scores.std() or 1.0
        projection = centred.T @ (eigenvectors[:, keep] / root) / unit  # column space -> z
        states = {}
        path = fit_logistic_regression_path(scores / unit, train.labels, values, False)
        for c, state in path.items():
            coef = np.asarray(state.coef) @ projection.T  # (K, columns of the design)
            weights = LinearState(coef, np.asarray(state.intercept) - coef @ centre, float(c))
            states[c] = PositionsState(weights, encoder, columns, mean, scale)
        return states

    def score(self, state: PositionsState, data, hits):
        return state.weights.scores(state.design(data))

    def load_state(self, payload: dict) -> PositionsState:
        return PositionsState.from_payload(payload)
