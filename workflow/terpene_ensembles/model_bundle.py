"""Trained-model bundle: everything needed to score NEW sequences, without pickles.

Layout of a bundle directory (``results/model/``):
- ``bundle.pt``: ``torch.save`` of plain python values and tensors only, loadable with
  ``torch.load(..., weights_only=True)``: format_version, ensemble_ids, ensembles
  (vocabulary rows of ensembles.tsv), feature_columns, plm (identity: model, layer,
  pooling, weights_sha256, random_weights), seed, label_prior, members (fitted parameters
  of every member: knn_identity with the reference ids, sequences and labels;
  logistic_regression / positions / plm coefficients; the positions encoder), combiner
  (stacked logistic regression), selection (hyper-parameters chosen out of fold),
  calibration {predictor: {global_threshold, classes: {class: {method, params,
  threshold, ...}}}}, always_call_top, pfam_profiles (HMM file name -> sha256 of the
  copies in ``pfam/``).
- ``pfam/``: the Pfam HMMs the features and alignment positions were computed with, so the
  folder predicts on its own, wherever it is copied (see :func:`pfam_folder`).
- ``manifest.json``: a readable summary (versions, selection, combiner, thresholds, the HMM
  checksums).

Scoring new sequences (see :func:`score`): the caller supplies the feature table (same
columns, from the features module), the positions table (alignment_positions), embeddings
(when a member uses the PLM) and MMseqs2 hits of the new sequences against the reference
enzymes (columns query, target, identity as a 0-1 fraction).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from terpene_ensembles.errors import UserInputError
from terpene_ensembles.io_utils import atomic_path, write_json

FORMAT_VERSION = 3  # 3: the bundle carries its Pfam HMMs (pfam/, pfam_profiles)
BUNDLE_FILE = "bundle.pt"
MANIFEST_FILE = "manifest.json"
PFAM_DIR = "pfam"


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
    # Through a file object, so the archive's record names (and the bytes) do not depend on
    # the random temporary file name.
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(to_plain(payload), handle)


def load_payload(path) -> dict:
    return from_plain(torch.load(path, map_location="cpu", weights_only=True))


def assemble_bundle(
    fitted: dict,
    thresholds: dict,
    enzymes: pd.DataFrame,
    ensembles: pd.DataFrame,
    outdir,
    pfam_dir,
) -> dict:
    """Write ``outdir`` from the train payload, calibrate's thresholds.json, the vocabulary
    and ``pfam_dir``, the Pfam HMM folder the features were computed with (copied in)."""
    sequences = dict(zip(enzymes["id"].astype(str), enzymes["sequence"].astype(str), strict=True))
    knn = dict(fitted["members"]["knn_identity"])
    reference_ids = list(knn["reference_ids"])
    missing = [i for i in reference_ids if i not in sequences]
    if missing:
        raise BundleError(f"{len(missing)} training enzymes have no sequence, e.g. {missing[:3]}")
    if list(ensembles["ensemble_id"]) != list(fitted["ensemble_ids"]):
        raise BundleError("ensembles.tsv does not match the classes the model was trained on")
    knn["reference_sequences"] = [sequences[i] for i in reference_ids]
    bundle = dict(fitted)
    bundle["members"] = {**fitted["members"], "knn_identity": knn}
    bundle["format_version"] = FORMAT_VERSION
    bundle["ensembles"] = ensembles.astype(object).where(ensembles.notna(), None).to_dict("records")
    bundle["calibration"] = thresholds["predictors"]
    bundle["always_call_top"] = bool(thresholds["settings"]["always_call_top"])
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    bundle["pfam_profiles"] = _copy_profiles(pfam_dir, outdir / PFAM_DIR)
    save_payload(bundle, outdir / BUNDLE_FILE)
    summary = {k: v for k, v in bundle.items() if k not in ("members", "ensembles")}
    summary["members"] = {
        name: {"c": params.get("c")} for name, params in bundle["members"].items()
    }
    summary["n_reference"] = len(reference_ids)
    write_json(_tensor_free(to_plain(summary)), outdir / MANIFEST_FILE)
    return bundle


def _copy_profiles(pfam_dir, destination: Path) -> dict[str, str]:
    """Copy the HMM files of ``pfam_dir`` into ``destination`` (emptied first); return
    their checksums, verified on the copies."""
    from terpene_ensembles.domains import profile_checksums, profile_files

    source = profile_checksums(pfam_dir)
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    for path in profile_files(pfam_dir):
        shutil.copyfile(path, destination / path.name)
    copied = profile_checksums(destination)
    if copied != source:
        raise BundleError(f"copying the Pfam HMMs of {pfam_dir} to {destination} changed them")
    return copied


def pfam_folder(model_dir, bundle: dict, override=None) -> Path:
    """The Pfam HMM folder to featurise new sequences with: the model's own copy
    (``model_dir``/pfam), or ``override`` when its HMMs are byte for byte (sha256) those
    the model was trained with. Anything else is refused: other profiles shift the Pfam
    features and the alignment positions without any other sign."""
    from terpene_ensembles.domains import PfamFolderError, profile_checksums

    trained = dict(bundle["pfam_profiles"])
    folder = Path(override) if override is not None else Path(model_dir) / PFAM_DIR
    what = f"--pfam-dir {folder}" if override is not None else f"the model's HMM copy {folder}"
    try:
        given = profile_checksums(folder)
    except PfamFolderError as error:
        raise BundleError(f"{what}: {error}") from error
    if sorted(given.values()) != sorted(trained.values()):
        unmatched = sorted(name for name, sha in trained.items() if sha not in given.values())
        extra = sorted(name for name, sha in given.items() if sha not in trained.values())
        raise BundleError(
            f"{what} holds other Pfam HMMs than the model in {model_dir} was trained with "
            f"(sha256; model's HMMs not found there: {unmatched or 'none'}; HMMs the model "
            f"does not have: {extra or 'none'}): "
            + (
                "leave out --pfam-dir to use the model's own copy"
                if override is not None
                else "the model folder is damaged; copy it again from the training run"
            )
        )
    return folder


def reference_sequences(bundle: dict) -> pd.DataFrame:
    """id + sequence of the training enzymes (the kNN reference, for MMseqs2 searches)."""
    knn = bundle["members"]["knn_identity"]
    return pd.DataFrame(
        {
            "id": [str(i) for i in knn["reference_ids"]],
            "sequence": [str(s) for s in knn["reference_sequences"]],
        }
    )


def uses_plm(bundle: dict) -> bool:
    members = bundle["members"]
    if "plm" in members:
        return True
    return "fusion" in members and members["fusion"]["network"]["config"].get("plm_dim") is not None


def uses_positions(bundle: dict) -> bool:
    return "positions" in bundle["members"]


def load_bundle(model_dir) -> dict:
    path = Path(model_dir) / BUNDLE_FILE
    if not path.exists():
        raise BundleError(f"no model bundle at {path} (run the pipeline's `model_bundle` rule)")
    bundle = load_payload(path)
    version = bundle.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"bundle format {version} is not supported (expected {FORMAT_VERSION})")
    return bundle


def thresholds_of(bundle: dict) -> dict:
    """The bundle's calibration in thresholds.json's layout (settings and predictors)."""
    return {
        "settings": {"always_call_top": bool(bundle["always_call_top"])},
        "predictors": bundle["calibration"],
    }


def score(
    bundle: dict,
    features: pd.DataFrame,
    embeddings: pd.DataFrame | None,
    hits: pd.DataFrame,
    positions: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Raw and calibrated probabilities of new enzymes.

    ``features``: id + the bundle's feature_columns; ``embeddings``: id + embedding (None
    when the bundle has no PLM); ``positions``: id + aligned match-state strings (None when
    the bundle has no positions member); ``hits``: MMseqs2 hits against the bundle's reference
    (``training_data.HIT_COLUMNS``).
    Returns {"raw/<predictor>": frame, "calibrated/<predictor>": frame, "calls": bool frame
    of the model} with rows in ``features`` order, one column per ensemble id.
    """
    from terpene_ensembles.calibration import calibrate_scores, calls_from_thresholds
    from terpene_ensembles.learner import score_predictors
    from terpene_ensembles.training_data import (
        HIT_COLUMNS,
        TrainingData,
        embedding_matrix,
        feature_matrix,
        position_frame,
    )

    ids = features["id"].astype(str).to_numpy()
    x, _ = feature_matrix(features, ids, list(bundle["feature_columns"]))
    if uses_plm(bundle) and embeddings is None:
        raise BundleError(f"this model needs {bundle['plm']['model']} embeddings")
    if uses_positions(bundle) and positions is None:
        raise BundleError("this model needs the alignment positions of the sequences")
    e = embedding_matrix(embeddings, ids) if uses_plm(bundle) else None
    classes = list(bundle["ensemble_ids"])
    data = TrainingData(
        ids,
        np.zeros((len(ids), len(classes)), np.float32),
        classes,
        x,
        list(bundle["feature_columns"]),
        e,
        bundle["plm"],
        position_frame(positions, ids) if uses_positions(bundle) else None,
    )
    hits = hits[HIT_COLUMNS].astype({"query": str, "target": str})
    raw = score_predictors(bundle, data, hits)
    out = {}
    for predictor, values in raw.items():
        if np.ndim(values) != 2:
            continue  # per-enzyme extras such as best_identity, not class probabilities
        out[f"raw/{predictor}"] = pd.DataFrame(values, index=ids, columns=classes)
        if predictor in bundle["calibration"]:
            calibrated = calibrate_scores(bundle["calibration"][predictor], values, classes)
            out[f"calibrated/{predictor}"] = pd.DataFrame(calibrated, index=ids, columns=classes)
    calls = calls_from_thresholds(
        thresholds_of(bundle), "model", out["calibrated/model"].to_numpy(), classes
    )
    out["calls"] = pd.DataFrame(calls, index=ids, columns=classes)
    return out
