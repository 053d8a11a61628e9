"""The member contract and the registry of members.

A member is one scorer the stacked combiner may use (the glossary in docs/method.md: a
*baseline* is a reference predictor reported beside the model, the *model* is the
calibrated stacked combination). Every member is one class with one contract:

- ``name``: the word used in ``train.members``, in predictions and in metrics;
- ``needs``: the inputs it reads, from :data:`INPUTS`;
- ``grid(settings)``: the values of its hyper-parameter, chosen by out-of-fold mAP;
- ``fit_grid(train, values, settings, device)`` -> ``{value: state}`` (or ``fit`` for one
  value): fitted on training enzymes only;
- ``score(state, data, hits)`` -> ``(n, K)`` scores in ``[0, 1]``;
- ``state.to_payload()`` / ``load_state(payload)``: the state as plain values and arrays,
  the model bundle's content (``torch.load(weights_only=True)``).

Class flags tell the procedure what else to do with a member: ``baseline`` (always fitted,
reported under baselines and compared with the model), ``uses_torch`` (left out of the
ablation table's extra candidates; torch is imported inside the member only),
``uses_feature_groups`` (fitted on the engineered features less
``train.exclude_feature_groups``, so the group ablations refit it), ``ablation_group``
(the feature group the member stands for in those ablations) and ``homology_baseline``
(the baseline that is annotation transfer from homologs, which the report sets beside
the model; the train summary records its name).

Adding a member is one module with one class decorated with :func:`register` (and its
name in the settings schema's enum); nothing else names members.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from terpene_ensembles.errors import ConfigError

# The inputs a member can read: MMseqs2 hits to the training enzymes, the engineered
# feature table, the alignment positions table and the PLM embeddings.
INPUTS = ("hits", "features", "positions", "embeddings")


class MemberState(Protocol):
    def to_payload(self) -> dict: ...


class Member(ABC):
    name: ClassVar[str]
    needs: ClassVar[frozenset[str]]
    baseline: ClassVar[bool] = False
    uses_torch: ClassVar[bool] = False
    uses_feature_groups: ClassVar[bool] = False
    ablation_group: ClassVar[str | None] = None
    homology_baseline: ClassVar[bool] = False

    def grid(self, settings) -> tuple:
        """Hyper-parameter values tried out of fold (``(None,)``: nothing to choose)."""
        return (None,)

    def fit_grid(self, train, values, settings, device: str = "cpu") -> dict[Any, MemberState]:
        """One fitted state per value of ``values``; members whose values share work (a
        regularisation path) override this instead of :meth:`fit`."""
        return {value: self.fit(train, value, settings, device) for value in values}

    def fit(self, train, value, settings, device: str = "cpu") -> MemberState:
        return self.fit_grid(train, (value,), settings, device)[value]

    @abstractmethod
    def score(self, state, data, hits: pd.DataFrame) -> np.ndarray: ...

    @abstractmethod
    def load_state(self, payload: dict) -> MemberState: ...

    def inputs_of(self, state) -> frozenset[str]:
        """The inputs a fitted state reads when scoring (``needs`` unless it depends on
        what the member was trained with)."""
        return self.needs


_REGISTRY: dict[str, type[Member]] = {}


def register(cls: type[Member]) -> type[Member]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    unknown = set(cls.needs) - set(INPUTS)
    if unknown:
        raise ValueError(f"member {cls.name}: unknown inputs {sorted(unknown)}")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"member {cls.name} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a member (tests that register a toy member clean up with this)."""
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """Every registered member, in registration order (the order of predictions tables)."""
    return tuple(_REGISTRY)


def get(name: str) -> Member:
    if name not in _REGISTRY:
        raise ConfigError(
            f"train.members: unknown member {name!r}; known {list(_REGISTRY)}",
            where="train.members",
        )
    return _REGISTRY[name]()


def baseline_names() -> tuple[str, ...]:
    return tuple(name for name, cls in _REGISTRY.items() if cls.baseline)


def homology_baseline_name() -> str | None:
    """The baseline flagged as annotation transfer from homologs (None without one)."""
    return next((name for name, cls in _REGISTRY.items() if cls.homology_baseline), None)
