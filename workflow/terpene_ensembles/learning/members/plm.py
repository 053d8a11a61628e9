"""``plm``: one-vs-rest L2 logistic regression on the PLM mean embeddings."""

from __future__ import annotations

from terpene_ensembles.learning.linear import LinearState, fit_logistic_regression_path
from terpene_ensembles.learning.members.base import Member, register

C_GRID = (0.01, 0.1)


@register
class PlmMember(Member):
    name = "plm"
    needs = frozenset({"embeddings"})

    def grid(self, settings) -> tuple:
        return C_GRID

    def fit_grid(self, train, values, settings, device="cpu") -> dict:
        return fit_logistic_regression_path(train.embeddings, train.labels, values)

    def score(self, state: LinearState, data, hits):
        return state.scores(data.embeddings)

    def load_state(self, payload: dict) -> LinearState:
        return LinearState.from_payload(payload)
