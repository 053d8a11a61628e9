"""``fusion``: the fusion network (PLM branch + feature branch), early-stopped on a seeded
tenth of its own training enzymes. The only torch member: torch is imported here, inside
the methods, so that nothing else pays for it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from terpene_ensembles.learning.members.base import Member, register


@dataclass
class FusionState:
    network: dict  # fusion_network.export_fusion: config, state_dict, scaler
    epochs: int

    def to_payload(self) -> dict:
        return {"network": self.network, "epochs": self.epochs}

    @classmethod
    def from_payload(cls, payload: dict) -> FusionState:
        return cls(network=payload["network"], epochs=int(payload["epochs"]))


@register
class FusionMember(Member):
    name = "fusion"
    needs = frozenset({"features"})
    uses_torch = True

    def fit(self, train, value, settings, device="cpu") -> FusionState:
        from terpene_ensembles.learning.fusion_network import export_fusion, train_fusion

        rng = np.random.default_rng(settings.seed)
        held = rng.random(len(train.ids)) < 0.1
        fit, stop = train.subset(~held), train.subset(held)
        net, scaler, history = train_fusion(
            fit.features,
            fit.labels,
            stop.features,
            stop.labels,
            settings,
            train_embeddings=fit.embeddings,
            val_embeddings=stop.embeddings,
            device=device,
        )
        return FusionState(export_fusion(net.cpu(), scaler), len(history))

    def score(self, state: FusionState, data, hits):
        from terpene_ensembles.learning.fusion_network import import_fusion, predict_proba

        net, scaler = import_fusion(state.network)
        embeddings = data.embeddings if net.plm_branch is not None else None
        return predict_proba(net, scaler.transform(data.features), embeddings)

    def inputs_of(self, state: FusionState) -> frozenset[str]:
        with_plm = state.network["config"].get("plm_dim") is not None
        return self.needs | ({"embeddings"} if with_plm else set())

    def load_state(self, payload: dict) -> FusionState:
        return FusionState.from_payload(payload)
