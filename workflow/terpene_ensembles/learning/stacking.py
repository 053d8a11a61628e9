"""The stacked combiner: one logistic regression over (enzyme, class) pairs, shared by classes.

Input per pair: the logit of each member's out-of-fold score for that class, whether the
class is that member's top class for the enzyme, the enzyme's best identity to a training
enzyme and its products with each of these (so the weight of annotation transfer can grow
with homology). The top-class indicators let the combiner compare classes within an enzyme,
which is what its top call needs (on the grouped CV folds they raised precision@1 from
0.227 to 0.263 in a development experiment). The weights are shared by all classes, so
a class with five positives borrows strength from the others; each class's base rate
reaches the combiner through the members' own intercepts. (Per-class intercepts and a
class-prior term were tried: on the grouped CV folds they lowered precision@1 and
macro-F1, pulling the top call towards frequent ensembles.) Fitted on out-of-fold member
scores only, so the combiner learns how members behave on enzymes they were not trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

CLIP = 1e-4
COMBINER_C = 1.0
COMBINER_TOL = 1e-10  # the fit is exact, so it does not depend on the machine


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), CLIP, 1 - CLIP)
    return np.log(p / (1 - p))


def design_matrix(
    member_scores: dict[str, np.ndarray], members: list[str], best_identity: np.ndarray
) -> np.ndarray:
    """Rows = (enzyme, class) pairs in row-major order; columns as ``column_names``."""
    k = member_scores[members[0]].shape[1]
    identity = np.repeat(np.asarray(best_identity, dtype=np.float64), k)
    logits = [logit(member_scores[m]).ravel() for m in members]
    tops = [top_class(member_scores[m]).ravel() for m in members]
    parts = [*logits, *tops]
    parts += [identity * part for part in parts]
    parts.append(identity)
    return np.column_stack(parts)


def top_class(scores: np.ndarray) -> np.ndarray:
    """1.0 where a class has the enzyme's highest score (ties: all tied classes)."""
    scores = np.asarray(scores, dtype=np.float64)
    return (scores == scores.max(axis=1, keepdims=True)).astype(np.float64)


def column_names(members: list[str]) -> list[str]:
    own = [f"logit({m})" for m in members] + [f"top({m})" for m in members]
    return own + [f"best_identity*{name}" for name in own] + ["best_identity"]


@dataclass
class Combiner:
    """The fitted combiner: one weight per design column (``column_names(members)``)."""

    members: list[str]
    columns: list[str]
    coef: np.ndarray
    intercept: float

    def apply(self, member_scores: dict[str, np.ndarray], best_identity: np.ndarray) -> np.ndarray:
        n, k = member_scores[self.members[0]].shape
        x = design_matrix(member_scores, self.members, best_identity)
        z = x @ np.asarray(self.coef) + float(self.intercept)
        return (1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))).reshape(n, k)

    def to_payload(self) -> dict:
        return {
            "members": list(self.members),
            "columns": list(self.columns),
            "coef": self.coef,
            "intercept": self.intercept,
        }

    @classmethod
    def from_payload(cls, payload: dict) -> Combiner:
        return cls(
            members=[str(m) for m in payload["members"]],
            columns=[str(c) for c in payload["columns"]],
            coef=np.asarray(payload["coef"], dtype=np.float64),
            intercept=float(payload["intercept"]),
        )


def fit_combiner(
    member_scores: dict[str, np.ndarray],
    members: list[str],
    best_identity: np.ndarray,
    labels: np.ndarray,
) -> Combiner:
    """Fit on out-of-fold member scores."""
    x = design_matrix(member_scores, members, best_identity)
    y = np.asarray(labels).astype(int).ravel()
    # Newton-Cholesky solves this small, well-posed problem (a few columns, tens of
    # thousands of rows) to its optimum in a handful of iterations. lbfgs at its default
    # tolerance stopped up to 1.1 away in some weights, at a point that moved with the BLAS
    # thread count, so the model's probabilities depended on the machine.
    model = LogisticRegression(
        C=COMBINER_C, solver="newton-cholesky", tol=COMBINER_TOL, max_iter=100
    ).fit(x, y)
    return Combiner(
        members=list(members),
        columns=column_names(members),
        coef=model.coef_[0].astype(np.float64),
        intercept=float(model.intercept_[0]),
    )


def cross_fitted_combination(
    member_scores: dict[str, np.ndarray],
    members: list[str],
    best_identity: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
) -> np.ndarray:
    """Out-of-fold model probabilities: the combiner of fold k never saw fold k's rows."""
    out = np.zeros_like(np.asarray(member_scores[members[0]], dtype=np.float64))
    for fold in np.unique(folds):
        held = folds == fold
        fitted = fit_combiner(
            {m: s[~held] for m, s in member_scores.items()},
            members,
            best_identity[~held],
            labels[~held],
        )
        out[held] = fitted.apply(
            {m: s[held] for m, s in member_scores.items()}, best_identity[held]
        )
    return out
