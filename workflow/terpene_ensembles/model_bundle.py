"""Trained-model bundle: everything needed to score NEW sequences, without pickles.

Layout of a bundle directory (``results/model/``):
- ``bundle.pt``: ``torch.save`` of plain python values and tensors only, loadable with
  ``torch.load(..., weights_only=True)``:
  format_version, ensemble_ids, ensembles (vocabulary rows of ensembles.tsv),
  feature_columns, plm (identity: model, layer, pooling, weights_sha256, random_weights),
  label_prior, logistic_regression {mean, scale, coef, intercept}, fusion {config,
  state_dict, feature_mean, feature_scale}, knn {k, power, reference_ids,
  reference_sequences, reference_labels}, combination {weights, val_map},
  calibration {predictor: {global_threshold, classes: {class: {method, params, threshold,
  ...}}}}, always_call_top, seed.
- ``manifest.json``: the same minus tensors (human-readable; versions, weights, thresholds).
- ``reference.fasta``: the kNN reference (training) sequences, ready for an MMseqs2 search.

Scoring new sequences (see :func:`score`): the caller supplies the feature table (same
columns, from the features module), embeddings (when ``bundle["plm"]["model"] != "none"``)
and MMseqs2 hits of the new sequences against ``reference.fasta`` (columns query, target,
identity as a 0-1 fraction).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from terpene_ensembles.errors import UserInputError
from terpene_ensembles.io_utils import atomic_path, write_json

FORMAT_VERSION = 1
BUNDLE_FILE = "bundle.pt"
MANIFEST_FILE = "manifest.json"
REFERENCE_FASTA = "reference.fasta"


class BundleError(UserInputError, ValueError):
    """A model bundle that cannot be used as asked."""


def to_plain(obj):
    """numpy arrays -> tensors, numpy scalars -> python, recursively (weights_only-safe)."""
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "US":
            return [str(v) for v in obj]
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def from_plain(obj):
    """tensors -> numpy arrays, recursively; state dicts are left as tensors."""
    if isinstance(obj, dict):
        return {k: (v if k == "state_dict" else from_plain(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_plain(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    return obj


def _tensor_free(obj):
    if isinstance(obj, dict):
        return {k: _tensor_free(v) for k, v in obj.items() if k != "state_dict"}
    if isinstance(obj, list):
        return [_tensor_free(v) for v in obj]
    if isinstance(obj, torch.Tensor | np.ndarray):
        return f"<array shape {list(obj.shape)}>"
    return obj


def save_payload(payload: dict, path) -> None:
    with atomic_path(path) as tmp:
        torch.save(to_plain(payload), tmp)


def load_payload(path) -> dict:
    return from_plain(torch.load(path, map_location="cpu", weights_only=True))


def assemble_bundle(
    fitted: dict,
    thresholds: dict,
    enzymes: pd.DataFrame,
    ensembles: pd.DataFrame,
    outdir,
) -> dict:
    """Write ``outdir`` from the train payload, calibrate's thresholds.json and the vocabulary."""
    sequences = dict(zip(enzymes["id"].astype(str), enzymes["sequence"].astype(str), strict=True))
    reference_ids = list(fitted["knn"]["reference_ids"])
    missing = [i for i in reference_ids if i not in sequences]
    if missing:
        raise BundleError(f"{len(missing)} training enzymes have no sequence, e.g. {missing[:3]}")
    if list(ensembles["ensemble_id"]) != list(fitted["ensemble_ids"]):
        raise BundleError("ensembles.tsv does not match the classes the model was trained on")
    bundle = dict(fitted)
    bundle["format_version"] = FORMAT_VERSION
    bundle["knn"] = {**fitted["knn"], "reference_sequences": [sequences[i] for i in reference_ids]}
    bundle["ensembles"] = ensembles.astype(object).where(ensembles.notna(), None).to_dict("records")
    bundle["calibration"] = thresholds["predictors"]
    bundle["always_call_top"] = bool(thresholds["settings"].get("always_call_top", True))
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    save_payload(bundle, outdir / BUNDLE_FILE)
    write_json(
        _tensor_free(to_plain({k: v for k, v in bundle.items() if k != "knn"}))
        | {
            "knn": {k: v for k, v in bundle["knn"].items() if k in ("k", "power")}
            | {"n_reference": len(reference_ids)}
        },
        outdir / MANIFEST_FILE,
    )
    with atomic_path(outdir / REFERENCE_FASTA) as tmp:
        tmp.write_text("".join(f">{i}\n{sequences[i]}\n" for i in reference_ids))
    return bundle


