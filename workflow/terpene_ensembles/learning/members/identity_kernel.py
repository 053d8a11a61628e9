"""``identity_kernel``: the labels of every training homolog (MMseqs2 hits), weighted by
similarity ** ``train.kernel_power``, where similarity is ``train.kernel_similarity``
(default: the bit score per residue of the longer protein). A sharp kernel: the closest
full-length homologs dominate, the others break ties and fill in where there is no close
one."""

from __future__ import annotations

from terpene_ensembles.learning.homology_transfer import HomologyState
from terpene_ensembles.learning.members.base import Member, register


@register
class IdentityKernel(Member):
    name = "identity_kernel"
    needs = frozenset({"hits"})

    def fit(self, train, value, settings, device="cpu") -> HomologyState:
        return HomologyState.fit(train, None, settings.kernel_power, settings.kernel_similarity)

    def score(self, state: HomologyState, data, hits):
        return state.scores(data, hits)

    def load_state(self, payload: dict) -> HomologyState:
        return HomologyState.from_payload(payload)
