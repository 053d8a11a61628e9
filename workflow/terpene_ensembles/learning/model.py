"""The fitted model: member states, the stacked combiner and what scoring needs beside.

:class:`FittedModel` is what the train stage writes (``results/train/model.pt``) and what
the model bundle wraps. Its payload is plain values and arrays (``torch.load`` with
``weights_only=True``); every member's state goes through the member's own
``to_payload``/``load_state``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from terpene_ensembles.learning.homology_transfer import reference_best_identity
from terpene_ensembles.learning.members import registry
from terpene_ensembles.learning.reference_predictors import (
    LABEL_PRIOR,
    RANDOM,
    score_label_prior,
    score_random,
)
from terpene_ensembles.learning.stacking import Combiner

MODEL = "model"


@dataclass
class FittedModel:
    ensemble_ids: list[str]
    feature_columns: list[str]
    plm: dict  # identity of the PLM the embeddings came from, {"model": "none"} without
    seed: int
    label_prior: np.ndarray
    reference_ids: list[str]  # the training enzymes: homology is measured against them
    members: dict[str, object]  # name -> fitted state, combined members and baselines
    combiner: Combiner
    selection: dict  # name -> {"c": chosen value, "oof_map": {value: OOF mAP}}

    @property
    def combined_members(self) -> list[str]:
        return list(self.combiner.members)

    @property
    def baseline_members(self) -> list[str]:
        return [name for name in self.members if registry.get(name).baseline]

    def inputs(self) -> frozenset[str]:
        """Every input (registry.INPUTS) some fitted member reads when scoring."""
        used = set()
        for name, state in self.members.items():
            used |= registry.get(name).inputs_of(state)
        return frozenset(used)

    def score(self, data, hits: pd.DataFrame) -> dict[str, np.ndarray]:
        """Raw scores of every predictor for ``data`` (rows in ``data.ids`` order), plus
        ``best_identity`` (highest identity to a training enzyme, 0 without hits)."""
        scores = {
            name: registry.get(name).score(state, data, hits)
            for name, state in self.members.items()
        }
        best_identity = reference_best_identity(data.ids, hits, self.reference_ids)
        scores[MODEL] = self.combiner.apply(scores, best_identity)
        scores[LABEL_PRIOR] = score_label_prior(self.label_prior, len(data.ids))
        scores[RANDOM] = score_random(data.ids, len(self.ensemble_ids), self.seed)
        scores["best_identity"] = best_identity
        return scores

    def to_payload(self) -> dict:
        return {
            "ensemble_ids": list(self.ensemble_ids),
            "feature_columns": list(self.feature_columns),
            "plm": dict(self.plm),
            "seed": self.seed,
            "label_prior": self.label_prior,
            "reference_ids": list(self.reference_ids),
            "members": {name: state.to_payload() for name, state in self.members.items()},
            "combiner": self.combiner.to_payload(),
            "selection": self.selection,
        }

    @classmethod
    def from_payload(cls, payload: dict) -> FittedModel:
        return cls(
            ensemble_ids=[str(c) for c in payload["ensemble_ids"]],
            feature_columns=[str(c) for c in payload["feature_columns"]],
            plm=dict(payload["plm"]),
            seed=int(payload["seed"]),
            label_prior=np.asarray(payload["label_prior"]),
            reference_ids=[str(i) for i in payload["reference_ids"]],
            members={
                name: registry.get(name).load_state(state)
                for name, state in payload["members"].items()
            },
            combiner=Combiner.from_payload(payload["combiner"]),
            selection=dict(payload["selection"]),
        )

    def save(self, path) -> None:
        from terpene_ensembles.learning.payload import save_payload

        save_payload(self.to_payload(), path)

    @classmethod
    def load(cls, path) -> FittedModel:
        from terpene_ensembles.learning.payload import load_payload

        return cls.from_payload(load_payload(path))
