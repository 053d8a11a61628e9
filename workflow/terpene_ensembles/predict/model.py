"""The trained model as the screening loop sees it: loading a compatible bundle,
featurising and scoring chunks."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from terpene_ensembles.embed.precomputed import SOURCE as PRECOMPUTED_SOURCE
from terpene_ensembles.errors import UserInputError
from terpene_ensembles.predict.evidence import PredictionContext

if TYPE_CHECKING:  # the bundle imports torch: only when a model is loaded
    from terpene_ensembles.learning.bundle import ModelBundle


@dataclass
class ChunkScores:
    """What a scorer returns for one chunk, rows in chunk order."""

    probabilities: np.ndarray  # calibrated model probabilities, shape (rows, ensembles)
    calls: np.ndarray  # bool, ensembles called at the calibrated thresholds
    tps_domains: dict[str, list[str]]  # id -> TPS Pfam families hit
    # Calibrated probabilities of every predictor (model and baselines), for metrics.
    predictors: dict[str, np.ndarray] = field(default_factory=dict)
    # Raw (uncalibrated) scores of every predictor: a member's own ranking, for `support`.
    raw: dict[str, np.ndarray] = field(default_factory=dict)


class ChunkScorer(Protocol):
    """A trained model as the screening loop sees it (BundleScorer is the real one)."""

    ensemble_ids: list[str]
    training: pd.DataFrame  # id, sequence of the characterised training enzymes
    context: PredictionContext | None  # for the evidence columns (None: left empty)

    def score(self, chunk: pd.DataFrame, hits: pd.DataFrame) -> ChunkScores: ...


class ModelCompatibilityError(UserInputError, ValueError):
    """The model directory cannot be used with this code or this configuration."""


def load_compatible_bundle(model_dir: str | os.PathLike, plm_config: dict | None) -> ModelBundle:
    """Load the bundle; raise ModelCompatibilityError on a wrong format or a different PLM.

    ``plm_config`` is the run's ``plm`` section (None: take the model's own PLM).
    """
    from terpene_ensembles.learning.bundle import FORMAT_VERSION, BundleError, ModelBundle

    try:
        bundle = ModelBundle.load(model_dir)
    except BundleError as error:
        raise ModelCompatibilityError(
            f"model directory {model_dir}: {error}. This code reads bundle format "
            f"{FORMAT_VERSION}; retrain with this version of the workflow."
        ) from error
    except Exception as error:  # a truncated or foreign bundle.pt
        raise ModelCompatibilityError(
            f"model directory {model_dir}: bundle.pt is unreadable ({error})"
        ) from error
    trained = bundle.plm
    trained_model = trained.get("model", "none")
    if plm_config is None or plm_config.get("precomputed"):
        return bundle  # a precomputed table's model is checked by precomputed_for
    wanted_model = plm_config.get("model") if plm_config.get("enabled", True) else "none"
    if wanted_model != trained_model:
        raise ModelCompatibilityError(
            f"model directory {model_dir} was trained with PLM {trained_model!r}, but the "
            f"configuration asks for {wanted_model!r} (plm.enabled/plm.model): embeddings "
            "from another PLM are meaningless to this model; use the training configuration"
        )
    return bundle


def plm_settings_for(bundle: ModelBundle, plm_config: dict | None) -> dict | None:
    """The plm settings to embed new sequences with (None when no member uses the PLM)."""
    trained = bundle.plm
    if trained.get("model", "none") == "none" or not bundle.uses("embeddings"):
        return None
    if trained.get("weights_source") == PRECOMPUTED_SOURCE:
        return None  # made outside the pipeline: no configured ESM2 reproduces them
    if plm_config is not None:
        return dict(plm_config)
    # Outside Snakemake: the model's own PLM, from the checkpoint it was trained with.
    return {
        "enabled": True,
        "model": trained["model"],
        "checkpoint": trained.get("weights_path"),
        "layer": int(trained["layer"]) if trained.get("layer") is not None else -1,
    }


def precomputed_for(bundle: ModelBundle, path: str | os.PathLike | None):
    """The queries' precomputed embeddings table (plm.precomputed), checked against the
    model's PLM; None when the model uses no PLM or no table is given."""
    from terpene_ensembles.embed.precomputed import check_matches_model, read_precomputed

    trained = bundle.plm
    if trained.get("model", "none") == "none" or not bundle.uses("embeddings"):
        return None
    if not path:
        if trained.get("weights_source") == PRECOMPUTED_SOURCE:
            raise ModelCompatibilityError(
                f"the model was trained on precomputed {trained['model']} embeddings "
                f"({trained.get('precomputed_path')}): give the query sequences' embeddings "
                "made the same way (plm.precomputed; --precomputed outside Snakemake)"
            )
        return None
    table = read_precomputed(path)
    check_matches_model(table, trained)
    return table