def load_bundle(model_dir) -> dict:
    path = Path(model_dir) / BUNDLE_FILE
    if not path.exists():
        raise BundleError(f"no model bundle at {path} (run the pipeline's `model_bundle` rule)")
    bundle = load_payload(path)
    version = bundle.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"bundle format {version} is not supported (expected {FORMAT_VERSION})")
    return bundle


def check_plm(bundle: dict, plm_model: str | None, weights_sha256: str | None = None) -> None:
    """Raise if the PLM the caller will embed with differs from the one the model used."""
    expected = bundle["plm"].get("model", "none")
    given = plm_model or "none"
    if expected != given:
        raise BundleError(f"model trained with PLM {expected!r}, embeddings from {given!r}")
    bundle_sha = bundle["plm"].get("weights_sha256")
    if weights_sha256 and bundle_sha and weights_sha256 != bundle_sha:
        raise BundleError("PLM weights differ from those the model was trained with (sha256)")


def score(
    bundle: dict,
    features: pd.DataFrame,
    embeddings: pd.DataFrame | None,
    hits: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """Raw and calibrated probabilities of new enzymes.

    ``features``: id + the bundle's feature_columns; ``embeddings``: id + embedding (None
    when the bundle has no PLM); ``hits``: MMseqs2 hits against the bundle's reference
    (query, target, identity 0-1). Returns {"raw/<predictor>": frame, "calibrated/<predictor>":
    frame, "calls": bool frame of the model} with rows in ``features`` order, one column per
    ensemble id.
    """
    from terpene_ensembles.calibration import calibrate_scores, call_ensembles, thresholds_vector
    from terpene_ensembles.learner import score_predictors
    from terpene_ensembles.training_data import (
        TrainingData,
        embedding_matrix,
        feature_matrix,
    )

    ids = features["id"].astype(str).to_numpy()
    x, _ = feature_matrix(features, ids, list(bundle["feature_columns"]))
    uses_plm = bundle["fusion"]["config"].get("plm_dim") is not None
    if uses_plm and embeddings is None:
        raise BundleError(f"this model needs {bundle['plm']['model']} embeddings")
    e = embedding_matrix(embeddings, ids) if uses_plm else None
    classes = list(bundle["ensemble_ids"])
    data = TrainingData(
        ids,
        np.zeros((len(ids), len(classes)), np.float32),
        classes,
        x,
        list(bundle["feature_columns"]),
        e,
        bundle["plm"],
    )
    hits = hits[["query", "target", "identity"]].astype({"query": str, "target": str})
    raw = score_predictors(bundle, data, hits)
    out = {}
    for predictor, values in raw.items():
        if np.ndim(values) != 2:
            continue  # per-enzyme extras such as best_identity, not class probabilities
        out[f"raw/{predictor}"] = pd.DataFrame(values, index=ids, columns=classes)
        if predictor in bundle["calibration"]:
            calibrated = calibrate_scores(bundle["calibration"][predictor], values, classes)
            out[f"calibrated/{predictor}"] = pd.DataFrame(calibrated, index=ids, columns=classes)
    model_cal = bundle["calibration"]["model"]
    calls = call_ensembles(
        out["calibrated/model"].to_numpy(),
        thresholds_vector(model_cal, classes),
        bundle["always_call_top"],
    )
    out["calls"] = pd.DataFrame(calls, index=ids, columns=classes)
    return out
