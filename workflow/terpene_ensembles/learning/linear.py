"""One-vs-rest L2 logistic regression as plain arrays: the linear members' estimator.

Parameters are numpy arrays and python values only (no pickled estimators), so a trained
model bundle loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


@dataclass
class LinearState:
    """A fitted one-vs-rest logistic regression: scores = sigmoid(((x - mean) / scale) @ coef.T
    + intercept); a sparse ``x`` is taken as already standardised (fitted with
    ``standardise=False``)."""

    coef: np.ndarray  # (K, F)
    intercept: np.ndarray  # (K,)
    c: float
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    extra: dict = field(default_factory=dict)  # what a member stores beside the weights

    def scores(self, features) -> np.ndarray:
        if sparse.issparse(features):
            standardised = features
        else:
            standardised = (features - np.asarray(self.mean)) / np.asarray(self.scale)
        logits = np.asarray(standardised @ np.asarray(self.coef).T) + np.asarray(self.intercept)
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))

    def to_payload(self) -> dict:
        payload = {"coef": self.coef, "intercept": self.intercept, "c": self.c}
        if self.mean is not None:
            payload |= {"mean": self.mean, "scale": self.scale}
        return payload | self.extra

    @classmethod
    def from_payload(cls, payload: dict) -> LinearState:
        own = ("coef", "intercept", "c", "mean", "scale")
        return cls(
            coef=np.asarray(payload["coef"]),
            intercept=np.asarray(payload["intercept"]),
            c=float(payload["c"]),
            mean=None if payload.get("mean") is None else np.asarray(payload["mean"]),
            scale=None if payload.get("scale") is None else np.asarray(payload["scale"]),
            extra={k: v for k, v in payload.items() if k not in own},
        )


def fit_logistic_regression_path(
    features, labels: np.ndarray, cs, standardise: bool = True
) -> dict[float, LinearState]:
    """{c: state} of one-vs-rest L2 logistic regression on standardised features.

    Classes without training positives (or all positive) get a constant score equal to the
    training frequency. ``standardise=False`` takes ``features`` as they are (mean 0 and
    scale 1 are stored).
    """
    if standardise:
        scaler = StandardScaler().fit(features)
        mean, scale = scaler.mean_, scaler.scale_
        standardised = scaler.transform(features)
    else:
        mean, scale = np.zeros(features.shape[1]), np.ones(features.shape[1])
        standardised = features
    return {
        c: LinearState(
            coef=coef,
            intercept=intercept,
            c=float(c),
            mean=np.asarray(mean, dtype=np.float64),
            scale=np.asarray(scale, dtype=np.float64),
        )
        for c, (coef, intercept) in fit_one_vs_rest(standardised, labels, cs).items()
    }


def fit_one_vs_rest(x, labels: np.ndarray, cs) -> dict:
    """One scikit-learn L2 logistic regression per class for every C of ``cs``.

    Returns {c: (coef (K, F), intercept (K,))}. Each class walks the C values in increasing
    order with warm starts (the regularisation path), which saves most solver iterations.
    Classes without positives (or negatives) get weight 0 and the logit of their frequency.
    """
    y = np.asarray(labels).astype(int)
    k, d = y.shape[1], x.shape[1]
    frequency = y.mean(axis=0)
    constant = np.log(np.clip(frequency, 1e-6, 1 - 1e-6) / np.clip(1 - frequency, 1e-6, 1))
    path = {c: (np.zeros((k, d)), constant.copy()) for c in cs}
    for j in range(k):
        if y[:, j].min() == y[:, j].max():
            continue
        model = LogisticRegression(max_iter=2000, warm_start=True)
        for c in sorted(cs):
            model.set_params(C=c).fit(x, y[:, j])
            path[c][0][j] = model.coef_[0]
            path[c][1][j] = model.intercept_[0]
    return path