def carried_profile_features(chunk: pd.DataFrame) -> pd.DataFrame | None:
    """id + the Pfam domain feature and alignment-position columns that every record of
    ``chunk`` carries from the prefilter (SequenceRecord.profile_features); None unless
    all of them do."""
    if "profile_features" not in chunk or chunk["profile_features"].isna().any():
        return None
    carried = pd.DataFrame(chunk["profile_features"].tolist())
    carried.insert(0, "id", chunk["id"].astype(str).to_numpy())
    return carried


Featurizer = Callable[
    [pd.DataFrame], tuple[pd.DataFrame, dict[str, list[str]], pd.DataFrame | None]
]


def default_featurizer(
    bundle: ModelBundle, pfam_dir: str | os.PathLike | None, threads: int = 1
) -> Featurizer:
    """The features stage's own code, so new sequences get exactly the training features
    (and alignment positions, when the model uses them).

    ``pfam_dir``: the model's HMMs (ModelBundle.pfam_folder resolves and checks them).
    A TPS domain hit is a Pfam profile reaching its gathering cutoff (or, for a profile
    without one, any reported hit).
    """
    from terpene_ensembles.features.alignment_positions import position_columns, position_table
    from terpene_ensembles.features.domains import load_profiles, search_profiles
    from terpene_ensembles.features.sequence_features import (
        feature_table,
        input_columns,
        sequence_feature_table,
        with_domain_columns,
    )

    if pfam_dir is None or not Path(pfam_dir).is_dir():
        raise ModelCompatibilityError(
            f"Pfam HMM folder {pfam_dir} not found: the model folder's own pfam/ copy, or "
            "--pfam-dir with the same HMMs"
        )
    _, profiles = load_profiles(pfam_dir)
    trained = {c for c in bundle.feature_columns if c.startswith("pfam_") and c.endswith("_bits")}
    given = {f"pfam_{p.key}_bits" for p in profiles}
    if trained != given:
        raise ModelCompatibilityError(
            f"the Pfam profiles in {pfam_dir} ({sorted(given)}) are not those the model was "
            f"trained with ({sorted(trained)})"
        )

    def featurize(chunk: pd.DataFrame):
        carried = carried_profile_features(chunk)
        uses_positions = bundle.uses("positions")
        if carried is None:
            ids, sequences = chunk["id"].tolist(), chunk["sequence"].tolist()
            # One hmmsearch: the domain features and the positions read the same hits.
            searched = search_profiles(sequences, pfam_dir, threads)
            features, _ = feature_table(chunk, pfam_dir, searched=searched)
            positions = (
                position_table(ids, sequences, pfam_dir, searched=searched)
                if uses_positions
                else None
            )
        else:  # the prefilter's profile pass ran that very search already
            features = with_domain_columns(
                sequence_feature_table(input_columns(chunk))[0],
                carried[["id", *(c for c in carried if c.startswith("pfam_"))]],
            )
            positions = carried[["id", *position_columns(carried)]] if uses_positions else None
        hit = {}
        for profile in profiles:
            if profile.gathering is not None:
                hit[profile.key] = features[f"pfam_{profile.key}_gathering"].to_numpy() > 0
            else:
                hit[profile.key] = features[f"pfam_{profile.key}_bits"].to_numpy() > 0
        domains = {
            identifier: [key for key, flags in hit.items() if flags[row]]
            for row, identifier in enumerate(features["id"])
        }
        return features, domains, positions

    return featurize


