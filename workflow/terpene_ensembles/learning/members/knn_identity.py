"""``knn_identity``: identity-weighted labels of the k nearest training enzymes (MMseqs2),
what BLASTp-style annotation transfer does. A baseline, always fitted."""

from __future__ import annotations

from terpene_ensembles.learning.homology_transfer import HomologyState
from terpene_ensembles.learning.members.base import Member, register


@register
class KnnIdentity(Member):
    name = "knn_identity"
    needs = frozenset({"hits"})
    baseline = True
    homology_baseline = True

    def fit(self, train, value, settings, device="cpu") -> HomologyState:
        return HomologyState.fit(train, int(settings.knn_k), settings.knn_power, "identity")

    def score(self, state: HomologyState, data, hits):
        return state.scores(data, hits)

    def load_state(self, payload: dict) -> HomologyState:
        return HomologyState.from_payload(payload)
