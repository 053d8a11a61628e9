"""``logistic_regression``: one-vs-rest L2 logistic regression on every engineered feature
(length, composition, motifs, Pfam scores, kingdom). A baseline, always fitted; its C is
``train.lr_c`` or, with ``auto``, the grid value with the best out-of-fold mAP."""

from __future__ import annotations

import numpy as np

from terpene_ensembles.learning.linear import LinearState, fit_logistic_regression_path
from terpene_ensembles.learning.members.base import Member, register

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


@register
class LogisticRegressionMember(Member):
    name = "logistic_regression"
    needs = frozenset({"features"})
    baseline = True

    def grid(self, settings) -> tuple:
        return C_GRID if settings.lr_c == "auto" else (float(settings.lr_c),)

    def fit_grid(self, train, values, settings, device="cpu") -> dict:
        columns = np.arange(len(train.feature_columns))  # every group, always
        path = fit_logistic_regression_path(train.features[:, columns], train.labels, values)
        for state in path.values():
            state.extra = {"columns": columns}
        return path

    def score(self, state: LinearState, data, hits):
        return state.scores(data.features[:, np.asarray(state.extra["columns"], dtype=np.int64)])

    def load_state(self, payload: dict) -> LinearState:
        return LinearState.from_payload(payload)