class BundleScorer:
    """Scores chunks with a trained model bundle (ModelBundle.score), embedding if needed.

    ``featurizer(chunk) -> (features, tps_domains)`` computes the sequence features of the
    chunk (id + the bundle's feature columns) and the TPS Pfam families hit per id.
    """

    def __init__(
        self,
        bundle: ModelBundle,
        featurizer: Featurizer,
        plm_settings: dict | None = None,
        cache_dir: str | os.PathLike | None = None,
        threads: int | None = None,
        precomputed=None,
    ):
        self.bundle = bundle
        # embed.precomputed.PrecomputedEmbeddings (precomputed_for) or None
        self.precomputed = precomputed
        self.featurizer = featurizer
        self.ensemble_ids = bundle.ensemble_ids
        self.training = bundle.reference_table()
        names, ensembles = bundle.reference_annotation_maps()
        self.context = PredictionContext(
            members=list(bundle.model.combined_members),
            reliability=bundle.model_reliability(),
            reference_names=names,
            reference_ensembles=ensembles,
        )
        self.cache_dir = cache_dir
        self.embedder = None
        if plm_settings is not None:
            from terpene_ensembles.embed.embedding import Embedder

            self.embedder = Embedder.from_config(plm_settings, threads=threads)
            trained_sha = bundle.plm.get("weights_sha256")
            if trained_sha and self.embedder.loaded.weights_sha256 != trained_sha:
                raise ModelCompatibilityError(
                    f"PLM weights {self.embedder.loaded.weights_path} (sha256 "
                    f"{self.embedder.loaded.weights_sha256[:12]}...) are not the weights the "
                    f"model was trained with (sha256 {trained_sha[:12]}...)"
                )
            trained_layer = bundle.plm.get("layer")
            if trained_layer is not None and self.embedder.layer != int(trained_layer):
                raise ModelCompatibilityError(
                    f"the configuration embeds with PLM layer {self.embedder.layer}, the model "
                    f"was trained on layer {trained_layer} (plm.layer)"
                )

    @property
    def calibration(self) -> dict:
        """thresholds.json layout, as metrics.predictor_metrics expects it."""
        return self.bundle.thresholds.to_dict()

    def score(self, chunk: pd.DataFrame, hits: pd.DataFrame) -> ChunkScores:
        columns = ["id", "sequence", "kingdom", "profile_features"]
        features, tps_domains, positions = self.featurizer(
            chunk[[c for c in columns if c in chunk]]
        )
        embeddings = None
        if self.embedder is not None or self.precomputed is not None:
            from terpene_ensembles.predict.precomputed_queries import embed_queries

            matrix = embed_queries(
                chunk["id"].tolist(),
                chunk["sequence"].tolist(),
                self.precomputed,
                self.embedder,
                self.cache_dir,
            )
            embeddings = pd.DataFrame({"id": chunk["id"].to_numpy(), "embedding": list(matrix)})
        scored = self.bundle.score(features, embeddings, hits, positions)
        order = chunk["id"].astype(str).to_numpy()
        predictors = {
            name.split("/", 1)[1]: frame.loc[order].to_numpy(dtype=float)
            for name, frame in scored.items()
            if name.startswith("calibrated/")
        }
        return ChunkScores(
            probabilities=predictors["model"],
            calls=scored["calls"].loc[order].to_numpy(dtype=bool),
            tps_domains=tps_domains,
            predictors=predictors,
            raw={
                name.split("/", 1)[1]: frame.loc[order].to_numpy(dtype=float)
                for name, frame in scored.items()
                if name.startswith("raw/")
            },
        )


def load_scorer(
    model_dir: str | os.PathLike,
    plm_config: dict | None,
    pfam_dir: str | os.PathLike | None,
    threads: int,
    cache_dir: str | os.PathLike | None = None,
    featurizer: Featurizer | None = None,
    precomputed_path: str | os.PathLike | None = None,
) -> tuple[BundleScorer, Path]:
    """The scorer of a model folder, and the Pfam HMM folder it featurises with (the
    model's own copy unless ``pfam_dir`` overrides it with the same HMMs).
    ``precomputed_path``: the queries' embeddings made elsewhere (plm.precomputed)."""
    bundle = load_compatible_bundle(model_dir, plm_config)
    pfam_dir = bundle.pfam_folder(model_dir, pfam_dir)
    if featurizer is None:
        featurizer = default_featurizer(bundle, pfam_dir, threads)
    scorer = BundleScorer(
        bundle,
        featurizer,
        plm_settings_for(bundle, plm_config),
        cache_dir,
        threads,
        precomputed=precomputed_for(bundle, precomputed_path),
    )
    return scorer, pfam_dir
