"""One typed settings object per config section.

Each class mirrors one section of ``workflow/schemas/config.schema.yaml``: the same keys, in
the same order, with the same defaults (a test checks this). The schema and these classes
are the only places where a default lives. A stage builds its object once, at the script
boundary, from the section the rule passes as JSON; an unknown key is an error, never
silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar, Self

from terpene_ensembles.errors import ConfigError


@dataclass(frozen=True)
class Section:
    """Base of the section classes: construction from a config mapping or JSON text."""

    SECTION: ClassVar[str] = ""

    @classmethod
    def from_config(cls, values: dict | Self | None = None) -> Self:
        """The section's settings; keys the section does not have raise ConfigError."""
        if isinstance(values, cls):
            return values
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown {cls.SECTION} settings {unknown}; known: {sorted(known)}",
                where=f"{cls.SECTION}.{unknown[0]}",
            )
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.from_config(json.loads(text))

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PlmConfig(Section):
    SECTION: ClassVar[str] = "plm"

    enabled: bool = True
    model: str = "esm2_t33_650M_UR50D"
    checkpoint: str | None = None
    precomputed: str | None = None
    layer: int = -1
    long_sequences: str = "windows"
    window_overlap: int = 256
    max_tokens_per_batch: int = 4096
    precision: str = "auto"
    device: str = "auto"


@dataclass(frozen=True)
class EmbedConfig(Section):
    SECTION: ClassVar[str] = "embed"

    shards: int = 1
    cache_dir: str = "resources/embedding_cache"


@dataclass(frozen=True)
class ParseConfig(Section):
    SECTION: ClassVar[str] = "parse"

    top_k: int = 30
    min_support: int = 10
    include_minor_products: bool = True
    other_buckets: bool = True
    ensemble_names: str = "config/ensemble_names.tsv"
    frozen_vocabulary: str | None = None


@dataclass(frozen=True)
class FeaturesConfig(Section):
    SECTION: ClassVar[str] = "features"

    pfam_dir: str = "resources/pfam"


@dataclass(frozen=True)
class SplitConfig(Section):
    SECTION: ClassVar[str] = "split"

    min_seq_id: float = 0.4
    coverage: float = 0.8
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    cv_folds: int = 5
    seed: int = 42


@dataclass(frozen=True)
class TrainConfig(Section):
    SECTION: ClassVar[str] = "train"

    seed: int = 42
    max_epochs: int = 200
    batch_size: int = 32
    grad_accumulation: int = 1
    learning_rate: float = 0.0001
    dropout: float = 0.1
    patience: int = 10
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    mixed_precision: str = "auto"
    device: str = "auto"
    knn_k: int = 5
    knn_power: float = 3.0
    kernel_power: float = 8.0
    kernel_similarity: str = "bits_per_residue"
    # "auto" (members chosen out of fold among the candidates) or names of registered
    # members (learning.members); checked against the registry when the model is fitted,
    # so that this module stays free of the learning code.
    members: str | list[str] = "auto"
    excluded_candidates: list[str] = field(default_factory=list)
    position_min_coverage: float = 0.05
    exclude_feature_groups: list[str] = field(default_factory=lambda: ["motif"])
    lr_c: float | str = "auto"


@dataclass(frozen=True)
class CalibrateConfig(Section):
    SECTION: ClassVar[str] = "calibrate"

    method: str = "auto"
    min_positives: int = 3
    model_method: str = "none"
    max_calls_per_positive: float | None = 1.5
    always_call_top: bool = True


@dataclass(frozen=True)
class PredictConfig(Section):
    SECTION: ClassVar[str] = "predict"

    chunk_size: int = 1000
    identity_floor: float = 0.3
    kingdom: str = ""
    prefilter: str = "tps_domain_or_homolog"
    shards: int = 1
    gene_calling: str = "auto"
    genetic_code: int = 11


SECTIONS: tuple[type[Section], ...] = (
    PlmConfig,
    EmbedConfig,
    ParseConfig,
    FeaturesConfig,
    SplitConfig,
    TrainConfig,
    CalibrateConfig,
    PredictConfig,
)
